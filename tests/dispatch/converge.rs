//! The rate controller against the mock's limiter and random 429s: noise does not slow a run,
//! a real limit is found and held with and without headers, and found again when it drops.
//!
//! Scaled from the figures to keep the suite short: the limits are twice as high
//! (6,000 instead of 3,000 per minute) so a run of 1,500 items takes 15 s instead of 30 s; the
//! shares asserted are the issue's.

use std::time::{Duration, Instant};

use sheepdog::config::Overrides;
use sheepdog::mock::{LoggedRequest, MockConfig};

use super::harness::{by_prompt, job, mock, prompts, run};

fn overrides(concurrency: usize) -> Overrides {
    Overrides {
        concurrency: Some(concurrency),
        ..Overrides::default()
    }
}

fn share_429(log: &[&LoggedRequest]) -> f64 {
    log.iter().filter(|r| r.status == 429).count() as f64 / log.len().max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_429s_are_noise_and_do_not_slow_the_run() {
    // A gateway passing its upstream's 429s through at random: a fifth of all requests.
    let server = mock(MockConfig {
        failures: vec![(429, 0.2)],
        retry_after: Duration::from_secs(1),
        seed: 7,
        ..MockConfig::default()
    })
    .await;
    let started = Instant::now();
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1-mini"], ""),
        &prompts(2000),
        overrides(32),
    )
    .await;
    let took = started.elapsed();
    let totals = &ran.output.summary.totals;
    assert!(totals.succeeded >= 1998, "{} of 2000 succeeded", totals.succeeded);
    // Bound by concurrency and the 1 s waits alone: 32 in flight, a fifth of the tries wait
    // 1 s, so about 16 s; a target-wide pause per 429 took over an hour.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let log = server.stats().log;
    let mut retries = 0;
    for requests in by_prompt(&log).values() {
        for pair in requests.windows(2) {
            if pair[0].status == 429 {
                retries += 1;
                let gap = pair[1].at_ms - pair[0].at_ms;
                assert!(gap >= 1000.0, "retried {gap:.1} ms after a 429 that asked for 1 s");
            }
        }
    }
    assert!(retries >= 300, "the test saw retries: {retries}");
    let pacing = &ran.output.summary.targets[0].pacing;
    assert!(
        pacing.rate_limited_noise > pacing.rate_limited_at_limit * 10,
        "the report judges them noise: {pacing:?}"
    );
    server.shutdown().await;
}

/// Runs 1,500 items against a 6,000-per-minute limit with a one-second burst.
async fn at_a_limit(headers: bool) -> (f64, f64, sheepdog::RunOutput) {
    let server = mock(MockConfig {
        rpm: Some(6000),
        burst: Duration::from_secs(1),
        ratelimit_headers: headers,
        ..MockConfig::default()
    })
    .await;
    let started = Instant::now();
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1-mini"], ""),
        &prompts(1500),
        overrides(32),
    )
    .await;
    let took = started.elapsed().as_secs_f64();
    let log = server.stats().log;
    let share = share_429(&log.iter().collect::<Vec<_>>());
    server.shutdown().await;
    (took, share, ran.output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_without_headers_is_found_from_the_429s_and_held() {
    let (took, share, output) = at_a_limit(false).await;
    let totals = &output.summary.totals;
    assert_eq!(
        (totals.succeeded, totals.failed),
        (1500, 0),
        "no item is lost to rate limiting"
    );
    assert!(share < 0.10, "{:.1}% of requests were 429s", share * 100.0);
    // 100 at once, then 100 per second: 14 s at the limit exactly.
    assert!(took <= 15.0 * 1.25, "took {took:.1}s, the limit allows 14 s");
    let pacing = &output.summary.targets[0].pacing;
    assert!(
        pacing.learned_rpm.is_some(),
        "the learned limit is reported: {pacing:?}"
    );
    assert!(pacing.rate_limited_at_limit > 0, "{pacing:?}");
    assert!(output.summary.targets[0].slowdowns >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_with_headers_is_learned_before_the_first_429() {
    let (took, share, output) = at_a_limit(true).await;
    let totals = &output.summary.totals;
    assert_eq!((totals.succeeded, totals.failed), (1500, 0));
    assert!(share < 0.02, "{:.1}% of requests were 429s", share * 100.0);
    assert!(took <= 15.0 * 1.25, "took {took:.1}s, the limit allows 14 s");
    let pacing = &output.summary.targets[0].pacing;
    let rpm = pacing.learned_rpm.unwrap_or(0.0);
    assert!((5500.0..=6000.0).contains(&rpm), "paced just under the limit: {rpm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_that_drops_fourfold_is_found_again_within_seconds() {
    // 6,000 per minute for 6 s, then 1,500: no headers, the 429s alone tell.
    let server = mock(MockConfig {
        rpm_schedule: vec![(Duration::ZERO, 6000), (Duration::from_secs(6), 1500)],
        burst: Duration::from_secs(1),
        ratelimit_headers: false,
        ..MockConfig::default()
    })
    .await;
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1-mini"], ""),
        &prompts(900),
        overrides(32),
    )
    .await;
    let totals = &ran.output.summary.totals;
    assert_eq!((totals.succeeded, totals.failed), (900, 0));
    let log = server.stats().log;
    let after: Vec<&LoggedRequest> = log.iter().filter(|r| r.at_ms >= 11_000.0).collect();
    assert!(
        after.len() >= 50,
        "the run went on long enough to judge: {}",
        after.len()
    );
    let share = share_429(&after);
    assert!(
        share < 0.10,
        "{:.1}% of requests from 5 s after the drop were 429s",
        share * 100.0
    );
    server.shutdown().await;
}
