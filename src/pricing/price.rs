//! The price of one model and the cost of a request at it.

use serde::{Deserialize, Serialize};

use super::{PriceOrigin, PER};
use crate::record::Usage;

/// The price of one model, USD per 1M tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// USD per 1M input tokens.
    pub input: f64,
    /// USD per 1M cached input tokens; `None` = same as `input`.
    pub cached_input: Option<f64>,
    /// USD per 1M output tokens.
    pub output: f64,
    /// USD per 1M input tokens through the provider's batch API, if it has one.
    #[serde(default)]
    pub batch_input: Option<f64>,
    /// USD per 1M output tokens through the provider's batch API, if it has one.
    #[serde(default)]
    pub batch_output: Option<f64>,
    /// Where the price comes from (URL, "job.toml", ...).
    pub source: String,
    /// YYYY-MM-DD the price was read (may be empty for user-supplied prices).
    pub date: String,
    /// Where sheepdog loaded it from: the built-in table, the job file, or a `--prices` file.
    #[serde(default)]
    pub origin: PriceOrigin,
    /// USD per 1M input tokens written to the prompt cache; `None` = same as `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Prices for requests whose prompt is above a size, lowest threshold first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    /// The provider the price is for (LiteLLM's `litellm_provider`), when the file says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// Prices that apply to a whole request once its prompt has more than `above_tokens` input
/// tokens (LiteLLM's `*_above_200k_tokens`); a price left out is the base price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub above_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
}

/// The prices that apply to one request: the base prices or a tier's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub input: f64,
    pub cached_input: f64,
    pub cache_write: f64,
    pub output: f64,
}

impl Price {
    /// `(input - cached) * input + cached * cached_input + output * output`, per 1M tokens.
    ///
    /// Cached tokens are part of `input_tokens`; a usage claiming more cached than input
    /// tokens is charged as all-cached rather than producing a negative count.
    ///
    /// Tokens written to the prompt cache (also part of `input_tokens`) are charged at
    /// `cache_write`; a prompt above a tier's size is charged at that tier's prices, all of it.
    pub fn cost_usd(&self, usage: &Usage) -> f64 {
        let rates = self.rates(usage.input_tokens);
        let cached = usage.cached_input_tokens.min(usage.input_tokens);
        let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
        let uncached = usage.input_tokens - cached - written;
        (uncached as f64 * rates.input
            + cached as f64 * rates.cached_input
            + written as f64 * rates.cache_write
            + usage.output_tokens as f64 * rates.output)
            / PER
    }

    /// The prices of a request with a prompt of `input_tokens`: those of the highest tier it
    /// is above, else the base prices.
    pub fn rates(&self, input_tokens: u64) -> Rates {
        let base = Rates {
            input: self.input,
            cached_input: self.cached_input.unwrap_or(self.input),
            cache_write: self.cache_write.unwrap_or(self.input),
            output: self.output,
        };
        let Some(tier) = self.tiers.iter().rev().find(|t| input_tokens > t.above_tokens) else {
            return base;
        };
        let input = tier.input.unwrap_or(base.input);
        Rates {
            input,
            cached_input: tier.cached_input.unwrap_or(base.cached_input),
            cache_write: tier.cache_write.unwrap_or(base.cache_write),
            output: tier.output.unwrap_or(base.output),
        }
    }

    /// Whether this is a price of the table compiled into sheepdog.
    pub fn is_builtin(&self) -> bool {
        self.origin == PriceOrigin::BuiltIn
    }

    /// Every price must be finite and not negative.
    pub fn validate(&self) -> Result<(), String> {
        let mut fields = vec![
            ("input", Some(self.input)),
            ("cached_input", self.cached_input),
            ("output", Some(self.output)),
            ("batch_input", self.batch_input),
            ("batch_output", self.batch_output),
            ("cache_write", self.cache_write),
        ];
        for tier in &self.tiers {
            fields.extend([
                ("tier input", tier.input),
                ("tier cached_input", tier.cached_input),
                ("tier cache_write", tier.cache_write),
                ("tier output", tier.output),
            ]);
        }
        for (name, value) in fields {
            if let Some(value) = value {
                if !value.is_finite() || value < 0.0 {
                    return Err(format!(
                        "{name} = {value}: a price must be a finite number >= 0 (USD per 1M tokens)"
                    ));
                }
            }
        }
        Ok(())
    }
}
