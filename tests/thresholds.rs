//! `--threshold` sets the exit code of `bench` and `run`: a threshold that holds exits 0, a
//! crossed one exits 1 and names itself, where and by how much; a bad one is a usage error.

mod common;

use std::time::Duration;

use common::{job, start_mock, Scratch};
use serde_json::Value;
use sheepdog::mock::Latency;
use sheepdog::{MockConfig, MockServer};

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

struct Finished {
    code: i32,
    stderr: String,
    summary: Value,
    report: String,
}

/// Runs `sheepdog ARGS --config JOB --out DIR` against `server`.
async fn sheepdog(server: &MockServer, args: &[&str]) -> Finished {
    let scratch = Scratch::new();
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    scratch.write(
        "prompts.jsonl",
        &(0..6)
            .map(|i| format!("{{\"id\":\"p{i}\",\"prompt\":\"hi\"}}\n"))
            .collect::<String>(),
    );
    let out = scratch.path().join("out");
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if all[0] == "run" {
        all.insert(1, scratch.path().join("prompts.jsonl").display().to_string());
    }
    all.extend([
        "--config".into(),
        job_file.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let finished = scratch.run(&all, &[(KEY_ENV, "k")]).await;
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    Finished {
        code: finished.code.unwrap_or(-1),
        stderr: finished.stderr,
        summary: serde_json::from_str(&read("summary.json")).unwrap_or(Value::Null),
        report: read("report.md"),
    }
}

fn slow_first_token() -> MockConfig {
    MockConfig {
        latency: Latency::Fixed(Duration::from_millis(60)),
        ttft: Latency::Fixed(Duration::from_millis(60)),
        itl: Latency::Fixed(Duration::from_millis(1)),
        output_tokens: Some(4),
        ..MockConfig::default()
    }
}

const BENCH: [&str; 6] = [
    "bench",
    "--concurrency",
    "2,4",
    "--requests",
    "8",
    "--synthetic=in=32,out=4",
];

#[tokio::test]
async fn bench_thresholds_that_hold_exit_0() {
    let server = start_mock(slow_first_token()).await;
    let mut args = BENCH.to_vec();
    args.extend([
        "--threshold",
        "p99(ttft)<20s",
        "--threshold",
        "error_rate<1%",
        "--threshold",
        "rps>0.1",
    ]);
    let run = sheepdog(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let checks = run.summary["thresholds"]
        .as_array()
        .expect("thresholds in summary.json");
    assert_eq!(checks.len(), 6, "three thresholds on each of two steps");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
    assert!(run.report.contains("## Thresholds"), "{}", run.report);
    assert!(run.report.contains("0 of 6 checks crossed"));
}

#[tokio::test]
async fn a_crossed_bench_threshold_exits_1_naming_it() {
    let server = start_mock(slow_first_token()).await;
    let mut args = BENCH.to_vec();
    args.extend(["--threshold", "p50(ttft)<10ms", "--threshold", "error_rate<1%"]);
    let run = sheepdog(&server, &args).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("threshold p50(ttft)<10ms crossed at step 1 (concurrency 2): "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ms over"), "{}", run.stderr);
    assert!(!run.stderr.contains("error_rate<1% crossed"), "{}", run.stderr);
    assert_eq!(
        run.summary["steps"].as_array().map(Vec::len),
        Some(2),
        "without --abort-on-fail every step runs"
    );
    let crossed = &run.summary["thresholds"][0];
    assert_eq!(crossed["passed"], false);
    assert!(crossed["value"].as_f64().unwrap_or(0.0) >= 50.0, "{crossed}");
    assert!(run.report.contains("**crossed**"), "{}", run.report);
}

#[tokio::test]
async fn abort_on_fail_stops_at_the_first_crossing() {
    let server = start_mock(slow_first_token()).await;
    let mut args = BENCH.to_vec();
    args.extend(["--threshold", "p50(ttft)<10ms", "--abort-on-fail"]);
    let run = sheepdog(&server, &args).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.summary["steps"].as_array().map(Vec::len), Some(1), "step 2 not run");
    let note = run.summary["bench"]["stopped_early"].as_str().unwrap_or_default();
    assert!(note.contains("step 1 (--abort-on-fail)"), "{}", run.summary);
    assert!(run.stderr.contains("sweep stopped early"), "{}", run.stderr);
}

#[tokio::test]
async fn run_thresholds_check_the_final_figures() {
    let server = start_mock(slow_first_token()).await;
    let held = sheepdog(
        &server,
        &["run", "--threshold", "p99(e2e)<30s", "--threshold", "error_rate<=0"],
    )
    .await;
    assert_eq!(held.code, 0, "{}", held.stderr);
    assert_eq!(held.summary["thresholds"][0]["scope"], "run");
    assert!(held.report.contains("0 of 2 checks crossed"), "{}", held.report);

    let crossed = sheepdog(&server, &["run", "--threshold", "p50(e2e)<5ms"]).await;
    assert_eq!(crossed.code, 1, "{}", crossed.stderr);
    assert!(
        crossed.stderr.contains("threshold p50(e2e)<5ms crossed at run: "),
        "{}",
        crossed.stderr
    );
    assert_eq!(crossed.summary["thresholds"][0]["passed"], false);
}

#[tokio::test]
async fn bad_thresholds_are_usage_errors_naming_the_flag() {
    let server = start_mock(MockConfig::default()).await;
    let mut args = BENCH.to_vec();
    args.extend(["--threshold", "p98(ttft)<1s"]);
    let run = sheepdog(&server, &args).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--threshold"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown figure `p98(ttft)`"), "{}", run.stderr);

    let mut args = BENCH.to_vec();
    args.extend(["--threshold", "goodput>=95%"]);
    let run = sheepdog(&server, &args).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("add --slo"), "{}", run.stderr);
    assert_eq!(server.stats().requests, 0, "nothing sent");
}
