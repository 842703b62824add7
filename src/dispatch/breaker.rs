//! A circuit breaker per target: after too many failures in a row (or too high a failure rate
//! over the last requests) the target is skipped for a cooldown; then one probe goes through
//! (half-open) and its success closes the breaker. The target is given up for the rest of the
//! run (dead) when it never answered and its first `give_up_after` answers in a row were
//! failures (connect errors, timeouts, 5xx: a dead endpoint, given up within seconds), when a
//! probe fails (it had answered once and died: waiting a cooldown per probe would keep items
//! queued for hours), or when its key or quota is refused.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::config::dispatch::BreakerPolicy;

/// What a request may do at this target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go.
    Go,
    /// Half-open: this request is the probe.
    Probe,
    /// Open until then (or a probe is out): do not send here before.
    OpenUntil(Instant),
    /// Open for the rest of the run.
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_out: bool },
    Dead,
}

#[derive(Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    consecutive: u32,
    recent: VecDeque<bool>,
    openings: u64,
    answered: bool,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy) -> Breaker {
        Breaker {
            policy,
            state: Mutex::new(State {
                phase: Phase::Closed,
                consecutive: 0,
                recent: VecDeque::new(),
                openings: 0,
                answered: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn admit(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match state.phase {
            Phase::Closed => Admission::Go,
            Phase::Dead => Admission::Dead,
            Phase::Open { until } if now < until => Admission::OpenUntil(until),
            Phase::Open { .. } | Phase::HalfOpen { probe_out: false } => {
                state.phase = Phase::HalfOpen { probe_out: true };
                Admission::Probe
            }
            Phase::HalfOpen { probe_out: true } => Admission::OpenUntil(now + Duration::from_millis(50)),
        }
    }

    /// The result of a request that counts for the breaker (a failure of the target, or a
    /// success). Returns true when this failure made the target dead.
    pub fn record(&self, ok: bool, now: Instant) -> bool {
        let mut state = self.lock();
        if state.phase == Phase::Dead {
            return false;
        }
        state.answered |= ok;
        state.recent.push_back(ok);
        while state.recent.len() > self.policy.window {
            state.recent.pop_front();
        }
        state.consecutive = if ok { 0 } else { state.consecutive + 1 };
        match state.phase {
            Phase::HalfOpen { .. } if ok => {
                state.phase = Phase::Closed;
                state.recent.clear();
            }
            Phase::HalfOpen { .. } => {
                state.phase = Phase::Dead;
                state.openings += 1;
                return true;
            }
            Phase::Closed
                if !ok
                    && !state.answered
                    && self.policy.give_up_after > 0
                    && state.consecutive >= self.policy.give_up_after =>
            {
                state.phase = Phase::Dead;
                state.openings += 1;
                return true;
            }
            Phase::Closed if !ok && self.tripped(&state) => self.open(&mut state, now),
            _ => {}
        }
        false
    }

    /// A probe that ended without a verdict (e.g. a bad request): let another probe go.
    pub fn release_probe(&self) {
        let mut state = self.lock();
        if state.phase == (Phase::HalfOpen { probe_out: true }) {
            state.phase = Phase::HalfOpen { probe_out: false };
        }
    }

    /// Opens for good. Returns whether this call did it (false if it was dead already).
    pub fn kill(&self) -> bool {
        let mut state = self.lock();
        if state.phase == Phase::Dead {
            return false;
        }
        state.phase = Phase::Dead;
        state.openings += 1;
        true
    }

    pub fn is_dead(&self) -> bool {
        self.lock().phase == Phase::Dead
    }

    /// How many times the breaker opened.
    pub fn openings(&self) -> u64 {
        self.lock().openings
    }

    fn tripped(&self, state: &State) -> bool {
        if state.consecutive >= self.policy.consecutive_failures {
            return true;
        }
        let known = state.recent.len();
        let failed = state.recent.iter().filter(|ok| !**ok).count();
        known >= self.policy.min_requests && failed as f64 > self.policy.failure_rate * known as f64
    }

    fn open(&self, state: &mut State, now: Instant) {
        state.phase = Phase::Open {
            until: now + self.policy.cooldown,
        };
        state.openings += 1;
        state.consecutive = 0;
        state.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            failure_rate: 0.5,
            window: 10,
            min_requests: 6,
            cooldown: Duration::from_secs(5),
            give_up_after: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_probes_after_cooldown_and_closes() {
        let breaker = Breaker::new(policy());
        let now = Instant::now();
        for _ in 0..2 {
            breaker.record(false, now);
        }
        assert_eq!(breaker.admit(now), Admission::Go);
        breaker.record(false, now);
        assert_eq!(breaker.admit(now), Admission::OpenUntil(now + Duration::from_secs(5)));
        assert_eq!(breaker.openings(), 1);
        let later = now + Duration::from_secs(5);
        assert_eq!(breaker.admit(later), Admission::Probe);
        assert!(
            matches!(breaker.admit(later), Admission::OpenUntil(_)),
            "one probe at a time"
        );
        breaker.record(true, later);
        assert_eq!(breaker.admit(later), Admission::Go);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_gives_the_target_up() {
        let breaker = Breaker::new(policy());
        let now = Instant::now();
        breaker.record(true, now);
        for _ in 0..3 {
            assert!(!breaker.record(false, now));
        }
        let later = now + Duration::from_secs(6);
        assert_eq!(breaker.admit(later), Admission::Probe);
        assert!(breaker.record(false, later), "the failed probe says the target died");
        assert_eq!(breaker.admit(later + Duration::from_secs(3600)), Admission::Dead);
        assert_eq!(breaker.openings(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_target_that_never_answered_is_given_up_after_a_few_failures() {
        let now = Instant::now();
        let dead = Breaker::new(BreakerPolicy {
            give_up_after: 4,
            consecutive_failures: 100,
            ..policy()
        });
        for _ in 0..3 {
            assert!(!dead.record(false, now));
        }
        assert!(dead.record(false, now));
        assert!(dead.is_dead());
        // One success earlier and the same streak only opens the breaker for a cooldown.
        let answered = Breaker::new(BreakerPolicy {
            give_up_after: 4,
            consecutive_failures: 4,
            ..policy()
        });
        answered.record(true, now);
        for _ in 0..4 {
            assert!(!answered.record(false, now));
        }
        assert!(matches!(answered.admit(now), Admission::OpenUntil(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_rate_without_a_streak() {
        let breaker = Breaker::new(policy());
        let now = Instant::now();
        // Never 3 failures in a row; 3 of 6 is not over half, 4 of 7 is.
        for ok in [true, false, true, false, false, true] {
            breaker.record(ok, now);
            assert_eq!(breaker.admit(now), Admission::Go);
        }
        breaker.record(false, now);
        assert!(matches!(breaker.admit(now), Admission::OpenUntil(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn killed_stays_dead() {
        let breaker = Breaker::new(policy());
        assert!(breaker.kill());
        assert!(!breaker.kill());
        breaker.record(true, Instant::now());
        assert_eq!(
            breaker.admit(Instant::now() + Duration::from_secs(3600)),
            Admission::Dead
        );
        assert!(breaker.is_dead());
    }
}
