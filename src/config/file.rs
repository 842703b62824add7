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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryEntry {
    pub max_attempts: Option<u32>,
    pub base_delay: Option<Dur>,
    pub max_delay: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    pub concurrency: Option<usize>,
    pub timeout: Option<Dur>,
    pub out: Option<String>,
}

/// Settings of the in-process mock server started for providers with `base_url = "mock"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockEntry {
    pub latency: Option<Dur>,
    pub latency_mean: Option<Dur>,
    pub latency_std: Option<Dur>,
    pub ttft: Option<Dur>,
    pub itl: Option<Dur>,
    pub output_tokens: Option<u32>,
    pub fail: Option<String>,
    pub retry_after: Option<Dur>,
    pub models: Option<Vec<String>>,
    pub rpm: Option<u32>,
    pub stream_fault: Option<String>,
    pub seed: Option<u64>,
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

/// Reads and parses a job file. Errors name the file, the key path and the line.
pub fn load(path: &Path) -> Result<JobFile, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(&file, "", format!("cannot read: {e}")))?;
    parse(&text, &file)
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
