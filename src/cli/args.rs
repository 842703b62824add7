//! The argument structs several commands share: the job file and model, the run's flags,
//! dispatch tuning, crash safety; and the value parsers of their flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::Args;

use sheepdog::config::{Overrides, MAX_ATTEMPTS, MAX_CONCURRENCY, MAX_ERROR_WINDOW};

use sheepdog::config::run::MAX_REORDER_WINDOW;

use super::{batch, bench, budget, tables, MetricsArgs, ShardArgs, ValidateArgs};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Job file (TOML): providers, targets, route, retry, prices.
    #[arg(long, short = 'c', env = "SHEEPDOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model (or target name from the job file) to use instead of the route.
    #[arg(long, short = 'm', env = "SHEEPDOG_MODEL")]
    pub model: Option<String>,
    /// Extra prices: LiteLLM's model_prices_and_context_window.json, or [prices."model"] TOML
    /// (the job file's own prices still win).
    #[arg(long)]
    pub prices: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input file: one request per line (OpenAI Batch API lines or {"id","prompt"|"messages"}).
    pub input: PathBuf,
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Requests in flight at once [default: 16].
    #[arg(long, env = "SHEEPDOG_CONCURRENCY", value_parser = count(1, MAX_CONCURRENCY))]
    pub concurrency: Option<usize>,
    /// Per-request timeout, e.g. 30s, 2m [default: 60s].
    #[arg(long, env = "SHEEPDOG_TIMEOUT", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Tries per target for retryable failures (429, 5xx, timeouts) [default: 3].
    #[arg(long, env = "SHEEPDOG_MAX_ATTEMPTS", value_parser = attempts())]
    pub max_attempts: Option<u32>,
    /// Run folder [default: reports/<input name>-<UTC time>]. An existing run folder is
    /// resumed (same input file and targets required).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub durable: DurableArgs,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// No progress display and no final table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Validate the config and every line, estimate input tokens, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stream answers (SSE) and measure time to first token and inter-token latency; results
    /// have the same shape as without.
    #[arg(long)]
    pub stream: bool,
    /// With --stream: a stream that sends nothing for this long is broken (and retried)
    /// [default: 30s].
    #[arg(long, value_parser = parse_duration)]
    pub stream_idle_timeout: Option<Duration>,
    /// Where short lines ({"id","prompt"|"messages"|"input"}) go: chat, completions,
    /// embeddings, responses or moderations [default: chat]. Batch lines name their own url.
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<sheepdog::provider::ApiEndpoint>,
    /// Largest answer accepted, e.g. 32MiB, 1GB: a bigger one (or a longer event stream) is
    /// cut off and fails as response_too_large, retried once [default: 32MiB].
    #[arg(long, value_name = "SIZE", value_parser = sheepdog::provider::body::parse_size)]
    pub max_response_size: Option<u64>,
    #[command(flatten)]
    pub validate: ValidateArgs,
    #[command(flatten)]
    pub tables: tables::TableArgs,
    /// Pass/fail criterion on the run's final figures; a crossed one makes the run exit 1.
    /// Repeat it: 'p99(e2e)<5s', 'p99(ttft)<500ms' (with --stream), 'error_rate<1%', 'rps>10'.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = bench::parse_threshold)]
    pub thresholds: Vec<sheepdog::threshold::Threshold>,
    #[command(flatten)]
    pub batch_api: batch::BatchApiArgs,
    #[command(flatten)]
    pub budget: budget::BudgetArgs,
}

/// Limits, retries and guards of the dispatch layer (shared by `run` and `bench`).
#[derive(Debug, Args, Default)]
pub struct DispatchArgs {
    /// Requests per minute over the whole run (every provider) [default: no limit].
    #[arg(long, env = "SHEEPDOG_RPM", value_parser = clap::value_parser!(u32).range(1..))]
    pub rpm: Option<u32>,
    /// Tokens per minute over the whole run (prompt estimate + max_tokens, corrected from usage).
    #[arg(long, env = "SHEEPDOG_TPM", value_parser = clap::value_parser!(u64).range(1..))]
    pub tpm: Option<u64>,
    /// First retry waits up to this long (full jitter, doubling per try) [default: 500ms].
    #[arg(long, value_parser = parse_duration)]
    pub retry_base_delay: Option<Duration>,
    /// Longest wait between tries (a server's Retry-After is still honoured) [default: 30s].
    #[arg(long, value_parser = parse_duration)]
    pub retry_max_delay: Option<Duration>,
    /// Give up on an item after this long, retries and fallbacks included [default: none].
    #[arg(long, value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Do not let the rate controller pace a target after 429s or x-ratelimit headers; each
    /// retry still honours its Retry-After.
    #[arg(long)]
    pub no_adaptive: bool,
    /// Stop when the first N requests to a target all got the same 4xx refusal (0: off) [default: 20].
    #[arg(long)]
    pub refusal_limit: Option<u32>,
    /// Longest Retry-After honoured; a longer one is cut to this [default: 10m].
    #[arg(long, value_parser = parse_duration)]
    pub max_retry_after: Option<Duration>,
    /// Stop the run when more than this share of the last --error-window items failed, e.g. 5%.
    #[arg(long, value_parser = parse_share)]
    pub max_error_rate: Option<f64>,
    /// Window of the error-rate guard, in finished items [default: 200].
    #[arg(long, value_parser = count(1, MAX_ERROR_WINDOW))]
    pub error_window: Option<usize>,
}

impl DispatchArgs {
    /// Adds these flags to the overrides.
    pub fn apply(&self, o: &mut Overrides) {
        o.rpm = self.rpm;
        o.tpm = self.tpm;
        o.base_delay = self.retry_base_delay;
        o.max_delay = self.retry_max_delay;
        o.deadline = self.deadline;
        o.adaptive = self.no_adaptive.then_some(false);
        o.refusal_limit = self.refusal_limit;
        o.max_retry_after = self.max_retry_after;
        o.max_error_rate = self.max_error_rate;
        o.error_window = self.error_window;
    }
}

pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    sheepdog::config::file::parse_share(text)
}

/// A count of things held in memory or in flight: `min..=max`, a clear message otherwise
/// (a huge value would otherwise ask for memory or permits that do not exist).
pub(crate) fn count(min: u64, max: usize) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(min..=max as u64)
}

/// `--max-attempts`: 1 to [`MAX_ATTEMPTS`].
pub(crate) fn attempts() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=i64::from(MAX_ATTEMPTS))
}

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}; write e.g. 250ms, 30s, 5m"))
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        let mut overrides = Overrides {
            config: self.target.config.clone(),
            model: self.target.model.clone(),
            concurrency: self.concurrency,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            out: self.out.clone(),
            stream: self.stream.then_some(true),
            stream_idle_timeout: self.stream_idle_timeout,
            endpoint: self.endpoint,
            max_response_size: self.max_response_size,
            ..Overrides::default()
        };
        self.dispatch.apply(&mut overrides);
        self.shard.apply(&mut overrides);
        self.validate.apply(&mut overrides);
        self.durable.apply(&mut overrides);
        self.budget.apply(&mut overrides);
        self.tables.apply(&mut overrides);
        overrides
    }
}

impl ConfigArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            model: self.model.clone(),
            ..Overrides::default()
        }
    }
}

/// Resume, crash safety, order and cache of `sheepdog run`.
#[derive(Debug, Args, Default)]
pub struct DurableArgs {
    /// Continue the run in this folder: only lines without a result are sent.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// When resuming: send again the items that failed for good, replacing their error lines.
    #[arg(long)]
    pub retry_failed: bool,
    /// When result lines are synced to disk: always, interval (about every second) or never
    /// [default: interval; job file: run.fsync].
    #[arg(long, value_name = "WHEN", env = "SHEEPDOG_FSYNC")]
    pub fsync: Option<sheepdog::config::run::FsyncPolicy>,
    /// On Ctrl-C or SIGTERM, wait this long for requests in flight [default: 30s; job file:
    /// run.drain_timeout].
    #[arg(long, value_name = "DUR", env = "SHEEPDOG_DRAIN_TIMEOUT", value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Write results.jsonl in input order (a bounded reorder buffer; dispatch waits when full)
    /// [job file: run.ordered].
    #[arg(long, env = "SHEEPDOG_ORDERED")]
    pub ordered: bool,
    /// With --ordered: finished items held back at most [default: 10000; job file:
    /// run.reorder_window].
    #[arg(long, value_name = "N", env = "SHEEPDOG_REORDER_WINDOW", value_parser = count(1, MAX_REORDER_WINDOW))]
    pub reorder_window: Option<usize>,
    /// Response cache database: identical requests are answered from it (cost 0), new answers
    /// are added [default: off; job file: run.cache].
    #[arg(long, value_name = "PATH", env = "SHEEPDOG_CACHE")]
    pub cache: Option<PathBuf>,
    /// Accept an input without lines (exit 0) instead of refusing it (exit 2).
    #[arg(long)]
    pub allow_empty: bool,
}

impl DurableArgs {
    /// The job settings among these flags (or their `SHEEPDOG_*` variables), resolved with
    /// the job file's `[run]` table.
    pub fn apply(&self, overrides: &mut Overrides) {
        overrides.fsync = self.fsync;
        overrides.drain_timeout = self.drain_timeout;
        overrides.ordered = self.ordered.then_some(true);
        overrides.reorder_window = self.reorder_window;
        overrides.cache = self.cache.clone();
    }

    /// The invocation details among these flags.
    pub fn options(&self, options: &mut sheepdog::RunOptions) {
        options.resume = self.resume.clone();
        options.retry_failed = self.retry_failed;
        options.allow_empty = self.allow_empty;
    }
}
