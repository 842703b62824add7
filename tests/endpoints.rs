//! `sheepdog run` with every endpoint a Batch file may name, against the mock: one output line
//! per input line, each answer of its endpoint's shape, usage and cost right per endpoint.

mod common;

use common::{block_u64, job, start_mock, RunFolder, Scratch};
use serde_json::Value;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// One line per endpoint, and more embeddings and responses lines, in one file.
const MIXED: &str = r#"{"custom_id":"chat-1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Say hi"}]}}
{"custom_id":"legacy-1","method":"POST","url":"/v1/completions","body":{"model":"gpt-4.1-mini","prompt":"Say hi","max_tokens":8}}
{"custom_id":"embed-1","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":"hello world"}}
{"custom_id":"embed-2","method":"POST","url":"/v1/embeddings","body":{"model":"text-embedding-3-large","input":["one","two"],"dimensions":64}}
{"custom_id":"resp-1","method":"POST","url":"/v1/responses","body":{"model":"gpt-4.1-mini","input":"Say hi","max_output_tokens":12}}
{"custom_id":"mod-1","method":"POST","url":"/v1/moderations","body":{"input":"a quiet field"}}
{"custom_id":"resp-2","method":"POST","url":"/v1/responses","body":{"model":"gpt-4.1-mini","input":[{"role":"user","content":"Hello"}]}}
"#;

fn by_id(folder: &RunFolder) -> std::collections::HashMap<String, &Value> {
    folder
        .results
        .iter()
        .map(|l| (l["custom_id"].as_str().unwrap().to_string(), l))
        .collect()
}

fn cost(line: &Value) -> f64 {
    line["sheepdog"]["cost_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cost in {line}"))
}

#[tokio::test]
async fn a_batch_file_mixing_all_five_endpoints_runs_live_with_usage_and_cost_per_endpoint() {
    let server = start_mock(MockConfig {
        output_tokens: Some(10),
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let job_text = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    let (out, finished) = scratch.run_job(MIXED, &job_text, &["--quiet"], &[(KEY_ENV, "k")]).await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    assert_eq!(
        folder.results.len(),
        7,
        "one result per line; errors: {:?}",
        folder.errors
    );
    assert!(folder.errors.is_empty());
    let lines = by_id(&folder);

    for (id, object) in [
        ("chat-1", "chat.completion"),
        ("legacy-1", "text_completion"),
        ("embed-1", "list"),
        ("resp-1", "response"),
    ] {
        let line = lines[id];
        assert_eq!(line["response"]["status_code"], 200, "{line}");
        assert_eq!(line["response"]["body"]["object"], object, "{id}");
        assert_eq!(line["error"], Value::Null);
    }
    let moderation = &lines["mod-1"]["response"]["body"];
    assert_eq!(moderation["results"][0]["flagged"], false);
    assert_eq!(moderation["model"], "omni-moderation-latest");

    // Generating endpoints: 10 output tokens (8 where max_tokens cuts), priced at gpt-4.1-mini
    // (0.40 in, 1.60 out).
    for (id, output) in [("chat-1", 10), ("legacy-1", 8), ("resp-1", 10), ("resp-2", 10)] {
        let line = lines[id];
        assert_eq!(line["sheepdog"]["model"], "gpt-4.1-mini", "{id}");
        assert_eq!(block_u64(line, "output_tokens"), output, "{id}");
        let input = block_u64(line, "input_tokens");
        let expected = (input as f64 * 0.40 + block_u64(line, "output_tokens") as f64 * 1.60) / 1e6;
        assert!(
            (cost(line) - expected).abs() < 1e-12,
            "{id}: {} vs {expected}",
            cost(line)
        );
    }
    // Embeddings keep their own model (the chat target does not fit them): input tokens only.
    let embed = lines["embed-1"];
    assert_eq!(embed["sheepdog"]["model"], "text-embedding-3-small");
    assert_eq!(block_u64(embed, "output_tokens"), 0);
    let input = block_u64(embed, "input_tokens");
    assert_eq!(input, 3, "\"hello world\" is 11 characters: 3 mock tokens");
    assert!((cost(embed) - input as f64 * 0.02 / 1e6).abs() < 1e-15);
    let large = lines["embed-2"];
    assert_eq!(large["sheepdog"]["model"], "text-embedding-3-large");
    assert_eq!(
        large["response"]["body"]["data"][1]["embedding"]
            .as_array()
            .unwrap()
            .len(),
        64
    );
    assert!((cost(large) - block_u64(large, "input_tokens") as f64 * 0.13 / 1e6).abs() < 1e-15);
    // Moderations: input tokens counted (the answer has no usage), free of charge.
    let moderation = lines["mod-1"];
    assert_eq!(block_u64(moderation, "output_tokens"), 0);
    assert!(block_u64(moderation, "input_tokens") > 0);
    assert_eq!(cost(moderation), 0.0);

    let log = server.stats().log;
    assert_eq!(log.len(), 7, "each line sent once");
}

#[tokio::test]
async fn short_lines_go_to_the_endpoint_given_and_an_input_line_without_it_says_what_to_do() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let job_text = job(&server.base_url(), KEY_ENV, &[("embed", "text-embedding-3-small")], "");
    let input = "{\"id\":\"a\",\"input\":\"first text\"}\n{\"id\":\"b\",\"prompt\":\"second text\"}\n";
    let (out, finished) = scratch
        .run_job(
            input,
            &job_text,
            &["--endpoint", "embeddings", "--stream"],
            &[(KEY_ENV, "k")],
        )
        .await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 2);
    for line in &folder.results {
        assert_eq!(line["response"]["body"]["object"], "list", "{line}");
        assert_eq!(line["sheepdog"]["model"], "text-embedding-3-small");
        assert!(
            line["sheepdog"]["ttft_ms"].is_null(),
            "embeddings are never streamed: {line}"
        );
    }
    let said = format!("{}{}", finished.stdout, finished.stderr);
    assert_eq!(
        said.matches("--stream is ignored for embeddings").count(),
        1,
        "said once: {said}"
    );

    // Without --endpoint an "input" line is not a chat request: rejected with the fix.
    let scratch = Scratch::new();
    let (out, finished) = scratch.run_job(input, &job_text, &["--quiet"], &[(KEY_ENV, "k")]).await;
    finished.assert_code(1);
    let folder = RunFolder::read(&out);
    let message = folder.errors[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("--endpoint"), "{message}");
}

#[tokio::test]
async fn an_unknown_endpoint_is_a_usage_error_naming_the_choices() {
    let scratch = Scratch::new();
    let input = scratch.write("in.jsonl", "{\"id\":\"a\",\"input\":\"x\"}\n");
    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().unwrap(),
                "--model",
                "m",
                "--endpoint",
                "embedding",
                "--dry-run",
            ],
            &[],
        )
        .await;
    finished.assert_code(2);
    assert!(finished.stderr.contains("embeddings"), "{}", finished.stderr);
    let job = scratch.write("job.toml", "[run]\nendpoint = \"images\"\n");
    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().unwrap(),
                "--config",
                job.to_str().unwrap(),
                "--dry-run",
            ],
            &[],
        )
        .await;
    finished.assert_code(2);
    assert!(finished.stderr.contains("run.endpoint"), "{}", finished.stderr);
}

#[test]
fn estimate_and_dry_run_count_every_endpoint_and_no_output_for_embeddings() {
    let scratch = Scratch::new();
    let input = scratch.write("mixed.jsonl", MIXED);
    let path = input.to_str().unwrap();
    let finished = scratch.run_blocking(&["estimate", path, "--format", "json", "--output-tokens", "100"], &[]);
    finished.assert_code(0);
    let estimate: Value = serde_json::from_str(&finished.stdout).expect("estimate JSON");
    assert_eq!(estimate["requests"], 7);
    assert_eq!(estimate["input_only_requests"], 3);
    let rows = estimate["rows"].as_array().unwrap();
    let row = |model: &str| {
        rows.iter()
            .find(|r| r["model"] == model)
            .unwrap_or_else(|| panic!("no row for {model}: {rows:?}"))
    };
    let small = row("text-embedding-3-small");
    assert_eq!(
        (small["requests"].as_u64(), small["output_tokens"].as_u64()),
        (Some(1), Some(0))
    );
    // "hello world": 2 tokens with o200k/cl100k, at 0.02 USD per 1M, half that through Batch.
    assert_eq!(small["input_tokens"], 2);
    assert!((small["list_usd"].as_f64().unwrap() - 2.0 * 0.02 / 1e6).abs() < 1e-15);
    assert!((small["batch"].as_f64().unwrap() - 2.0 * 0.01 / 1e6).abs() < 1e-15);
    let mini = row("gpt-4.1-mini");
    assert_eq!(
        (mini["requests"].as_u64(), mini["output_tokens"].as_u64()),
        (Some(4), Some(400))
    );

    let dry = scratch.run_blocking(&["run", path, "--model", "gpt-4.1-mini", "--dry-run"], &[]);
    dry.assert_code(0);
    assert!(dry.stdout.contains("valid items:        7"), "{}", dry.stdout);
    assert!(
        dry.stdout.contains(
            "endpoints:          /v1/chat/completions 1, /v1/completions 1, /v1/embeddings 2, /v1/responses 2, /v1/moderations 1"
        ),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("text-embedding-3-small: 1 items, 2 tokens"),
        "{}",
        dry.stdout
    );
}

#[tokio::test]
async fn bench_loads_the_endpoint_given_with_bodies_of_its_shape() {
    for (endpoint, streamed) in [("embeddings", false), ("responses", true), ("completions", true)] {
        let server = start_mock(MockConfig::default()).await;
        let run = common::bench(
            &server,
            &[
                "--endpoint",
                endpoint,
                "--concurrency",
                "2",
                "--requests",
                "12",
                "--synthetic",
                "in=32,out=8",
            ],
        )
        .await;
        assert_eq!(run.code, 0, "{endpoint}: {}", run.stderr);
        let log = server.stats().log;
        assert!(log.len() >= 12, "{endpoint}: {}", log.len());
        // A body of another shape (or sent to another path) would be refused with a 400.
        assert!(log.iter().all(|e| e.status == 200), "{endpoint}: {log:?}");
        assert!(
            log.iter().all(|e| e.stream == streamed),
            "{endpoint}: streamed {streamed}"
        );
    }
}
