//! Per-minute limits like a provider's (requests and tokens), lock-free: the generic cell rate
//! algorithm on one atomic per limit. Each key gets its own limits, as at a real provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MINUTE_NS: u64 = 60_000_000_000;

/// What a limit has left after admitting a request (for `x-ratelimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub limit: u64,
    pub remaining: u64,
    /// Time until the limit is back to its full allowance.
    pub reset: Duration,
}

/// Admits at most `per_minute` units in any minute, at most a minute's worth in a burst: one
/// unit "costs" 60 s / per_minute of a one-minute allowance.
#[derive(Debug)]
pub(crate) struct Gcra {
    per_minute: u64,
    /// Nanoseconds per unit at the sustained rate (at least 1).
    interval_ns: u64,
    /// Theoretical arrival time of the next unit, ns since server start.
    tat_ns: AtomicU64,
}

impl Gcra {
    /// `per_minute` must be at least 1 (checked by config validation; 0 is treated as 1).
    pub fn per_minute(per_minute: u64) -> Self {
        let per_minute = per_minute.max(1);
        Gcra {
            per_minute,
            interval_ns: (MINUTE_NS / per_minute).max(1),
            tat_ns: AtomicU64::new(0),
        }
    }

    /// Takes `cost` units at `now_ns`, or says how long to wait before they would be admitted.
    /// A cost larger than a minute's allowance is admitted when the allowance is full.
    pub fn take(&self, cost: u64, now_ns: u64) -> Result<Allowance, Duration> {
        let span = cost.max(1).saturating_mul(self.interval_ns);
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now_ns);
            let end = start.saturating_add(span);
            let ahead = end - now_ns;
            if ahead > MINUTE_NS && start > now_ns {
                return Err(Duration::from_nanos((ahead - MINUTE_NS).min(start - now_ns)));
            }
            match self
                .tat_ns
                .compare_exchange_weak(tat, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let remaining = MINUTE_NS.saturating_sub(ahead) / self.interval_ns;
                    let reset = Duration::from_nanos(ahead);
                    return Ok(Allowance {
                        limit: self.per_minute,
                        remaining,
                        reset,
                    });
                }
                Err(current) => tat = current,
            }
        }
    }
}

/// The request and token limits of one API key.
#[derive(Debug)]
pub(crate) struct KeyLimits {
    pub requests: Option<Gcra>,
    pub tokens: Option<Gcra>,
}

/// Limits per key (requests without a key share one set).
#[derive(Debug)]
pub(crate) struct Limits {
    rpm: Option<u32>,
    tpm: Option<u64>,
    keys: Mutex<HashMap<Option<u32>, Arc<KeyLimits>>>,
}

impl Limits {
    pub fn new(rpm: Option<u32>, tpm: Option<u64>) -> Option<Limits> {
        (rpm.is_some() || tpm.is_some()).then(|| Limits {
            rpm,
            tpm,
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// The limits of a key (by its fingerprint).
    pub fn of(&self, key_id: Option<u32>) -> Arc<KeyLimits> {
        let mut keys = match self.keys.lock() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        keys.entry(key_id)
            .or_insert_with(|| {
                Arc::new(KeyLimits {
                    requests: self.rpm.map(|rpm| Gcra::per_minute(u64::from(rpm))),
                    tokens: self.tpm.map(Gcra::per_minute),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_minute_of_requests_then_asks_to_wait() {
        let limit = Gcra::per_minute(60);
        for i in 0..60 {
            let allowance = limit.take(1, 0).map_err(|e| format!("request {i}: {e:?}"));
            assert_eq!(allowance.map(|a| a.remaining), Ok(59 - i));
        }
        // The 61st must wait until one second's worth of allowance is back.
        assert_eq!(limit.take(1, 0), Err(Duration::from_secs(1)));
        assert_eq!(limit.take(1, 400_000_000), Err(Duration::from_millis(600)));
        assert!(limit.take(1, 1_000_000_000).is_ok());
        assert!(limit.take(1, 1_000_000_000).is_err());
    }

    #[test]
    fn tokens_cost_their_count_and_reset_says_when_the_allowance_is_full() {
        let limit = Gcra::per_minute(6_000); // 100 tokens per second
        let first = limit.take(1_000, 0);
        assert_eq!(
            first,
            Ok(Allowance {
                limit: 6_000,
                remaining: 5_000,
                reset: Duration::from_secs(10)
            })
        );
        assert!(limit.take(5_000, 0).is_ok());
        assert_eq!(limit.take(200, 0), Err(Duration::from_secs(2)));
        // A request larger than the whole minute goes once the allowance is full again.
        assert!(limit.take(10_000, 60_000_000_000).is_ok());
    }

    #[test]
    fn each_key_has_its_own_allowance() {
        let limits = Limits::new(Some(1), None).map(|l| (l.of(Some(1)), l.of(Some(2)), l.of(Some(1))));
        let Some((a, b, a_again)) = limits else {
            panic!("limits expected")
        };
        let take = |k: &KeyLimits| k.requests.as_ref().map(|r| r.take(1, 0).is_ok());
        assert_eq!(take(&a), Some(true));
        assert_eq!(take(&b), Some(true));
        assert_eq!(take(&a_again), Some(false));
    }
}
