//! Pricing one model's counts: each size band of prompts at its tier's rates.

use super::count::ModelTally;
use super::{encoding_for_model, EstimateError, EstimateOptions, ModelSpec, OutputTokens, Row};
use crate::pricing::{Price, PriceTable};

/// The prompt sizes at which a price of the models estimated (or, when each line names its
/// model, of any model in the table) changes tier: the counting pass bands lines by them.
pub(super) fn tier_thresholds(models: Option<&[ModelSpec]>, prices: &PriceTable) -> Vec<u64> {
    let tiers = |price: &Price| price.tiers.iter().map(|t| t.above_tokens).collect::<Vec<_>>();
    let mut thresholds: Vec<u64> = match models {
        Some(models) => models
            .iter()
            .filter_map(|m| prices.get(&m.model))
            .flat_map(tiers)
            .collect(),
        None => prices.iter().flat_map(|(_, price)| tiers(price)).collect(),
    };
    thresholds.sort_unstable();
    thresholds.dedup();
    thresholds
}

pub(super) fn row(
    spec: &ModelSpec,
    counts: &ModelTally,
    thresholds: &[u64],
    options: &EstimateOptions,
    prices: &PriceTable,
) -> Result<Row, EstimateError> {
    let (encoding, exact) = encoding_for_model(&spec.model);
    let requests = counts.items;
    // Embeddings and moderations answer no output tokens.
    let generating = requests.saturating_sub(counts.input_only);
    let output_tokens = match &options.output {
        OutputTokens::Fixed(n) => n.saturating_mul(generating),
        OutputTokens::Measured(m) => (m.mean * generating as f64).round() as u64,
        OutputTokens::MaxTokens => counts.max_tokens,
    };
    let per_usd = options.money.factor(spec.billing.as_ref()).map_err(|e| {
        let provider = spec.provider.as_deref().unwrap_or("?");
        EstimateError::Usage(format!("{}: provider {provider:?} {e}", spec.label))
    })?;
    let price = prices.get(&spec.model).cloned();
    let whole = Slice {
        prompt_tokens: 0,
        requests,
        input: counts.input_tokens as f64,
        output: output_tokens as f64,
    };
    let slices = match &price {
        Some(p) if !p.tiers.is_empty() && counts.bands.len() == thresholds.len() + 1 => {
            slices(counts, thresholds, &options.output)
        }
        _ => vec![whole],
    };
    let usd = |p: &Price, hit: f64| -> f64 {
        slices
            .iter()
            .map(|s| {
                let rates = p.rates(s.prompt_tokens);
                (s.input * (1.0 - hit) * rates.input + s.input * hit * rates.cached_input + s.output * rates.output)
                    / 1e6
            })
            .sum()
    };
    let list_usd = price.as_ref().map(|p| usd(p, 0.0));
    let cached_usd = price.as_ref().map(|p| usd(p, options.cache_hit_rate));
    // Batch prices have no size tiers (nor in LiteLLM's file): every request at the batch rate,
    // as `run --batch-api` charges them.
    let batch_usd = price.as_ref().and_then(|p| match (p.batch_input, p.batch_output) {
        (None, None) => None,
        (i, o) => Some((whole.input * i.unwrap_or(p.input) + whole.output * o.unwrap_or(p.output)) / 1e6),
    });
    let tiered_requests = match &price {
        Some(p) => slices
            .iter()
            .filter(|s| p.rates(s.prompt_tokens) != p.rates(0))
            .map(|s| s.requests)
            .sum(),
        None => 0,
    };
    let per_request = list_usd.filter(|_| requests > 0).map(|c| c / requests as f64);
    let money = |usd: Option<f64>| usd.map(|v| twelve_digits(v * per_usd));
    Ok(Row {
        label: spec.label.clone(),
        model: spec.model.clone(),
        provider: spec.provider.clone(),
        encoding: encoding.name(),
        approximate: !exact,
        requests,
        input_tokens: counts.input_tokens,
        output_tokens,
        tiered_requests,
        price,
        billing: spec.billing.clone(),
        per_usd,
        list_usd,
        list: money(list_usd),
        cached: money(cached_usd),
        batch: money(batch_usd),
        per_1k_requests: money(per_request.map(|c| c * 1000.0)),
        per_month: money(per_request.and_then(|c| options.per_month.map(|n| c * n as f64))),
    })
}

/// Requests priced alike: those whose prompt is in one size band, with their tokens.
#[derive(Debug, Clone, Copy)]
struct Slice {
    /// A prompt size in the band: the tier its prices are looked up at.
    prompt_tokens: u64,
    requests: u64,
    input: f64,
    output: f64,
}

/// One slice per size band of `counts`, output tokens shared out as the whole row's are.
fn slices(counts: &ModelTally, thresholds: &[u64], output: &OutputTokens) -> Vec<Slice> {
    counts
        .bands
        .iter()
        .enumerate()
        .map(|(b, band)| {
            let generating = band.items.saturating_sub(band.input_only);
            Slice {
                prompt_tokens: b
                    .checked_sub(1)
                    .and_then(|below| thresholds.get(below))
                    .map_or(0, |t| t.saturating_add(1)),
                requests: band.items,
                input: band.input_tokens as f64,
                output: match output {
                    OutputTokens::Fixed(n) => n.saturating_mul(generating) as f64,
                    OutputTokens::Measured(m) => m.mean * generating as f64,
                    OutputTokens::MaxTokens => band.max_tokens as f64,
                },
            }
        })
        .collect()
}

/// `v` to 12 significant digits: no float noise (31.919999999999998) in the output, and still
/// exact for the smallest costs.
fn twelve_digits(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(12 - v.abs().log10().ceil() as i32);
    if !scale.is_finite() {
        return v;
    }
    (v * scale).round() / scale
}
