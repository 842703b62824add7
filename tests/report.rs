//! `sheepdog report DIR`: every format re-rendered from a run folder equals the file the run
//! wrote, and a folder whose run never finished still gets a report.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{job, start_mock, Scratch};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Runs 30 prompts (with some 503s, so retries show) through a mock and returns the run folder.
async fn finished_run(scratch: &Scratch) -> std::path::PathBuf {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(2)),
        failures: vec![(503, 0.3)],
        retry_after: Duration::from_millis(1),
        seed: 3,
        ..MockConfig::default()
    })
    .await;
    let lines: String = (0..30)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Question number {i}?\"}}\n"))
        .collect();
    let retry = "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\nmax_attempts = 5\n";
    let job_text = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], retry);
    let (out, finished) = scratch
        .run_job(&lines, &job_text, &["--quiet"], &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(0);
    out
}

fn report(scratch: &Scratch, dir: &Path, format: &str) -> common::Finished {
    let dir = dir.to_str().expect("utf-8 path");
    scratch.run_blocking(&["report", dir, "--format", format], &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_re_rendered_equals_the_file_written_during_the_run() {
    let scratch = Scratch::new();
    let dir = finished_run(&scratch).await;
    for (format, file) in [
        ("md", "report.md"),
        ("html", "report.html"),
        ("json", "summary.json"),
        ("csv", "requests.csv"),
    ] {
        let written = fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let again = report(&scratch, &dir, format);
        again.assert_code(0);
        assert!(
            again.stdout == written,
            "--format {format} differs from {file} written by the run"
        );
        assert!(again.stderr.is_empty(), "{}", again.stderr);
    }
    // requests.csv has a row per request: the 30 items plus their retries.
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let requests = summary["totals"]["requests"].as_u64().unwrap();
    let csv = fs::read_to_string(dir.join("requests.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, requests + 1, "{csv}");
    assert!(requests > 30, "the mock's 503s should have caused retries");

    // -o writes the same bytes to a file.
    let copy = scratch.path().join("copy.html");
    let out = report(&scratch, &dir, "html");
    out.assert_code(0);
    scratch
        .run_blocking(
            &[
                "report",
                dir.to_str().unwrap(),
                "--format",
                "html",
                "-o",
                copy.to_str().unwrap(),
            ],
            &[],
        )
        .assert_code(0);
    assert_eq!(fs::read_to_string(copy).unwrap(), out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_never_wrote_its_summary_still_gets_a_report() {
    let scratch = Scratch::new();
    let dir = finished_run(&scratch).await;
    let original: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    // What a crash leaves: the result files and requests.csv, no summary or reports.
    for file in ["summary.json", "report.md", "report.html"] {
        fs::remove_file(dir.join(file)).unwrap();
    }
    let json = report(&scratch, &dir, "json");
    json.assert_code(0);
    assert!(json.stderr.contains("rebuilt from requests.csv"), "{}", json.stderr);
    let rebuilt: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    for pointer in [
        "/totals/succeeded",
        "/totals/requests",
        "/totals/retries",
        "/tokens/input",
        "/tokens/output",
        "/latency_ms/count",
        "/latency_ms/p50",
    ] {
        assert_eq!(rebuilt.pointer(pointer), original.pointer(pointer), "{pointer}");
    }
    let md = report(&scratch, &dir, "md");
    md.assert_code(0);
    assert!(
        md.stdout.contains("> **Aborted:** the run did not finish"),
        "{}",
        md.stdout
    );
    let html = report(&scratch, &dir, "html");
    html.assert_code(0);
    assert!(html.stdout.contains("id=\"chart-latency-histogram\""));
}

#[test]
fn a_folder_that_is_not_a_run_is_refused_with_exit_2() {
    let scratch = Scratch::new();
    let empty = scratch.path().join("nothing");
    fs::create_dir(&empty).unwrap();
    let md = report(&scratch, &empty, "md");
    md.assert_code(2);
    assert!(
        md.stderr.contains("no summary.json and no requests.csv"),
        "{}",
        md.stderr
    );
    let csv = report(&scratch, &empty, "csv");
    csv.assert_code(2);
    assert!(csv.stderr.contains("not a sheepdog run folder"), "{}", csv.stderr);

    fs::write(empty.join("summary.json"), "{\"schema_version\": 99}").unwrap();
    let newer = report(&scratch, &empty, "md");
    newer.assert_code(2);
    assert!(newer.stderr.contains("schema_version 99"), "{}", newer.stderr);
}
