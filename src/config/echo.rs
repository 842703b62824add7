//! The effective configuration as reports and `run.json` show it, without secrets (key variable
//! names only). Its JSON is hashed into the manifest's `config_sha256`, which a resume compares,
//! so the field order below is the order of the bytes: change it and every resume of an older
//! run folder refuses.

use serde::Serialize;

use super::{Config, Endpoint};
use crate::pricing::currency::Billing;

/// What [`Config::echo`] shows of a configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigEcho {
    pub config_file: Option<String>,
    pub providers: Vec<ProviderEcho>,
    pub targets: Vec<TargetEcho>,
    /// Target names, in route order.
    pub route: Vec<String>,
    pub retry: RetryEcho,
    pub concurrency: usize,
    pub timeout_ms: u64,
    pub stream: bool,
    pub stream_idle_timeout_ms: Option<u64>,
    pub max_response_size: u64,
    /// The run settings that differ from their defaults ([`super::run::RunSettings::echo`]), so the echo of
    /// a run that sets none has the bytes it had before they existed.
    #[serde(flatten)]
    pub run: RunEcho,
    /// `--max-cost`, only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost: Option<MaxCostEcho>,
    /// `I/N`, only for a sharded run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// `divide` or `full`, only for a sharded run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard_limits: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderEcho {
    pub name: String,
    /// The URL, or `mock`.
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
    pub billing: Option<Billing>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetEcho {
    pub name: String,
    /// The provider's name.
    pub provider: String,
    pub model: Option<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<usize>,
}

/// The run settings that differ from the defaults; each is absent when at its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunEcho {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder_window: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaxCostEcho {
    pub amount: f64,
    pub currency: String,
    pub fx: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryEcho {
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
}

impl Config {
    /// The effective configuration, without secrets.
    pub fn echo_struct(&self) -> ConfigEcho {
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        ConfigEcho {
            config_file: self.source.as_ref().map(|p| p.display().to_string()),
            providers: self
                .providers
                .iter()
                .map(|p| ProviderEcho {
                    name: p.name.clone(),
                    base_url: match &p.endpoint {
                        Endpoint::Mock => "mock".to_string(),
                        Endpoint::Url(url) => url.clone(),
                    },
                    api_key_env: p.api_key_env.clone(),
                    rpm: p.rpm,
                    tpm: p.tpm,
                    max_concurrency: p.max_concurrency,
                    billing: p.billing.clone(),
                })
                .collect(),
            targets: self
                .targets
                .iter()
                .map(|t| TargetEcho {
                    name: t.name.clone(),
                    provider: self.providers[t.provider].name.clone(),
                    model: t.model.clone(),
                    rpm: t.rpm,
                    tpm: t.tpm,
                    max_concurrency: t.max_concurrency,
                })
                .collect(),
            route: self.route.iter().map(|&t| self.targets[t].name.clone()).collect(),
            retry: RetryEcho {
                max_attempts: self.retry.max_attempts,
                base_delay_ms: ms(self.retry.base_delay),
                max_delay_ms: ms(self.retry.max_delay),
            },
            concurrency: self.concurrency,
            timeout_ms: ms(self.timeout),
            stream: self.stream.is_some(),
            stream_idle_timeout_ms: self.stream.map(|s| ms(s.idle_timeout)),
            max_response_size: self.max_response_size,
            run: self.run.echo(),
            max_cost: self.max_cost.as_ref().map(|max| MaxCostEcho {
                amount: max.amount,
                currency: max.currency.clone(),
                fx: max.fx,
            }),
            shard: self.shard.map(|s| s.to_string()),
            shard_limits: self.shard.map(|_| self.shard_limits.to_string()),
        }
    }

    /// [`Config::echo_struct`] as JSON, for `run.json`, logs and `summary.json`.
    pub fn echo(&self) -> serde_json::Value {
        // Strings, numbers, options and lists only: serializing it cannot fail.
        serde_json::to_value(self.echo_struct()).unwrap_or_default()
    }
}
