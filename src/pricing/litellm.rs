//! Import of LiteLLM's price list (`model_prices_and_context_window.json`), the format most
//! gateways and tools share: one object per model with prices in USD per token.
//!
//! Read fields: `input_cost_per_token`, `output_cost_per_token`, `cache_read_input_token_cost`
//! (cached input), `input_cost_per_token_batches` / `output_cost_per_token_batches` (batch API),
//! `mode` (only chat and completion models are kept) and `litellm_provider`. Prices are converted
//! to USD per 1M tokens. Other fields are ignored; entries that are not chat models or lack an
//! input or output price are skipped and counted.

use serde_json::{Map, Value};

use super::{Price, PriceError, PriceTable};

/// The documentation entry at the top of LiteLLM's file, not a model.
const SAMPLE_SPEC: &str = "sample_spec";
/// Modes whose prices apply to chat completions (a missing mode counts as chat).
const CHAT_MODES: [&str; 3] = ["chat", "completion", "responses"];

/// What an import kept and left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub table: PriceTable,
    /// Models imported (aliases not counted).
    pub models: usize,
    /// Entries of another mode (embedding, image generation, audio, ...).
    pub skipped_mode: usize,
    /// Chat entries without a usable input or output price.
    pub skipped_unpriced: usize,
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
        let mode = fields.get("mode").and_then(Value::as_str).unwrap_or("chat");
        if !CHAT_MODES.contains(&mode) {
            imported.skipped_mode += 1;
            continue;
        }
        let Some(price) = price_of(fields, origin, date) else {
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
        // A few entries write prices as strings ("0.000002").
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    Some(per_million(value))
}

fn price_of(fields: &Map<String, Value>, origin: &str, date: &str) -> Option<Price> {
    let input = field(fields, "input_cost_per_token")?;
    let output = field(fields, "output_cost_per_token")?;
    Some(Price {
        input,
        cached_input: field(fields, "cache_read_input_token_cost"),
        output,
        batch_input: field(fields, "input_cost_per_token_batches"),
        batch_output: field(fields, "output_cost_per_token_batches"),
        source: format!("{origin} (LiteLLM format)"),
        date: date.to_string(),
        origin: origin.to_string(),
    })
}

/// `deepseek-chat` for key `deepseek/deepseek-chat` when `litellm_provider` is `deepseek`.
fn own_provider_alias<'a>(model: &'a str, fields: &Map<String, Value>) -> Option<&'a str> {
    let provider = fields.get("litellm_provider").and_then(Value::as_str)?;
    let (prefix, bare) = model.split_once('/')?;
    (prefix == provider && !bare.is_empty() && !bare.contains('/')).then_some(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small file in LiteLLM's format, values as they appear there.
    const FIXTURE: &str = r#"{
        "sample_spec": {
            "max_tokens": "LEGACY parameter",
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
            "mode": "one of: chat, embedding, completion, image_generation"
        },
        "gpt-4.1": {
            "max_tokens": 32768,
            "input_cost_per_token": 2e-06,
            "output_cost_per_token": 8e-06,
            "input_cost_per_token_batches": 1e-06,
            "output_cost_per_token_batches": 4e-06,
            "cache_read_input_token_cost": 5e-07,
            "litellm_provider": "openai",
            "mode": "chat",
            "supports_vision": true
        },
        "deepseek/deepseek-chat": {
            "input_cost_per_token": 2.7e-07,
            "output_cost_per_token": 1.1e-06,
            "cache_read_input_token_cost": 7e-08,
            "litellm_provider": "deepseek",
            "mode": "chat"
        },
        "openrouter/anthropic/claude-3.5-sonnet": {
            "input_cost_per_token": 3e-06,
            "output_cost_per_token": 1.5e-05,
            "litellm_provider": "openrouter",
            "mode": "chat"
        },
        "text-embedding-3-small": {
            "input_cost_per_token": 2e-08,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "embedding"
        },
        "some-free-chat-model": {
            "litellm_provider": "ollama",
            "mode": "chat"
        }
    }"#;

    #[test]
    fn per_token_prices_become_per_million_with_batch_and_cache() {
        let imported = parse(FIXTURE, "prices.json", "2026-11-01").unwrap();
        assert_eq!(imported.models, 3);
        assert_eq!(imported.skipped_mode, 1);
        assert_eq!(imported.skipped_unpriced, 1);
        let gpt = imported.table.get("gpt-4.1").unwrap();
        assert_eq!(
            (
                gpt.input,
                gpt.cached_input,
                gpt.output,
                gpt.batch_input,
                gpt.batch_output
            ),
            (2.0, Some(0.5), 8.0, Some(1.0), Some(4.0))
        );
        assert_eq!(gpt.source, "prices.json (LiteLLM format)");
        assert_eq!(gpt.date, "2026-11-01");
        assert_eq!(gpt.origin, "prices.json");
        let deepseek = imported.table.get("deepseek-chat").unwrap();
        assert_eq!(
            (deepseek.input, deepseek.cached_input, deepseek.output),
            (0.27, Some(0.07), 1.1)
        );
        assert_eq!(deepseek.batch_input, None);
        // A gateway's key is kept as written, and not given another provider's bare name.
        assert!(imported.table.get("openrouter/anthropic/claude-3.5-sonnet").is_some());
        assert!(imported.table.get("claude-3.5-sonnet").is_none());
        assert!(imported.table.get("text-embedding-3-small").is_none());
        assert!(imported.table.get(SAMPLE_SPEC).is_none());
    }

    #[test]
    fn bad_files_name_the_file_and_the_entry() {
        let err = parse("[1, 2]", "p.json", "").unwrap_err();
        assert!(err.to_string().starts_with("p.json: expected a JSON object"), "{err}");
        let err = parse("{", "p.json", "").unwrap_err();
        assert!(err.to_string().starts_with("p.json: not valid JSON"), "{err}");
        let err = parse(r#"{"m": 3}"#, "p.json", "").unwrap_err();
        assert_eq!(err.to_string(), "p.json: prices.\"m\": expected an object of prices");
        let negative = r#"{"m": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}}"#;
        let err = parse(negative, "p.json", "").unwrap_err();
        assert!(err.to_string().contains("prices.\"m\": input = -1"), "{err}");
    }

    #[test]
    fn string_prices_are_read_and_noise_is_rounded_away() {
        let text = r#"{"m": {"input_cost_per_token": "0.0000003", "output_cost_per_token": 1.2e-06}}"#;
        let price = parse(text, "p.json", "").unwrap().table.get("m").cloned().unwrap();
        assert_eq!((price.input, price.output), (0.3, 1.2));
    }
}
