//! `--threshold`: pass/fail criteria on the figures of a bench step or of a run, which set the
//! exit code (k6-style). `p99(ttft)<500ms`, `error_rate<1%`, `rps>100`, `goodput>=95%`.
//!
//! Parsing gives a typed [`Threshold`]; [`check`] is a pure function from thresholds and the
//! [`Figures`] of one step (or of the run) to one [`ThresholdCheck`] each, which reports keep.

mod metric;
mod parse;
#[cfg(test)]
mod tests;

use crate::stats::summary::{Percentiles, Summary};

pub use crate::stats::summary::ThresholdCheck;
pub use metric::SloMetric;
pub use parse::ThresholdError;

/// A statistic of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
}

impl Stat {
    pub const ALL: [Stat; 6] = [Stat::P50, Stat::P90, Stat::P95, Stat::P99, Stat::P999, Stat::Max];

    /// The name users write: `p99(ttft)`, `p99.9(e2e)`, `max(itl)`.
    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p99.9",
            Stat::Max => "max",
        }
    }

    fn of(self, p: &Percentiles) -> f64 {
        match self {
            Stat::P50 => p.p50,
            Stat::P90 => p.p90,
            Stat::P95 => p.p95,
            Stat::P99 => p.p99,
            Stat::P999 => p.p999,
            Stat::Max => p.max,
        }
    }
}

/// The figure a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    /// A statistic of a latency, in milliseconds.
    Latency { stat: Stat, metric: SloMetric },
    /// Failed / measured requests, a share (0..1).
    ErrorRate,
    /// Finished requests per second.
    Rps,
    /// Share of measured requests meeting every `--slo` objective (0..1).
    Goodput,
    /// Requests meeting every objective per second.
    GoodputRps,
}

impl Figure {
    /// Whether the figure needs `--slo`.
    pub fn needs_slo(self) -> bool {
        matches!(self, Figure::Goodput | Figure::GoodputRps)
    }

    /// Whether the figure is only measured on streamed answers.
    pub fn needs_stream(self) -> bool {
        matches!(self, Figure::Latency { metric, .. } if metric != SloMetric::E2e)
    }

    /// A value of this figure as reports show it.
    pub fn show(self, value: f64) -> String {
        match self {
            Figure::Latency { .. } => format!("{}ms", trim(value)),
            Figure::ErrorRate | Figure::Goodput => format!("{}%", trim(value * 100.0)),
            Figure::Rps | Figure::GoodputRps => format!("{} req/s", trim(value)),
        }
    }
}

/// `12.5`, `812`: two decimals at most, no trailing zeros.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How the figure must compare with the limit to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Below,
    AtMost,
    Above,
    AtLeast,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Below => "<",
            Op::AtMost => "<=",
            Op::Above => ">",
            Op::AtLeast => ">=",
        }
    }

    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Below => value < limit,
            Op::AtMost => value <= limit,
            Op::Above => value > limit,
            Op::AtLeast => value >= limit,
        }
    }
}

/// One `--threshold`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub figure: Figure,
    pub op: Op,
    /// In the figure's unit: milliseconds, a share, or requests per second.
    pub limit: f64,
    /// As the user wrote it, for messages.
    pub text: String,
}

/// The figures a threshold can read, from one bench step or a whole run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Indexed by [`SloMetric::index`]; `None` when not measured.
    pub latency: [Option<Percentiles>; SloMetric::ALL.len()],
    pub error_rate: f64,
    pub rps: f64,
    pub goodput: Option<f64>,
    pub goodput_rps: Option<f64>,
}

impl Figures {
    /// A run's final figures: items failed / attempted, items finished per second.
    pub fn of_run(summary: &Summary) -> Figures {
        let t = &summary.totals;
        Figures {
            latency: [
                summary.ttft_ms.clone(),
                summary.itl_ms.clone(),
                summary.tpot_ms.clone(),
                Some(summary.latency_ms.clone()),
            ],
            error_rate: if t.attempted == 0 {
                0.0
            } else {
                t.failed as f64 / t.attempted as f64
            },
            rps: t.items_per_s,
            goodput: None,
            goodput_rps: None,
        }
    }

    /// The value of `figure`, when it was measured.
    pub fn value(&self, figure: Figure) -> Option<f64> {
        match figure {
            Figure::Latency { stat, metric } => self.latency[metric.index()]
                .as_ref()
                .filter(|p| p.count > 0)
                .map(|p| stat.of(p)),
            Figure::ErrorRate => Some(self.error_rate),
            Figure::Rps => Some(self.rps),
            Figure::Goodput => self.goodput,
            Figure::GoodputRps => self.goodput_rps,
        }
    }
}

/// Checks every threshold against `figures` measured at `scope`.
pub fn check(thresholds: &[Threshold], figures: &Figures, scope: &str) -> Vec<ThresholdCheck> {
    thresholds
        .iter()
        .map(|t| {
            let value = figures.value(t.figure);
            let passed = value.is_some_and(|v| t.op.holds(v, t.limit));
            let excess = match (passed, value) {
                (false, Some(v)) => (v - t.limit).abs(),
                _ => 0.0,
            };
            let message = match (passed, value) {
                (true, Some(v)) => format!("{} holds at {scope}: {}", t.text, t.figure.show(v)),
                (false, Some(v)) => {
                    let side = if matches!(t.op, Op::Below | Op::AtMost) {
                        "over"
                    } else {
                        "short"
                    };
                    format!(
                        "{} crossed at {scope}: {}, {} {side}",
                        t.text,
                        t.figure.show(v),
                        t.figure.show(excess)
                    )
                }
                (_, None) => format!("{} crossed at {scope}: the figure was not measured", t.text),
            };
            ThresholdCheck {
                threshold: t.text.clone(),
                scope: scope.to_string(),
                passed,
                value,
                limit: t.limit,
                excess,
                message,
            }
        })
        .collect()
}

/// Checks that every threshold can be measured: goodput needs `--slo`; TTFT, ITL and TPOT need
/// streamed answers. The message names the threshold and what to add.
pub fn validate(thresholds: &[Threshold], has_slo: bool, streaming: bool) -> Result<(), ThresholdError> {
    for t in thresholds {
        if t.figure.needs_slo() && !has_slo {
            return Err(ThresholdError::NeedsSlo(t.text.clone()));
        }
        if t.figure.needs_stream() && !streaming {
            return Err(ThresholdError::NeedsStream(t.text.clone()));
        }
    }
    Ok(())
}
