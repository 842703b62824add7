//! `p99(ttft)<500ms`, `error_rate<1%`, `rps>100`, `goodput>=95%`, `goodput_rps>10` → [`Threshold`].

use std::str::FromStr;

use thiserror::Error;

use super::SloMetric;
use super::{Figure, Op, Stat, Threshold};

const EXAMPLES: &str = "write e.g. p99(ttft)<500ms, error_rate<1%, rps>100 or goodput>=95%";

/// Why a `--threshold` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ThresholdError {
    #[error("`{0}` has no comparison (<, <=, > or >=): {EXAMPLES}")]
    NoComparison(String),
    #[error(
        "unknown figure `{figure}` in `{text}`: the figures are p50, p90, p95, p99, p99.9 or max of \
         ttft, itl, tpot or e2e (as in p99(ttft)), error_rate, rps, goodput and goodput_rps"
    )]
    UnknownFigure { figure: String, text: String },
    #[error("`{value}` in `{text}` is not {expected}")]
    BadLimit {
        value: String,
        text: String,
        expected: &'static str,
    },
    #[error("--threshold {0}: goodput needs objectives: add --slo")]
    NeedsSlo(String),
    #[error("--threshold {0}: ttft, itl and tpot are measured on streamed answers: drop --no-stream")]
    NeedsStream(String),
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| ThresholdError::NoComparison(text.to_string()))?;
        let (name, rest) = text.split_at(at);
        let (op, value) = match (rest.starts_with('<'), rest[1..].starts_with('=')) {
            (true, true) => (Op::AtMost, &rest[2..]),
            (true, false) => (Op::Below, &rest[1..]),
            (false, true) => (Op::AtLeast, &rest[2..]),
            (false, false) => (Op::Above, &rest[1..]),
        };
        let figure = figure(name.trim()).ok_or_else(|| ThresholdError::UnknownFigure {
            figure: name.trim().to_string(),
            text: text.to_string(),
        })?;
        let value = value.trim();
        let bad = |expected| ThresholdError::BadLimit {
            value: value.to_string(),
            text: text.to_string(),
            expected,
        };
        let limit = match figure {
            Figure::Latency { .. } => humantime::parse_duration(value)
                .map(|d| d.as_secs_f64() * 1000.0)
                .map_err(|_| bad("a duration like 500ms or 2s"))?,
            Figure::ErrorRate | Figure::Goodput => share(value).ok_or_else(|| bad("a share like 1% or 0.01"))?,
            Figure::Rps | Figure::GoodputRps => value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad("a number of requests per second"))?,
        };
        Ok(Threshold {
            figure,
            op,
            limit,
            text: text.to_string(),
        })
    }
}

/// `p99(ttft)`, `error_rate`, ...
fn figure(name: &str) -> Option<Figure> {
    match name {
        "error_rate" => return Some(Figure::ErrorRate),
        "rps" => return Some(Figure::Rps),
        "goodput" => return Some(Figure::Goodput),
        "goodput_rps" => return Some(Figure::GoodputRps),
        _ => {}
    }
    let (stat, rest) = name.split_once('(')?;
    let metric = rest.strip_suffix(')')?.trim();
    let stat = match stat.trim() {
        "p999" => Stat::P999,
        s => Stat::ALL.into_iter().find(|x| x.name() == s)?,
    };
    let metric: SloMetric = metric.parse().ok()?;
    Some(Figure::Latency { stat, metric })
}

/// `1%` or `0.01`, between 0 and 1.
fn share(value: &str) -> Option<f64> {
    let share = match value.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => value.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&share).then_some(share)
}
