//! The figures of one bench step, owned by the single consumer of its samples: the run's
//! [`Collector`] for e2e, TTFT, ITL, TPOT, tokens and errors, plus what only a load test has
//! (latency from the scheduled send time, scheduling lag, SLO goodput).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::spec::{Slo, SloMetric};
use super::summary::{ArrivalKind, ClassCount, LoadInfo, LoadMode, SloReport, StepReport};
use crate::load::{Arrivals, Load};
use crate::record::{ErrorClass, Outcome};
use crate::stats::summary::JobInfo;
use crate::stats::{encode_histogram, new_histogram, percentiles, record_duration, Collector, TargetInfo};

/// What the owner receives about one request of a step.
#[derive(Debug)]
pub(crate) struct Sample {
    /// When the request was due (open loop: scheduled; closed loop: its slot came free).
    pub due: Instant,
    /// When `Dispatcher::process` returned (after every retry).
    pub done: Instant,
    /// Started during the warm-up: left out of the figures.
    pub warmup: bool,
    pub outcome: Outcome,
}

/// One request's figures that an SLO can bound.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Measured {
    pub ok: bool,
    /// Due → first token of the answer that succeeded.
    pub ttft: Option<Duration>,
    pub itl: Option<Duration>,
    pub tpot: Option<Duration>,
    /// Due → end, retries included.
    pub e2e: Duration,
}

impl Measured {
    /// Whether the request meets the objective on `metric`. A failed request meets none; an
    /// answer of fewer than 2 tokens has no gap between tokens, so it meets ITL and TPOT.
    pub fn meets(&self, metric: SloMetric, bound: Duration) -> bool {
        if !self.ok {
            return false;
        }
        match metric {
            SloMetric::Ttft => self.ttft.is_some_and(|t| t <= bound),
            SloMetric::Itl => self.itl.is_none_or(|t| t <= bound),
            SloMetric::Tpot => self.tpot.is_none_or(|t| t <= bound),
            SloMetric::E2e => self.e2e <= bound,
        }
    }
}

/// Counts of requests meeting the objectives.
#[derive(Debug, Clone, Default)]
pub(crate) struct SloCounter {
    slo: Slo,
    requests: u64,
    /// Requests meeting each objective, indexed by [`SloMetric::index`].
    met: [u64; SloMetric::ALL.len()],
    met_all: u64,
}

impl SloCounter {
    pub fn new(slo: Slo) -> Self {
        SloCounter {
            slo,
            ..SloCounter::default()
        }
    }

    pub fn record(&mut self, m: &Measured) {
        self.requests += 1;
        let mut all = true;
        for metric in SloMetric::ALL {
            if let Some(bound) = self.slo.bound(metric) {
                let met = m.meets(metric, bound);
                self.met[metric.index()] += u64::from(met);
                all &= met;
            }
        }
        self.met_all += u64::from(all && m.ok);
    }

    /// The shares, and goodput: `achieved_rps` × the share meeting every objective.
    pub fn report(&self, achieved_rps: f64) -> SloReport {
        let share = |n: u64| {
            if self.requests == 0 {
                0.0
            } else {
                n as f64 / self.requests as f64
            }
        };
        let of = |metric: SloMetric| self.slo.bound(metric).map(|_| share(self.met[metric.index()]));
        SloReport {
            goodput_rps: achieved_rps * share(self.met_all),
            met_all: share(self.met_all),
            ttft: of(SloMetric::Ttft),
            itl: of(SloMetric::Itl),
            tpot: of(SloMetric::Tpot),
            e2e: of(SloMetric::E2e),
        }
    }
}

/// A fixed measurement window: the end of the warm-up to the end of sending (`--duration`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub from: Instant,
    pub to: Instant,
}

/// The step's owner-side state.
pub(crate) struct StepCollector {
    open: bool,
    /// Set for a `--duration` step: throughput counts what ended inside it.
    window: Option<Window>,
    /// Requests (warm-up ones too, whatever their result) that ended inside `window`, and the
    /// output tokens of those that succeeded.
    ended_in_window: u64,
    tokens_in_window: u64,
    /// `Attempt::sent_at` counts from here.
    dispatch_started: Instant,
    collector: Collector,
    from_schedule: Histogram<u64>,
    lag: Histogram<u64>,
    slo: Option<SloCounter>,
    requests: u64,
    succeeded: u64,
    warmup: u64,
    output_tokens: u64,
    errors: BTreeMap<ErrorClass, u64>,
}

impl StepCollector {
    pub fn new(
        targets: Vec<TargetInfo>,
        load: &Load,
        slo: Option<Slo>,
        dispatch_started: Instant,
        window: Option<Window>,
    ) -> Self {
        StepCollector {
            open: load.is_open(),
            window,
            ended_in_window: 0,
            tokens_in_window: 0,
            dispatch_started,
            collector: Collector::new(targets),
            from_schedule: new_histogram(),
            lag: new_histogram(),
            slo: slo.map(SloCounter::new),
            requests: 0,
            succeeded: 0,
            warmup: 0,
            output_tokens: 0,
            errors: BTreeMap::new(),
        }
    }

    pub fn record(&mut self, sample: &Sample) {
        if let Some(w) = self.window {
            if (w.from..=w.to).contains(&sample.done) {
                self.ended_in_window += 1;
                if let Ok(success) = &sample.outcome.result {
                    self.tokens_in_window += success.usage.output_tokens;
                }
            }
        }
        if sample.warmup {
            self.warmup += 1;
            return;
        }
        let outcome = &sample.outcome;
        self.requests += 1;
        self.collector.record(outcome);
        let sent = |offset: Duration| self.dispatch_started + offset;
        let first_sent = outcome.attempts.first().map_or(sample.done, |a| sent(a.sent_at));
        let e2e = sample.done.saturating_duration_since(sample.due);
        let mut measured = Measured {
            e2e,
            ..Measured::default()
        };
        match &outcome.result {
            Ok(success) => {
                self.succeeded += 1;
                self.output_tokens += success.usage.output_tokens;
                let last_sent = outcome.attempts.last().map_or(first_sent, |a| sent(a.sent_at));
                measured.ok = true;
                measured.ttft = success
                    .ttft
                    .map(|t| last_sent.saturating_duration_since(sample.due) + t);
                measured.itl = success.stream.and_then(|s| s.itl);
                measured.tpot = success.stream.and_then(|s| s.tpot);
                if self.open {
                    record_duration(&mut self.from_schedule, e2e);
                }
            }
            Err(error) => *self.errors.entry(error.class).or_insert(0) += 1,
        }
        if self.open {
            record_duration(&mut self.lag, first_sent.saturating_duration_since(sample.due));
        }
        if let Some(slo) = &mut self.slo {
            slo.record(&measured);
        }
    }

    /// The step's report. Throughput: with a fixed window that ran to its end (`complete`),
    /// what ended inside it; otherwise the measured requests over `measured`, the end of the
    /// warm-up → the end of the last measured request.
    pub fn finish(self, step: usize, load: &Load, measured: Duration, complete: bool, job: JobInfo) -> StepReport {
        let fixed = self.window.filter(|_| complete);
        let (window_s, ended, tokens) = match fixed {
            Some(w) => (
                w.to.saturating_duration_since(w.from).as_secs_f64(),
                self.ended_in_window,
                self.tokens_in_window,
            ),
            None => (measured.as_secs_f64(), self.requests, self.output_tokens),
        };
        let per_s = |n: u64| if window_s > 0.0 { n as f64 / window_s } else { 0.0 };
        let achieved_rps = per_s(ended);
        let failed = self.requests - self.succeeded;
        let rate = |n: u64| {
            if self.requests == 0 {
                0.0
            } else {
                n as f64 / self.requests as f64
            }
        };
        let mut errors: Vec<ClassCount> = self
            .errors
            .iter()
            .map(|(&class, &count)| ClassCount {
                class,
                count,
                rate: rate(count),
            })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.class.cmp(&b.class)));
        let open = |h: &Histogram<u64>| self.open.then(|| percentiles(h));
        let encoded = |h: &Histogram<u64>| self.open.then(|| encode_histogram(h).unwrap_or_default());
        let summary = self.collector.finish(job, self.requests, 0);
        let cached_input_share = match summary.tokens.input {
            0 => 0.0,
            input => summary.tokens.cached_input as f64 / input as f64,
        };
        StepReport {
            step,
            load: load_info(load),
            window_s,
            requests: self.requests,
            succeeded: self.succeeded,
            failed,
            warmup_requests: self.warmup,
            achieved_rps,
            output_tokens_per_s: per_s(tokens),
            error_rate: rate(failed),
            errors,
            latency_from_schedule_ms: open(&self.from_schedule),
            schedule_lag_ms: open(&self.lag),
            slo: self.slo.as_ref().map(|s| s.report(achieved_rps)),
            summary,
            latency_from_schedule_us: encoded(&self.from_schedule),
            schedule_lag_us: encoded(&self.lag),
            saturated: None,
            cached_input_share,
        }
    }
}

pub(crate) fn load_info(load: &Load) -> LoadInfo {
    match *load {
        Load::Closed { concurrency } => LoadInfo {
            mode: LoadMode::Closed,
            concurrency: Some(concurrency),
            rate: None,
            arrivals: None,
            label: load.label(),
        },
        Load::Open { rate, arrivals } => LoadInfo {
            mode: LoadMode::Open,
            concurrency: None,
            rate: Some(rate),
            arrivals: Some(match arrivals {
                Arrivals::Even => ArrivalKind::Even,
                Arrivals::Poisson { .. } => ArrivalKind::Poisson,
            }),
            label: load.label(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ok(ttft: u64, itl: Option<u64>, e2e: u64) -> Measured {
        Measured {
            ok: true,
            ttft: Some(ms(ttft)),
            itl: itl.map(ms),
            tpot: itl.map(ms),
            e2e: ms(e2e),
        }
    }

    #[test]
    fn goodput_counts_requests_meeting_every_objective() {
        let slo: Slo = "ttft=500ms,itl=50ms,e2e=2s".parse().unwrap();
        let mut counter = SloCounter::new(slo);
        let requests = [
            ok(100, Some(20), 1000), // meets all
            ok(400, Some(50), 2000), // meets all (bounds are inclusive)
            ok(600, Some(20), 1500), // TTFT too slow
            ok(200, Some(80), 1800), // ITL too slow
            ok(300, None, 2500),     // one token (no ITL): e2e too slow
            ok(100, Some(10), 900),  // meets all
            Measured::default(),     // failed: meets nothing
            ok(450, Some(45), 1999), // meets all
        ];
        for m in &requests {
            counter.record(m);
        }
        let report = counter.report(4.0);
        assert_eq!(report.met_all, 4.0 / 8.0);
        assert_eq!(report.goodput_rps, 2.0, "half of 4 requests/s meet every objective");
        assert_eq!(report.ttft, Some(6.0 / 8.0));
        assert_eq!(report.itl, Some(6.0 / 8.0), "the one-token answer has no gap to miss");
        assert_eq!(report.e2e, Some(6.0 / 8.0));
        assert_eq!(report.tpot, None, "no TPOT objective given");
    }

    #[test]
    fn ttft_objective_is_never_met_without_a_first_token() {
        let m = Measured {
            ok: true,
            e2e: ms(10),
            ..Measured::default()
        };
        assert!(!m.meets(SloMetric::Ttft, ms(1000)));
        assert!(m.meets(SloMetric::E2e, ms(10)));
        assert!(!m.meets(SloMetric::E2e, ms(9)));
    }
}
