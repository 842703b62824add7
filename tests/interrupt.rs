//! Ctrl-C during a run: requests in flight finish, their answers are written, reports are
//! written, the rest of the file is not sent, and the exit code is 3.

mod common;

use std::time::{Duration, Instant};

use common::{block_u64, generated_input, job, start_mock, RunFolder, Scratch};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_keeps_every_answer_writes_reports_and_exits_3() {
    stop_with("-INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_every_answer_writes_reports_and_exits_3() {
    stop_with("-TERM").await;
}

/// Starts a 25-second run, sends `signal` (a `kill` option) once it is under way, and checks
/// that it stops cleanly.
async fn stop_with(signal: &str) {
    let config = MockConfig {
        latency: Latency::Fixed(Duration::from_millis(50)),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(2_000, 0);
    let input = scratch.write("input.jsonl", &text);
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), "KEY", &[("mini", "gpt-4.1-mini")], ""),
    );
    let out = scratch.path().join("run");
    let args = [
        "run",
        input.to_str().expect("utf-8 path"),
        "--config",
        job_file.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
        "--quiet",
        "--concurrency",
        "4",
    ];
    let mut child = scratch.spawn(&args, &[("KEY", "k")]);

    // The full run would take 25 s; interrupt it once it is well under way.
    let started = Instant::now();
    while server.stats().requests < 20 {
        if started.elapsed() > Duration::from_secs(20) || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("the run never got going: {:?}", child.wait_with_output());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for sheepdog");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let folder = RunFolder::read(&out);
    let stats = server.stats();
    assert_eq!(stats.in_flight, 0, "nothing left running at the mock");
    assert!(
        stats.requests < 1_000,
        "{} requests: the run went on after Ctrl-C",
        stats.requests
    );
    assert_eq!(
        folder.results.len() as u64,
        stats.by_status.get(&200).copied().unwrap_or(0),
        "every answer is kept"
    );
    assert!(
        folder.errors.is_empty(),
        "items in flight finish normally: {:?}",
        folder.errors.first()
    );
    assert_eq!(folder.summary["job"]["aborted"], "interrupted");
    let done = folder.results.len() as u64;
    assert_eq!(folder.summary_u64("/totals/succeeded"), done);
    assert_eq!(folder.summary_u64("/totals/unsent"), 2_000 - done);
    assert!(folder.results.iter().all(|l| block_u64(l, "attempts") == 1));
}

/// SIGTERM during a bench: the step in progress ends, its requests in flight finish, and
/// summary.json, report.md and requests.csv are written; the exit code is 3, as for a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_bench_writes_its_reports_and_exits_3() {
    let config = MockConfig {
        latency: Latency::Fixed(Duration::from_millis(50)),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), "KEY", &[("mini", "gpt-4.1-mini")], ""),
    );
    let out = scratch.path().join("bench");
    let args = [
        "bench",
        "--config",
        job_file.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
        "--quiet",
        "--no-stream",
        "--concurrency",
        "4,8",
        "--duration",
        "60s",
    ];
    let mut child = scratch.spawn(&args, &[("KEY", "k")]);
    let started = Instant::now();
    while server.stats().requests < 20 {
        if started.elapsed() > Duration::from_secs(20) || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("the bench never got going: {:?}", child.wait_with_output());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for sheepdog");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the 60 s step went on after SIGTERM"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json written"))
            .expect("summary.json is JSON");
    assert_eq!(summary["bench"]["aborted"], "interrupted");
    let steps = summary["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "the second step never started");
    let requests = steps[0]["requests"].as_u64().expect("requests");
    assert!(requests >= 20, "{requests} requests in the step");
    assert_eq!(
        steps[0]["failed"], 0,
        "requests in flight finish normally: {}",
        steps[0]
    );
    assert_eq!(server.stats().in_flight, 0, "nothing left running at the mock");
    assert!(out.join("report.md").is_file());
    let csv = std::fs::read_to_string(out.join("requests.csv")).expect("requests.csv");
    assert_eq!(csv.lines().count() as u64, requests + 1, "one row per request");
}
