//! The report data of a bench: plain, versioned, serializable. `summary.json` of a bench run
//! folder is [`BenchSummary`] serialized; `report.md` and the terminal table are pure
//! functions of it.

use serde::{Deserialize, Serialize};

use super::spec::{SloMetric, SloSpec};
use crate::record::ErrorClass;
use crate::stats::summary::{Percentiles, Summary};
use crate::threshold::{Figures, ThresholdCheck};

/// Bumped whenever a field changes meaning or disappears.
pub const BENCH_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSummary {
    pub schema_version: u32,
    /// Always `"bench"`: tells a bench folder from a run folder.
    pub kind: FolderKind,
    pub sheepdog_version: String,
    pub bench: BenchInfo,
    /// One entry per step of the sweep, in the order they ran.
    pub steps: Vec<StepReport>,
    /// Every `--threshold` checked on every step, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdCheck>,
    /// `--find-max`: the answer, its bracket and every probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_max: Option<super::search::FindMaxReport>,
}

impl BenchSummary {
    /// The checks that failed.
    pub fn crossed(&self) -> impl Iterator<Item = &ThresholdCheck> {
        self.thresholds.iter().filter(|c| !c.passed)
    }
}

/// What wrote a folder's `summary.json`; only a bench's says so (`"kind": "bench"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderKind {
    Bench,
}

/// Closed loop (a fixed number in flight) or open loop (requests start at a rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    Closed,
    Open,
}

/// How an open loop's requests are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    Even,
    Poisson,
}

/// How the bench was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchInfo {
    /// `synthetic in=512,out=128`, or the input file.
    pub prompts: String,
    /// Prompt tokens per answered request, from the answers' `usage` (the server's own count);
    /// the tokenizer's count of the first prompt when no request was answered.
    pub prompt_tokens: u64,
    /// The route's first target and its model.
    pub target: String,
    pub model: String,
    pub streamed: bool,
    /// `30s per step` or `1000 requests per step`.
    pub stop: String,
    pub warmup_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSpec>,
    pub out_dir: String,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// Why the sweep ended before its last step without being aborted (a crossed threshold
    /// with `--abort-on-fail`, a saturated server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// `--max-cost`: the budget, what the bench spent, and whether the budget stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::dispatch::budget::BudgetReport>,
    /// The effective configuration, without secrets.
    pub config: serde_json::Value,
}

/// The figures of one step (warm-up requests left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based position in the sweep.
    pub step: usize,
    pub load: LoadInfo,
    /// End of the warm-up → end of the last measured request, in seconds.
    pub window_s: f64,
    /// Requests started after the warm-up (each counted once, retries inside it).
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub warmup_requests: u64,
    /// Measured requests finished per second of the window.
    pub achieved_rps: f64,
    /// Output tokens of the succeeded measured requests per second of the window.
    pub output_tokens_per_s: f64,
    /// failed / requests.
    pub error_rate: f64,
    /// Failed measured requests by the class of their final error.
    pub errors: Vec<ClassCount>,
    /// Open loop only: latency from each request's scheduled send time to its end
    /// (coordinated-omission corrected), succeeded requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_from_schedule_ms: Option<Percentiles>,
    /// Open loop only: scheduled send time → actual send of the first attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_ms: Option<Percentiles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloReport>,
    /// The step's full run summary: e2e, TTFT, ITL, TPOT percentiles, tokens, cost, errors,
    /// histograms.
    pub summary: Summary,
    /// The two open-loop histograms (µs, HdrHistogram V2 + base64), for exact merging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_from_schedule_us: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_lag_us: Option<String>,
    /// Why more load bought no more throughput at this step, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturated: Option<String>,
    /// Share of the measured prompt tokens the server served from its prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens` / prompt tokens; 0 without usage).
    #[serde(default)]
    pub cached_input_share: f64,
}

impl StepReport {
    /// The offered load: the rate, or the concurrency.
    pub fn load_value(&self) -> f64 {
        self.load
            .rate
            .or(self.load.concurrency.map(|c| c as f64))
            .unwrap_or_default()
    }
}

/// The load of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadInfo {
    pub mode: LoadMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open loop: how requests are spaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<ArrivalKind>,
    /// `concurrency 16`, `rate 10/s poisson`.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCount {
    pub class: ErrorClass,
    pub count: u64,
    /// count / measured requests.
    pub rate: f64,
}

/// How many measured requests met the objectives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SloReport {
    /// Requests meeting every objective, per second of the window.
    pub goodput_rps: f64,
    /// Share of measured requests meeting every objective (failed requests meet none).
    pub met_all: f64,
    /// Share meeting each objective that was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e: Option<f64>,
}

impl SloReport {
    /// The share meeting `metric`, when it had an objective.
    pub fn share(&self, metric: SloMetric) -> Option<f64> {
        match metric {
            SloMetric::Ttft => self.ttft,
            SloMetric::Itl => self.itl,
            SloMetric::Tpot => self.tpot,
            SloMetric::E2e => self.e2e,
        }
    }
}

impl StepReport {
    /// The step's figures for `--threshold` (warm-up left out).
    pub fn figures(&self) -> Figures {
        let step = self;
        let s = &step.summary;
        Figures {
            latency: [
                s.ttft_ms.clone(),
                s.itl_ms.clone(),
                s.tpot_ms.clone(),
                Some(s.latency_ms.clone()),
            ],
            error_rate: step.error_rate,
            rps: step.achieved_rps,
            goodput: step.slo.as_ref().map(|slo| slo.met_all),
            goodput_rps: step.slo.as_ref().map(|slo| slo.goodput_rps),
        }
    }
}
