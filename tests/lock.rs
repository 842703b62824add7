//! One process per run folder: a second `sheepdog run` on a folder in use exits 2 at once,
//! naming the folder and the PID holding it, and sends nothing; two resumes started together
//! never send an item twice; a `kill -9` leaves no stale lock.

mod common;
mod durability_support;

use std::time::{Duration, Instant};

use common::{generated_input, start_mock, RunFolder};
use durability_support::{assert_exactly_one_line_each, Job};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

fn slow_mock() -> MockConfig {
    MockConfig {
        latency: Latency::Fixed(Duration::from_millis(20)),
        output_tokens: Some(2),
        ..MockConfig::default()
    }
}

/// Waits until the mock has seen `requests` requests (the run is under way, the lock held).
async fn wait_for_requests(server: &sheepdog::MockServer, requests: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().requests < requests {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("the first run never got going");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_folder_in_use_exits_2_at_once_naming_the_folder_and_pid() {
    let server = start_mock(slow_mock()).await;
    let (text, _) = generated_input(2_000, 0);
    let job = Job::new(&server, &text);
    let mut first = job.spawn(&["--concurrency", "2"]);
    wait_for_requests(&server, 5, &mut first).await;

    let before = server.stats().requests;
    let started = Instant::now();
    let second = job.run(&["--concurrency", "2"]).await;
    let took = started.elapsed();
    let during = server.stats().requests - before;

    second.assert_code(2);
    let stderr = &second.stderr;
    assert!(
        stderr.contains(job.out.to_str().expect("utf-8")),
        "names the folder: {stderr}"
    );
    assert!(
        stderr.contains(&format!("PID {}", first.id())),
        "names the holder: {stderr}"
    );
    assert!(took < Duration::from_secs(10), "refused at once, took {took:?}");
    // At 2 in flight and 20 ms per answer, the first run alone sends about 100 per second.
    assert!(
        during < 100 * (took.as_secs() + 2),
        "{during} requests while the second one ran"
    );

    // kill -9: the kernel releases the lock, and a resume goes on from where it stopped.
    first.kill().expect("SIGKILL");
    let _ = tokio::task::spawn_blocking(move || first.wait()).await;
    let resumed = job.run(&["--concurrency", "16"]).await;
    resumed.assert_code(0);
    let folder = RunFolder::read(&job.out);
    assert_eq!(folder.results.len(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_resumes_started_together_never_send_an_item_twice() {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(5)),
        output_tokens: Some(2),
        ..MockConfig::default()
    })
    .await;
    let (text, expected) = generated_input(3_000, 0);
    let job = Job::new(&server, &text);
    let mut first = job.spawn(&["--concurrency", "8"]);
    wait_for_requests(&server, 100, &mut first).await;
    first.kill().expect("SIGKILL");
    let _ = tokio::task::spawn_blocking(move || first.wait()).await;

    // A restarted pod while its old copy still runs: both resume the same folder at once.
    let resume = ["--resume", job.out.to_str().expect("utf-8"), "--concurrency", "8"];
    let (a, b) = (job.spawn(&resume), job.spawn(&resume));
    let wait = |child: std::process::Child| tokio::task::spawn_blocking(move || child.wait_with_output());
    let (a, b) = (wait(a), wait(b));
    let (a, b) = (
        a.await.expect("join").expect("wait"),
        b.await.expect("join").expect("wait"),
    );
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        [Some(0), Some(2)],
        "one resume ran, the other was refused:\n{}\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let refused = if a.status.code() == Some(2) { &a } else { &b };
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in use by another sheepdog process"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    assert_exactly_one_line_each(&job.out, &expected, false);
    let folder = RunFolder::read(&job.out);
    // The kill can land between a request being marked sent and reaching the wire: sheepdog then
    // counts it (as lost) though the server never saw it, so its count may exceed the server's by
    // at most the 8 in flight; a second copy sending items again would add hundreds.
    let (counted, received) = (folder.summary_u64("/totals/requests"), server.stats().requests);
    assert!(
        (received..=received + 8).contains(&counted),
        "summary.json counts {counted} requests, the server received {received}: none missed, none twice"
    );
}
