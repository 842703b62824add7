//! The command line: clap types and the glue of each command, one file per command group. The
//! only place that knows clap: arguments become library types (`config::Overrides`,
//! `mock::MockConfig`, `bench::BenchSpec`) here, library results become what the user reads on
//! stdout/stderr, and every command ends in one [`Exit`].

use std::fmt::Display;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};

use sheepdog::config::{Config, Overrides, ProcessEnv, MAX_ATTEMPTS, MAX_CONCURRENCY, MAX_ERROR_WINDOW};
use sheepdog::mock::{parse_fail_models, parse_failures, parse_stream_faults, Latency, MockConfig};
use sheepdog::Exit;

mod answers;
mod batch;
mod bench;
mod budget;
mod cost;
mod export;
mod mock;
mod ops;
mod prices;
mod run;
mod signals;
mod tables;
mod targets;
pub use answers::ValidateArgs;
pub use bench::BenchArgs;
pub use ops::{LogArgs, MergeArgs, MetricsArgs, ShardArgs};
pub use prices::ModelsArgs;

/// Why a command could not finish: said once on stderr by [`execute`], then its exit code.
#[derive(Debug)]
pub struct Failure {
    message: String,
    exit: Exit,
    /// A second line: what to do next (e.g. the command that resumes the run).
    hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Display, exit: Exit) -> Failure {
        Failure {
            message: message.to_string(),
            exit,
            hint: None,
        }
    }

    /// Bad usage, job file or input: exit 2.
    pub fn usage(message: impl Display) -> Failure {
        Failure::new(message, Exit::Usage)
    }

    fn with_hint(mut self, hint: String) -> Failure {
        self.hint = Some(hint);
        self
    }
}

impl From<sheepdog::job::JobError> for Failure {
    fn from(e: sheepdog::job::JobError) -> Failure {
        Failure::new(&e, e.exit())
    }
}

impl From<sheepdog::merge::MergeError> for Failure {
    fn from(e: sheepdog::merge::MergeError) -> Failure {
        Failure::new(&e, e.exit())
    }
}

/// How a command ended: its exit, or why it could not finish.
pub type Outcome = Result<Exit, Failure>;

/// Runs the command and says any failure; the exit is the process's.
pub async fn execute(command: Command) -> Exit {
    let outcome = match command {
        Command::Run(args) => run::run(args).await,
        Command::Check(args) => targets::check(args).await,
        Command::Models(args) => targets::models(args),
        Command::Bench(args) => bench::bench(args).await,
        Command::Mock(args) => mock::serve(args).await,
        Command::Estimate(args) => cost::estimate(args),
        Command::Compare(args) => cost::compare(args),
        Command::Report(args) => cost::report(args),
        Command::Merge(args) => ops::merge(args),
        Command::Batch(args) => batch::control(args).await,
        Command::Export(args) => export::export(args),
    };
    outcome.unwrap_or_else(|failure| {
        eprintln!("sheepdog: {}", failure.message);
        if let Some(hint) = &failure.hint {
            eprintln!("sheepdog: {hint}");
        }
        failure.exit
    })
}

/// The validated configuration of a command: flags > environment > job file > defaults.
fn resolve(overrides: &Overrides) -> Result<Config, Failure> {
    Config::resolve(overrides, &ProcessEnv).map_err(Failure::usage)
}

/// What the configuration wants the user to know (e.g. "no job file: using the mock").
fn say_notices(notices: &[String], quiet: bool) {
    if !quiet {
        for notice in notices {
            eprintln!("sheepdog: {notice}");
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "sheepdog",
    version,
    about = "Herds large numbers of LLM chat-completion requests through rate limits, retries and \
             fallbacks, and measures what it saw.",
    after_help = "Exit codes: 0 all items succeeded, 1 some items failed (reports still written), \
                  2 bad usage, config or input file, 3 aborted (fatal provider error or interrupted)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send every prompt of a JSONL file once and write results, errors and reports.
    Run(RunArgs),
    /// Send one tiny request per target of the route: reachable? key accepted? model exists?
    Check(ConfigArgs),
    /// List the route's targets with their prices, and how many prices each source gives
    /// (--all: every price).
    Models(ModelsArgs),
    /// Load-test an endpoint: TTFT, inter-token latency, throughput and goodput at a fixed
    /// concurrency or arrival rate, or a sweep of them.
    Bench(BenchArgs),
    /// Serve the built-in OpenAI-compatible mock server (latency and fault injection).
    Mock(MockArgs),
    /// What a JSONL workload would cost on each model: tokens counted locally, nothing sent.
    Estimate(cost::EstimateArgs),
    /// Runs over the same prompts side by side, the better value of each row marked.
    Compare(cost::CompareArgs),
    /// Render a run folder's report again: md, html, json, csv or text.
    Report(cost::ReportArgs),
    /// Combine the run folders of a sharded job (`run --shard I/N`) into one: results, errors,
    /// requests and exactly merged statistics.
    Merge(MergeArgs),
    /// The provider batches of a `run --batch-api` folder: their status, or cancel them.
    Batch(batch::BatchArgs),
    /// One row per input line of a run folder (input columns, answer, status, tokens, cost,
    /// latency) as CSV or JSONL, for spreadsheets and data frames.
    Export(export::ExportArgs),
}

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

fn parse_share(text: &str) -> Result<f64, String> {
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

/// A probability, 0 to 1.
fn parse_probability(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && (0.0..=1.0).contains(p))
        .ok_or_else(|| "must be a probability between 0 and 1, e.g. 0.01".to_string())
}

/// A standard deviation of output tokens, 0 to [`MAX_OUTPUT_TOKENS_STD`].
fn parse_tokens_std(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.0..=MAX_OUTPUT_TOKENS_STD).contains(s))
        .ok_or_else(|| format!("must be a number of tokens between 0 and {MAX_OUTPUT_TOKENS_STD}"))
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Fixed delay before each answer, e.g. 50ms.
    #[arg(long, value_parser = parse_duration, conflicts_with = "latency_mean")]
    pub latency: Option<Duration>,
    /// Mean of a normally distributed delay (with --latency-std).
    #[arg(long, value_parser = parse_duration)]
    pub latency_mean: Option<Duration>,
    /// Standard deviation of the delay.
    #[arg(long, value_parser = parse_duration, requires = "latency_mean")]
    pub latency_std: Option<Duration>,
    /// Streamed answers: delay before the first token.
    #[arg(long, value_parser = parse_duration)]
    pub ttft: Option<Duration>,
    /// Standard deviation of --ttft (normal distribution).
    #[arg(long, value_parser = parse_duration, requires = "ttft")]
    pub ttft_std: Option<Duration>,
    /// Streamed answers: delay between tokens.
    #[arg(long, value_parser = parse_duration)]
    pub itl: Option<Duration>,
    /// Standard deviation of --itl (normal distribution).
    #[arg(long, value_parser = parse_duration, requires = "itl")]
    pub itl_std: Option<Duration>,
    /// Tokens per answer [default: 16 to 64, derived from the prompt].
    #[arg(long)]
    pub output_tokens: Option<u32>,
    /// Standard deviation of --output-tokens (normal distribution, drawn per prompt).
    #[arg(long, requires = "output_tokens", value_parser = parse_tokens_std)]
    pub output_tokens_std: Option<f64>,
    /// Handle at most this many requests at once; more wait in a queue (saturation).
    #[arg(long, value_parser = count(1, MAX_CONCURRENCY))]
    pub max_concurrency: Option<usize>,
    /// Stop the whole server once this many requests arrived (with --stall-for).
    #[arg(long, requires = "stall_for")]
    pub stall_after: Option<u64>,
    /// How long the server-wide stall of --stall-after lasts.
    #[arg(long, value_parser = parse_duration, requires = "stall_after")]
    pub stall_for: Option<Duration>,
    /// Inject errors: STATUS=PROBABILITY,... e.g. 429=0.1,500=0.05
    #[arg(long)]
    pub fail: Option<String>,
    /// What injected 429s ask the client to wait (retry-after and retry-after-ms headers).
    #[arg(long, value_parser = parse_duration)]
    pub retry_after: Option<Duration>,
    /// Require this bearer key (others get 401).
    #[arg(long, env = "SHEEPDOG_MOCK_KEY", hide_env_values = true)]
    pub require_key: Option<String>,
    /// Only these models exist (others get 404 model_not_found), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Answer at most this many requests per minute per key; more get 429 with the exact wait.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rpm: Option<u32>,
    /// Answer at most this many tokens (prompt + completion) per minute per key.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tpm: Option<u64>,
    /// Let --rpm / --tpm allowance accumulate at most this long's worth (providers enforce
    /// per-minute limits over shorter windows: 1s is like them) [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    pub burst: Option<Duration>,
    /// A request limit that changes during the run: TIME=RPM,... e.g. 0s=1200,20s=300
    /// (instead of --rpm).
    #[arg(long, conflicts_with = "rpm")]
    pub rpm_schedule: Option<String>,
    /// Models that always fail: MODEL=STATUS,... e.g. gpt-4.1=404
    #[arg(long)]
    pub fail_model: Option<String>,
    /// After this many answers, every request gets 429 insufficient_quota.
    #[arg(long)]
    pub quota: Option<u64>,
    /// Probability that a request is never answered (the client's timeout ends it).
    #[arg(long, value_parser = parse_probability)]
    pub hang: Option<f64>,
    /// Leave out the x-ratelimit-* headers that --rpm / --tpm otherwise send.
    #[arg(long)]
    pub no_ratelimit_headers: bool,
    /// Streamed answers that break: KIND=PROBABILITY,... with kinds truncate (ends without
    /// [DONE]), disconnect (connection dropped), stall (silent for --stream-stall), malformed
    /// (a non-JSON chunk), error (an error event), e.g. truncate=0.02,stall=0.01
    #[arg(long)]
    pub stream_fault: Option<String>,
    /// How long a stall stream fault sends nothing [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    pub stream_stall: Option<Duration>,
    /// Seed of fault injection and latency sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Batch API: from creation to completed [default: 5s].
    #[arg(long, value_parser = parse_duration)]
    pub batch_duration: Option<Duration>,
    /// Batch API: share of lines that fail (a 500 in the error file), e.g. 0.05.
    #[arg(long, value_parser = parse_probability)]
    pub batch_fail_share: Option<f64>,
    /// Batch API: these batches (1-based, in creation order) expire half-way, e.g. 1,3.
    #[arg(long, value_name = "N,...", value_parser = sheepdog::mock::parse_batch_numbers)]
    pub batch_expire: Option<Vec<u64>>,
    /// Batch API: these batches (1-based, in creation order) fail validation, e.g. 2.
    #[arg(long, value_name = "N,...", value_parser = sheepdog::mock::parse_batch_numbers)]
    pub batch_failed: Option<Vec<u64>>,
    /// Batch API: the first N polls of each batch get 429 with --retry-after.
    #[arg(long, value_name = "N")]
    pub batch_poll_429: Option<u32>,
}

use sheepdog::config::run::MAX_REORDER_WINDOW;
/// `mock --output-tokens-std` at most.
const MAX_OUTPUT_TOKENS_STD: f64 = 1_000_000.0;

/// A fixed delay, or a normal distribution when a standard deviation is given.
fn latency(mean: Duration, std: Option<Duration>) -> Latency {
    match std {
        Some(std) => Latency::Normal { mean, std },
        None => Latency::Fixed(mean),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
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

impl TryFrom<&MockArgs> for MockConfig {
    type Error = String;

    fn try_from(args: &MockArgs) -> Result<MockConfig, String> {
        let mut config = MockConfig::default();
        if let Some(latency) = args.latency {
            config.latency = Latency::Fixed(latency);
        }
        if let Some(mean) = args.latency_mean {
            config.latency = Latency::Normal {
                mean,
                std: args.latency_std.unwrap_or_default(),
            };
        }
        if let Some(ttft) = args.ttft {
            config.ttft = latency(ttft, args.ttft_std);
        }
        if let Some(itl) = args.itl {
            config.itl = latency(itl, args.itl_std);
        }
        config.output_tokens = args.output_tokens.or(config.output_tokens);
        config.output_tokens_std = args.output_tokens_std.unwrap_or(config.output_tokens_std);
        config.max_concurrency = args.max_concurrency;
        config.stall_after = args.stall_after;
        config.stall_for = args.stall_for.unwrap_or(config.stall_for);
        config.stream_stall = args.stream_stall.unwrap_or(config.stream_stall);
        if let Some(fail) = &args.fail {
            config.failures = parse_failures(fail).map_err(|e| format!("--fail: {e}"))?;
        }
        if let Some(retry_after) = args.retry_after {
            config.retry_after = retry_after;
        }
        if let Some(fault) = &args.stream_fault {
            config.stream_faults = parse_stream_faults(fault).map_err(|e| format!("--stream-fault: {e}"))?;
        }
        config.rpm = args.rpm;
        config.tpm = args.tpm;
        if let Some(burst) = args.burst {
            if burst.is_zero() {
                return Err("--burst: must be longer than 0".into());
            }
            config.burst = burst;
        }
        if let Some(schedule) = &args.rpm_schedule {
            config.rpm_schedule =
                sheepdog::mock::parse_rpm_schedule(schedule).map_err(|e| format!("--rpm-schedule: {e}"))?;
        }
        if let Some(models) = &args.fail_model {
            config.fail_models = parse_fail_models(models).map_err(|e| format!("--fail-model: {e}"))?;
        }
        config.quota = args.quota;
        config.hang = args.hang.unwrap_or(0.0);
        config.ratelimit_headers = !args.no_ratelimit_headers;
        config.require_key = args.require_key.clone();
        config.models = args.models.clone();
        config.seed = args.seed;
        if let Some(duration) = args.batch_duration {
            config.batch.duration = duration;
        }
        config.batch.fail_share = args.batch_fail_share.unwrap_or(0.0);
        config.batch.expire = args.batch_expire.clone().unwrap_or_default();
        config.batch.fail = args.batch_failed.clone().unwrap_or_default();
        config.batch.poll_429 = args.batch_poll_429.unwrap_or(0);
        config.validate()?;
        Ok(config)
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

/// The command that continues the run in `dir`: this one's arguments with `--resume DIR`
/// instead of `--out` / `--resume`, quoted for a POSIX shell.
pub fn resume_command(dir: &std::path::Path) -> String {
    resume_command_with(dir, None)
}

/// [`resume_command`] with the flag `new.0` (and its value) replaced by `new.1`.
pub fn resume_command_with(dir: &std::path::Path, new: Option<(&str, &str)>) -> String {
    let mut words = vec!["sheepdog".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some((flag, _)) = new {
            if arg == flag {
                args.next();
                continue;
            }
            if arg.starts_with(&format!("{flag}=")) {
                continue;
            }
        }
        if matches!(arg.as_str(), "--out" | "-o" | "--resume") {
            args.next();
            continue;
        }
        if arg.starts_with("--out=") || arg.starts_with("--resume=") || (arg.starts_with("-o") && arg.len() > 2) {
            continue;
        }
        words.push(arg);
    }
    if let Some((flag, value)) = new {
        words.push(flag.into());
        words.push(value.into());
    }
    words.push("--resume".into());
    words.push(dir.display().to_string());
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
