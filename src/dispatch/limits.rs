//! Concurrency, requests-per-minute and tokens-per-minute limits, at three levels: the run, a
//! provider (shared by its targets) and a target. A request waits until every level admits it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::rate::Rate;

#[derive(Debug)]
pub struct Limits {
    /// "run", "provider NAME" or "target NAME", for reports.
    pub scope: String,
    concurrency: Option<Arc<Semaphore>>,
    rpm: Option<Rate>,
    tpm: Option<Rate>,
    /// Nanoseconds requests spent waiting for this level's rate.
    waited_ns: AtomicU64,
}

impl Limits {
    /// `None` when no limit is set at this level.
    pub fn new(
        scope: String,
        max_concurrency: Option<usize>,
        rpm: Option<u32>,
        tpm: Option<u64>,
    ) -> Option<Arc<Limits>> {
        if max_concurrency.is_none() && rpm.is_none() && tpm.is_none() {
            return None;
        }
        Some(Arc::new(Limits {
            scope,
            concurrency: max_concurrency.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            rpm: rpm.map(|n| Rate::per_minute(f64::from(n))),
            tpm: tpm.map(|n| Rate::per_minute(n as f64)),
            waited_ns: AtomicU64::new(0),
        }))
    }

    pub fn counts_tokens(&self) -> bool {
        self.tpm.is_some()
    }

    /// Whether this level's token limit (if any) has nothing reserved beyond `now`.
    pub fn tokens_idle(&self, now: Instant) -> bool {
        self.tpm.as_ref().is_none_or(|tpm| tpm.is_idle(now))
    }

    /// Time requests spent waiting for this level's rate limits.
    pub fn waited(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.waited_ns.load(Ordering::Relaxed))
    }
}

/// What a request holds while it is sent: concurrency permits, and the token estimate it
/// reserved (corrected when the answer's `usage` is known).
#[derive(Debug, Default)]
pub struct Held {
    _permits: Vec<OwnedSemaphorePermit>,
    tokens: Vec<(Arc<Limits>, f64)>,
}

/// Waits until every level admits one request of about `tokens` tokens: concurrency first (in
/// the order given, the same for every request, so no two requests wait on each other), then
/// rate reservations, then the latest of their times.
pub async fn acquire(levels: &[Arc<Limits>], tokens: f64) -> Held {
    let mut held = Held::default();
    for level in levels {
        if let Some(semaphore) = &level.concurrency {
            if let Ok(permit) = semaphore.clone().acquire_owned().await {
                held._permits.push(permit);
            }
        }
    }
    let now = Instant::now();
    let mut go = now;
    for level in levels {
        let mut level_go = now;
        if let Some(rpm) = &level.rpm {
            level_go = level_go.max(rpm.reserve(1.0, now));
        }
        if let Some(tpm) = &level.tpm {
            level_go = level_go.max(tpm.reserve(tokens, now));
            held.tokens.push((level.clone(), tokens));
        }
        let waited = level_go.duration_since(now).as_nanos() as u64;
        level.waited_ns.fetch_add(waited, Ordering::Relaxed);
        go = go.max(level_go);
    }
    // Only a real wait goes to the timer: tokio's timer fires on the next whole millisecond,
    // so sleeping until `now` held every request for up to a millisecond before its send.
    if go > Instant::now() {
        tokio::time::sleep_until(go).await;
    }
    held
}

impl Held {
    /// Corrects the token reservations: `used` tokens were really spent (`None`: the request
    /// was refused, so nothing was).
    pub fn settle(self, used: Option<u64>) {
        let now = Instant::now();
        for (level, estimate) in &self.tokens {
            if let Some(tpm) = &level.tpm {
                tpm.adjust(used.unwrap_or(0) as f64 - estimate, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A request that no level holds back is admitted at once, without a turn of the timer
    /// (which fires on whole milliseconds: sleeping until "now" delayed every send).
    #[tokio::test]
    async fn a_request_nothing_holds_back_is_admitted_without_the_timer() {
        use futures::FutureExt;
        assert!(acquire(&[], 10.0).now_or_never().is_some());
        let levels: Vec<Arc<Limits>> = Limits::new("run".into(), Some(4), Some(600), Some(60_000))
            .into_iter()
            .collect();
        assert!(acquire(&levels, 10.0).now_or_never().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn every_level_must_admit() {
        let run = Limits::new("run".into(), None, Some(600), None);
        let target = Limits::new("target t".into(), Some(1), None, None);
        let levels: Vec<Arc<Limits>> = run.into_iter().chain(target).collect();
        let start = Instant::now();
        let first = acquire(&levels, 0.0).await;
        // The target's concurrency of 1 holds the second request until the first is done.
        let second = tokio::spawn({
            let levels = levels.clone();
            async move { acquire(&levels, 0.0).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!second.is_finished());
        drop(first);
        let _second = second.await;
        assert!(start.elapsed() >= Duration::from_millis(500));
        assert!(Limits::new("none".into(), None, None, None).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn token_estimates_are_corrected_by_usage() {
        let levels: Vec<Arc<Limits>> = Limits::new("run".into(), None, None, Some(60_000))
            .into_iter()
            .collect();
        assert!(levels[0].counts_tokens());
        let start = Instant::now();
        // 1,000 tokens per second: a 2,000-token estimate pushes the next request out ~1.9 s...
        acquire(&levels, 2_000.0).await.settle(Some(100));
        // ...but only 100 were used, so the next one goes at once.
        acquire(&levels, 10.0).await.settle(Some(10));
        assert!(start.elapsed() < Duration::from_millis(10), "{:?}", start.elapsed());
        acquire(&levels, 3_000.0).await.settle(None);
        // A refused request gives its whole estimate back.
        let before = Instant::now();
        acquire(&levels, 10.0).await;
        assert!(before.elapsed() < Duration::from_millis(10));
    }
}
