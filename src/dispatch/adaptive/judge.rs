//! How the rate controller judges a cut under trial, learns from rate-limit headers, grows
//! the rate back, and records each change.

use super::*;

impl Adaptive {
    /// Judges the cut under trial once enough answers to later requests came back.
    pub(super) fn judge(&self, state: &mut State, now: Instant) {
        let Some(trial) = state.trial else { return };
        let elapsed = now.saturating_duration_since(trial.at);
        let enough = trial.answers >= JUDGE_MIN_ANSWERS && elapsed >= JUDGE_AFTER + SETTLE;
        if !enough && elapsed < JUDGE_BY {
            return;
        }
        state.trial = None;
        state.recent.clear();
        // 429s before the verdict do not count for the next judgement.
        state.limited = Sliding::default();
        let share = if trial.answers == 0 {
            0.0
        } else {
            f64::from(trial.limited) / f64::from(trial.answers)
        };
        let at_limit = share < trial.share_before * FELL && share < trial.share_before - 0.03;
        let still_high = share > trial.share_before + WORSE || (share > HIGH && !at_limit);
        if still_high && trial.answers >= JUDGE_MIN_ANSWERS && trial.again < MAX_AGAIN {
            // More 429s than before even at the lower rate: the limit itself came down. Cut
            // to what the provider admitted during the trial and judge again.
            let next = (trial.rate * (1.0 - share) * FIRST_CUT).max(MIN_RATE);
            state.trial = Some(Trial {
                at: now,
                share_before: share,
                rate: next,
                answers: 0,
                limited: 0,
                again: trial.again + 1,
                ..trial
            });
            self.set_rate(
                state,
                next,
                now,
                "429s stayed high at the lower rate: cutting again to what was admitted",
            );
            return;
        }
        if at_limit {
            // The rate tried is 90% of what was admitted: the limit is about there.
            if let Some(pacing) = state.pacing.as_mut() {
                pacing.ceiling = Some(trial.rate / FIRST_CUT);
                pacing.raised = now;
            }
            state.report.slowdowns += 1;
            state.report.at_limit_429s += trial.pending;
            tracing::info!(
                share_before = trial.share_before,
                share_after = share,
                rpm = self.rate.per_second_now() * 60.0,
                "429s fell when sending slower: the provider's limit"
            );
            return;
        }
        state.report.noise_429s += trial.pending;
        state.noise_share = state.noise_share.max(share.min(trial.share_before)).min(0.9);
        tracing::info!(
            share_before = trial.share_before,
            share_after = share,
            noise_share = state.noise_share,
            "429s did not fall when sending slower: noise, the cut is undone"
        );
        match trial.undo {
            Some((pacing, rate)) => {
                state.pacing = Some(pacing);
                self.set_rate(state, rate, now, "429s were noise: cut undone");
            }
            None => {
                state.pacing = None;
                self.rate.set_per_second(1e9);
                self.note_change(state, now, None, "429s were noise: not paced");
            }
        }
    }

    /// Paces from `x-ratelimit-*` once the allowance left is no more than what is in flight.
    pub(super) fn learn_from_headers(&self, state: &mut State, headers: &RateLimitHeaders, now: Instant) {
        let close = |remaining: u64, per_request: f64| remaining as f64 <= per_request * (state.in_flight + 1) as f64;
        let header_paced = state.pacing.is_some_and(|p| p.source == Source::Headers);
        let mut want: Option<f64> = None;
        if let (Some(limit), Some(remaining)) = (headers.limit_requests, headers.remaining_requests) {
            if header_paced || close(remaining, 1.0) {
                want = Some(limit as f64 / 60.0 * HEADER_SHARE);
            }
        }
        if let (Some(limit), Some(remaining)) = (headers.limit_tokens, headers.remaining_tokens) {
            let per_request = state.mean_tokens;
            if per_request > 0.0 && (header_paced || close(remaining, per_request)) {
                let rate = limit as f64 / 60.0 / per_request * HEADER_SHARE;
                want = Some(want.map_or(rate, |w| w.min(rate)));
            }
        }
        let Some(want) = want.map(|w| w.max(MIN_RATE)) else {
            if let Some(wait) = headers.exhausted_for() {
                let until = now + wait.min(Duration::from_secs(60));
                state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
            }
            return;
        };
        let current = self.rate.per_second_now();
        let change = match state.pacing {
            None => true,
            Some(p) if p.source == Source::Headers => (want - current).abs() > current * REPORTED_CHANGE,
            Some(_) => want < current,
        };
        if change && state.trial.is_none() {
            state.pacing = Some(Pacing {
                source: Source::Headers,
                ceiling: None,
                raised: now,
            });
            self.set_rate(state, want, now, "x-ratelimit headers: pacing at 97% of the limit");
        }
    }

    /// Paced after a cut that found the limit: grow back slowly to find it again.
    pub(super) fn grow(&self, state: &mut State, now: Instant) {
        let Some(mut pacing) = state.pacing.filter(|p| p.source == Source::Overload) else {
            return;
        };
        if state.trial.is_some() {
            return;
        }
        let elapsed = now.saturating_duration_since(pacing.raised).as_secs_f64();
        if elapsed < 0.1 {
            return;
        }
        let current = self.rate.per_second_now();
        let step = match pacing.ceiling {
            Some(ceiling) if current < ceiling => ceiling * GROWTH_BELOW,
            _ => current * GROWTH_ABOVE,
        };
        self.rate.set_per_second(current + step.max(0.05) * elapsed);
        pacing.raised = now;
        state.pacing = Some(pacing);
    }

    pub(super) fn set_rate(&self, state: &mut State, per_second: f64, now: Instant, why: &'static str) {
        let per_second = per_second.max(MIN_RATE);
        self.rate.set_per_second(per_second);
        self.note_change(state, now, Some(per_second * 60.0), why);
    }

    pub(super) fn note_change(&self, state: &mut State, now: Instant, rpm: Option<f64>, why: &'static str) {
        tracing::info!(rpm = ?rpm, why, "learned rate changed");
        if state.report.changes.len() < MAX_CHANGES {
            let at = now.saturating_duration_since(self.started).as_secs_f64();
            state.report.changes.push((at, rpm, why));
        }
    }
}
