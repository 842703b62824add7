//! The job file as written by the user (TOML), before validation.
//!
//! Every struct refuses unknown keys, so a typo is an error that names the key instead of a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::ConfigError;
use crate::pricing::PriceOverride;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    #[serde(default)]
    pub providers: Vec<ProviderEntry>,
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
    pub route: Option<RouteEntry>,
    pub retry: Option<RetryEntry>,
    pub run: Option<RunEntry>,
    pub mock: Option<MockEntry>,
    pub breaker: Option<BreakerEntry>,
    #[serde(default)]
    pub prices: BTreeMap<String, PriceOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    pub name: String,
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
    /// How this provider bills, when not in USD at list price: `{ currency = "CNY", per_usd = 1.0 }`.
    pub billing: Option<BillingEntry>,
    /// `run --batch-api`: most lines per batch file [default: 50000].
    pub batch_max_lines: Option<u64>,
    /// `run --batch-api`: most bytes per batch file [default: 200000000].
    pub batch_max_bytes: Option<u64>,
}

/// `per_usd` units of `currency` charged for each USD of list price.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingEntry {
    pub currency: String,
    pub per_usd: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    pub name: String,
    pub provider: String,
    pub model: String,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    pub targets: Vec<String>,
    /// Error classes after which an item moves to the next target.
    pub fallback_on: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryEntry {
    pub max_attempts: Option<u32>,
    pub base_delay: Option<Dur>,
    pub max_delay: Option<Dur>,
    /// Give up on an item after this long, retries and fallbacks included.
    pub deadline: Option<Dur>,
    /// The longest Retry-After honoured (longer ones are cut to it).
    pub max_retry_after: Option<Dur>,
    /// Stop a target whose first this-many requests all got the same 4xx (0: off).
    pub refusal_limit: Option<u32>,
}

/// When a target is skipped for a while after failing too often.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerEntry {
    pub consecutive_failures: Option<u32>,
    pub failure_rate: Option<Share>,
    pub window: Option<usize>,
    pub min_requests: Option<usize>,
    pub cooldown: Option<Dur>,
    /// A target that never answered is given up after this many failures in a row (0: never).
    pub give_up_after: Option<u32>,
}

/// A share written as `0.05` or `"5%"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share(pub f64);

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let value = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => parse_share(&n.to_string()),
            Raw::Text(text) => parse_share(&text),
        };
        value.map(Share).map_err(serde::de::Error::custom)
    }
}

/// `0.05` or `5%`, between 0 and 1.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| v.is_finite() && (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("{text:?} is not a share: write e.g. 0.05 or \"5%\""))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    pub concurrency: Option<usize>,
    pub timeout: Option<Dur>,
    pub out: Option<String>,
    /// Run-wide requests and tokens per minute, over every provider.
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// AIMD after 429s (default true).
    pub adaptive: Option<bool>,
    pub max_error_rate: Option<Share>,
    pub error_window: Option<usize>,
    /// Output tokens assumed for the TPM estimate of a request without `max_tokens`.
    pub expected_output_tokens: Option<u64>,
    /// Stream every request (SSE) and measure TTFT and inter-token latency.
    pub stream: Option<bool>,
    /// Where short-form lines go: "chat" (default), "completions", "embeddings", "responses"
    /// or "moderations".
    pub endpoint: Option<String>,
    pub stream_idle_timeout: Option<Dur>,
    /// Largest answer held: "32MiB", "1GB", or a number of bytes.
    pub max_response_size: Option<Size>,
    /// In a sharded run: "divide" (default) each limit by the shard count, or keep it "full".
    pub shard_limits: Option<String>,
    /// When result lines are synced to disk: "always", "interval" (default) or "never".
    pub fsync: Option<String>,
    /// Write results.jsonl in input order.
    pub ordered: Option<bool>,
    /// With `ordered`: finished items held back at most.
    pub reorder_window: Option<usize>,
    /// The response cache database.
    pub cache: Option<String>,
    /// How long a stop waits for requests in flight.
    pub drain_timeout: Option<Dur>,
    /// The budget: `25` (USD) or `"180CNY"`.
    pub max_cost: Option<Amount>,
    /// Units of the budget's currency per USD, for a budget in another currency.
    pub fx: Option<f64>,
    /// "sheepdog" (default) or "openai": result lines exactly as OpenAI's Batch output.
    pub output_format: Option<String>,
}

/// An amount written as a number (`25`) or a string (`"180CNY"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Amount(pub String);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        Ok(Amount(match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(text) => text,
        }))
    }
}

/// Settings of the in-process mock server started for providers with `base_url = "mock"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockEntry {
    pub latency: Option<Dur>,
    pub latency_mean: Option<Dur>,
    pub latency_std: Option<Dur>,
    pub ttft: Option<Dur>,
    pub ttft_std: Option<Dur>,
    pub itl: Option<Dur>,
    pub itl_std: Option<Dur>,
    pub output_tokens: Option<u32>,
    pub output_tokens_std: Option<f64>,
    pub max_concurrency: Option<usize>,
    pub stall_after: Option<u64>,
    pub stall_for: Option<Dur>,
    pub stream_stall: Option<Dur>,
    pub fail: Option<String>,
    pub retry_after: Option<Dur>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub fail_model: Option<String>,
    pub quota: Option<u64>,
    pub hang: Option<f64>,
    pub ratelimit_headers: Option<bool>,
    pub stream_fault: Option<String>,
    pub seed: Option<u64>,
}

/// A size in bytes: `"32MiB"`, `"512KiB"`, `"1GB"` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(text) => text,
        };
        crate::provider::body::parse_size(&text)
            .map(Size)
            .map_err(serde::de::Error::custom)
    }
}

/// A duration written the humantime way: "250ms", "30s", "5m".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub std::time::Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map(Dur).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration ({e}); write e.g. \"500ms\", \"30s\", \"5m\""
            ))
        })
    }
}

/// Reads and parses a job file; returns its text too, for the lines of later errors. Errors
/// name the file, the key path and the line.
pub fn load(path: &Path) -> Result<(JobFile, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&file, "", format!("cannot read: {e}")))?;
    Ok((parse(&text, &file)?, text))
}

pub fn parse(text: &str, file: &str) -> Result<JobFile, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| toml_error(&e, text, file, String::new()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        toml_error(e.inner(), text, file, path)
    })
}

fn toml_error(error: &toml::de::Error, text: &str, file: &str, path: String) -> ConfigError {
    let line = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| before.matches('\n').count() + 1);
    let message = match line {
        Some(line) => format!("{} (line {line})", error.message().trim_end()),
        None => error.message().trim_end().to_string(),
    };
    ConfigError::new(file, &path, message)
}
