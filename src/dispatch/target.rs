//! One target of the route with everything that decides when a request may go there: its
//! limits (and its provider's), its circuit breaker and its adaptive concurrency.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::adaptive::Adaptive;
use super::breaker::{Breaker, BreakerPolicy};
use super::limits::Limits;
use crate::provider::Endpoint;

#[derive(Debug)]
pub struct RouteTarget {
    pub name: String,
    /// `None`: the item's own model is sent.
    pub model: Option<String>,
    /// Sent when neither the target nor the item names a model.
    pub default_model: Option<String>,
    pub endpoint: Endpoint,
    /// Where the key comes from, to say what to fix when it is refused.
    pub api_key_env: Option<String>,
    /// Limits of the provider (shared with its other targets) and of the target.
    pub limits: Vec<Arc<Limits>>,
    pub breaker: Breaker,
    pub adaptive: Adaptive,
    recent: Mutex<RecentRate>,
    accepted: Mutex<RecentRate>,
}

impl RouteTarget {
    pub fn new(name: String, model: Option<String>, endpoint: Endpoint, api_key_env: Option<String>) -> Self {
        RouteTarget {
            name,
            model,
            default_model: None,
            endpoint,
            api_key_env,
            limits: Vec::new(),
            breaker: Breaker::new(BreakerPolicy::default()),
            adaptive: Adaptive::new(usize::MAX >> 1, true),
            recent: Mutex::new(RecentRate::default()),
            accepted: Mutex::new(RecentRate::default()),
        }
    }

    /// Sets the breaker policy and the ceiling of adaptive concurrency.
    pub fn configure(&mut self, breaker: BreakerPolicy, max_concurrency: usize, adaptive: bool) {
        self.breaker = Breaker::new(breaker);
        self.adaptive = Adaptive::new(max_concurrency, adaptive);
    }

    pub fn is_dead(&self) -> bool {
        self.breaker.is_dead()
    }

    /// Counts one request sent now.
    pub fn note_sent(&self) {
        if let Ok(mut recent) = self.recent.lock() {
            recent.add(Instant::now());
        }
    }

    /// Counts one successful answer now.
    pub fn note_success(&self) {
        if let Ok(mut accepted) = self.accepted.lock() {
            accepted.add(Instant::now());
        }
    }

    /// Successful answers per second lately: about what the provider admits.
    pub fn accepted_rate(&self) -> f64 {
        self.accepted
            .lock()
            .map(|mut accepted| accepted.per_second(Instant::now()))
            .unwrap_or(0.0)
    }

    /// Requests sent per second lately (sliding one-second window).
    pub fn recent_rate(&self) -> f64 {
        self.recent
            .lock()
            .map(|mut recent| recent.per_second(Instant::now()))
            .unwrap_or(0.0)
    }
}

/// Requests per second over the last second, from two one-second buckets.
#[derive(Debug, Default)]
struct RecentRate {
    start: Option<Instant>,
    current: u64,
    previous: u64,
}

impl RecentRate {
    fn roll(&mut self, now: Instant) -> f64 {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.duration_since(start).as_secs_f64();
        if elapsed >= 2.0 {
            self.previous = 0;
            self.current = 0;
            self.start = Some(now);
            0.0
        } else if elapsed >= 1.0 {
            self.previous = self.current;
            self.current = 0;
            self.start = Some(start + std::time::Duration::from_secs(1));
            elapsed - 1.0
        } else {
            elapsed
        }
    }

    fn add(&mut self, now: Instant) {
        self.roll(now);
        self.current += 1;
    }

    fn per_second(&mut self, now: Instant) -> f64 {
        let into = self.roll(now);
        self.previous as f64 * (1.0 - into) + self.current as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn recent_rate_slides_over_one_second() {
        let mut rate = RecentRate::default();
        let start = Instant::now();
        for i in 0..10 {
            rate.add(start + Duration::from_millis(i * 100));
        }
        let at = start + Duration::from_millis(1000);
        assert!((rate.per_second(at) - 10.0).abs() < 0.01, "{}", rate.per_second(at));
        let half = start + Duration::from_millis(1500);
        assert!((rate.per_second(half) - 5.0).abs() < 0.01);
        assert_eq!(rate.per_second(start + Duration::from_secs(5)), 0.0);
    }
}
