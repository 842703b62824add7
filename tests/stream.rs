//! `sheepdog run --stream` against the mock server: TTFT and inter-token latency as the mock
//! paces them, every broken stream detected, retried and never kept as a success, and results
//! of the same shape as without streaming.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{job, start_mock, RunFolder, Scratch};
use serde_json::Value;
use sheepdog::mock::{Latency, StreamFaultKind};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

fn prompts(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\":\"p{i}\",\"prompt\":\"Tell me about sheep number {i}.\"}}\n"))
        .collect()
}

/// Runs `input` through a mock with `config`; returns the exit code and the run folder.
async fn run(config: MockConfig, input: &str, extra_toml: &str, args: &[&str]) -> (i32, RunFolder) {
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let toml = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], extra_toml);
    let all = [&["--quiet"], args].concat();
    let (out, finished) = scratch.run_job(input, &toml, &all, &[(KEY_ENV, "k")]).await;
    let code = finished.code.unwrap_or_else(|| panic!("killed: {}", finished.stderr));
    server.shutdown().await;
    (code, RunFolder::read(&out))
}

fn ms(line: &Value, field: &str) -> f64 {
    line["sheepdog"][field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number sheepdog.{field} in {line}"))
}

#[tokio::test]
async fn measured_ttft_and_itl_match_what_the_mock_paces() {
    let config = MockConfig {
        ttft: Latency::Fixed(Duration::from_millis(200)),
        itl: Latency::Fixed(Duration::from_millis(20)),
        output_tokens: Some(50),
        ..MockConfig::default()
    };
    let (code, folder) = run(config, &prompts(4), "", &["--stream", "--concurrency", "4"]).await;
    assert_eq!(code, 0);
    assert_eq!(folder.results.len(), 4);
    for line in &folder.results {
        let (ttft, itl, tpot) = (ms(line, "ttft_ms"), ms(line, "itl_ms"), ms(line, "tpot_ms"));
        // The mock never answers early; a busy machine may make it late, never by this much.
        // Its tokens keep an absolute schedule, so a first token read late shortens the mean
        // gap a little (by the delay / 49: 4 ms for the 200 ms the TTFT bound allows).
        assert!((200.0..=400.0).contains(&ttft), "TTFT {ttft} ms");
        assert!((15.0..=40.0).contains(&itl), "ITL {itl} ms");
        assert!((15.0..=45.0).contains(&tpot), "TPOT {tpot} ms");
        assert_eq!(line["sheepdog"]["output_tokens"], 50);
        assert_eq!(line["sheepdog"]["output_tokens_estimated"], false);
        let latency = ms(line, "latency_ms");
        assert!(latency >= 200.0 + 49.0 * 20.0, "e2e {latency} ms");
    }
    let itl_p50 = folder.summary["itl_ms"]["p50"].as_f64().expect("summary.itl_ms");
    assert!((18.0..=40.0).contains(&itl_p50), "summary ITL p50 {itl_p50}");
    assert!(folder.summary["ttft_ms"]["p50"].as_f64().expect("summary.ttft_ms") >= 200.0);
    assert!(folder.summary["tpot_ms"]["count"].as_u64() == Some(4));
}

/// A mock whose every stream breaks the `kind` way.
fn always(kind: StreamFaultKind) -> MockConfig {
    MockConfig {
        stream_faults: vec![(kind, 1.0)],
        stream_stall: Duration::from_secs(2),
        output_tokens: Some(6),
        ..MockConfig::default()
    }
}

const FAST_RETRY: &str = "[retry]\nmax_attempts = 2\nbase_delay = \"5ms\"\nmax_delay = \"10ms\"\n";

#[tokio::test]
async fn every_stream_fault_is_detected_classified_retried_and_never_a_success() {
    let kinds = [
        (StreamFaultKind::Truncate, "truncated"),
        (StreamFaultKind::Disconnect, "disconnect"),
        (StreamFaultKind::Stall, "stall"),
        (StreamFaultKind::Malformed, "malformed"),
        (StreamFaultKind::Error, "error_event"),
    ];
    let input = prompts(2);
    let args = ["--stream", "--stream-idle-timeout", "300ms"];
    let runs = kinds.map(|(kind, _)| run(always(kind), &input, FAST_RETRY, &args));
    let folders = futures::future::join_all(runs).await;
    for ((code, folder), (_, code_name)) in folders.iter().zip(kinds) {
        assert_eq!(*code, 1, "{code_name}: every item failed");
        assert!(
            folder.results.is_empty(),
            "{code_name}: no partial text kept as a result"
        );
        assert_eq!(folder.errors.len(), 2, "{code_name}");
        for line in &folder.errors {
            assert_eq!(line["error"]["code"], code_name, "{line}");
            assert_eq!(line["sheepdog"]["error_class"], "stream_interrupted", "{line}");
            assert_eq!(line["sheepdog"]["attempts"], 2, "{code_name}: retried");
        }
        let attempt_errors: u64 = folder.summary["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter(|e| e["scope"] == "attempts" && e["class"] == "stream_interrupted")
            .map(|e| e["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(attempt_errors, 4, "{code_name}: 2 items x 2 attempts");
    }
}

#[tokio::test]
async fn broken_streams_are_retried_until_whole_and_keep_no_partial_text() {
    let clean = MockConfig {
        output_tokens: Some(12),
        ..MockConfig::default()
    };
    let faults = StreamFaultKind::ALL.map(|kind| (kind, 0.08)).to_vec();
    let faulty = MockConfig {
        stream_faults: faults,
        stream_stall: Duration::from_secs(1),
        seed: 5,
        ..clean.clone()
    };
    // Short backoff, and a breaker that never opens: the failures here are meant to be retried.
    let retry = "[retry]\nmax_attempts = 8\nbase_delay = \"2ms\"\nmax_delay = \"5ms\"\n\n\
                 [breaker]\nconsecutive_failures = 1000\nfailure_rate = 1.0\n";
    let args = ["--stream", "--stream-idle-timeout", "200ms", "--concurrency", "1"];
    let input = prompts(25);
    let ((_, expected), (code, folder)) = tokio::join!(run(clean, &input, "", &[]), run(faulty, &input, retry, &args));
    assert_eq!(code, 0, "every item succeeded in the end: {:?}", folder.errors);
    let content = |lines: &[Value]| -> BTreeMap<String, Value> {
        lines
            .iter()
            .map(|l| {
                let id = l["custom_id"].as_str().expect("id").to_string();
                (id, l["response"]["body"]["choices"][0]["message"]["content"].clone())
            })
            .collect()
    };
    assert_eq!(
        content(&folder.results),
        content(&expected.results),
        "whole answers only"
    );
    let retries = folder.summary["totals"]["retries"].as_u64().expect("retries");
    assert!(retries > 0, "some streams broke and were sent again");
}

/// The shape of a JSON value: objects by their keys (recursively), other values by type, with
/// null matching anything (a figure that only streaming measures).
fn same_shape(a: &Value, b: &Value, path: &str) {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(x), Value::Object(y)) => {
            let (mut kx, mut ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
            kx.sort();
            ky.sort();
            assert_eq!(kx, ky, "keys of {path}");
            for (k, v) in x {
                same_shape(v, &y[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "length of {path}");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                same_shape(v, w, &format!("{path}[{i}]"));
            }
        }
        _ => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "type of {path}: {a} vs {b}"
        ),
    }
}

#[tokio::test]
async fn streamed_and_plain_results_have_the_same_shape_and_answers() {
    let input = prompts(5);
    let ((_, plain), (_, streamed)) = tokio::join!(
        run(MockConfig::default(), &input, "", &[]),
        run(MockConfig::default(), &input, "", &["--stream"])
    );
    assert_eq!(plain.results.len(), 5);
    let by_id = |lines: &[Value]| -> BTreeMap<String, Value> {
        lines
            .iter()
            .map(|l| (l["custom_id"].as_str().expect("id").to_string(), l.clone()))
            .collect()
    };
    let (plain, streamed) = (by_id(&plain.results), by_id(&streamed.results));
    assert_eq!(plain.keys().collect::<Vec<_>>(), streamed.keys().collect::<Vec<_>>());
    for (id, p) in &plain {
        let s = &streamed[id];
        same_shape(p, s, id);
        let body = |l: &Value| l["response"]["body"].clone();
        assert_eq!(body(s)["object"], "chat.completion");
        for field in ["choices", "usage", "model", "object"] {
            assert_eq!(body(p)[field], body(s)[field], "{id}: {field}");
        }
        assert!(p["sheepdog"]["ttft_ms"].is_null() && s["sheepdog"]["ttft_ms"].is_number());
        assert!(s["sheepdog"]["itl_ms"].is_number());
    }
}

#[test]
fn bad_stream_settings_exit_2_and_say_what_is_wrong() {
    let scratch = Scratch::new();
    let input = scratch.write("input.jsonl", &prompts(1));
    let input = input.to_str().expect("utf-8 path");
    let zero = scratch.run_blocking(&["run", input, "--stream", "--stream-idle-timeout", "0s"], &[]);
    zero.assert_code(2);
    assert!(
        zero.stderr.contains("--stream-idle-timeout: must be longer than 0"),
        "{}",
        zero.stderr
    );

    let job_file = scratch.write(
        "job.toml",
        "[[providers]]\nname = \"m\"\nbase_url = \"mock\"\n\n[mock]\nttft_std = \"5ms\"\n",
    );
    let job_file = job_file.to_str().expect("utf-8 path");
    let spread = scratch.run_blocking(&["run", input, "--config", job_file], &[]);
    spread.assert_code(2);
    assert!(spread.stderr.contains("mock.ttft_std: needs ttft"), "{}", spread.stderr);

    let fault = scratch.run_blocking(&["mock", "--port", "0", "--stream-fault", "hiccup=0.1"], &[]);
    fault.assert_code(2);
    assert!(
        fault.stderr.contains("--stream-fault: unknown stream fault `hiccup`"),
        "{}",
        fault.stderr
    );
}
