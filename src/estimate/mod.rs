//! `sheepdog estimate`: what a JSONL workload costs on each model before anything is sent.
//!
//! Input tokens are counted per line with the OpenAI tokenizers (o200k_base for the gpt-4o /
//! gpt-4.1 / gpt-5 / o-series families, cl100k_base otherwise, marked approximate for models
//! of other vendors). Output tokens come from `--output-tokens`, a previous run, or each line's
//! `max_tokens`. Costs use the price table, a cached-input share, the batch API price where
//! there is one, and the report currency with each provider's billing rate.

mod cost;
pub mod count;
pub mod measured;
pub mod render;

use std::path::PathBuf;

use serde::Serialize;

use crate::input::InputError;
use crate::pricing::currency::{Billing, Money};
use crate::pricing::{Price, PriceTable};
use crate::record::Rejected;
use crate::tokens::{encoding_for_model, Encoding};
use cost::{row, tier_thresholds};
use count::{ModelTally, Plan, Tally};
pub use measured::Measured;

/// A model to estimate for.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// What the report calls it: the target name from the job file, or the model.
    pub label: String,
    pub model: String,
    pub provider: Option<String>,
    pub billing: Option<Billing>,
}

impl ModelSpec {
    /// A bare model name, billed in USD at list price.
    pub fn model(model: &str) -> ModelSpec {
        ModelSpec {
            label: model.to_string(),
            model: model.to_string(),
            provider: None,
            billing: None,
        }
    }
}

/// Where output tokens come from.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputTokens {
    /// The same number for every request (`--output-tokens N`).
    Fixed(u64),
    /// The mean measured in an earlier run (`--from-run DIR`).
    Measured(Measured),
    /// Each line's `max_tokens` / `max_completion_tokens`; 0 for lines without.
    MaxTokens,
}

#[derive(Debug, Clone)]
pub struct EstimateOptions {
    pub input: PathBuf,
    /// `None`: each line for the model it names.
    pub models: Option<Vec<ModelSpec>>,
    pub output: OutputTokens,
    /// Share of input tokens served from the provider's prompt cache, 0 to 1.
    pub cache_hit_rate: f64,
    pub per_month: Option<u64>,
    pub money: Money,
    /// Counting threads.
    pub threads: usize,
    /// Where short lines go (`--endpoint`); Batch lines name their own.
    pub endpoint: crate::provider::ApiEndpoint,
}

/// Why an estimate could not be made. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Usage(String),
}

/// The estimate: one row per model, and how the figures were obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub input: String,
    /// Non-blank lines.
    pub lines: u64,
    /// Valid lines: one request each.
    pub requests: u64,
    /// Invalid lines (not counted), with the first few.
    pub rejected: u64,
    pub rejected_shown: Vec<Rejected>,
    /// How output tokens were obtained: `fixed`, `measured` or `max_tokens`.
    pub output_source: &'static str,
    /// `--output-tokens N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_fixed: Option<u64>,
    /// `--from-run DIR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_measured: Option<Measured>,
    /// With `max_tokens`: lines without it, counted as 0 output tokens.
    pub lines_without_max_tokens: u64,
    /// Requests to embeddings and moderations: input tokens only, whatever the output source.
    #[serde(skip_serializing_if = "is_zero")]
    pub input_only_requests: u64,
    pub cache_hit_rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_month: Option<u64>,
    /// Currency of every amount but the `*_usd` ones, and its rate (units per USD).
    pub currency: String,
    pub fx: f64,
    pub rows: Vec<Row>,
}

/// One model's estimate. Amounts are in the report currency, `None` when there is no price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub label: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `o200k_base` or `cl100k_base`.
    pub encoding: &'static str,
    /// The tokenizer is not the model's own: token counts are an approximation.
    pub approximate: bool,
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Requests whose prompt is large enough for a size tier of the price (LiteLLM's
    /// `*_above_200k_tokens`): all their tokens are priced at the tier's rates.
    #[serde(skip_serializing_if = "is_zero")]
    pub tiered_requests: u64,
    /// USD per 1M tokens, with its source and date.
    pub price: Option<Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<Billing>,
    /// Report currency units per USD of list price for this row.
    pub per_usd: f64,
    /// At list price, in USD.
    pub list_usd: Option<f64>,
    /// At list price.
    pub list: Option<f64>,
    /// With `cache_hit_rate` of the input tokens at the cached-input price.
    pub cached: Option<f64>,
    /// Through the provider's batch API, where the price table has a batch price.
    pub batch: Option<f64>,
    pub per_1k_requests: Option<f64>,
    pub per_month: Option<f64>,
}

/// Counts the input and prices it.
pub fn estimate(options: &EstimateOptions, prices: &PriceTable) -> Result<Estimate, EstimateError> {
    if !(0.0..=1.0).contains(&options.cache_hit_rate) {
        return Err(EstimateError::Usage(format!(
            "--cache-hit-rate: {} must be between 0 and 1 (e.g. 0.3 for 30%)",
            options.cache_hit_rate
        )));
    }
    let plan = match &options.models {
        Some(models) => {
            let mut encodings: Vec<Encoding> = Vec::new();
            for m in models {
                let encoding = encoding_for_model(&m.model).0;
                if !encodings.contains(&encoding) {
                    encodings.push(encoding);
                }
            }
            Plan::Every(encodings)
        }
        None => Plan::AsWritten,
    };
    let thresholds = tier_thresholds(options.models.as_deref(), prices);
    let tally = count::count(&options.input, &plan, &thresholds, options.endpoint, options.threads)?;

    let mut rows = Vec::new();
    match &options.models {
        Some(models) => {
            for spec in models {
                let encoding = encoding_for_model(&spec.model).0;
                let counts = tally.per_encoding.get(&encoding).cloned().unwrap_or_default();
                rows.push(row(spec, &counts, &tally.thresholds, options, prices)?);
            }
        }
        None => {
            let mut models: Vec<(&Option<String>, &ModelTally)> = tally.per_model.iter().collect();
            models.sort_by(|a, b| b.1.items.cmp(&a.1.items).then(a.0.cmp(b.0)));
            for (model, counts) in models {
                let spec = match model {
                    Some(model) => ModelSpec::model(model),
                    None => ModelSpec::model("(no model in the line)"),
                };
                rows.push(row(&spec, counts, &tally.thresholds, options, prices)?);
            }
        }
    }
    Ok(summarize(tally, rows, options))
}

fn summarize(tally: Tally, rows: Vec<Row>, options: &EstimateOptions) -> Estimate {
    let (source, fixed, measured) = match &options.output {
        OutputTokens::Fixed(n) => ("fixed", Some(*n), None),
        OutputTokens::Measured(m) => ("measured", None, Some(m.clone())),
        OutputTokens::MaxTokens => ("max_tokens", None, None),
    };
    Estimate {
        input: options.input.display().to_string(),
        lines: tally.lines,
        requests: tally.all.items,
        rejected: tally.rejected,
        rejected_shown: tally.rejected_shown,
        output_source: source,
        output_tokens_fixed: fixed,
        output_measured: measured,
        lines_without_max_tokens: match options.output {
            OutputTokens::MaxTokens => tally.all.no_max_tokens,
            _ => 0,
        },
        input_only_requests: tally.all.input_only,
        cache_hit_rate: options.cache_hit_rate,
        per_month: options.per_month,
        currency: options.money.currency.clone(),
        fx: options.money.fx,
        rows,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A sensible number of counting threads for this machine.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).min(8)
}

/// What `--models` names (a target of the job file, or a model) stand for, else the job file's
/// route; `None` prices each line on the model it names.
pub fn model_specs(config: &crate::config::Config, names: Option<&[String]>) -> Option<Vec<ModelSpec>> {
    let target_spec = |index: usize| {
        let target = &config.targets[index];
        let provider = config.provider_of(target);
        target.model.as_ref().map(|model| ModelSpec {
            label: target.name.clone(),
            model: model.clone(),
            provider: Some(provider.name.clone()),
            billing: provider.billing.clone(),
        })
    };
    match names {
        Some(names) => Some(
            names
                .iter()
                .filter(|n| !n.trim().is_empty())
                .map(|name| {
                    let configured = config.source.is_some();
                    config
                        .targets
                        .iter()
                        .position(|t| configured && &t.name == name)
                        .and_then(target_spec)
                        .unwrap_or_else(|| ModelSpec::model(name.trim()))
                })
                .collect(),
        ),
        None if config.source.is_some() => {
            let specs: Vec<ModelSpec> = config.route.iter().filter_map(|&t| target_spec(t)).collect();
            (!specs.is_empty()).then_some(specs)
        }
        None => None,
    }
}
