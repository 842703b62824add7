//! The rate controller of one target: it tells the provider's real limit from noise.
//!
//! Why: a 429 is evidence, not a verdict. Gateways pass their upstreams' 429s through at random,
//! at a share that does not depend on how fast we send; slowing down for those only loses
//! throughput (a whole-target pause per 429 made runs 50 times slower). A real limit shows
//! differently: the share of 429s rises with the send rate while successes per second stop
//! growing. So a 429 only delays the item that got it (its own retry honours Retry-After), and
//! the target's rate changes on evidence:
//!
//! - **Headers first.** `x-ratelimit-limit-*` with `remaining-*` give the limit before any
//!   429: once what remains is no more than what is in flight, requests are paced at 97% of the
//!   limit (requests per minute, or tokens per minute over the mean tokens of a request).
//!   `remaining = 0` without a known limit pauses the target until the reset. A 429 while
//!   paced so counts as "at the limit" and changes nothing.
//! - **Without headers, every cut is an experiment.** When 429s stand out (half of the last 32
//!   answers when not paced; more than the learned noise share plus 5 points over the last
//!   second when paced), the rate is cut: to 90% of the successes per second, or by 15%. The
//!   answers to requests sent from 250 ms after the cut decide: if the 429 share falls by a
//!   third or more, the cut found the limit and stays (its 429s count as "at the limit"), and
//!   the rate then grows back slowly to find the limit again; if the share rises, the limit
//!   itself came down, and while most requests are still refused the cut did not reach it: the
//!   rate is cut again to what was admitted (up to four times); if the share stays, the
//!   429s were noise: the cut is undone and their share becomes the noise floor that later
//!   judgements allow for.
//!
//! Everything the controller decided is kept for the report: 429s judged at the limit or
//! noise, the learned rate and when it changed, and how long requests waited for it.

mod judge;
mod window;

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::rate::Rate;
use crate::provider::retry_after::RateLimitHeaders;
use window::{Recent, Sliding};

/// Answers remembered to notice a run of 429s.
const RECENT: usize = 32;
/// Not paced: a cut is tried when at least this share of the last answers are 429s...
const SUSPECT_SHARE: f64 = 0.5;
/// ...or the noise floor plus this, whichever is higher...
const SUSPECT_ABOVE_NOISE: f64 = 0.3;
/// ...and at least this many answers are known.
const SUSPECT_MIN_ANSWERS: usize = 16;
/// Paced: 429s over the last second beyond the noise floor by this share are excess.
const EXCESS_MARGIN: f64 = 0.05;
/// ...and at least this many 429s in that second.
const EXCESS_MIN: f64 = 3.0;
/// The first cut goes to this share of the successes per second.
const FIRST_CUT: f64 = 0.9;
/// Later cuts multiply the rate by this.
const CUT: f64 = 0.85;
/// A trial whose 429 share fell below this share of the share before found the limit.
const FELL: f64 = 0.7;
/// A trial whose 429 share stayed above this (and did not fall by a third) cuts again: most
/// requests are still refused, so the cut did not reach the limit.
const HIGH: f64 = 0.6;
/// At most this many cuts again within one trial; then a share that does not fall is noise.
const MAX_AGAIN: u32 = 4;
/// A trial whose 429 share rose by this much says the limit came down: cut again.
const WORSE: f64 = 0.1;
/// A cut is judged on answers to requests sent after it: at least this many, at least
/// `JUDGE_AFTER` after the cut; at `JUDGE_BY` it is judged on what came back.
const JUDGE_MIN_ANSWERS: u32 = 5;
/// Requests sent this soon after a cut still meet the allowance the overload used up: they
/// are left out of the judgement.
const SETTLE: Duration = Duration::from_millis(250);
const JUDGE_AFTER: Duration = Duration::from_secs(1);
const JUDGE_BY: Duration = Duration::from_secs(10);
/// Growth per second of the rate towards the rate that last overshot, as a share of it;
/// beyond it, as a share of the rate itself.
const GROWTH_BELOW: f64 = 0.025;
const GROWTH_ABOVE: f64 = 0.01;
/// The learned rate never goes below this many requests per second.
const MIN_RATE: f64 = 0.2;
/// Pacing from headers keeps this share of the provider's limit.
const HEADER_SHARE: f64 = 0.97;
/// A new learned rate is logged and reported when it differs by more than this share.
const REPORTED_CHANGE: f64 = 0.03;
/// At most this many changes of the learned rate are kept for the report.
const MAX_CHANGES: usize = 50;

#[derive(Debug)]
pub struct Adaptive {
    enabled: bool,
    /// The configured concurrency of the target (or of the run).
    max: usize,
    state: Mutex<State>,
    freed: Notify,
    /// The learned request rate, applied while `State::pacing` is set.
    rate: Rate,
    started: Instant,
}

/// Where the learned rate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Headers,
    Overload,
}

#[derive(Debug, Clone, Copy)]
struct Pacing {
    source: Source,
    /// The rate at which the provider last refused too much.
    ceiling: Option<f64>,
    raised: Instant,
}

/// A cut being judged.
#[derive(Debug, Clone, Copy)]
struct Trial {
    at: Instant,
    share_before: f64,
    /// The rate tried.
    rate: f64,
    /// What to go back to when the 429s turn out to be noise.
    undo: Option<(Pacing, f64)>,
    answers: u32,
    limited: u32,
    /// 429s waiting for the verdict.
    pending: u64,
    /// Cuts made again within this trial because the 429s stayed high.
    again: u32,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    paused_until: Option<Instant>,
    pacing: Option<Pacing>,
    trial: Option<Trial>,
    recent: Recent,
    ok: Sliding,
    limited: Sliding,
    noise_share: f64,
    mean_tokens: f64,
    report: ControlReport,
}

/// What the controller decided, for the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlReport {
    /// Cuts that found the limit.
    pub slowdowns: u64,
    pub at_limit_429s: u64,
    pub noise_429s: u64,
    /// Requests per minute the target is paced at now (`None`: not paced).
    pub learned_rpm: Option<f64>,
    /// Changes of the learned rate: seconds into the run, requests per minute (`None`: pacing
    /// ended), why.
    pub changes: Vec<(f64, Option<f64>, &'static str)>,
    /// Time requests waited for the learned rate or a header pause (summed over requests).
    pub paced_wait: Duration,
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
                in_flight: 0,
                paused_until: None,
                pacing: None,
                trial: None,
                recent: Recent::new(RECENT),
                ok: Sliding::default(),
                limited: Sliding::default(),
                noise_share: 0.0,
                mean_tokens: 0.0,
                report: ControlReport::default(),
            }),
            freed: Notify::new(),
            rate: Rate::per_second(1e9),
            started: Instant::now(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The concurrency limit (whole requests).
    pub fn limit(&self) -> u32 {
        u32::try_from(self.max).unwrap_or(u32::MAX)
    }

    /// How many cuts found the provider's limit.
    pub fn decreases(&self) -> u64 {
        self.lock().report.slowdowns
    }

    /// What the controller decided so far.
    pub fn report(&self) -> ControlReport {
        let state = self.lock();
        let mut report = state.report.clone();
        report.learned_rpm = state.pacing.map(|_| self.rate.per_second_now() * 60.0);
        report
    }

    /// The learned request rate, while one applies.
    pub fn learned_rate(&self) -> Option<f64> {
        self.lock().pacing.map(|_| self.rate.per_second_now())
    }

    /// Waits for a slot under the concurrency limit, for a header pause to end, and for the
    /// learned rate to admit one more request.
    pub async fn acquire(&self) -> Slot<'_> {
        enum Next {
            Go { paced: bool, now: Instant },
            Pause(Instant),
            Wait,
        }
        let mut waited = Duration::ZERO;
        loop {
            let notified = self.freed.notified();
            let next = {
                let mut state = self.lock();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => Next::Pause(until),
                    _ if state.in_flight < self.max => {
                        state.in_flight += 1;
                        Next::Go {
                            paced: state.pacing.is_some(),
                            now,
                        }
                    }
                    _ => Next::Wait,
                }
            };
            match next {
                Next::Go { paced, now } => {
                    let slot = Slot(self);
                    if paced {
                        let go = self.rate.reserve(1.0, now);
                        waited += go.saturating_duration_since(now);
                        // Not to the timer when it is already time (see `limits::acquire`).
                        if go > Instant::now() {
                            tokio::time::sleep_until(go).await;
                        }
                    }
                    if !waited.is_zero() {
                        self.lock().report.paced_wait += waited;
                    }
                    return slot;
                }
                Next::Pause(until) => {
                    waited += until.saturating_duration_since(Instant::now());
                    tokio::time::sleep_until(until).await
                }
                Next::Wait => notified.await,
            }
        }
    }

    /// A request sent at `sent` succeeded; `headers` are its `x-ratelimit-*` headers and
    /// `tokens` what it used.
    pub fn on_success(&self, sent: Instant, headers: &RateLimitHeaders, tokens: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let mut state = self.lock();
        state.ok.add(now);
        state.recent.push(false);
        if tokens > 0 {
            state.mean_tokens = if state.mean_tokens == 0.0 {
                tokens as f64
            } else {
                state.mean_tokens * 0.95 + tokens as f64 * 0.05
            };
        }
        if let Some(trial) = state.trial.as_mut().filter(|t| sent >= t.at + SETTLE) {
            trial.answers += 1;
        }
        self.judge(&mut state, now);
        if !headers.is_empty() {
            self.learn_from_headers(&mut state, headers, now);
        }
        self.grow(&mut state, now);
    }

    /// A request sent at `sent` got a 429 (not a quota refusal).
    pub fn on_rate_limited(&self, sent: Instant) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let mut state = self.lock();
        state.limited.add(now);
        state.recent.push(true);
        if let Some(trial) = state.trial.as_mut() {
            trial.pending += 1;
            if sent >= trial.at + SETTLE {
                trial.answers += 1;
                trial.limited += 1;
            }
            self.judge(&mut state, now);
            return;
        }
        if state.pacing.is_some_and(|p| p.source == Source::Headers) {
            // Paced at the limit the provider states: a 429 now is a request that was in
            // flight when the allowance ran out, or a burst the reset did not cover.
            state.report.at_limit_429s += 1;
            return;
        }
        let ok = state.ok.per_second(now);
        let limited = state.limited.per_second(now);
        let share = limited / (ok + limited).max(1.0);
        let suspect = match state.pacing {
            None => {
                state.recent.len() >= SUSPECT_MIN_ANSWERS
                    && state.recent.share() >= SUSPECT_SHARE.max(state.noise_share + SUSPECT_ABOVE_NOISE)
            }
            Some(_) => limited >= EXCESS_MIN && share > state.noise_share + EXCESS_MARGIN,
        };
        if !suspect {
            state.report.noise_429s += 1;
            return;
        }
        // Try sending slower; the next answers say whether these 429s were the limit.
        let current = self.rate.per_second_now();
        let (next, undo) = match state.pacing {
            None => ((ok * FIRST_CUT).max(1.0), None),
            Some(pacing) => {
                let admitted = ok / (1.0 - state.noise_share).max(0.1);
                (
                    (current.min(admitted.max(MIN_RATE)) * CUT).max(MIN_RATE),
                    Some((pacing, current)),
                )
            }
        };
        let moved = (state.recent.limited() as u64).min(state.report.noise_429s + 1);
        state.report.noise_429s = state.report.noise_429s.saturating_sub(moved.saturating_sub(1));
        state.trial = Some(Trial {
            at: now,
            // Not paced, a spike of the last answers is no baseline: the last second is.
            share_before: if undo.is_some() {
                share.max(state.recent.share())
            } else {
                share
            },
            rate: next.max(MIN_RATE),
            undo,
            answers: 0,
            limited: 0,
            pending: moved,
            again: 0,
        });
        state.pacing = Some(Pacing {
            source: Source::Overload,
            ceiling: Some(current.min(next / CUT).max(next)),
            raised: now,
        });
        self.set_rate(
            &mut state,
            next,
            now,
            "429s stood out: sending slower to see if they fall",
        );
    }
}

#[cfg(test)]
mod tests;
