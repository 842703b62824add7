//! Any readable input: stdin (`-` and `/dev/stdin`), a FIFO, read in one pass (counted and
//! fingerprinted while sent); a resume needs a regular file; a signal ends a run whose reader
//! is blocked on a FIFO with no writer; an empty input is said (exit 2 unless --allow-empty).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{generated_input, job, start_mock, RunFolder, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Waits until process `pid` has its SIGTERM handler in place (signal 15 is bit 14 of `SigCgt`
/// in `/proc/PID/status`): a signal sent before would end it by the default action.
async fn catches_sigterm(pid: u32) {
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(30) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
        if caught.is_some_and(|mask| mask & (1 << 14) != 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("process {pid} never installed a SIGTERM handler");
}

/// `sheepdog run INPUT --config job.toml --out run --quiet` with stdin piped, not yet fed.
fn spawn(scratch: &Scratch, input: &str, extra: &[&str]) -> std::process::Child {
    let mut args = vec!["run", input, "--config", "job.toml", "--out", "run", "--quiet"];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_sheepdog"))
        .current_dir(scratch.path())
        .env_clear()
        .env(KEY_ENV, "k")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sheepdog starts")
}

async fn finish(child: std::process::Child) -> (Option<i32>, String) {
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for sheepdog");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code(), stderr)
}

/// Feeds `text` on stdin, closes it, waits for the end.
async fn run_from_stdin(scratch: &Scratch, input: &str, text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = spawn(scratch, input, extra);
    let mut stdin = child.stdin.take().expect("stdin piped");
    let text = text.to_string();
    tokio::task::spawn_blocking(move || stdin.write_all(text.as_bytes()))
        .await
        .expect("join")
        .expect("write stdin");
    finish(child).await
}

fn scratch_with_job(server: &sheepdog::MockServer) -> Scratch {
    let scratch = Scratch::new();
    scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    scratch
}

fn manifest(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json")).expect("run.json");
    serde_json::from_str(&text).expect("run.json is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_read_once_counted_fingerprinted_and_a_resume_asks_for_a_file() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = scratch_with_job(&server);
    let (text, _) = generated_input(300, 0);

    let (code, stderr) = run_from_stdin(&scratch, "-", &text, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let out = scratch.path().join("run");
    let folder = RunFolder::read(&out);
    assert_eq!(folder.results.len(), 300);
    assert_eq!(folder.summary_u64("/totals/lines"), 300);
    assert_eq!(folder.summary_u64("/totals/unsent"), 0);
    assert_eq!(server.stats().requests, 300);
    let input = &manifest(&out)["input"];
    assert_eq!(input["streamed"], true);
    assert_eq!(input["lines"], 300);
    assert_eq!(input["size"], text.len() as u64);
    let sha = sheepdog::output::manifest::sha256_hex(text.as_bytes());
    assert_eq!(input["sha256"], sha.as_str(), "fingerprinted while read");

    // A pipe cannot be resumed from: it says so, and sends nothing.
    let (code, stderr) = run_from_stdin(&scratch, "-", &text, &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("regular file"), "{stderr}");
    // The same input as a file continues the folder (nothing left to send).
    let file = scratch.write("input.jsonl", &text);
    let resumed = scratch
        .run(
            &[
                "run",
                file.to_str().expect("utf-8"),
                "--config",
                "job.toml",
                "--out",
                "run",
                "--quiet",
            ],
            &[(KEY_ENV, "k")],
        )
        .await;
    resumed.assert_code(0);
    assert_eq!(server.stats().requests, 300, "nothing was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_stdin_as_a_path_works_like_a_pipe() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = scratch_with_job(&server);
    let (text, _) = generated_input(50, 7);
    let (code, stderr) = run_from_stdin(&scratch, "/dev/stdin", &text, &[]).await;
    assert_eq!(code, Some(1), "invalid lines make it exit 1: {stderr}");
    let folder = RunFolder::read(&scratch.path().join("run"));
    assert_eq!(folder.results.len() + folder.errors.len(), 50);
    assert!(!stderr.contains("unsent"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_is_read_in_one_pass_and_sigterm_ends_a_run_waiting_on_one() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = scratch_with_job(&server);
    let fifo = scratch.path().join("prompts.fifo");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    let (text, _) = generated_input(120, 0);

    let child = spawn(&scratch, fifo.to_str().expect("utf-8"), &[]);
    let path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(path, text));
    let (code, stderr) = finish(child).await;
    writer.join().expect("writer thread").expect("write the FIFO");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(RunFolder::read(&scratch.path().join("run")).results.len(), 120);
    assert_eq!(server.stats().requests, 120);

    // No writer ever opens the FIFO: the reader blocks, and SIGTERM still ends the run.
    let scratch = scratch_with_job(&server);
    let fifo = scratch.path().join("never.fifo");
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).expect("mkfifo");
    let child = spawn(&scratch, fifo.to_str().expect("utf-8"), &[]);
    catches_sigterm(child.id()).await;
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let (code, stderr) = finish(child).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// A pipe's lines are sent as they come: a line is not held back until more follow (the reader
/// hands a file's lines over in batches, a pipe's one by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_on_a_pipe_that_stays_open_are_sent_before_it_closes() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = scratch_with_job(&server);
    // More lines than the reader hands over at once, so some would be left in its hands.
    let (text, _) = generated_input(300, 0);
    let mut child = spawn(&scratch, "-", &[]);
    let mut stdin = child.stdin.take().expect("stdin piped");
    stdin.write_all(text.as_bytes()).expect("write stdin");
    stdin.flush().expect("flush stdin");
    let waited = Instant::now();
    while server.stats().requests < 300 && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = server.stats().requests;
    drop(stdin);
    let (code, stderr) = finish(child).await;
    assert_eq!(sent, 300, "lines held back while the pipe stayed open; {stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_input_is_said_and_exits_2_unless_allowed() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = scratch_with_job(&server);
    let empty = scratch.write("empty.jsonl", "\n  \n");
    let path = empty.to_str().expect("utf-8");

    let refused = scratch
        .run(
            &["run", path, "--config", "job.toml", "--out", "run"],
            &[(KEY_ENV, "k")],
        )
        .await;
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("empty.jsonl") && refused.stderr.contains("no lines"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--allow-empty"), "{}", refused.stderr);
    assert!(!scratch.path().join("run").exists(), "no run folder is left behind");

    let allowed = scratch
        .run(
            &["run", path, "--config", "job.toml", "--out", "run", "--allow-empty"],
            &[(KEY_ENV, "k")],
        )
        .await;
    allowed.assert_code(0);

    let scratch = scratch_with_job(&server);
    let (code, stderr) = run_from_stdin(&scratch, "-", "", &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no lines"), "{stderr}");
    assert_eq!(server.stats().requests, 0);
}
