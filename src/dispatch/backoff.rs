//! Exponential backoff with full jitter, capped, never shorter than what the server asked for.

use std::time::Duration;

use rand::Rng;

use crate::config::RetryPolicy;

/// The longest a retry may wait before try `failed + 1`, ignoring `Retry-After`.
pub fn ceiling(policy: &RetryPolicy, failed: u32) -> Duration {
    let exponent = failed.saturating_sub(1).min(30);
    policy.base_delay.saturating_mul(1u32 << exponent).min(policy.max_delay)
}

/// The wait after the `failed`-th failed try: uniform in [0, ceiling] (full jitter), but at
/// least `retry_after` when the server sent one.
pub fn delay(policy: &RetryPolicy, failed: u32, retry_after: Option<Duration>) -> Duration {
    let cap = ceiling(policy, failed);
    let jittered = Duration::from_secs_f64(rand::rng().random_range(0.0..=cap.as_secs_f64()));
    match retry_after {
        Some(asked) => jittered.max(asked),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    };

    #[test]
    fn ceiling_doubles_then_caps() {
        let ceilings: Vec<u128> = (1..=6).map(|n| ceiling(&POLICY, n).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn delays_are_jittered_within_bounds() {
        let delays: Vec<Duration> = (0..200).map(|_| delay(&POLICY, 3, None)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(400)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "full jitter spreads the delays");
    }

    #[test]
    fn retry_after_is_never_undercut() {
        for _ in 0..100 {
            assert!(delay(&POLICY, 1, Some(Duration::from_millis(750))) >= Duration::from_millis(750));
        }
        assert!(delay(&POLICY, 1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
    }
}
