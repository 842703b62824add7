//! Structured logs: `--log-format json|text` and `RUST_LOG` on stderr, and at trace level no
//! line carries the API key, whether the key is accepted or refused.

mod common;

use common::{generated_input, job, start_mock, Finished, Scratch};
use serde_json::Value;
use sheepdog::MockConfig;

const KEY_ENV: &str = "CANARY_LOG_KEY";
const CANARY: &str = "sk-canary-logs-5b8e2f9a0c4d7e1f3a6b9c2d5e8f1a4b7c0d3e6f9a2b";

async fn run_traced(required: &str, format: &str) -> (Scratch, Finished) {
    let server = start_mock(MockConfig {
        require_key: Some(required.to_string()),
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let input = scratch.write("input.jsonl", &generated_input(30, 10).0);
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    let args = [
        "run",
        input.to_str().expect("utf-8 path"),
        "--config",
        job_file.to_str().expect("utf-8 path"),
        "--out",
        "run",
        "--log-format",
        format,
    ];
    let finished = scratch.run(&args, &[(KEY_ENV, CANARY), ("RUST_LOG", "trace")]).await;
    server.shutdown().await;
    (scratch, finished)
}

fn json_lines(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_at_trace_level_never_show_the_key() {
    let (_scratch, finished) = run_traced(CANARY, "json").await;
    finished.assert_code(1);
    assert!(!finished.stderr.contains(CANARY) && !finished.stdout.contains(CANARY));
    assert!(!finished.stderr.contains("canary-logs"), "not even a part of the key");
    let events = json_lines(&finished.stderr);
    let message = |e: &Value| e["message"].as_str().unwrap_or("").to_string();
    let started = events
        .iter()
        .find(|e| message(e) == "run started")
        .expect("a run started event");
    assert_eq!(started["level"], "INFO");
    assert!(
        started["config"].as_str().is_some_and(|c| c.contains(KEY_ENV)),
        "config echo names the variable"
    );
    let requests = events
        .iter()
        .filter(|e| message(e) == "request" && e["level"] == "TRACE")
        .count();
    assert!(requests >= 25, "one trace event per request, got {requests}");
    assert!(events.iter().any(|e| message(e) == "run finished"));
    // The final table still goes to stdout, not into the log.
    assert!(finished.stdout.contains("Run folder: run"), "{}", finished.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_logged_without_the_key() {
    let (_scratch, finished) = run_traced("sk-the-other-key-that-the-server-wants", "text").await;
    finished.assert_code(3);
    assert!(!finished.stderr.contains(CANARY) && !finished.stdout.contains(CANARY));
    assert!(!finished.stderr.contains("canary-logs"));
    assert!(
        finished.stderr.contains("ERROR") && finished.stderr.contains("stopping the run"),
        "{}",
        finished.stderr
    );
    assert!(finished.stderr.contains("TRACE"), "trace level is on");
}

#[test]
fn logs_are_off_by_default_and_a_bad_filter_is_a_usage_error() {
    let scratch = Scratch::new();
    let input = scratch.write("input.jsonl", "{\"id\":\"a\",\"prompt\":\"hi\"}\n");
    let args = ["run", input.to_str().expect("utf-8 path"), "--out", "run", "--quiet"];
    let quiet = scratch.run_blocking(&args, &[]);
    quiet.assert_code(0);
    assert!(
        !quiet.stderr.contains("INFO") && !quiet.stderr.contains("run started"),
        "{}",
        quiet.stderr
    );
    let bad = scratch.run_blocking(&args, &[("RUST_LOG", "sheepdog=loudest")]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("RUST_LOG"), "{}", bad.stderr);
}
