//! One target of the route with everything that decides when a request may go there: its
//! limits (and its provider's), its circuit breaker, its rate controller and its refusal gate,
//! and what it waited for (for the report).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use super::adaptive::Adaptive;
use super::breaker::{Breaker, BreakerPolicy};
use super::limits::Limits;
use super::refusal::Refusals;
use crate::provider::Endpoint;
use crate::record::ErrorClass;

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
    pub refusals: Refusals,
    pub waits: Waits,
    last_success: Mutex<Option<Instant>>,
    /// The class of the error that made the run give this target up for good.
    given_up: OnceLock<ErrorClass>,
}

/// Time items spent waiting at this target, summed over requests, and Retry-After values capped.
#[derive(Debug, Default)]
pub struct Waits {
    retry_after_ns: AtomicU64,
    breaker_ns: AtomicU64,
    capped: AtomicU64,
    capped_said: AtomicBool,
}

impl Waits {
    pub fn retry_after(&self, waited: Duration) {
        self.retry_after_ns.fetch_add(nanos(waited), Ordering::Relaxed);
    }

    pub fn breaker(&self, waited: Duration) {
        self.breaker_ns.fetch_add(nanos(waited), Ordering::Relaxed);
    }

    /// Counts a Retry-After longer than the cap; true the first time (to say it once).
    pub fn capped(&self) -> bool {
        self.capped.fetch_add(1, Ordering::Relaxed);
        !self.capped_said.swap(true, Ordering::Relaxed)
    }

    /// (Retry-After waits, breaker waits, Retry-After values capped).
    pub fn totals(&self) -> (Duration, Duration, u64) {
        (
            Duration::from_nanos(self.retry_after_ns.load(Ordering::Relaxed)),
            Duration::from_nanos(self.breaker_ns.load(Ordering::Relaxed)),
            self.capped.load(Ordering::Relaxed),
        )
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
            refusals: Refusals::new(0),
            waits: Waits::default(),
            last_success: Mutex::new(None),
            given_up: OnceLock::new(),
        }
    }

    /// Sets the breaker policy, the ceiling of concurrency, the rate controller and the
    /// refusal limit.
    pub fn configure(&mut self, breaker: BreakerPolicy, max_concurrency: usize, adaptive: bool, refusal_limit: u32) {
        self.breaker = Breaker::new(breaker);
        self.adaptive = Adaptive::new(max_concurrency, adaptive);
        self.refusals = Refusals::new(refusal_limit);
    }

    pub fn is_dead(&self) -> bool {
        self.breaker.is_dead()
    }

    /// Notes what made the run give this target up (the first reason only).
    pub fn note_given_up(&self, class: ErrorClass) {
        let _ = self.given_up.set(class);
    }

    /// The class of the error this target was given up for, if it was.
    pub fn given_up_for(&self) -> Option<ErrorClass> {
        self.given_up.get().copied()
    }

    /// Counts one successful answer now.
    pub fn note_success(&self) {
        if let Ok(mut last) = self.last_success.lock() {
            *last = Some(Instant::now());
        }
    }

    /// Whether the target answered a request successfully within `within`.
    pub fn answered_within(&self, within: Duration) -> bool {
        self.last_success
            .lock()
            .ok()
            .and_then(|last| *last)
            .is_some_and(|at| at.elapsed() <= within)
    }
}
