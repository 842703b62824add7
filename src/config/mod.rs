//! Configuration: the job file, the environment and the command line resolved once into a
//! validated [`Config`] with typed values. Precedence: CLI flag > environment > job file >
//! built-in default. The library never sees clap types; `cli.rs` fills [`Overrides`].

mod build;
pub mod dispatch;
mod echo;
pub mod file;
pub mod lines;
pub mod max_cost;
mod parts;
pub mod run;

use build::build;
pub use echo::ConfigEcho;

use std::path::PathBuf;
use std::time::Duration;

use crate::mock::MockConfig;
use crate::pricing::PriceTable;
use crate::provider::Secret;

pub const DEFAULT_CONCURRENCY: usize = 16;
/// More requests in flight than this is a typo, not a plan (and would exhaust sockets).
pub const MAX_CONCURRENCY: usize = 100_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// More tries than this per target is a retry loop that never ends in practice.
pub const MAX_ATTEMPTS: u32 = 100;
/// The error-rate guard's and the breaker's windows at most (items kept in memory).
pub const MAX_ERROR_WINDOW: usize = 1_000_000;
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(500);
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model the built-in mock answers as when nothing names one.
pub const MOCK_DEFAULT_MODEL: &str = "gpt-4.1-mini";

/// A configuration problem: which file, which key, what is wrong. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.file, .key, .message))]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

fn render(file: &str, key: &str, message: &str) -> String {
    match (file.is_empty(), key.is_empty()) {
        (false, false) => format!("{file}: {key}: {message}"),
        (false, true) => format!("{file}: {message}"),
        (true, false) => format!("{key}: {message}"),
        (true, true) => message.to_string(),
    }
}

impl ConfigError {
    pub fn new(file: &str, key: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Adds the line of the key to an error about a setting of the job file `text` (errors about
    /// a flag, a variable or the file as a whole, and those that have a line already, stay).
    pub fn with_line(mut self, text: &str) -> Self {
        let about_file_key = !self.file.is_empty() && !self.key.is_empty() && !self.key.starts_with('-');
        if about_file_key && !self.message.contains("(line ") {
            if let Some(line) = lines::line_of(text, &self.key) {
                self.message = format!("{} (line {line})", self.message);
            }
        }
        self
    }
}

/// Values given on the command line or in `SHEEPDOG_*` environment variables.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub model: Option<String>,
    pub concurrency: Option<usize>,
    pub timeout: Option<Duration>,
    pub max_attempts: Option<u32>,
    pub out: Option<PathBuf>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub base_delay: Option<Duration>,
    pub max_delay: Option<Duration>,
    pub deadline: Option<Duration>,
    /// `Some(false)`: the rate controller does not pace targets.
    pub adaptive: Option<bool>,
    /// `--refusal-limit`: same refusals in a row, before any success, that stop a target.
    pub refusal_limit: Option<u32>,
    /// `--max-retry-after`: the longest Retry-After honoured.
    pub max_retry_after: Option<Duration>,
    pub max_error_rate: Option<f64>,
    pub error_window: Option<usize>,
    /// `--stream` (`Some(true)`), or `bench --no-stream` (`Some(false)`).
    pub stream: Option<bool>,
    /// `--endpoint`: where short-form lines go.
    pub endpoint: Option<crate::provider::ApiEndpoint>,
    pub stream_idle_timeout: Option<Duration>,
    /// `--max-response-size` in bytes.
    pub max_response_size: Option<u64>,
    /// `--shard I/N` or `--shards N` (index from `JOB_COMPLETION_INDEX`).
    pub shard: Option<crate::shard::ShardRequest>,
    /// `--shard-limits divide|full`.
    pub shard_limits: Option<crate::shard::ShardLimits>,
    /// `--validate-json`: every answer must be JSON.
    pub validate_json: bool,
    /// `--schema FILE`: ... and valid against this JSON Schema (implies `validate_json`).
    pub schema: Option<PathBuf>,
    /// `--fsync` / `SHEEPDOG_FSYNC`.
    pub fsync: Option<run::FsyncPolicy>,
    /// `--ordered` / `SHEEPDOG_ORDERED`.
    pub ordered: Option<bool>,
    /// `--reorder-window` / `SHEEPDOG_REORDER_WINDOW`.
    pub reorder_window: Option<usize>,
    /// `--cache` / `SHEEPDOG_CACHE`.
    pub cache: Option<PathBuf>,
    /// `--drain-timeout` / `SHEEPDOG_DRAIN_TIMEOUT`.
    pub drain_timeout: Option<Duration>,
    /// `--max-cost`: the budget as written (`25`, `180CNY`).
    pub max_cost: Option<String>,
    /// `--fx`: units of the budget's currency per USD.
    pub fx: Option<f64>,
    /// `--output-format sheepdog|openai`.
    pub output_format: Option<crate::output::OutputFormat>,
}

/// Where a provider is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The built-in mock server, started in-process on 127.0.0.1 for this run.
    Mock,
    /// An OpenAI-compatible base URL such as `https://api.openai.com/v1`.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub endpoint: Endpoint,
    /// Name of the environment variable that holds the key; `None` sends no Authorization.
    pub api_key_env: Option<String>,
    /// The key read from that variable, if it is set.
    pub api_key: Option<Secret>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
    /// How the provider bills, when not in USD at list price (used by `sheepdog estimate`).
    pub billing: Option<crate::pricing::currency::Billing>,
    /// `run --batch-api`: most lines and bytes per batch file (`None`: the Batch API's limits).
    pub batch_max_lines: Option<u64>,
    pub batch_max_bytes: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// Index into [`Config::providers`].
    pub provider: usize,
    /// `None`: each item's own `model` is sent.
    pub model: Option<String>,
    /// Sent when neither the target nor the line names a model.
    pub default_model: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries per target, first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// The validated configuration of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The job file, when one was given.
    pub source: Option<PathBuf>,
    pub providers: Vec<Provider>,
    pub targets: Vec<Target>,
    /// Indices into `targets`, primary first. Never empty.
    pub route: Vec<usize>,
    pub retry: RetryPolicy,
    /// Limits, adaptive concurrency, breaker, error-rate guard, fallback classes.
    pub dispatch: dispatch::DispatchSettings,
    pub concurrency: usize,
    pub timeout: Duration,
    /// `Some`: every request is streamed (SSE), read with these settings.
    pub stream: Option<crate::provider::StreamSettings>,
    /// Where short-form lines go (`--endpoint`, `run.endpoint`; chat by default). Batch lines
    /// name their own.
    pub endpoint: crate::provider::ApiEndpoint,
    /// Bytes one answer may have (`--max-response-size`, `run.max_response_size`).
    pub max_response_size: u64,
    pub out: Option<PathBuf>,
    /// Settings of the in-process mock server, used by `Endpoint::Mock` providers.
    pub mock: MockConfig,
    pub prices: PriceTable,
    /// Said to the user before the run starts (e.g. that the mock server is used).
    pub notices: Vec<String>,
    /// The shard of the input this run handles (`None`: all of it).
    pub shard: Option<crate::shard::Shard>,
    /// Whether the limits above were divided by the shard count (already applied).
    pub shard_limits: crate::shard::ShardLimits,
    /// `--validate-json`: the check every answer goes through.
    pub output_check: Option<std::sync::Arc<crate::validate::OutputCheck>>,
    /// Durability, order, cache and stop of a run (`[run]`, `--fsync`, `--ordered`, ...).
    pub run: run::RunSettings,
    /// `--max-cost` / `run.max_cost`: sending stops before the run could pass it.
    pub max_cost: Option<max_cost::MaxCost>,
    /// How result lines are written (`--output-format`, `run.output_format`).
    pub output_format: crate::output::OutputFormat,
}

/// Reads the environment the way the OpenAI SDKs do.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;

    /// The variable as set, even when empty (to tell "set but empty" from "not set"); bytes
    /// that are not UTF-8 come back as U+FFFD.
    fn raw(&self, name: &str) -> Option<String> {
        self.var(name)
    }
}

/// The process environment (after `.env` was loaded by the binary).
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn raw(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Config {
    /// Builds the configuration from the job file (if any), the environment and the overrides.
    pub fn resolve(overrides: &Overrides, env: &dyn Env) -> Result<Config, ConfigError> {
        let (job, file, text) = match &overrides.config {
            Some(path) => {
                let (job, text) = file::load(path)?;
                (job, path.display().to_string(), text)
            }
            None => (file::JobFile::default(), String::new(), String::new()),
        };
        build(job, &file, overrides, env).map_err(|e| e.with_line(&text))
    }

    pub fn primary(&self) -> &Target {
        &self.targets[self.route[0]]
    }

    pub fn provider_of(&self, target: &Target) -> &Provider {
        &self.providers[target.provider]
    }

    /// Whether any provider of the route is the in-process mock.
    pub fn uses_mock(&self) -> bool {
        self.route
            .iter()
            .any(|&t| self.providers[self.targets[t].provider].endpoint == Endpoint::Mock)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod validation_tests;
