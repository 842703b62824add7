//! AIMD for one target: a 429 pauses the target for the time asked, halves its concurrency and
//! its request rate; successes grow them back additively. A run so settles just under the
//! provider's real limit instead of bouncing off it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::rate::Rate;

/// At most one decrease per this interval: a burst of 429s answering one overload is one signal.
const DECREASE_EVERY: Duration = Duration::from_millis(500);
/// Growth per second of the learned rate, as a share of the rate where the last 429 came.
const RATE_GROWTH: f64 = 0.025;
/// The learned rate never goes below this many requests per second.
const MIN_RATE: f64 = 0.2;
/// After a 429 the rate drops to this share of what the provider accepted lately.
const BACKOFF: f64 = 0.7;

#[derive(Debug)]
pub struct Adaptive {
    enabled: bool,
    /// The configured concurrency of the target (or of the run): the ceiling.
    max: usize,
    state: Mutex<State>,
    freed: Notify,
    /// The learned request rate (set after the first 429).
    rate: Rate,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    paused_until: Option<Instant>,
    last_decrease: Option<Instant>,
    /// Requests per second at which the last 429 came, and when the rate was last raised.
    learned: Option<(f64, Instant)>,
    decreases: u64,
}

/// A held concurrency slot, given back when dropped (also when a waiting request is cancelled).
#[derive(Debug)]
pub struct Slot<'a>(&'a Adaptive);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.0.freed.notify_waiters();
    }
}

impl Adaptive {
    pub fn new(max: usize, enabled: bool) -> Adaptive {
        Adaptive {
            enabled,
            max: max.max(1),
            state: Mutex::new(State {
                limit: max.max(1) as f64,
                in_flight: 0,
                paused_until: None,
                last_decrease: None,
                learned: None,
                decreases: 0,
            }),
            freed: Notify::new(),
            rate: Rate::per_second(1e9),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The concurrency limit now (whole requests).
    pub fn limit(&self) -> u32 {
        self.lock().limit.floor().max(1.0) as u32
    }

    /// How many times a 429 made the target slow down.
    pub fn decreases(&self) -> u64 {
        self.lock().decreases
    }

    /// Waits for a slot under the current limit, for the pause to end, and for the learned
    /// rate to admit one more request.
    pub async fn acquire(&self) -> Slot<'_> {
        enum Next {
            Go { learned: bool, now: Instant },
            Pause(Instant),
            Wait,
        }
        loop {
            let notified = self.freed.notified();
            let next = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Next::Pause(until),
                    _ if (state.in_flight as f64) < state.limit.floor().max(1.0) => {
                        state.in_flight += 1;
                        Next::Go {
                            learned: state.learned.is_some(),
                            now,
                        }
                    }
                    _ => Next::Wait,
                }
            };
            match next {
                Next::Go { learned, now } => {
                    let slot = Slot(self);
                    if learned {
                        let go = self.rate.reserve(1.0, now);
                        tokio::time::sleep_until(go).await;
                    }
                    return slot;
                }
                Next::Pause(until) => tokio::time::sleep_until(until).await,
                Next::Wait => notified.await,
            }
        }
    }

    /// A request succeeded: grow the limit by about one per round of requests, and the learned
    /// rate a few percent per second.
    pub fn on_success(&self) {
        if !self.enabled {
            return;
        }
        let mut state = self.lock();
        state.limit = (state.limit + 1.0 / state.limit.max(1.0)).min(self.max as f64);
        let now = Instant::now();
        if let Some((at_429, raised)) = state.learned {
            let elapsed = now.duration_since(raised).as_secs_f64();
            if elapsed >= 0.1 {
                let current = self.rate.per_second_now();
                self.rate
                    .set_per_second(current + (at_429 * RATE_GROWTH).max(0.05) * elapsed);
                state.learned = Some((at_429, now));
            }
        }
        drop(state);
        self.freed.notify_waiters();
    }

    /// The provider said slow down: pause for what it asked, halve concurrency, and drop the
    /// rate to 70% of what the provider accepted lately (at most once per `DECREASE_EVERY`).
    /// `recent_rate` is how many requests per second the target answered successfully lately.
    pub fn on_rate_limited(&self, retry_after: Option<Duration>, recent_rate: f64) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(wait) = retry_after {
            let until = now + wait;
            state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
        }
        if !self.enabled
            || state
                .last_decrease
                .is_some_and(|at| now.duration_since(at) < DECREASE_EVERY)
        {
            return;
        }
        state.last_decrease = Some(now);
        state.decreases += 1;
        state.limit = (state.limit / 2.0).max(1.0);
        let current = match state.learned {
            Some(_) => self.rate.per_second_now().min(recent_rate.max(MIN_RATE)),
            None => recent_rate.max(MIN_RATE),
        };
        let next = (current * BACKOFF).max(MIN_RATE);
        self.rate.set_per_second(next);
        state.learned = Some((current, now));
    }

    /// The provider said its allowance is used up until `until` (x-ratelimit-remaining = 0).
    pub fn pause_until(&self, until: Instant) {
        let mut state = self.lock();
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The learned request rate, once a 429 taught one.
    pub fn learned_rate(&self) -> Option<f64> {
        self.lock().learned.map(|_| self.rate.per_second_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limits_cut_concurrency_and_rate_and_successes_grow_them_back() {
        let target = Adaptive::new(64, true);
        assert_eq!(target.limit(), 64);
        target.on_rate_limited(None, 100.0);
        assert_eq!(target.limit(), 32);
        assert_eq!(target.learned_rate(), Some(70.0), "70% of what was accepted");
        // A second 429 right away is the same overload: no second decrease.
        target.on_rate_limited(None, 100.0);
        assert_eq!(target.limit(), 32);
        tokio::time::advance(DECREASE_EVERY).await;
        target.on_rate_limited(None, 40.0);
        assert_eq!(target.limit(), 16);
        assert_eq!(target.learned_rate(), Some(28.0));
        // Additive growth: 16 successes raise the limit by about one.
        for _ in 0..16 {
            target.on_success();
        }
        assert_eq!(target.limit(), 16);
        target.on_success();
        assert_eq!(target.limit(), 17);
        tokio::time::advance(Duration::from_secs(10)).await;
        target.on_success();
        let grown = target.learned_rate().unwrap_or(0.0);
        assert!(
            grown > 33.0 && grown < 43.0,
            "grows by about 2.5% of 40/s per second from 28/s: {grown}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_until_it_ends() {
        let target = Adaptive::new(4, true);
        target.on_rate_limited(Some(Duration::from_millis(750)), 10.0);
        let start = Instant::now();
        let _slot = target.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(750));
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
    async fn disabled_only_pauses() {
        let target = Adaptive::new(8, false);
        target.on_rate_limited(Some(Duration::from_millis(10)), 50.0);
        assert_eq!(target.limit(), 8);
        assert_eq!(target.learned_rate(), None);
    }
}
