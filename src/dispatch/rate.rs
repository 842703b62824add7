//! Rate limits by reservation (GCRA): each request reserves its slot in arrival order and is
//! told when it may go, so waiting requests never stampede. Works for requests per minute (cost
//! 1) and tokens per minute (cost = estimated tokens, corrected from `usage` afterwards).
//!
//! Uses tokio's clock, so tests can pause and advance time.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How much may go at once beyond the steady rate: a tenth of a second's worth, and always at
/// least one request (so a single request larger than that is never blocked forever).
pub const BURST: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Rate {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Seconds per unit at the current rate.
    interval: f64,
    /// Theoretical arrival time: when the next unit would be due at the steady rate.
    tat: Instant,
}

impl Rate {
    /// `per_second` units per second (must be > 0).
    pub fn per_second(per_second: f64) -> Rate {
        Rate {
            state: Mutex::new(State {
                interval: 1.0 / per_second.max(1e-9),
                tat: Instant::now(),
            }),
        }
    }

    pub fn per_minute(per_minute: f64) -> Rate {
        Rate::per_second(per_minute / 60.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Units per second now.
    pub fn per_second_now(&self) -> f64 {
        1.0 / self.lock().interval
    }

    /// Changes the rate (adaptive limits); reservations already made keep their times.
    pub fn set_per_second(&self, per_second: f64) {
        self.lock().interval = 1.0 / per_second.max(1e-9);
    }

    /// Whether less than half the burst is reserved ahead of `now`: the limit is far from
    /// binding at the moment (no request is waiting for it).
    pub fn is_idle(&self, now: Instant) -> bool {
        self.lock().tat <= now + BURST / 2
    }

    /// Reserves `cost` units at `now`; returns when the caller may go (`now` if at once).
    pub fn reserve(&self, cost: f64, now: Instant) -> Instant {
        let mut state = self.lock();
        let span = Duration::from_secs_f64((cost.max(0.0) * state.interval).min(1e9));
        let tolerance = BURST.max(Duration::from_secs_f64(state.interval.min(1e9)));
        let go = state
            .tat
            .checked_sub(tolerance)
            .map_or(now, |earliest| earliest.max(now));
        state.tat = state.tat.max(go) + span;
        go
    }

    /// Corrects a reservation by `delta` units (actual minus estimated; negative gives back).
    pub fn adjust(&self, delta: f64, now: Instant) {
        let mut state = self.lock();
        let shift = Duration::from_secs_f64((delta.abs() * state.interval).min(1e9));
        state.tat = if delta >= 0.0 {
            state.tat + shift
        } else {
            // Giving back never creates more than a full allowance.
            state
                .tat
                .checked_sub(shift)
                .map_or(now, |t| t.max(now.checked_sub(BURST).unwrap_or(now)))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reservations_space_requests_at_the_rate_after_a_small_burst() {
        let rate = Rate::per_second(10.0);
        let start = Instant::now();
        let times: Vec<f64> = (0..21)
            .map(|_| rate.reserve(1.0, start).duration_since(start).as_secs_f64())
            .collect();
        // A tenth of a second's worth (1 request at 10/s) goes at once, then one every 100 ms.
        assert_eq!(times[0], 0.0);
        assert_eq!(times[1], 0.0);
        assert!((times[2] - 0.1).abs() < 1e-6, "{times:?}");
        assert!((times[20] - 1.9).abs() < 1e-6, "{times:?}");
        // No one-second window holds more than the rate plus the burst.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().filter(|u| **u < t + 1.0).count();
            assert!(in_window <= 11, "window at {t}: {in_window}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn token_costs_and_corrections_move_the_schedule() {
        let rate = Rate::per_second(1000.0); // tokens per second
        let start = Instant::now();
        assert_eq!(rate.reserve(500.0, start), start);
        // 500 tokens reserved and a burst of 100 ms (100 tokens): the next waits 400 ms.
        let second = rate.reserve(10.0, start);
        assert_eq!(second.duration_since(start), Duration::from_millis(400));
        // The first request really used 100 tokens: 400 given back, the third may go at once... nearly.
        rate.adjust(-400.0, start);
        let third = rate.reserve(10.0, start);
        assert!(
            third.duration_since(start) <= Duration::from_millis(11),
            "{:?}",
            third.duration_since(start)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slower_rate_applies_to_new_reservations() {
        let rate = Rate::per_second(100.0);
        let start = Instant::now();
        rate.reserve(1.0, start);
        rate.set_per_second(1.0);
        assert!((rate.per_second_now() - 1.0).abs() < 1e-9);
        // The burst allowance (one request) goes first, then one per second.
        rate.reserve(1.0, start);
        let b = rate.reserve(1.0, start);
        let c = rate.reserve(1.0, start);
        assert_eq!(c.duration_since(b), Duration::from_secs(1));
    }
}
