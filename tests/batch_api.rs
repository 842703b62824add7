//! `sheepdog run --batch-api` against the mock's Files and Batches APIs on 127.0.0.1:0: split,
//! upload, create, poll, collect, reports, what did not come back (`--retry-failed`,
//! `--then-live`). Crashes and interrupts: `batch_api_resume.rs`.

mod batch_support;
mod common;

use std::time::Duration;

use sheepdog::mock::BatchSettings;
use sheepdog::MockConfig;

use batch_support::*;
use common::{read_jsonl, start_mock, RunFolder, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_input_in_three_batches_with_reports_and_half_the_live_cost() {
    let server = start_mock(mock(150, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(
            &input(10),
            &job(&server, "batch_max_lines = 4"),
            &["--batch-api", "--poll-interval", "20ms"],
            &[],
        )
        .await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 10);
    assert!(folder.errors.is_empty(), "{:?}", folder.errors);
    assert!(ids(&folder).values().all(|&n| n == 1));
    let line = &folder.results[0];
    assert_eq!(line["sheepdog"]["via"], "batch_api");
    assert!(line["sheepdog"]["batch_id"]
        .as_str()
        .expect("batch id")
        .starts_with("batch_"));
    assert!(line["id"].as_str().expect("id").starts_with("batch_req_"));
    assert_eq!(line["response"]["status_code"], 200);
    assert_eq!(line["response"]["body"]["object"], "chat.completion");

    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (3, 3));
    assert_eq!(stats.requests, 10);
    let batch = &folder.summary["batch_api"];
    assert_eq!(batch["batches"].as_array().expect("batches").len(), 3);
    assert_eq!(batch["items"], 10);
    let (at_batch, at_live) = (
        batch["cost_batch_usd"].as_f64().expect("batch cost"),
        batch["cost_live_usd"].as_f64().expect("live cost"),
    );
    assert!(at_batch > 0.0);
    assert!((at_batch * 2.0 - at_live).abs() < 1e-9, "{at_batch} vs {at_live}");
    assert!((folder.summary["cost"]["total_usd"].as_f64().expect("cost") - at_batch).abs() < 1e-9);
    assert!(folder.summary["batch_latency_ms"]["count"].as_u64() == Some(10));
    assert_eq!(
        folder.summary["latency_ms"]["count"], 0,
        "no live latency in a batch run"
    );
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("## Batch API"), "{report}");
    assert!(out.join("report.html").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_batch_and_failed_lines_go_to_errors_then_retry_failed_and_then_live() {
    // Batch 2 of 2 expires half-way; 5% of lines fail.
    let server = start_mock(mock(
        150,
        BatchSettings {
            fail_share: 0.05,
            expire: vec![2],
            ..BatchSettings::default()
        },
    ))
    .await;
    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(
            &input(200),
            &job(&server, "batch_max_lines = 100"),
            &["--batch-api", "--poll-interval", "20ms", "-q"],
            &[],
        )
        .await;
    finished.assert_code(1);
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len() + folder.errors.len(), 200);
    let expired = folder
        .errors
        .iter()
        .filter(|l| l["error"]["code"] == "batch_expired")
        .count();
    assert_eq!(expired, 50, "half of the expiring batch");
    let failed: Vec<String> = folder
        .errors
        .iter()
        .map(|l| l["custom_id"].as_str().expect("id").to_string())
        .collect();
    assert!(failed.len() > 50, "some lines failed besides the expired ones");
    assert!(folder.errors.iter().all(|l| l["sheepdog"]["via"] == "batch_api"));

    // --retry-failed: exactly the failed lines go in one new batch.
    let before = server.stats();
    let out_text = path_text(&out);
    let input_path = path_text(&scratch.path().join("input.jsonl"));
    let job_path = path_text(&scratch.path().join("job.toml"));
    let retry = scratch
        .run(
            &[
                "run",
                &input_path,
                "--config",
                &job_path,
                "--batch-api",
                "--poll-interval",
                "20ms",
                "--resume",
                &out_text,
                "--retry-failed",
                "-q",
            ],
            &[],
        )
        .await;
    let after = server.stats();
    assert_eq!(after.batches_created - before.batches_created, 1, "{}", retry.stderr);
    let state = batch_state(&out);
    let last = state["parts"]
        .as_array()
        .expect("parts")
        .last()
        .expect("a part")
        .clone();
    assert_eq!(last["lines"].as_u64(), Some(failed.len() as u64));
    let folder = RunFolder::read(&out);
    assert!(ids(&folder).values().all(|&n| n == 1), "one line per item");
    assert_eq!(ids(&folder).len(), 200);
    let replaced = read_jsonl(&out.join("errors.replaced.jsonl"));
    assert_eq!(replaced.len(), failed.len());

    // --then-live: what still failed is answered live (the live mock path has no batch faults).
    let still_failed = folder.errors.len();
    let requests_before = server.stats().requests;
    let live = scratch
        .run(
            &[
                "run",
                &input_path,
                "--config",
                &job_path,
                "--batch-api",
                "--then-live",
                "--resume",
                &out_text,
                "-q",
            ],
            &[],
        )
        .await;
    live.assert_code(0);
    let folder = RunFolder::read(&out);
    assert!(folder.errors.is_empty(), "{:?}", folder.errors);
    assert_eq!(folder.results.len(), 200);
    assert_eq!(server.stats().requests - requests_before, still_failed as u64);
    let live_lines = folder.results.iter().filter(|l| l["sheepdog"]["via"].is_null()).count();
    assert_eq!(live_lines, still_failed);
    assert!(folder.summary["batch_api"]["items"].as_u64().expect("items") >= 200 - still_failed as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_input_in_three_batches_every_line_answered_once_at_half_price() {
    let server = start_mock(mock(300, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let started = std::time::Instant::now();
    let input_path = path_text(&scratch.write("input.jsonl", &input(120_000)));
    let job_path = path_text(&scratch.write("job.toml", &job(&server, "batch_max_lines = 50000")));
    let out = scratch.path().join("run");
    let args = [
        "run",
        &input_path,
        "--config",
        &job_path,
        "--out",
        &path_text(&out),
        "--batch-api",
        "--poll-interval",
        "50ms",
        "-q",
    ];
    // 120,000 lines through a debug build of both sides: longer than the usual run timeout.
    let mut command = scratch.command(&args, &[]);
    command.timeout(Duration::from_secs(600));
    let finished = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("thread");
    common::Finished::from_output(finished.expect("sheepdog runs")).assert_code(0);
    eprintln!("120,000 lines through the Batch API in {:?}", started.elapsed());
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 120_000);
    assert!(folder.errors.is_empty());
    let ids = ids(&folder);
    assert_eq!(ids.len(), 120_000);
    assert!(ids.values().all(|&n| n == 1));
    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (3, 3));
    assert_eq!(stats.requests, 120_000, "every line answered once");
    let lines: Vec<u64> = batch_state(&out)["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| p["lines"].as_u64().expect("lines"))
        .collect();
    assert_eq!(lines, [50_000, 50_000, 20_000]);
    let batch = &folder.summary["batch_api"];
    let (at_batch, at_live) = (
        batch["cost_batch_usd"].as_f64().expect("batch cost"),
        batch["cost_live_usd"].as_f64().expect("live cost"),
    );
    assert!(
        (at_batch * 2.0 - at_live).abs() < 1e-6 * at_live,
        "{at_batch} vs {at_live}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn then_live_on_a_new_run_sends_batches_first_and_what_failed_live() {
    let server = start_mock(mock(
        100,
        BatchSettings {
            fail_share: 0.2,
            ..BatchSettings::default()
        },
    ))
    .await;
    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(
            &input(50),
            &job(&server, ""),
            &["--batch-api", "--then-live", "--poll-interval", "20ms", "-q"],
            &[],
        )
        .await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 50);
    assert!(folder.errors.is_empty());
    let live = folder.results.iter().filter(|l| l["sheepdog"]["via"].is_null()).count();
    let failed_in_batch = read_jsonl(&out.join("errors.replaced.jsonl")).len();
    assert!(failed_in_batch > 0, "a fifth of the lines failed in the batch");
    assert_eq!(live, failed_in_batch, "exactly those were sent live");
    let stats = server.stats();
    assert_eq!(stats.batches_created, 1);
    assert_eq!(stats.requests, 50 - failed_in_batch as u64 + live as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_answered_429_wait_the_retry_after_and_go_on() {
    let server = start_mock(MockConfig {
        retry_after: Duration::from_millis(300),
        ..mock(
            50,
            BatchSettings {
                poll_429: 3,
                ..BatchSettings::default()
            },
        )
    })
    .await;
    let scratch = Scratch::new();
    let started = std::time::Instant::now();
    let (out, finished) = scratch
        .run_job(
            &input(5),
            &job(&server, ""),
            &["--batch-api", "--poll-interval", "10ms", "-q"],
            &[],
        )
        .await;
    finished.assert_code(0);
    // Three 429s asking for 300 ms each, never undercut (the 10 ms poll interval would be).
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(RunFolder::read(&out).results.len(), 5);
    assert_eq!(server.stats().batches_created, 1);
}

/// `--shard K/N` with `--batch-api`: each shard's process puts only its own lines into batches,
/// so the shards together answer every line once and the provider is sent each line once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_sends_only_its_own_lines_in_batches() {
    let server = start_mock(mock(100, BatchSettings::default())).await;
    let mut answered = std::collections::BTreeMap::new();
    for shard in ["0/2", "1/2"] {
        let scratch = Scratch::new();
        let (out, finished) = scratch
            .run_job(
                &input(20),
                &job(&server, ""),
                &["--batch-api", "--poll-interval", "20ms", "--shard", shard],
                &[],
            )
            .await;
        finished.assert_code(0);
        let folder = RunFolder::read(&out);
        assert!(folder.errors.is_empty(), "{:?}", folder.errors);
        assert!(
            !folder.results.is_empty() && folder.results.len() < 20,
            "shard {shard} answered {} of the 20 lines",
            folder.results.len()
        );
        for (id, n) in ids(&folder) {
            *answered.entry(id).or_insert(0) += n;
        }
    }
    assert_eq!(answered.len(), 20, "{answered:?}");
    assert!(answered.values().all(|&n| n == 1), "{answered:?}");
    assert_eq!(server.stats().requests, 20, "each line sent once over both shards");
}
