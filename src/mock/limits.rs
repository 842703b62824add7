//! A requests-per-minute limit like a provider's, lock-free (GCRA on one atomic).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const MINUTE_NS: u64 = 60_000_000_000;

/// Admits at most `rpm` requests in any minute, at most `rpm` of them in a burst (the generic
/// cell rate algorithm: one request "costs" 60s / rpm of a one-minute allowance).
#[derive(Debug)]
pub(crate) struct RpmLimit {
    /// Nanoseconds between requests at the sustained rate.
    interval_ns: u64,
    /// How far ahead of now the theoretical arrival time may run (the burst).
    tolerance_ns: u64,
    /// Theoretical arrival time of the next request, ns since server start.
    tat_ns: AtomicU64,
}

impl RpmLimit {
    /// `rpm` must be at least 1 (checked by config validation; 0 is treated as 1).
    pub fn new(rpm: u32) -> Self {
        let interval_ns = MINUTE_NS / u64::from(rpm.max(1));
        RpmLimit {
            interval_ns,
            tolerance_ns: MINUTE_NS - interval_ns,
            tat_ns: AtomicU64::new(0),
        }
    }

    /// Takes one request at `now_ns`, or says how long to wait before one would be admitted.
    pub fn take(&self, now_ns: u64) -> Result<(), Duration> {
        let mut tat = self.tat_ns.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now_ns);
            let ahead = start - now_ns;
            if ahead > self.tolerance_ns {
                return Err(Duration::from_nanos(ahead - self.tolerance_ns));
            }
            match self
                .tat_ns
                .compare_exchange_weak(tat, start + self.interval_ns, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_minute_of_requests_then_asks_to_wait() {
        let limit = RpmLimit::new(60);
        for _ in 0..60 {
            assert_eq!(limit.take(0), Ok(()));
        }
        // The 61st must wait until one second's worth of allowance is back.
        assert_eq!(limit.take(0), Err(Duration::from_secs(1)));
        assert_eq!(limit.take(400_000_000), Err(Duration::from_millis(600)));
        assert_eq!(limit.take(1_000_000_000), Ok(()));
        assert!(limit.take(1_000_000_000).is_err());
    }
}
