//! `sheepdog run --batch-api` with a file mixing endpoints: one batch per endpoint (and size
//! limit), each line's model chosen as the live path chooses it, usage and cost read in each
//! endpoint's shape at the batch price; and a resume of a run folder written before parts
//! recorded their endpoint.

mod batch_support;
mod common;

use serde_json::{json, Value};
use sheepdog::mock::BatchSettings;
use sheepdog::pricing::PriceTable;

use batch_support::*;
use common::{start_mock, RunFolder, Scratch};

fn batch_line(id: &str, url: &str, body: Value) -> String {
    json!({"custom_id": id, "method": "POST", "url": url, "body": body}).to_string() + "\n"
}

/// 3 chat lines (one in the short form), 2 embedding lines, 2 Responses lines, a moderation.
fn mixed_input() -> String {
    let chat = |n: u32| json!({"messages": [{"role": "user", "content": format!("chat {n}")}]});
    let embed = |n: u32| json!({"model": "text-embedding-3-small", "input": format!("embed {n}"), "dimensions": 4});
    let respond = |n: u32| json!({"input": format!("respond {n}"), "max_output_tokens": 16});
    [
        batch_line("c1", "/v1/chat/completions", chat(1)),
        batch_line("e1", "/v1/embeddings", embed(1)),
        batch_line("r1", "/v1/responses", respond(1)),
        "{\"id\": \"c2\", \"prompt\": \"chat 2\"}\n".to_string(),
        batch_line("e2", "/v1/embeddings", embed(2)),
        batch_line("c3", "/v1/chat/completions", chat(3)),
        batch_line("r2", "/v1/responses", respond(2)),
        batch_line("m1", "/v1/moderations", json!({"input": "a quiet field at dawn"})),
    ]
    .concat()
}

fn line_of<'a>(folder: &'a RunFolder, id: &str) -> &'a Value {
    folder
        .results
        .iter()
        .find(|l| l["custom_id"] == id)
        .unwrap_or_else(|| panic!("no result for {id}: errors {:?}", folder.errors))
}

fn cost(block: &Value, key: &str) -> f64 {
    block[key].as_f64().unwrap_or_else(|| panic!("{key} in {block}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_file_runs_one_batch_per_endpoint_with_usage_and_cost_per_endpoint() {
    let server = start_mock(mock(150, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(
            &mixed_input(),
            &job(&server, "batch_max_lines = 2"),
            &["--batch-api", "--poll-interval", "20ms", "-q"],
            &[],
        )
        .await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    assert!(folder.errors.is_empty(), "{:?}", folder.errors);
    assert_eq!(folder.results.len(), 8);
    assert!(ids(&folder).values().all(|&n| n == 1));

    // One endpoint per batch: chat in two (3 lines, 2 a batch), the others in one each.
    let mut endpoints: Vec<String> = parts(&out)
        .iter()
        .map(|p| p["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/embeddings",
            "/v1/moderations",
            "/v1/responses"
        ]
    );
    for part in parts(&out) {
        let text = std::fs::read_to_string(out.join(part["file"].as_str().expect("file"))).expect("part file");
        for line in text.lines() {
            let line: Value = serde_json::from_str(line).expect("json");
            assert_eq!(line["url"], part["endpoint"], "{line}");
        }
    }
    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (5, 5));
    assert_eq!(stats.requests, 8, "each line answered once, none refused");
    let rows = folder.summary["batch_api"]["batches"].as_array().expect("batches");
    assert_eq!(rows.len(), 5);

    // Each line answered by its endpoint, with the model the live path would send: the chat
    // target's model on chat and responses lines, the embedding line's own model kept.
    for id in ["c1", "c2", "c3"] {
        let body = &line_of(&folder, id)["response"]["body"];
        assert_eq!(
            (&body["object"], &body["model"]),
            (&json!("chat.completion"), &json!("gpt-4.1-mini")),
            "{id}"
        );
    }
    let prices = PriceTable::builtin().expect("built-in prices");
    for id in ["e1", "e2"] {
        let line = line_of(&folder, id);
        let (body, block) = (&line["response"]["body"], &line["sheepdog"]);
        assert_eq!(body["object"], "list", "{id}");
        assert_eq!(body["model"], "text-embedding-3-small", "{id}");
        assert_eq!(body["data"][0]["embedding"].as_array().expect("vector").len(), 4);
        let input = body["usage"]["prompt_tokens"].as_u64().expect("prompt tokens");
        assert!(input > 0);
        assert_eq!(
            (block["input_tokens"].as_u64(), block["output_tokens"].as_u64()),
            (Some(input), Some(0))
        );
        let price = prices.get("text-embedding-3-small").expect("price");
        let (batch, live) = (cost(block, "cost_usd"), cost(block, "live_cost_usd"));
        let expected = input as f64 * price.batch_input.expect("batch price") / 1e6;
        assert!((batch - expected).abs() < 1e-12, "{id}: {batch} vs {expected}");
        assert!((live - input as f64 * price.input / 1e6).abs() < 1e-12, "{id}: {live}");
    }
    for id in ["r1", "r2"] {
        let line = line_of(&folder, id);
        let (body, block) = (&line["response"]["body"], &line["sheepdog"]);
        assert_eq!(
            (&body["object"], &body["model"]),
            (&json!("response"), &json!("gpt-4.1-mini"))
        );
        let usage = &body["usage"];
        let (input, output) = (
            usage["input_tokens"].as_u64().expect("input_tokens"),
            usage["output_tokens"].as_u64().expect("output_tokens"),
        );
        assert!(input > 0 && output > 0, "{usage}");
        assert_eq!(
            (block["input_tokens"].as_u64(), block["output_tokens"].as_u64()),
            (Some(input), Some(output)),
            "{id}: the Responses usage read as such"
        );
        let price = prices.get("gpt-4.1-mini").expect("price");
        let batch_price =
            input as f64 * price.batch_input.expect("batch") + output as f64 * price.batch_output.expect("batch");
        assert!((cost(block, "cost_usd") - batch_price / 1e6).abs() < 1e-12, "{id}");
        assert!(
            (cost(block, "live_cost_usd") * 0.5 - cost(block, "cost_usd")).abs() < 1e-12,
            "{id}"
        );
    }
    // A moderation answer has no usage: its input is counted with the tokenizer, as live; free.
    let block = &line_of(&folder, "m1")["sheepdog"];
    assert_eq!(block["model"], "omni-moderation-latest");
    assert!(block["input_tokens"].as_u64().expect("input tokens") > 0, "{block}");
    assert_eq!(
        (block["output_tokens"].as_u64(), cost(block, "cost_usd")),
        (Some(0), 0.0)
    );

    let batch = &folder.summary["batch_api"];
    assert_eq!(batch["items"], 8);
    assert_eq!(batch["unpriced_items"], 0);
    let summed: f64 = folder.results.iter().map(|l| cost(&l["sheepdog"], "cost_usd")).sum();
    assert!((cost(batch, "cost_batch_usd") - summed).abs() < 1e-12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_folder_whose_parts_name_no_endpoint_resumes_as_chat() {
    let server = start_mock(mock(300, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let input_path = path_text(&scratch.write("input.jsonl", &input(30)));
    let job_path = path_text(&scratch.write("job.toml", &job(&server, "batch_max_lines = 10")));
    let out = scratch.path().join("run");
    let out_text = path_text(&out);
    let args = [
        "run",
        &input_path,
        "--config",
        &job_path,
        "--batch-api",
        "--poll-interval",
        "20ms",
        "-q",
    ];
    let mut fresh: Vec<&str> = args.to_vec();
    fresh.extend(["--out", &out_text]);
    let mut child = scratch.spawn(&fresh, &[]);
    wait_for("the batch state file", || parts(&out).len() == 3).await;
    child.kill().expect("kill -9");
    let _ = child.wait();

    // The state file as sheepdog wrote it before parts recorded their endpoint.
    let mut state = batch_state(&out);
    for part in state["parts"].as_array_mut().expect("parts") {
        part.as_object_mut().expect("part").remove("endpoint");
    }
    std::fs::write(out.join("batch_api.json"), state.to_string()).expect("write state");

    let mut resume: Vec<&str> = args.to_vec();
    resume.extend(["--resume", &out_text]);
    scratch.run(&resume, &[]).await.assert_code(0);
    let stats = server.stats();
    assert_eq!(
        (stats.files_uploaded, stats.batches_created),
        (3, 3),
        "nothing sent twice"
    );
    assert_eq!(stats.requests, 30, "every line answered once, as chat");
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 30);
    assert!(folder.errors.is_empty(), "{:?}", folder.errors.first());
    assert!(folder
        .results
        .iter()
        .all(|l| l["response"]["body"]["object"] == "chat.completion"));
    assert!(parts(&out).iter().all(|p| p["endpoint"] == "/v1/chat/completions"));
}
