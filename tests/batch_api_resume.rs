//! `sheepdog run --batch-api` interrupted: kill -9 during upload, right after a batch is created
//! and while polling, then `--resume`; Ctrl-C while polling, `batch status`, `batch cancel`.

mod batch_support;
mod common;

use std::time::Duration;

use serde_json::{json, Value};
use sheepdog::mock::BatchSettings;

use batch_support::*;
use common::{start_mock, RunFolder, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_upload_after_creation_and_while_polling_then_resume_sends_nothing_twice() {
    let server = start_mock(mock(2000, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let input_path = path_text(&scratch.write("input.jsonl", &input(3000)));
    let job_path = path_text(&scratch.write("job.toml", &job(&server, "batch_max_lines = 1000")));
    let out = scratch.path().join("run");
    let out_text = path_text(&out);
    let first = [
        "run",
        &input_path,
        "--config",
        &job_path,
        "--batch-api",
        "--poll-interval",
        "20ms",
        "-q",
    ];
    let mut fresh: Vec<&str> = first.to_vec();
    fresh.extend(["--out", &out_text]);
    let mut resume: Vec<&str> = first.to_vec();
    resume.extend(["--resume", &out_text]);

    // 1. As soon as the batch files are split and the uploads begin.
    let mut child = scratch.spawn(&fresh, &[]);
    wait_for("the batch state file", || !parts(&out).is_empty()).await;
    child.kill().expect("kill -9");
    let _ = child.wait();

    // 2. Right after the first batch is created.
    let mut child = scratch.spawn(&resume, &[]);
    wait_for("a batch created", || server.stats().batches_created >= 1).await;
    child.kill().expect("kill -9");
    let _ = child.wait();

    // 3. While polling: every batch created, none finished.
    let mut child = scratch.spawn(&resume, &[]);
    wait_for("every batch created", || {
        let parts = parts(&out);
        parts.len() == 3 && parts.iter().all(|p| p["batch_id"].is_string())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    let stats = server.stats();
    assert!(stats.files_uploaded <= 3 && stats.batches_created <= 3, "{stats:?}");

    // The narrowest windows: killed after the provider stored the upload of part 3 and created
    // its batch, before either id reached the state file.
    let mut state = batch_state(&out);
    let part = &mut state["parts"][2];
    part["input_file_id"] = Value::Null;
    part["uploading"] = json!(true);
    part["batch_id"] = Value::Null;
    part["creating"] = json!(true);
    std::fs::write(out.join("batch_api.json"), state.to_string()).expect("write state");

    let finished = scratch.run(&resume, &[]).await;
    finished.assert_code(0);
    let stats = server.stats();
    assert_eq!(
        (stats.files_uploaded, stats.batches_created),
        (3, 3),
        "nothing sent twice"
    );
    assert_eq!(stats.requests, 3000, "every line answered once");
    let folder = RunFolder::read(&out);
    let ids = ids(&folder);
    assert_eq!(ids.len(), 3000);
    assert!(ids.values().all(|&n| n == 1));
    assert!(folder.errors.is_empty(), "{:?}", folder.errors.first());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_polling_leaves_the_batches_running_and_batch_cancel_cancels_them() {
    let server = start_mock(mock(20_000, BatchSettings::default())).await;
    let scratch = Scratch::new();
    let input_path = path_text(&scratch.write("input.jsonl", &input(20)));
    let job_path = path_text(&scratch.write("job.toml", &job(&server, "batch_max_lines = 10")));
    let out = scratch.path().join("run");
    let out_text = path_text(&out);
    let child = scratch.spawn(
        &[
            "run",
            &input_path,
            "--config",
            &job_path,
            "--batch-api",
            "--poll-interval",
            "20ms",
            "--out",
            &out_text,
        ],
        &[],
    );
    wait_for("both batches created", || {
        let parts = parts(&out);
        parts.len() == 2 && parts.iter().all(|p| p["batch_id"].is_string())
    })
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("sheepdog output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("2 batch(es) left running at the provider"), "{stderr}");
    assert!(stderr.contains("sheepdog batch cancel"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");

    let status = scratch.run(&["batch", "status", &out_text], &[]).await;
    status.assert_code(0);
    assert_eq!(
        status.stdout.matches("in_progress").count() + status.stdout.matches("validating").count(),
        2,
        "{}",
        status.stdout
    );
    let cancel = scratch.run(&["batch", "cancel", &out_text], &[]).await;
    cancel.assert_code(0);
    assert_eq!(cancel.stdout.matches("cancelling").count(), 2, "{}", cancel.stdout);
    assert_eq!(server.stats().batches_created, 2, "status and cancel create nothing");
}
