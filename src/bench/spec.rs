//! What a bench run is asked to do, resolved from the command line into typed values: where
//! the prompts come from, the steps of the sweep, when a step stops, the warm-up and the SLOs.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::synthetic::{Length, Synthetic};
use crate::load::{Load, DEFAULT_MAX_IN_FLIGHT, MAX_IN_FLIGHT};

/// A validated bench plan.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSpec {
    pub prompts: PromptSource,
    /// One step per load, run one after another.
    pub steps: Vec<Load>,
    pub stop_at: StopAt,
    /// Run at the start of every step and left out of its figures.
    pub warmup: Duration,
    pub slo: Option<Slo>,
    /// Open loop: requests in flight at most; beyond it sends wait (and their lag shows it).
    pub max_in_flight: usize,
    /// Seeds Poisson arrivals and the synthetic prompts.
    pub seed: u64,
    /// Prometheus metrics to feed while running (`--metrics-addr`).
    pub metrics: Option<crate::metrics::Metrics>,
    /// `--threshold`: checked on every step; a crossing makes the bench exit 1.
    pub thresholds: Vec<crate::threshold::Threshold>,
    /// `--abort-on-fail`: no further step after the first crossed threshold.
    pub abort_on_fail: bool,
    /// `--find-max`: search the highest load meeting the objectives instead of running `steps`.
    pub find_max: Option<super::search::FindMax>,
    /// `--endpoint`: what synthetic prompts and short prompt lines are sent to (chat by default).
    pub endpoint: crate::provider::ApiEndpoint,
}

impl Default for BenchSpec {
    fn default() -> Self {
        BenchSpec {
            prompts: PromptSource::Synthetic(Synthetic::default()),
            steps: Vec::new(),
            stop_at: StopAt::Duration(Duration::from_secs(60)),
            warmup: Duration::ZERO,
            slo: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            seed: 0,
            metrics: None,
            thresholds: Vec::new(),
            abort_on_fail: false,
            find_max: None,
            endpoint: crate::provider::ApiEndpoint::Chat,
        }
    }
}

impl BenchSpec {
    /// Checks what the types cannot: at least one step, a stop that ends, SLOs that can be
    /// measured (`streaming`: whether answers are streamed). The message names the flag.
    pub fn validate(&self, streaming: bool) -> Result<(), String> {
        if let Some(find) = &self.find_max {
            if self.slo.is_none() {
                return Err(
                    "--find-max searches for the most load meeting objectives: add --slo, e.g. --slo ttft=500ms".into(),
                );
            }
            if !(find.goodput > 0.0 && find.goodput <= 1.0) {
                return Err("--goodput must be a share above 0 and at most 100%, e.g. 95%".into());
            }
            if !(find.precision > 0.0 && find.precision < 1.0) {
                return Err("--precision must be a share between 0 and 100%, e.g. 10%".into());
            }
        } else if self.steps.is_empty() {
            return Err("give --concurrency N[,N...] or --rate R[,R...]".into());
        }
        match self.stop_at {
            StopAt::Duration(d) if d.is_zero() => return Err("--duration must be longer than 0".into()),
            StopAt::Requests(0) => return Err("--requests must be at least 1".into()),
            _ => {}
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.max_in_flight) {
            return Err(format!("--max-in-flight must be between 1 and {MAX_IN_FLIGHT}"));
        }
        if let Some(slo) = &self.slo {
            if !streaming && (slo.ttft.is_some() || slo.itl.is_some() || slo.tpot.is_some()) {
                return Err("--slo: ttft, itl and tpot are measured on streamed answers: drop --no-stream".into());
            }
        }
        crate::threshold::validate(&self.thresholds, self.slo.is_some(), streaming).map_err(|e| e.to_string())
    }
}

/// Where the prompts come from.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptSource {
    /// A JSONL input file (the formats `run` reads), cycled.
    File(PathBuf),
    /// Generated prompts.
    Synthetic(Synthetic),
}

impl PromptSource {
    pub fn label(&self) -> String {
        match self {
            PromptSource::File(path) => path.display().to_string(),
            PromptSource::Synthetic(s) => format!("synthetic {}", s.label()),
        }
    }
}

/// When a step stops sending (its warm-up not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAt {
    Duration(Duration),
    Requests(u64),
}

impl StopAt {
    pub fn label(&self) -> String {
        match self {
            StopAt::Duration(d) => format!("{} per step", humantime::format_duration(*d)),
            StopAt::Requests(n) => format!("{n} requests per step"),
        }
    }
}

/// Service-level objectives: a request meets one when its figure is at most the bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slo {
    pub ttft: Option<Duration>,
    pub itl: Option<Duration>,
    pub tpot: Option<Duration>,
    pub e2e: Option<Duration>,
}

pub use crate::threshold::SloMetric;

impl Slo {
    /// The bound on `metric`, when one was given.
    pub fn bound(&self, metric: SloMetric) -> Option<Duration> {
        match metric {
            SloMetric::Ttft => self.ttft,
            SloMetric::Itl => self.itl,
            SloMetric::Tpot => self.tpot,
            SloMetric::E2e => self.e2e,
        }
    }

    fn bound_mut(&mut self, metric: SloMetric) -> &mut Option<Duration> {
        match metric {
            SloMetric::Ttft => &mut self.ttft,
            SloMetric::Itl => &mut self.itl,
            SloMetric::Tpot => &mut self.tpot,
            SloMetric::E2e => &mut self.e2e,
        }
    }
}

impl FromStr for Slo {
    type Err = String;

    /// `ttft=500ms,itl=50ms,tpot=60ms,e2e=5s`: at least one, each once.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut slo = Slo::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not METRIC=DURATION: write e.g. ttft=500ms,e2e=5s"))?;
            let bound = humantime::parse_duration(value.trim())
                .map_err(|e| format!("`{}` in `{part}` is not a duration like 500ms or 5s: {e}", value.trim()))?;
            let metric: SloMetric = key.trim().parse().map_err(|e| format!("{e} (in `{part}`)"))?;
            if slo.bound_mut(metric).replace(bound).is_some() {
                return Err(format!("`{}` is given twice", key.trim()));
            }
        }
        if slo == Slo::default() {
            return Err("no objective given: write e.g. ttft=500ms,e2e=5s".into());
        }
        Ok(slo)
    }
}

/// The SLOs as written in `summary.json`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<f64>,
}

impl SloSpec {
    /// The bound on `metric` in milliseconds, when one was given.
    pub fn bound_ms(&self, metric: SloMetric) -> Option<f64> {
        match metric {
            SloMetric::Ttft => self.ttft_ms,
            SloMetric::Itl => self.itl_ms,
            SloMetric::Tpot => self.tpot_ms,
            SloMetric::E2e => self.e2e_ms,
        }
    }
}

impl From<&Slo> for SloSpec {
    fn from(slo: &Slo) -> Self {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        SloSpec {
            ttft_ms: ms(slo.ttft),
            itl_ms: ms(slo.itl),
            tpot_ms: ms(slo.tpot),
            e2e_ms: ms(slo.e2e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_reads_each_metric_once() {
        let slo: Slo = "ttft=500ms, itl=50ms,e2e=5s".parse().unwrap();
        assert_eq!(slo.ttft, Some(Duration::from_millis(500)));
        assert_eq!(slo.itl, Some(Duration::from_millis(50)));
        assert_eq!(slo.tpot, None);
        assert_eq!(slo.bound(SloMetric::E2e), Some(Duration::from_secs(5)));
        let err = |t: &str| t.parse::<Slo>().unwrap_err();
        assert!(err("ttfb=1s").contains("unknown metric `ttfb`"));
        assert!(err("ttft=fast").contains("`fast` in `ttft=fast` is not a duration"));
        assert!(err("ttft=1s,ttft=2s").contains("`ttft` is given twice"));
        assert!(err("").contains("no objective"));
        assert_eq!(
            SloSpec::from(&slo),
            SloSpec {
                ttft_ms: Some(500.0),
                itl_ms: Some(50.0),
                tpot_ms: None,
                e2e_ms: Some(5000.0)
            }
        );
    }

    #[test]
    fn validate_names_the_flag() {
        let mut spec = BenchSpec::default();
        assert!(spec.validate(true).unwrap_err().contains("--concurrency"));
        spec.steps = vec![Load::Closed { concurrency: 1 }];
        assert_eq!(spec.validate(true), Ok(()));
        spec.slo = Some("itl=50ms".parse().unwrap());
        assert!(spec.validate(false).unwrap_err().contains("--no-stream"));
        spec.slo = Some("e2e=1s".parse().unwrap());
        assert_eq!(spec.validate(false), Ok(()));
        spec.stop_at = StopAt::Requests(0);
        assert!(spec.validate(true).unwrap_err().contains("--requests"));
    }
}
