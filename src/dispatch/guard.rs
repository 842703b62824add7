//! The error-rate guard: stops a run when too many of the last finished items failed, before a
//! broken job burns through the whole file.

use std::collections::VecDeque;
use std::sync::Mutex;

pub use crate::config::dispatch::GuardPolicy;

#[derive(Debug)]
pub struct Guard {
    policy: GuardPolicy,
    recent: Mutex<(VecDeque<bool>, usize)>,
}

impl Guard {
    pub fn new(policy: GuardPolicy) -> Guard {
        Guard {
            policy,
            recent: Mutex::new((VecDeque::with_capacity(policy.window), 0)),
        }
    }

    /// Records one finished item; returns why the run must stop when the window is full and
    /// its failure rate is over the limit.
    pub fn record(&self, ok: bool) -> Option<String> {
        let mut guard = match self.recent.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (recent, failed) = &mut *guard;
        recent.push_back(ok);
        if !ok {
            *failed += 1;
        }
        if recent.len() > self.policy.window {
            if let Some(false) = recent.pop_front() {
                *failed -= 1;
            }
        }
        let rate = *failed as f64 / recent.len().max(1) as f64;
        (recent.len() >= self.policy.window && rate > self.policy.max_error_rate).then(|| {
            format!(
                "error-rate guard: {failed} of the last {} finished items failed ({:.1}%, limit {:.1}%)",
                recent.len(),
                rate * 100.0,
                self.policy.max_error_rate * 100.0
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_only_on_a_full_window_over_the_limit() {
        let guard = Guard::new(GuardPolicy {
            max_error_rate: 0.1,
            window: 10,
        });
        for _ in 0..5 {
            assert_eq!(guard.record(false), None, "window not full yet");
        }
        for _ in 0..4 {
            assert_eq!(guard.record(true), None);
        }
        let reason = guard.record(true);
        assert!(reason
            .as_deref()
            .is_some_and(|r| r.contains("5 of the last 10") && r.contains("limit 10.0%")));
    }

    #[test]
    fn old_failures_slide_out() {
        let guard = Guard::new(GuardPolicy {
            max_error_rate: 0.2,
            window: 5,
        });
        guard.record(false);
        guard.record(false);
        guard.record(true);
        guard.record(true);
        // Window F F T T T: 40% > 20%.
        assert!(guard.record(true).is_some());
        // F T T T T: 20% is not over the limit; then T T T T T.
        assert_eq!(guard.record(true), None);
        assert_eq!(guard.record(true), None);
    }
}
