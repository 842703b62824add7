//! Prices per model: the built-in table (`prices.toml`, compiled in), overrides from the job
//! config, and the cost of a [`Usage`](crate::record::Usage).
//!
//! All prices are USD per 1M tokens. A model without a price has no cost (`None`), never 0.

pub mod currency;
pub mod litellm;
mod origin;
mod price;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

pub use origin::PriceOrigin;
pub use price::{Price, Rates, Tier};

/// The built-in price table, parsed by [`PriceTable::builtin`].
const BUILTIN_PRICES: &str = include_str!("prices.toml");

/// Tokens per price unit: prices are per 1M tokens.
const PER: f64 = 1_000_000.0;

/// A price as written by a user (job config `[prices."model"]` or a price file):
/// `source` and `date` may be left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
    #[serde(default)]
    pub batch_input: Option<f64>,
    #[serde(default)]
    pub batch_output: Option<f64>,
    /// USD per 1M tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write: Option<f64>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
}

impl PriceOverride {
    /// The full price; a missing `source` becomes `origin` (e.g. "job config"), a missing
    /// `date` an empty string.
    pub fn into_price(self, origin: &PriceOrigin) -> Price {
        Price {
            input: self.input,
            cached_input: self.cached_input,
            output: self.output,
            batch_input: self.batch_input,
            batch_output: self.batch_output,
            source: self.source.unwrap_or_else(|| origin.label().to_string()),
            date: self.date.unwrap_or_default(),
            origin: origin.clone(),
            cache_write: self.cache_write,
            tiers: Vec::new(),
            provider: None,
        }
    }
}

/// Why a price table could not be read. Every message names where the table came from and,
/// when it is about one entry, the model key (`job.toml: prices."gpt-4.1": ...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    /// The text is not TOML, or has no usable `[prices]` table.
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    /// One model's entry has missing, unknown or mistyped fields, or an invalid price.
    #[error("{origin}: prices.\"{model}\": {message}")]
    Entry {
        origin: String,
        model: String,
        message: String,
    },
}

/// Prices by model name, with tolerant lookup (see [`PriceTable::get`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> PriceTable {
        PriceTable::default()
    }

    /// The table compiled into sheepdog from `src/pricing/prices.toml`.
    pub fn builtin() -> Result<PriceTable, PriceError> {
        PriceTable::from_toml_str(BUILTIN_PRICES, &PriceOrigin::BuiltIn)
    }

    /// Parse a price table written as `[prices."model"]` tables (the format of `prices.toml`
    /// and of the job config). `source` and `date` are optional; a missing `source` becomes
    /// `origin`. Any other top-level key is an error (a typo must not silently drop prices).
    pub fn from_toml_str(text: &str, origin: &PriceOrigin) -> Result<PriceTable, PriceError> {
        let syntax = |message: String| PriceError::Syntax {
            origin: origin.label().to_string(),
            message,
        };
        let mut document: toml::Table =
            toml::from_str(text).map_err(|e| syntax(e.to_string().trim_end().to_string()))?;
        let mut table = PriceTable::new();
        if let Some(key) = document.keys().find(|key| *key != "prices") {
            return Err(syntax(format!(
                "unknown key `{key}`: expected only [prices.\"model\"] tables"
            )));
        }
        let entries = match document.remove("prices") {
            None => return Ok(table),
            Some(toml::Value::Table(entries)) => entries,
            Some(other) => {
                return Err(syntax(format!(
                    "prices: expected a table of models, found a {}",
                    other.type_str()
                )))
            }
        };
        for (model, value) in entries {
            let entry_error = |message: String| PriceError::Entry {
                origin: origin.to_string(),
                model: model.clone(),
                message,
            };
            let price = value
                .try_into::<PriceOverride>()
                .map_err(|e| entry_error(e.message().trim_end().to_string()))?
                .into_price(origin);
            price.validate().map_err(entry_error)?;
            table.prices.insert(model.clone(), price);
        }
        Ok(table)
    }

    /// Add a model or replace its price (job config overrides).
    pub fn insert(&mut self, model: &str, price: Price) {
        self.prices.insert(model.to_string(), price);
    }

    /// Add or replace every price of `other`.
    pub fn extend(&mut self, other: PriceTable) {
        self.prices.extend(other.prices);
    }

    /// Adds the prices of a `--prices` file: they replace built-in prices, but not the prices
    /// a job file set, which are the most specific.
    pub fn extend_under_overrides(&mut self, other: PriceTable) {
        for (model, price) in other.prices {
            let keep_ours = self.prices.get(&model).is_some_and(|p| !p.is_builtin());
            if !keep_ours {
                self.prices.insert(model, price);
            }
        }
    }

    /// Reads a price file: LiteLLM's JSON format (`.json`, see [`litellm`]) or sheepdog's
    /// `[prices."model"]` TOML. The file's modification date is the prices' date when they
    /// carry none.
    pub fn load_file(path: &Path) -> Result<PriceTable, PriceError> {
        Ok(PriceTable::load_file_described(path)?.0)
    }

    /// [`PriceTable::load_file`], with a line saying what a LiteLLM import kept and skipped.
    pub fn load_file_described(path: &Path) -> Result<(PriceTable, Option<String>), PriceError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PriceError::Syntax {
            origin: origin.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let date = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map(|t| humantime::format_rfc3339_seconds(t).to_string()[..10].to_string())
            .unwrap_or_default();
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json || text.trim_start().starts_with('{') {
            let imported = litellm::parse(&text, &origin, &date)?;
            let described = imported.describe(&origin);
            return Ok((imported.table, Some(described)));
        }
        let mut table = PriceTable::from_toml_str(&text, &PriceOrigin::PriceFile(origin))?;
        for price in table.prices.values_mut() {
            if price.date.is_empty() {
                price.date = date.clone();
            }
        }
        Ok((table, None))
    }

    /// The price of `model`: the exact name first; then, tolerantly, the same name in lower
    /// case, without a provider prefix (`openai/gpt-4.1`, `deepseek/deepseek-chat`) and without
    /// a dated snapshot suffix (`gpt-4.1-2025-04-14`, `claude-sonnet-4-5-20250929`,
    /// `claude-sonnet-4-5@20250929`) or `-latest`.
    ///
    /// Only those suffixes are removed, so a lookup never lands on a different model:
    /// `gpt-4.1-mini` never resolves to `gpt-4.1`, nor the reverse.
    ///
    /// A provider prefix is removed as LiteLLM does: once, and only when the price found is
    /// that provider's (or says no provider, as built-in and job prices do). So
    /// `openrouter/openai/gpt-4.1` is not priced as OpenAI's `gpt-4.1`: a gateway's model
    /// without its own entry has no price (see [`PriceTable::nearest`] for a hint).
    pub fn get(&self, model: &str) -> Option<&Price> {
        if let Some(price) = self.prices.get(model) {
            return Some(price);
        }
        let lower = model.trim().to_ascii_lowercase();
        let found = [Some(lower.as_str()), strip_snapshot(&lower)]
            .into_iter()
            .flatten()
            .find_map(|name| self.prices.get(name));
        if found.is_some() {
            return found;
        }
        let (prefix, rest) = lower.split_once('/')?;
        let found = [Some(rest), strip_snapshot(rest)]
            .into_iter()
            .flatten()
            .filter_map(|name| self.prices.get(name))
            .find(|price| price.provider.as_deref().is_none_or(|p| same_provider(prefix, p)));
        found
    }

    /// Up to `n` model names close to `model` (by edit distance, whole name or its last part),
    /// for a "no price" hint; closest first.
    pub fn nearest(&self, model: &str, n: usize) -> Vec<&str> {
        let lower = model.trim().to_ascii_lowercase();
        let tail = lower.rsplit('/').next().unwrap_or(&lower);
        let mut scored: Vec<(f64, &str)> = self
            .prices
            .keys()
            .map(|name| {
                let key = name.to_ascii_lowercase();
                let key_tail = key.rsplit('/').next().unwrap_or(&key);
                let whole = strsim::normalized_damerau_levenshtein(&lower, &key);
                let tails = strsim::normalized_damerau_levenshtein(tail, key_tail) * 0.95;
                (whole.max(tails), name.as_str())
            })
            .filter(|(score, _)| *score >= 0.6)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored.into_iter().take(n).map(|(_, name)| name).collect()
    }

    /// "no price for M (nearest: a, b, c)" or "no price for M".
    pub fn missing_hint(&self, model: &str) -> String {
        let near = self.nearest(model, 3);
        if near.is_empty() {
            format!("no price for {model}")
        } else {
            format!("no price for {model} (nearest: {})", near.join(", "))
        }
    }

    /// Whether the table has no price at all.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Number of models with a price.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Every model and its price, sorted by model name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.prices.iter().map(|(model, price)| (model.as_str(), price))
    }
}

/// Whether a model prefix names the provider of a LiteLLM entry (`bedrock/` covers its
/// `bedrock_converse` entries, `vertex_ai/` its `vertex_ai-*` ones).
fn same_provider(prefix: &str, provider: &str) -> bool {
    prefix == provider
        || (prefix == "bedrock" && provider == "bedrock_converse")
        || (prefix == "vertex_ai" && provider.starts_with("vertex_ai-"))
}

/// `name` without a snapshot suffix (`-YYYY-MM-DD`, `-YYYYMMDD`, `@YYYYMMDD`, `-latest`),
/// or `None` if it has none.
fn strip_snapshot(name: &str) -> Option<&str> {
    if let Some(base) = name.strip_suffix("-latest") {
        return Some(base).filter(|b| !b.is_empty());
    }
    let (base, suffix) = name.rsplit_once(['-', '@'])?;
    if is_compact_date(suffix) {
        return Some(base).filter(|b| !b.is_empty());
    }
    // -YYYY-MM-DD: the last three dash-separated parts are 4, 2 and 2 digits.
    let mut parts = name.rsplitn(4, '-');
    let (day, month, year, base) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (digits(year, 4) && digits(month, 2) && digits(day, 2) && year.starts_with("20") && !base.is_empty())
        .then_some(base)
}

/// `YYYYMMDD` in this century.
fn is_compact_date(s: &str) -> bool {
    s.len() == 8 && s.starts_with("20") && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
