//! `sheepdog compare`: the same prompts run against two mock servers, one slow with an
//! expensive model and one fast with a cheap model; the fast, cheap side is marked better.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{job, start_mock, Scratch};
use serde_json::Value;
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

async fn run_on(scratch: &Scratch, name: &str, latency_ms: u64, model: &str, input: &Path) -> PathBuf {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(latency_ms)),
        ..MockConfig::default()
    })
    .await;
    let job_file = scratch.write(
        &format!("{name}.toml"),
        &job(
            &server.base_url(),
            KEY_ENV,
            &[(name, model)],
            "[run]\nconcurrency = 4\n",
        ),
    );
    let out = scratch.path().join(name);
    scratch
        .run(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--config",
                job_file.to_str().expect("utf-8 path"),
                "--out",
                out.to_str().expect("utf-8 path"),
                "--quiet",
            ],
            &[(KEY_ENV, "k")],
        )
        .await
        .assert_code(0);
    out
}

fn row<'a>(json: &'a Value, metric: &str) -> &'a Value {
    json["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["metric"] == metric))
        .unwrap_or_else(|| panic!("no row {metric:?} in {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_faster_cheaper_run_on_the_right_is_marked_better() {
    let scratch = Scratch::new();
    let lines: String = (0..16)
        .map(|i| format!("{{\"id\":\"p{i}\",\"prompt\":\"Write a sentence about topic {i}.\"}}\n"))
        .collect();
    let input = scratch.write("prompts.jsonl", &lines);
    // 300 ms against 2: one of the fast run's 16 requests held up on a busy machine still
    // ends well before the slow run's slowest (p95 and p99 of 16 are the slowest).
    let slow = run_on(&scratch, "slow", 300, "gpt-4.1", &input).await;
    let fast = run_on(&scratch, "fast", 2, "gpt-4.1-mini", &input).await;
    let (slow, fast) = (slow.to_str().unwrap(), fast.to_str().unwrap());

    let json = scratch.run_blocking(&["compare", slow, fast, "--format", "json"], &[]);
    json.assert_code(0);
    let json: Value = serde_json::from_str(&json.stdout).expect("compare --format json is JSON");
    assert_eq!(json["runs"][0]["label"], "slow");
    assert_eq!(json["runs"][1]["targets"][0], "fast (gpt-4.1-mini)");
    for metric in [
        "latency p50",
        "latency p95",
        "latency p99",
        "cost",
        "cost per 1,000 requests",
        "cost per 1M output tokens",
    ] {
        assert_eq!(
            row(&json, metric)["best"],
            serde_json::json!([1]),
            "{metric}: {}",
            row(&json, metric)
        );
    }
    // Equal on both sides: nothing marked.
    assert_eq!(row(&json, "success rate")["best"], serde_json::json!([]));
    assert_eq!(row(&json, "items attempted")["values"], serde_json::json!([16.0, 16.0]));
    // The mock's answers depend on the prompt only: every item has the same output both times.
    assert_eq!(row(&json, "items matched")["values"], serde_json::json!([16.0, 16.0]));
    assert_eq!(row(&json, "output tokens vs first, p50")["values"][1], 1.0);

    let text = scratch.run_blocking(&["compare", slow, fast], &[]);
    text.assert_code(0);
    let p50 = text
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("latency p50"))
        .unwrap_or_else(|| panic!("{}", text.stdout));
    assert!(p50.trim_end().ends_with('*'), "right column marked: {p50}");
    assert_eq!(p50.matches('*').count(), 1, "{p50}");
    assert!(text.stdout.contains("* the better value in the row"));

    let md = scratch.run_blocking(&["compare", slow, fast, "--format", "md"], &[]);
    md.assert_code(0);
    let cost = md.stdout.lines().find(|l| l.starts_with("| cost |")).unwrap();
    let cells: Vec<&str> = cost.split(" | ").collect();
    assert!(!cells[1].contains("**") && cells[2].contains("**"), "{cost}");
}

#[test]
fn compare_needs_two_run_folders() {
    let scratch = Scratch::new();
    let one = scratch.run_blocking(&["compare", "only-one"], &[]);
    one.assert_code(2);
    let missing = scratch.run_blocking(&["compare", "nope-a", "nope-b"], &[]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("nope-a: cannot read summary.json"),
        "{}",
        missing.stderr
    );
}
