//! Durable bulk jobs: a torn last line, a graceful stop by SIGINT, a changed input refused,
//! --retry-failed, an unwritable run folder. Every test checks the invariant that matters:
//! exactly one output line per non-blank input line. (The SIGKILL test is in durability_kill.rs.)

mod common;
mod durability_support;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{generated_input, read_jsonl, start_mock, RunFolder};
use durability_support::{assert_exactly_one_line_each, Job, KEY_ENV};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_is_cut_off_and_its_item_sent_again() {
    let server = start_mock(MockConfig::default()).await;
    let (text, expected) = generated_input(60, 0);
    let job = Job::new(&server, &text);
    job.run(&[]).await.assert_code(0);

    // A crash in the middle of writing the last line: its end never reached the disk.
    let results = job.out.join("results.jsonl");
    let bytes = std::fs::read(&results).expect("results.jsonl");
    let cut = bytes.len() - 40;
    std::fs::write(&results, &bytes[..cut]).expect("tear the last line");
    let before = server.stats().requests;

    let resumed = job.run(&["--resume", job.out.to_str().expect("utf-8")]).await;

    resumed.assert_code(0);
    assert_eq!(server.stats().requests - before, 1, "only the torn item is sent again");
    assert_exactly_one_line_each(&job.out, &expected, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_drains_requests_in_flight_writes_reports_exits_3_and_resume_finishes() {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(150)),
        ..MockConfig::default()
    })
    .await;
    let (text, expected) = generated_input(300, 0);
    let job = Job::new(&server, &text);

    let child = job.spawn(&["--concurrency", "8"]);
    // Wait until requests are in flight, then Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().requests < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("sheepdog output");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--resume"), "says how to resume: {stderr}");
    let folder = RunFolder::read(&job.out);
    let answered = server.stats().by_status.get(&200).copied().unwrap_or(0);
    assert_eq!(
        folder.results.len() as u64,
        answered,
        "every request in flight was awaited and written"
    );
    assert!(folder.results.len() < 300, "the stop came before the end");
    assert!(folder.summary["job"]["aborted"].as_str().is_some());
    assert!(job.out.join("report.md").exists());

    let resumed = job.run(&["--concurrency", "32"]).await;
    resumed.assert_code(0);
    assert_exactly_one_line_each(&job.out, &expected, false);
    assert_eq!(server.stats().requests, 300, "no item was paid for twice");
    let folder = RunFolder::read(&job.out);
    assert_eq!(folder.summary_u64("/totals/succeeded"), 300);
    assert_eq!(folder.summary_u64("/job/parts"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_a_changed_input_file_is_refused() {
    let server = start_mock(MockConfig::default()).await;
    let (text, _) = generated_input(30, 0);
    let job = Job::new(&server, &text);
    let first = job.run(&["--concurrency", "1", "--max-attempts", "1"]).await;
    first.assert_code(0);
    let before = server.stats().requests;

    std::fs::write(&job.input, text.replace("Question 3?", "Question three?")).expect("edit");
    let refused = job.run(&["--resume", job.out.to_str().expect("utf-8")]).await;

    refused.assert_code(2);
    assert!(refused.stderr.contains("another input file"), "{}", refused.stderr);
    assert_eq!(server.stats().requests, before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_sends_failed_items_again_and_replaces_their_error_lines() {
    let server = start_mock(MockConfig {
        failures: vec![(400, 0.25)],
        seed: 9,
        ..MockConfig::default()
    })
    .await;
    let (text, expected) = generated_input(200, 50);
    let job = Job::new(&server, &text);
    job.run(&[]).await.assert_code(1);
    let first = RunFolder::read(&job.out);
    let failed: Vec<u64> = first
        .errors
        .iter()
        .filter(|l| l["sheepdog"]["error_class"] == "bad_request")
        .map(|l| l["sheepdog"]["line"].as_u64().expect("line"))
        .collect();
    assert!(failed.len() >= 10, "the mock failed some items with 400");

    let before = server.stats().requests;
    job.run(&[]).await.assert_code(1);
    assert_eq!(
        server.stats().requests,
        before,
        "a plain resume of a finished job sends nothing"
    );

    job.run(&["--retry-failed"]).await;
    assert_eq!(
        server.stats().requests - before,
        failed.len() as u64,
        "each failed item is sent once more (a 400 is not retried)"
    );
    assert_exactly_one_line_each(&job.out, &expected, true);
    let replaced = read_jsonl(&job.out.join("errors.replaced.jsonl"));
    assert_eq!(replaced.len(), failed.len(), "the old error lines are kept apart");
    let folder = RunFolder::read(&job.out);
    let now_ok = failed
        .iter()
        .filter(|n| folder.results.iter().any(|l| l["sheepdog"]["line"] == **n))
        .count();
    assert!(now_ok > 0, "some of them succeeded this time");
    assert_eq!(folder.summary_u64("/totals/succeeded"), folder.results.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_run_folder_is_refused_before_any_request() {
    let server = start_mock(MockConfig::default()).await;
    let (text, _) = generated_input(20, 0);
    let job = Job::new(&server, &text);
    // A file where a folder should be: not even root can create the run folder under it.
    let blocker = job.scratch.write("blocker", "a file");
    let out = blocker.join("run");

    let finished = job
        .scratch
        .run(
            &[
                "run",
                job.input.to_str().expect("utf-8"),
                "--config",
                job.config.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
            ],
            &[(KEY_ENV, "k")],
        )
        .await;

    finished.assert_code(2);
    assert!(finished.stderr.contains("not writable"), "{}", finished.stderr);
    assert_eq!(server.stats().requests, 0, "no request before the check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_folder_removed_mid_run_stops_dispatching_at_once() {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(20)),
        ..MockConfig::default()
    })
    .await;
    let (text, _) = generated_input(3_000, 0);
    let job = Job::new(&server, &text);
    let child = job.spawn(&["--concurrency", "4"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().requests < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    std::fs::remove_dir_all(&job.out).expect("remove the run folder");
    let removed_at = server.stats().requests;

    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("sheepdog output");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot write") && stderr.contains("deleted"),
        "{stderr}"
    );
    // The next sync (at most a second later) notices; at 4 in flight and 20 ms per answer
    // that is about 200 more requests, far from the 3,000 of the file.
    let sent = server.stats().requests;
    assert!(
        sent - removed_at < 600,
        "{} requests after the folder was removed",
        sent - removed_at
    );
}
