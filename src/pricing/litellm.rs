//! Import of LiteLLM's price list (`model_prices_and_context_window.json`), the format most
//! gateways and tools share: one object per model with prices in USD per token.
//!
//! Read fields: `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`
//! (cached input), `cache_creation_input_token_cost` (cache writes), the size tiers
//! `<price>_above_<N>k_tokens` and `tiered_pricing` ranges, `input_cost_per_token_batches` /
//! `output_cost_per_token_batches` (batch API), `mode` and `litellm_provider`. Prices are
//! converted to USD per 1M tokens. Entries are skipped, and counted, when their `mode` is not a
//! text endpoint sheepdog sends (chat, completion, responses, embedding, moderation), when they
//! have no `mode` (LiteLLM's size buckets such as `fireworks-ai-up-to-4b`), or when they are not
//! priced per token (per second, character, image, or not at all).

use serde_json::{Map, Value};

use super::{Price, PriceError, PriceOrigin, PriceTable, Tier};

/// The documentation entry at the top of LiteLLM's file, not a model.
const SAMPLE_SPEC: &str = "sample_spec";
/// Modes of the endpoints sheepdog sends.
const TEXT_MODES: [&str; 5] = ["chat", "completion", "responses", "embedding", "moderation"];
/// Modes priced by input only (no output tokens).
const INPUT_ONLY_MODES: [&str; 2] = ["embedding", "moderation"];

/// The per-token prices a tier may change, by their LiteLLM field name.
const TIERED_FIELDS: [&str; 4] = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
];

/// What an import kept and left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub table: PriceTable,
    /// Models imported (aliases not counted).
    pub models: usize,
    /// Of those, models with size tiers.
    pub tiered: usize,
    /// Entries of a mode sheepdog does not send (image generation, audio, rerank, ...).
    pub skipped_mode: usize,
    /// Entries without a `mode`: not models (e.g. a provider's price per model size).
    pub skipped_no_mode: usize,
    /// Text entries not priced per token.
    pub skipped_unpriced: usize,
}

impl Imported {
    /// One line for the user: what was imported and what was skipped, by reason.
    pub fn describe(&self, origin: &str) -> String {
        let skipped = self.skipped_mode + self.skipped_no_mode + self.skipped_unpriced;
        format!(
            "{origin}: {} prices imported ({} with size tiers); {skipped} entries skipped \
             ({} not a text endpoint, {} without a mode, {} not priced per token)",
            self.models, self.tiered, self.skipped_mode, self.skipped_no_mode, self.skipped_unpriced
        )
    }
}

/// Parses the JSON text of a LiteLLM price file. `origin` names the file in errors and becomes
/// each price's source; `date` (YYYY-MM-DD) is when the prices were read.
///
/// A key with the provider's own prefix (`deepseek/deepseek-chat` with `litellm_provider =
/// "deepseek"`) is also stored under the bare name (`deepseek-chat`) unless the file has that
/// name itself, so a model is found by the name its provider's API uses.
pub fn parse(text: &str, origin: &str, date: &str) -> Result<Imported, PriceError> {
    let syntax = |message: String| PriceError::Syntax {
        origin: origin.to_string(),
        message,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| syntax(format!("not valid JSON: {e}")))?;
    let Value::Object(entries) = value else {
        return Err(syntax(
            "expected a JSON object of models (LiteLLM's model_prices_and_context_window.json format)".into(),
        ));
    };
    let mut imported = Imported::default();
    let mut aliases: Vec<(String, Price)> = Vec::new();
    for (model, entry) in &entries {
        if model == SAMPLE_SPEC {
            continue;
        }
        let Value::Object(fields) = entry else {
            return Err(PriceError::Entry {
                origin: origin.to_string(),
                model: model.clone(),
                message: "expected an object of prices".into(),
            });
        };
        let Some(mode) = fields.get("mode").and_then(Value::as_str) else {
            imported.skipped_no_mode += 1;
            continue;
        };
        if !TEXT_MODES.contains(&mode) {
            imported.skipped_mode += 1;
            continue;
        }
        let Some(price) = price_of(fields, INPUT_ONLY_MODES.contains(&mode), origin, date) else {
            imported.skipped_unpriced += 1;
            continue;
        };
        if let Err(message) = price.validate() {
            return Err(PriceError::Entry {
                origin: origin.to_string(),
                model: model.clone(),
                message,
            });
        }
        if let Some(bare) = own_provider_alias(model, fields) {
            if !entries.contains_key(bare) {
                aliases.push((bare.to_string(), price.clone()));
            }
        }
        imported.tiered += usize::from(!price.tiers.is_empty());
        imported.table.insert(model, price);
        imported.models += 1;
    }
    for (bare, price) in aliases {
        imported.table.insert(&bare, price);
    }
    Ok(imported)
}

/// USD per token → USD per 1M tokens, without float noise (2e-06 → 2.0, not 1.9999999999999998).
fn per_million(per_token: f64) -> f64 {
    (per_token * 1e6 * 1e9).round() / 1e9
}

/// A non-negative number field, per 1M tokens. `None` when absent or not a number.
fn field(fields: &Map<String, Value>, key: &str) -> Option<f64> {
    let value = match fields.get(key)? {
        Value::Number(n) => n.as_f64()?,
        // A few entries write prices as strings ("0.000002"); "inf" or "NaN" is not a price
        // (Rust would parse them as numbers), so the entry counts as unpriced.
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|v| v.is_finite())?,
        _ => return None,
    };
    Some(per_million(value))
}

fn price_of(fields: &Map<String, Value>, input_only: bool, origin: &str, date: &str) -> Option<Price> {
    let ranges = ranges(fields);
    // `tiered_pricing` alone: the range from 0 holds the base prices.
    let base = ranges
        .iter()
        .find(|(above, _)| *above == 0)
        .map(|(_, tier)| tier.clone());
    let base = base.as_ref();
    let input = field(fields, "input_cost_per_token").or_else(|| base.and_then(|t| t.input))?;
    let output = field(fields, "output_cost_per_token").or_else(|| base.and_then(|t| t.output));
    let output = if input_only { output.unwrap_or(0.0) } else { output? };
    let mut tiers = thresholds(fields);
    for (above, tier) in ranges.into_iter().filter(|(above, _)| *above > 0) {
        if !tiers.iter().any(|t| t.above_tokens == above) {
            tiers.push(tier);
        }
    }
    tiers.sort_by_key(|t| t.above_tokens);
    Some(Price {
        input,
        cached_input: field(fields, "cache_read_input_token_cost").or_else(|| base.and_then(|t| t.cached_input)),
        output,
        batch_input: field(fields, "input_cost_per_token_batches"),
        batch_output: field(fields, "output_cost_per_token_batches"),
        source: format!("{origin} (LiteLLM format)"),
        date: date.to_string(),
        origin: PriceOrigin::LiteLlm(origin.to_string()),
        cache_write: field(fields, "cache_creation_input_token_cost").or_else(|| base.and_then(|t| t.cache_write)),
        tiers,
        provider: fields
            .get("litellm_provider")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// The `<price>_above_<N>k_tokens` fields, one tier per size.
fn thresholds(fields: &Map<String, Value>) -> Vec<Tier> {
    let mut tiers: Vec<Tier> = Vec::new();
    for key in fields.keys() {
        let Some((name, rest)) = key.split_once("_above_") else {
            continue;
        };
        let Some(kilo) = rest.strip_suffix("k_tokens").and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        let Some(slot) = TIERED_FIELDS.iter().position(|f| *f == name) else {
            continue;
        };
        let Some(value) = field(fields, key) else { continue };
        let above = kilo.saturating_mul(1000);
        let index = match tiers.iter().position(|t| t.above_tokens == above) {
            Some(index) => index,
            None => {
                tiers.push(empty_tier(above));
                tiers.len() - 1
            }
        };
        set(&mut tiers[index], slot, value);
    }
    tiers
}

/// `tiered_pricing: [{"range": [lo, hi], "input_cost_per_token": ..}, ..]`, as (lo, prices).
fn ranges(fields: &Map<String, Value>) -> Vec<(u64, Tier)> {
    let Some(Value::Array(ranges)) = fields.get("tiered_pricing") else {
        return Vec::new();
    };
    ranges
        .iter()
        .filter_map(|range| {
            let range = range.as_object()?;
            let low = range.get("range")?.get(0)?.as_f64()?.max(0.0) as u64;
            let mut tier = empty_tier(low);
            for (slot, name) in TIERED_FIELDS.iter().enumerate() {
                if let Some(value) = field(range, name) {
                    set(&mut tier, slot, value);
                }
            }
            Some((low, tier))
        })
        .collect()
}

fn empty_tier(above_tokens: u64) -> Tier {
    Tier {
        above_tokens,
        input: None,
        cached_input: None,
        cache_write: None,
        output: None,
    }
}

fn set(tier: &mut Tier, slot: usize, value: f64) {
    match slot {
        0 => tier.input = Some(value),
        1 => tier.output = Some(value),
        2 => tier.cached_input = Some(value),
        _ => tier.cache_write = Some(value),
    }
}

/// `deepseek-chat` for key `deepseek/deepseek-chat` when `litellm_provider` is `deepseek`.
fn own_provider_alias<'a>(model: &'a str, fields: &Map<String, Value>) -> Option<&'a str> {
    let provider = fields.get("litellm_provider").and_then(Value::as_str)?;
    let (prefix, bare) = model.split_once('/')?;
    (prefix == provider && !bare.is_empty() && !bare.contains('/')).then_some(bare)
}

#[cfg(test)]
#[path = "litellm_tests.rs"]
mod tests;
