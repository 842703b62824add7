//! `sheepdog run --dry-run`: validates the configuration and every input line, and estimates
//! input tokens, without sending anything.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::Config;
use crate::input::{Entry, Reader};
use crate::record::Rejected;

use super::JobError;

/// At most this many rejected lines are kept for display; all are counted.
const SHOWN_REJECTED: usize = 50;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DryRun {
    /// Non-blank lines read.
    pub lines: u64,
    /// Valid items that would be sent.
    pub items: u64,
    pub rejected: u64,
    /// The first rejected lines, in file order.
    pub rejected_shown: Vec<Rejected>,
    /// Estimated prompt tokens over all valid items (at the primary target's model).
    pub input_tokens: u64,
    /// Items and estimated prompt tokens per model that would be asked first.
    pub per_model: BTreeMap<String, (u64, u64)>,
    /// Input cost at list price per model that has a price, each request priced by its own
    /// prompt size (a size tier applies to the requests above it, as in `run` and `estimate`).
    pub input_usd: BTreeMap<String, f64>,
    /// Whether any count used a tokenizer that is not the model's own.
    pub approximate: bool,
    /// Valid items per endpoint.
    pub per_endpoint: BTreeMap<crate::provider::ApiEndpoint, u64>,
}

pub fn dry_run(config: &Config, input: &Path) -> Result<DryRun, JobError> {
    let reader = Reader::open(input)?
        .with_shard(config.shard)
        .with_endpoint(config.endpoint);
    crate::engine::check_keys(config)?;
    let primary = config.primary();
    let mut report = DryRun::default();
    for entry in reader {
        report.lines += 1;
        let rejected = match entry? {
            Entry::Rejected(rejected) => rejected,
            Entry::Item(item) => {
                let model = item
                    .endpoint
                    .model_for(primary.model.as_deref(), item.model(), primary.default_model.as_deref())
                    .map(str::to_string);
                match model {
                    Some(model) => {
                        *report.per_endpoint.entry(item.endpoint).or_default() += 1;
                        let encoding = crate::tokens::encoding_for_model(&model).0;
                        let tokens = item.endpoint.prompt_tokens(encoding, &*item.body);
                        report.approximate |= !crate::tokens::encoding_for_model(&model).1;
                        report.items += 1;
                        report.input_tokens += tokens;
                        if let Some(price) = config.prices.get(&model) {
                            let usage = crate::record::Usage {
                                input_tokens: tokens,
                                ..Default::default()
                            };
                            *report.input_usd.entry(model.clone()).or_default() += price.cost_usd(&usage);
                        }
                        let slot = report.per_model.entry(model).or_default();
                        slot.0 += 1;
                        slot.1 += tokens;
                        continue;
                    }
                    None => Rejected {
                        id: Some(item.id),
                        line: item.line,
                        reason: "no model: give --model, targets in a job file, or \"model\" in the line".into(),
                    },
                }
            }
        };
        report.rejected += 1;
        if report.rejected_shown.len() < SHOWN_REJECTED {
            report.rejected_shown.push(rejected);
        }
    }
    Ok(report)
}

/// The dry run as the terminal shows it: route, counts, estimated input tokens and list-price
/// cost per model, and the first invalid lines.
pub fn render(config: &Config, input: &Path, report: &DryRun) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let route: Vec<&str> = config.route.iter().map(|&t| config.targets[t].name.as_str()).collect();
    let _ = writeln!(out, "Dry run of {} (nothing sent)", input.display());
    let _ = writeln!(out, "  route:              {}", route.join(" -> "));
    let _ = writeln!(out, "  lines:              {}", report.lines);
    let _ = writeln!(out, "  valid items:        {}", report.items);
    let _ = writeln!(out, "  invalid lines:      {}", report.rejected);
    if report
        .per_endpoint
        .keys()
        .any(|&e| e != crate::provider::ApiEndpoint::Chat)
    {
        let counts: Vec<String> = report
            .per_endpoint
            .iter()
            .map(|(endpoint, n)| format!("{} {n}", endpoint.batch_url()))
            .collect();
        let _ = writeln!(out, "  endpoints:          {}", counts.join(", "));
    }
    let approx = if report.approximate {
        " (approximate: not the model's own tokenizer)"
    } else {
        ""
    };
    let _ = writeln!(out, "  input tokens (est): {}{approx}", report.input_tokens);
    for (model, (items, tokens)) in &report.per_model {
        let cost = report
            .input_usd
            .get(model)
            .map(|usd| format!("${usd:.4} input at list price"))
            .unwrap_or_else(|| "no price".into());
        let _ = writeln!(out, "    {model}: {items} items, {tokens} tokens, {cost}");
    }
    for rejected in &report.rejected_shown {
        let _ = writeln!(out, "  line {}: {}", rejected.line, rejected.reason);
    }
    if report.rejected > report.rejected_shown.len() as u64 {
        let _ = writeln!(
            out,
            "  ... and {} more invalid lines",
            report.rejected - report.rejected_shown.len() as u64
        );
    }
    out
}
