//! Exact counts in every path: summary.json's requests, the rows of requests.csv and the mock
//! server's own count of requests agree after a normal run, a SIGKILL + resume, a full disk +
//! resume, a SIGTERM whose drain drops requests in flight + resume, and a --retry-failed resume.

mod common;
mod durability_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{generated_input, start_mock, RunFolder};
use durability_support::Job;
use sheepdog::mock::Latency;
use sheepdog::{MockConfig, MockServer};

/// Rows of requests.csv (header excluded).
fn csv_rows(out: &Path) -> u64 {
    let text = std::fs::read_to_string(out.join("requests.csv")).expect("requests.csv");
    text.lines().count().saturating_sub(1) as u64
}

/// summary.json's requests, requests.csv's rows and the server's count are one number.
fn assert_counts_agree(out: &Path, server: &MockServer, when: &str) {
    let folder = RunFolder::read(out);
    let summary = folder.summary_u64("/totals/requests");
    let received = server.stats().requests;
    assert_eq!(summary, received, "{when}: summary.json requests vs the server's count");
    assert_eq!(
        csv_rows(out),
        received,
        "{when}: requests.csv rows vs the server's count"
    );
}

fn mock(latency_ms: u64, failures: Vec<(u16, f64)>) -> MockConfig {
    MockConfig {
        latency: Latency::Fixed(Duration::from_millis(latency_ms)),
        output_tokens: Some(2),
        failures,
        retry_after: Duration::from_millis(1),
        seed: 11,
        ..MockConfig::default()
    }
}

async fn wait_for(server: &MockServer, requests: u64, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().requests < requests {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("the run never got going");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_exit(child: std::process::Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait for sheepdog")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_run_with_retries_counts_every_request_once() {
    let server = start_mock(mock(1, vec![(500, 0.1), (503, 0.1)])).await;
    let (text, _) = generated_input(400, 50);
    let job = Job::new(&server, &text);
    let finished = job.run(&["--concurrency", "16"]).await;
    finished.assert_code(1);
    assert!(server.stats().requests > 400, "some requests were retried");
    assert_counts_agree(&job.out, &server, "normal run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_counts_the_requests_whose_answers_were_lost() {
    let server = start_mock(mock(30, vec![(500, 0.05)])).await;
    let (text, _) = generated_input(1_000, 0);
    let job = Job::new(&server, &text);
    let mut child = job.spawn(&["--concurrency", "32"]);
    wait_for(&server, 200, &mut child).await;
    child.kill().expect("SIGKILL");
    let _ = wait_exit(child).await;
    // The mock still answers the requests in flight at the kill: wait until it has.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let finished = job.run(&["--concurrency", "32"]).await;
    assert!(matches!(finished.code, Some(0 | 1)), "{}", finished.stderr);
    // A request is marked in requests.sent before it goes out, so a kill can catch one marked
    // but not yet on the wire: sheepdog then counts it as lost, never fewer requests than it may
    // have paid for. Its own two counts agree exactly; the server's is equal or lower by at most
    // the requests in flight at the kill.
    let folder = RunFolder::read(&job.out);
    let summary = folder.summary_u64("/totals/requests");
    let received = server.stats().requests;
    assert_eq!(
        csv_rows(&job.out),
        summary,
        "SIGKILL + resume: requests.csv rows vs summary.json"
    );
    assert!(
        (received..=received + 32).contains(&summary),
        "SIGKILL + resume: summary.json says {summary} requests, the server received {received}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_whose_drain_drops_requests_then_resume_counts_them() {
    let server = start_mock(mock(400, vec![])).await;
    let (text, _) = generated_input(300, 0);
    let job = Job::new(&server, &text);
    let mut child = job.spawn(&["--concurrency", "16", "--drain-timeout", "50ms"]);
    wait_for(&server, 40, &mut child).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let output = wait_exit(child).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped = RunFolder::read(&job.out);
    let lost = stopped.summary["errors"].to_string();
    assert!(
        lost.contains("lost"),
        "the dropped requests are counted as lost: {lost}"
    );
    assert_counts_agree(&job.out, &server, "SIGTERM drain");

    let finished = job.run(&["--concurrency", "64"]).await;
    finished.assert_code(0);
    assert_counts_agree(&job.out, &server, "SIGTERM drain + resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_resume_counts_the_replaced_items_requests() {
    let server = start_mock(mock(1, vec![(400, 0.2)])).await;
    let (text, _) = generated_input(300, 0);
    let job = Job::new(&server, &text);
    job.run(&["--concurrency", "16"]).await.assert_code(1);
    assert_counts_agree(&job.out, &server, "first part");
    let failed = RunFolder::read(&job.out).errors.len();
    assert!(failed > 20, "{failed} items failed for good");

    job.run(&["--concurrency", "16", "--retry-failed"]).await;
    assert_counts_agree(&job.out, &server, "--retry-failed resume");
}

/// A tmpfs of `size` mounted on `dir` (root only); unmounted on drop.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).expect("mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "the disk-full test needs to mount a small tmpfs (root and util-linux's mount)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let grown = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(grown.success(), "remount the tmpfs larger");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_run_and_the_resume_counts_every_request() {
    let server = start_mock(mock(2, vec![])).await;
    let (text, _) = generated_input(3_000, 0);
    let job = Job::new(&server, &text);
    let Some(disk) = SmallDisk::mount(&job.out, "600k") else {
        return;
    };
    let full = job.run(&["--concurrency", "16"]).await;
    full.assert_code(3);
    assert!(full.stderr.contains("No space left"), "{}", full.stderr);
    let sent = server.stats().requests;
    assert!(
        (50..3_000).contains(&sent),
        "the run stopped when the disk filled ({sent} sent)"
    );

    disk.grow("64m");
    let finished = job.run(&["--concurrency", "16"]).await;
    finished.assert_code(0);
    assert_eq!(RunFolder::read(&job.out).results.len(), 3_000);
    // The stop at the failed write can come between a request being marked sent and it going
    // out (seen once as 3012 vs 3011): like a kill, that request is counted as lost, never
    // missed. sheepdog's own counts agree exactly; the server's is equal or lower by at most
    // the 16 in flight.
    let folder = RunFolder::read(&job.out);
    let (counted, received) = (folder.summary_u64("/totals/requests"), server.stats().requests);
    assert_eq!(
        csv_rows(&job.out),
        counted,
        "disk full + resume: requests.csv rows vs summary.json"
    );
    assert!(
        (received..=received + 16).contains(&counted),
        "disk full + resume: summary.json says {counted} requests, the server received {received}"
    );
}
