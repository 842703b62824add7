//! The report data: a plain, versioned, serializable description of a finished run.
//!
//! `summary.json` is this struct serialized; every report format is a pure function of it.

use serde::{Deserialize, Serialize};

/// Bumped whenever a field changes meaning or disappears.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub sheepdog_version: String,
    pub job: JobInfo,
    pub totals: Totals,
    /// End-to-end latency of the final attempt of each succeeded item.
    pub latency_ms: Percentiles,
    /// Time to first token of succeeded streamed items, when any were streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<Percentiles>,
    /// Inter-token latency of succeeded streamed items with at least 2 output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_ms: Option<Percentiles>,
    /// Time per output token of succeeded streamed items with at least 2 output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<Percentiles>,
    /// Succeeded streamed items whose server sent no `usage`: their token counts (in `tokens`)
    /// were made with the tokenizer and are estimates.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_tokens_estimated: u64,
    pub tokens: Tokens,
    pub cost: Cost,
    pub targets: Vec<TargetSummary>,
    /// Failures by class and HTTP status: `scope` says whether a row counts attempts
    /// (every failed request, including those later retried) or items (final failures).
    pub errors: Vec<ErrorCount>,
    /// Attempts-per-item distribution: `attempts_per_item[k]` items needed `k + 1` attempts.
    pub attempts_per_item: Vec<u64>,
    pub histograms: Histograms,
    /// Requests answered and failed over time, for the report's charts.
    #[serde(default)]
    pub timeline: super::timeline::Timeline,
    /// Items answered from the local response cache (`--cache`): not in latency, tokens or cost.
    #[serde(default)]
    pub cache: CacheStats,
    /// `run --threshold`: the verdict of each on the final figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdCheck>,
    /// Items answered through a provider's Batch API (`run --batch-api`): created → ended of
    /// their batch, apart from `latency_ms` (live requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_latency_ms: Option<Percentiles>,
    /// `run --batch-api`: the batches, and the cost at batch prices against live prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_api: Option<BatchApiSummary>,
    /// `--max-cost`: the budget, what the job spent, and whether the budget stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<super::BudgetReport>,
}

/// Answers served by the response cache instead of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheStats {
    pub hits: u64,
    /// What those requests would have cost at the price table's prices.
    pub saved_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Input file as given by the user.
    pub input: String,
    /// Run folder.
    pub out_dir: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    /// Why the run stopped early, when it did (fatal provider error, interrupted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// How many runs of `sheepdog run` made this job (more than 1 after a resume); the figures
    /// cover all of them, `duration_s` is their summed running time.
    #[serde(default = "one_part")]
    pub parts: u32,
    /// The effective configuration, without secrets.
    pub config: serde_json::Value,
}

fn one_part() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Non-blank input lines read.
    pub lines: u64,
    /// Lines rejected before sending (invalid JSON, no messages, repeated id, ...).
    pub rejected: u64,
    /// Valid items that were sent at least once.
    pub attempted: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Valid items never sent because the run stopped early.
    pub unsent: u64,
    /// HTTP requests sent, all attempts included.
    pub requests: u64,
    /// Attempts after the first, over all items.
    pub retries: u64,
    /// Moves of an item to another target of its route.
    pub fallbacks: u64,
    /// succeeded / attempted (0 when nothing was attempted).
    pub success_rate: f64,
    /// Items finished (succeeded or failed) per second of wall time.
    pub items_per_s: f64,
    /// Requests sent per second of wall time.
    pub requests_per_s: f64,
}

/// Percentiles of one metric in milliseconds, read from an HdrHistogram of microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Sum over every request that reported usage and whose model has a price.
    pub total_usd: f64,
    /// Requests with usage whose model has no known price: their cost is unknown, not 0.
    pub unpriced_requests: u64,
    /// Models that had no price.
    pub unpriced_models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    pub provider: String,
    pub model: String,
    /// Requests sent to this target.
    pub requests: u64,
    /// Items this target answered.
    pub succeeded: u64,
    /// Failed requests at this target (attempt level).
    pub failed_requests: u64,
    /// Items that ended failed with this target as the last one tried.
    pub failed_items: u64,
    pub retries: u64,
    pub latency_ms: Percentiles,
    pub tokens: Tokens,
    /// `None` when the model has no price.
    pub cost_usd: Option<f64>,
    /// Items that came to this target after an earlier target of their route gave up.
    #[serde(default)]
    pub fallbacks_in: u64,
    /// Items that left this target for the next one of their route.
    #[serde(default)]
    pub fallbacks_out: u64,
    /// Times the circuit breaker opened (a refused key or quota counts once, for good).
    #[serde(default)]
    pub breaker_openings: u64,
    /// Times the rate controller cut the target's rate and the 429s fell: the provider's limit.
    #[serde(default)]
    pub slowdowns: u64,
    /// Why the run took the time it took at this target: what the rate controller judged and
    /// learned, and what requests waited for.
    #[serde(default)]
    pub pacing: TargetPacing,
}

/// What slowed a target below its configured limits. Waits are summed over requests (two
/// requests waiting one second each count two seconds), so they can exceed the run's duration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetPacing {
    /// 429s the controller judged as the provider's limit reached (the rate was cut for them).
    pub rate_limited_at_limit: u64,
    /// 429s it judged as noise (a steady share that does not grow with the send rate).
    pub rate_limited_noise: u64,
    /// Requests per minute the target was paced at when the run ended (`None`: not paced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_rpm: Option<f64>,
    /// When the learned rate changed and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learned_changes: Vec<LearnedChange>,
    /// Seconds requests waited for the learned rate (or a pause until an allowance reset).
    pub learned_wait_s: f64,
    /// Seconds items waited before retries the provider asked for with Retry-After.
    pub retry_after_wait_s: f64,
    /// Seconds items waited for the circuit breaker's cooldown.
    pub breaker_wait_s: f64,
    /// Retry-After values longer than `retry.max_retry_after`, cut to it.
    #[serde(default)]
    pub retry_after_capped: u64,
    /// The cap, when it was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_after_s: Option<f64>,
}

/// One change of a target's learned rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedChange {
    /// Seconds into the run.
    pub at_s: f64,
    /// Requests per minute from then on (`None`: no longer paced).
    pub rpm: Option<f64>,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorScope {
    /// Every failed request.
    Attempts,
    /// Items that finally failed (input rejections included, class `invalid_input`).
    Items,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCount {
    pub scope: ErrorScope,
    pub class: crate::record::ErrorClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub count: u64,
}

/// HdrHistograms (microseconds) serialized with the V2 format and base64, so runs can be
/// merged exactly later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    pub latency_us: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_us: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_us: Option<String>,
    /// Latency of each target's successful requests, in the order of `targets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetHistogram>,
}

/// One target's latency histogram (successful requests), encoded like the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetHistogram {
    pub target: String,
    pub latency_us: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The verdict of one threshold at one place (a step, or the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdCheck {
    /// The threshold as written: `p99(ttft)<500ms`.
    pub threshold: String,
    /// `step 3 (rate 20/s)` or `run`.
    pub scope: String,
    pub passed: bool,
    /// The measured figure, in the threshold's unit; `None` when it was not measured (which
    /// fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub limit: f64,
    /// How far past the limit the figure is (positive), in the same unit; 0 when it holds.
    pub excess: f64,
    /// One line for people: `p99(ttft)<500ms crossed at step 3 (rate 20/s): 812ms, 312ms over`.
    pub message: String,
}

/// `run --batch-api`: the provider batches of a run and what they cost (see `batch_api`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchApiSummary {
    pub completion_window: String,
    pub batches: Vec<BatchRow>,
    /// Items answered through the Batch API.
    pub items: u64,
    /// Their cost at the batch prices of the price table.
    pub cost_batch_usd: f64,
    /// What the same tokens cost at live prices.
    pub cost_live_usd: f64,
    /// `cost_live_usd - cost_batch_usd`.
    pub saved_usd: f64,
    /// Items whose model has no batch price (not in either cost).
    pub unpriced_items: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    pub number: u32,
    pub batch_id: Option<String>,
    pub endpoint: String,
    pub status: Option<String>,
    pub lines: u64,
    pub completed: u64,
    pub failed: u64,
    /// Created → final status, as sheepdog saw it.
    pub latency_ms: Option<u64>,
}
