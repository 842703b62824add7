use std::time::Duration;

use tokio::time::Instant;

use super::*;

/// Answers `n` requests over `seconds`, every `every`-th one a 429, each sent just before.
async fn answer(target: &Adaptive, n: u32, seconds: f64, every: Option<u32>) {
    let step = Duration::from_secs_f64(seconds / f64::from(n));
    for i in 0..n {
        let sent = Instant::now();
        tokio::time::advance(step).await;
        match every {
            Some(k) if i % k == 0 => target.on_rate_limited(sent),
            _ => target.on_success(sent, &RateLimitHeaders::default(), 0),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_steady_share_of_429s_is_noise_and_never_paces() {
    let target = Adaptive::new(32, true);
    // 20% of answers are 429s, at 100 answers per second, for 20 seconds.
    answer(&target, 2000, 20.0, Some(5)).await;
    assert_eq!(target.learned_rate(), None, "noise does not slow the target");
    let report = target.report();
    assert_eq!(report.slowdowns, 0);
    assert_eq!(report.noise_429s, 400);
    assert_eq!(report.at_limit_429s, 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_of_429s_is_cut_to_the_successes_and_kept_when_429s_fall() {
    let target = Adaptive::new(32, true);
    // 50 successes in the first half second, then nothing but 429s.
    answer(&target, 50, 0.5, None).await;
    answer(&target, 15, 0.01, Some(1)).await;
    assert_eq!(target.learned_rate(), None, "15 of 32 answers: not yet");
    answer(&target, 1, 0.001, Some(1)).await;
    let cut = target.learned_rate().unwrap_or(0.0);
    assert!((40.0..=50.0).contains(&cut), "90% of ~50 successes per second: {cut}");
    // Requests sent after the cut succeed: the cut found the limit.
    answer(&target, 80, 1.6, None).await;
    let report = target.report();
    assert_eq!(report.slowdowns, 1);
    assert_eq!(report.at_limit_429s, 16, "the run of 429s was the limit");
    assert_eq!(report.noise_429s, 0);
    assert!(target.learned_rate().is_some(), "the learned rate stays");
    assert!(report.changes.iter().any(|c| c.1.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_cut_that_does_not_lower_the_share_is_undone() {
    let target = Adaptive::new(32, true);
    // Every other answer a 429 (a noisy gateway) at 100 per second.
    answer(&target, 40, 0.4, Some(2)).await;
    assert!(
        target.learned_rate().is_some(),
        "half of the answers are 429s: a cut is tried"
    );
    // After the cut the share stays at a half: noise.
    answer(&target, 200, 2.0, Some(2)).await;
    assert_eq!(target.learned_rate(), None, "the cut is undone");
    let report = target.report();
    assert_eq!(report.slowdowns, 0);
    assert_eq!(report.at_limit_429s, 0);
    assert_eq!(report.noise_429s, 120);
    // Now the noise floor is known: the same share no longer triggers a cut.
    answer(&target, 400, 4.0, Some(2)).await;
    assert_eq!(target.learned_rate(), None);
}

#[tokio::test(start_paused = true)]
async fn headers_pace_at_the_limit_before_any_429() {
    let target = Adaptive::new(32, true);
    let headers = |remaining: u64| RateLimitHeaders {
        limit_requests: Some(3000),
        remaining_requests: Some(remaining),
        ..RateLimitHeaders::default()
    };
    let sent = Instant::now();
    target.on_success(sent, &headers(2000), 10);
    assert_eq!(target.learned_rate(), None, "plenty left: no pacing");
    target.on_success(sent, &headers(1), 10);
    let rate = target.learned_rate().unwrap_or(0.0);
    assert!((rate - 48.5).abs() < 0.01, "97% of 50 per second: {rate}");
    // The limit changes: the pace follows it.
    target.on_success(sent, &headers(500), 10);
    let rate = target.learned_rate().unwrap_or(0.0);
    assert!((rate - 48.5).abs() < 0.01, "{rate}");
    let lower = RateLimitHeaders {
        limit_requests: Some(750),
        remaining_requests: Some(0),
        ..RateLimitHeaders::default()
    };
    target.on_success(sent, &lower, 10);
    let rate = target.learned_rate().unwrap_or(0.0);
    assert!((rate - 12.125).abs() < 0.01, "{rate}");
    assert_eq!(target.report().at_limit_429s, 0);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_allowance_without_a_limit_pauses_until_the_reset() {
    let target = Adaptive::new(4, true);
    let headers = RateLimitHeaders {
        remaining_requests: Some(0),
        reset_requests: Some(Duration::from_millis(750)),
        ..RateLimitHeaders::default()
    };
    target.on_success(Instant::now(), &headers, 0);
    let start = Instant::now();
    let _slot = target.acquire().await;
    assert!(start.elapsed() >= Duration::from_millis(750));
    assert!(target.report().paced_wait >= Duration::from_millis(750));
}

#[tokio::test(start_paused = true)]
async fn paced_requests_wait_for_the_learned_rate() {
    let target = Adaptive::new(64, true);
    let headers = RateLimitHeaders {
        limit_requests: Some(600),
        remaining_requests: Some(0),
        ..RateLimitHeaders::default()
    };
    target.on_success(Instant::now(), &headers, 0);
    let start = Instant::now();
    for _ in 0..21 {
        drop(target.acquire().await);
    }
    // 9.7 per second: 21 requests take about two seconds.
    let took = start.elapsed().as_secs_f64();
    assert!((1.8..2.3).contains(&took), "{took}");
}

#[tokio::test(start_paused = true)]
async fn the_limit_bounds_slots_in_flight() {
    let target = std::sync::Arc::new(Adaptive::new(2, true));
    let a = target.acquire().await;
    let _b = target.acquire().await;
    let waiting = tokio::spawn({
        let target = target.clone();
        async move {
            let _slot = target.acquire().await;
        }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!waiting.is_finished(), "a third request waits for a slot");
    drop(a);
    let third = tokio::time::timeout(Duration::from_secs(1), waiting).await;
    assert!(third.is_ok(), "a released slot lets the next one in");
}

#[tokio::test(start_paused = true)]
async fn disabled_decides_nothing() {
    let target = Adaptive::new(8, false);
    answer(&target, 100, 1.0, Some(1)).await;
    assert_eq!(target.limit(), 8);
    assert_eq!(target.learned_rate(), None);
    assert_eq!(target.report(), ControlReport::default());
}
