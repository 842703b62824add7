//! The Batch API part of a run's report: each batch, and what the items cost at batch prices
//! against what the same tokens cost live.

use std::fmt::Write;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::state::BatchState;
use crate::output::RESULTS_FILE;
use crate::stats::summary::Percentiles;

pub use crate::stats::summary::{BatchApiSummary, BatchRow};

/// The report block of `state`, with the costs read from the batch items of `results.jsonl`.
pub fn build(dir: &Path, state: &BatchState) -> std::io::Result<BatchApiSummary> {
    let mut summary = BatchApiSummary {
        completion_window: state.completion_window.clone(),
        batches: state
            .parts
            .iter()
            .map(|p| BatchRow {
                number: p.number,
                batch_id: p.batch_id.clone(),
                endpoint: p.endpoint.batch_url().to_string(),
                status: p.status.clone(),
                lines: p.lines,
                completed: p.counts.completed,
                failed: p.counts.failed,
                latency_ms: p.latency_ms(),
            })
            .collect(),
        ..BatchApiSummary::default()
    };
    let file = match std::fs::File::open(dir.join(RESULTS_FILE)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(summary),
        Err(e) => return Err(e),
    };
    for line in std::io::BufReader::with_capacity(1 << 20, file).split(b'\n') {
        let line = line?;
        // Only the `sheepdog` block is needed; a damaged line is the resume scan's business.
        let Ok(value) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        let block = &value["sheepdog"];
        if block["via"] != "batch_api" {
            continue;
        }
        summary.items += 1;
        match (block["cost_usd"].as_f64(), block["live_cost_usd"].as_f64()) {
            (Some(batch), Some(live)) => {
                summary.cost_batch_usd += batch;
                summary.cost_live_usd += live;
            }
            _ => summary.unpriced_items += 1,
        }
    }
    summary.saved_usd = summary.cost_live_usd - summary.cost_batch_usd;
    Ok(summary)
}

/// The "Batch API" section of report.md.
pub fn markdown(s: &BatchApiSummary, latency: Option<&Percentiles>) -> String {
    let mut out = String::from("## Batch API\n\n");
    let _ = writeln!(
        out,
        "{} item(s) answered through the provider's Batch API (completion window {}).\n",
        s.items, s.completion_window
    );
    let _ = writeln!(
        out,
        "| cost at batch prices | same tokens at live prices | saved |\n|---:|---:|---:|\n| ${:.6} | ${:.6} | ${:.6} |\n",
        s.cost_batch_usd, s.cost_live_usd, s.saved_usd
    );
    if s.unpriced_items > 0 {
        let _ = writeln!(
            out,
            "{} item(s) have no batch price and are in neither cost.\n",
            s.unpriced_items
        );
    }
    if let Some(p) = latency {
        let _ = writeln!(
            out,
            "Batch latency (batch created → ended, per item; not a request latency): p50 {:.1} s, max {:.1} s.\n",
            p.p50 / 1000.0,
            p.max / 1000.0
        );
    }
    out.push_str("| # | batch | endpoint | status | lines | completed | failed | created → ended |\n");
    out.push_str("|---:|---|---|---|---:|---:|---:|---:|\n");
    for b in &s.batches {
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} | {} | {} | {} | {} |",
            b.number,
            b.batch_id.as_deref().unwrap_or("not created"),
            b.endpoint,
            b.status.as_deref().unwrap_or("-"),
            b.lines,
            b.completed,
            b.failed,
            b.latency_ms
                .map_or("-".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0)),
        );
    }
    out.push('\n');
    out
}
