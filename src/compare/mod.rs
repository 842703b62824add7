//! `sheepdog compare`: runs over the same prompts side by side (e.g. one job on provider A and
//! on provider B), with the better value of each row marked.
//!
//! Reads each run folder's `summary.json`, and its `results.jsonl` for the per-item ratio of
//! output tokens (items matched by `custom_id`).

pub mod bench;
pub mod bench_render;
mod ratio;
pub mod render;

use std::collections::HashMap;
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::stats::summary::{ErrorScope, Percentiles, Summary};
use ratio::ratio_rows;

/// One run folder, read.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub summary: Summary,
    /// Output tokens of each answered item, by a hash of its `custom_id`.
    outputs: HashMap<u64, u64>,
}

/// Which way is better for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
    /// Informative only (token counts, ratios): nothing is marked.
    Neither,
}

/// One metric across the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub section: &'static str,
    pub metric: String,
    pub better: Better,
    /// The value of each run, `None` where it does not apply or is not known.
    pub values: Vec<Option<f64>>,
    /// The values as shown.
    pub shown: Vec<String>,
    /// Indices of the runs with the better value (empty when all are equal or not comparable).
    pub best: Vec<usize>,
}

/// A run's header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunInfo {
    pub label: String,
    pub dir: String,
    pub input: String,
    pub started_at: String,
    /// `target (model)` of every target that answered.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub runs: Vec<RunInfo>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

/// Reads a run folder. Errors name the folder and the file.
pub fn load(dir: &Path) -> Result<Run, String> {
    let summary_path = dir.join(crate::report::SUMMARY_FILE);
    let bytes = std::fs::read(&summary_path).map_err(|e| {
        format!(
            "{}: cannot read {}: {e} (is it a sheepdog run folder?)",
            dir.display(),
            crate::report::SUMMARY_FILE
        )
    })?;
    let summary = crate::report::json::parse(&bytes).map_err(|e| format!("{}: {e}", summary_path.display()))?;
    let mut outputs = HashMap::new();
    // Answered items: results.jsonl, or the sidecar of an `openai` folder.
    let results = crate::output::format::block_files(dir).swap_remove(0);
    if let Ok(file) = File::open(&results) {
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: line {}: {e}", results.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| format!("{}: line {}: not JSON: {e}", results.display(), i + 1))?;
            let tokens = value["sheepdog"]["output_tokens"]
                .as_u64()
                .filter(|_| crate::output::format::is_answer(&value));
            if let (Some(id), Some(tokens)) = (value["custom_id"].as_str(), tokens) {
                outputs.insert(id_hash(id), tokens);
            }
        }
    }
    Ok(Run {
        dir: dir.to_path_buf(),
        summary,
        outputs,
    })
}

/// Builds the side-by-side rows of `runs` (the first is the baseline of the output ratio).
pub fn compare(runs: &[Run]) -> Comparison {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let s: Vec<&Summary> = runs.iter().map(|r| &r.summary).collect();
    let mut push = |section, metric: String, better, values: Vec<Option<f64>>, show: &dyn Fn(f64) -> String| {
        let shown = values.iter().map(|v| v.map_or_else(|| "-".to_string(), show)).collect();
        rows.push(Row {
            section,
            metric,
            better,
            best: best_of(&values, better),
            values,
            shown,
        });
    };
    let int = |v: f64| crate::report::fmt::int(v as u64);
    let ms = |v: f64| crate::report::fmt::ms_short(v);
    let usd = |v: f64| crate::report::fmt::usd(v);

    let each = |f: &dyn Fn(&Summary) -> Option<f64>| s.iter().map(|x| f(x)).collect::<Vec<_>>();
    push(
        "items",
        "items attempted".into(),
        Better::Neither,
        each(&|x| Some(x.totals.attempted as f64)),
        &int,
    );
    push(
        "items",
        "success rate".into(),
        Better::Higher,
        each(&|x| (x.totals.attempted > 0).then_some(x.totals.success_rate)),
        &|v| crate::report::fmt::pct(v),
    );
    push(
        "items",
        "failed items".into(),
        Better::Lower,
        each(&|x| Some(x.totals.failed as f64)),
        &int,
    );
    push(
        "items",
        "retries".into(),
        Better::Lower,
        each(&|x| Some(x.totals.retries as f64)),
        &int,
    );
    push(
        "items",
        "fallbacks".into(),
        Better::Lower,
        each(&|x| Some(x.totals.fallbacks as f64)),
        &int,
    );
    for (scope, prefix) in [
        (ErrorScope::Items, "failed items"),
        (ErrorScope::Attempts, "failed requests"),
    ] {
        let mut labels: Vec<String> = Vec::new();
        for x in &s {
            for e in x.errors.iter().filter(|e| e.scope == scope) {
                let label = error_label(e.class.as_str(), e.status);
                if !labels.contains(&label) {
                    labels.push(label);
                }
            }
        }
        for label in labels {
            let values = each(&|x| {
                Some(
                    x.errors
                        .iter()
                        .filter(|e| e.scope == scope && error_label(e.class.as_str(), e.status) == label)
                        .map(|e| e.count as f64)
                        .sum(),
                )
            });
            push("errors", format!("{prefix}: {label}"), Better::Lower, values, &int);
        }
    }
    let percentiles = |name: &str, get: &dyn Fn(&Summary) -> Option<&Percentiles>| {
        [("p50", 0), ("p95", 1), ("p99", 2)]
            .into_iter()
            .map(|(p, i)| {
                let values = s
                    .iter()
                    .map(|x| get(x).filter(|p| p.count > 0).map(|p| [p.p50, p.p95, p.p99][i]))
                    .collect::<Vec<_>>();
                (format!("{name} {p}"), values)
            })
            .collect::<Vec<_>>()
    };
    for (metric, values) in percentiles("latency", &|x| Some(&x.latency_ms)) {
        push("latency", metric, Better::Lower, values, &ms);
    }
    if s.iter().any(|x| x.ttft_ms.is_some()) {
        for (metric, values) in percentiles("TTFT", &|x| x.ttft_ms.as_ref()) {
            push("latency", metric, Better::Lower, values, &ms);
        }
    }
    if s.iter().any(|x| x.itl_ms.is_some()) {
        for (metric, values) in percentiles("ITL", &|x| x.itl_ms.as_ref()) {
            push("latency", metric, Better::Lower, values, &ms);
        }
    }
    push(
        "throughput",
        "items/s".into(),
        Better::Higher,
        each(&|x| Some(x.totals.items_per_s)),
        &|v| format!("{v:.2}"),
    );
    push(
        "tokens",
        "input tokens".into(),
        Better::Neither,
        each(&|x| Some(x.tokens.input as f64)),
        &int,
    );
    push(
        "tokens",
        "output tokens".into(),
        Better::Neither,
        each(&|x| Some(x.tokens.output as f64)),
        &int,
    );
    let priced = |x: &Summary| (x.cost.unpriced_requests == 0).then_some(x.cost.total_usd);
    push("cost", "cost".into(), Better::Lower, each(&|x| priced(x)), &usd);
    push(
        "cost",
        "cost per 1,000 requests".into(),
        Better::Lower,
        each(&|x| {
            priced(x)
                .filter(|_| x.totals.attempted > 0)
                .map(|c| c * 1000.0 / x.totals.attempted as f64)
        }),
        &usd,
    );
    push(
        "cost",
        "cost per 1M output tokens".into(),
        Better::Lower,
        each(&|x| {
            priced(x)
                .filter(|_| x.tokens.output > 0)
                .map(|c| c * 1e6 / x.tokens.output as f64)
        }),
        &usd,
    );
    for (i, x) in s.iter().enumerate() {
        if x.cost.unpriced_requests > 0 {
            notes.push(format!(
                "{}: cost not compared: no price for {} requests ({})",
                label(runs, i),
                x.cost.unpriced_requests,
                x.cost.unpriced_models.join(", ")
            ));
        }
    }
    if runs.len() > 1 {
        ratio_rows(runs, &mut push, &mut notes);
    }
    let inputs: Vec<&str> = s.iter().map(|x| x.job.input.as_str()).collect();
    if inputs.iter().any(|i| *i != inputs[0]) {
        notes.push(format!("the runs read different input files: {}", inputs.join(", ")));
    }
    let infos = runs
        .iter()
        .enumerate()
        .map(|(i, r)| RunInfo {
            label: label(runs, i),
            dir: r.dir.display().to_string(),
            input: r.summary.job.input.clone(),
            started_at: r.summary.job.started_at.clone(),
            targets: r
                .summary
                .targets
                .iter()
                .filter(|t| t.succeeded > 0)
                .map(|t| format!("{} ({})", t.name, t.model))
                .collect(),
        })
        .collect();
    Comparison {
        runs: infos,
        rows,
        notes,
    }
}

type Push<'a> = dyn FnMut(&'static str, String, Better, Vec<Option<f64>>, &dyn Fn(f64) -> String) + 'a;

fn error_label(class: &str, status: Option<u16>) -> String {
    match status {
        Some(status) => format!("{class} {status}"),
        None => class.to_string(),
    }
}

/// The runs with the better value; none when fewer than two are known or all are equal.
fn best_of(values: &[Option<f64>], better: Better) -> Vec<usize> {
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    if known.len() < 2 || better == Better::Neither {
        return Vec::new();
    }
    let pick = |a: f64, b: f64| if better == Better::Lower { a.min(b) } else { a.max(b) };
    let target = known.iter().map(|k| k.1).reduce(pick).unwrap_or(0.0);
    let close = |v: f64| (v - target).abs() <= target.abs() * 1e-9;
    if known.iter().all(|k| close(k.1)) {
        return Vec::new();
    }
    known.iter().filter(|k| close(k.1)).map(|k| k.0).collect()
}

/// A short name for run `i`: its folder name, or its path when two folders share a name.
fn label(runs: &[Run], i: usize) -> String {
    let name = |r: &Run| {
        r.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.dir.display().to_string())
    };
    let mine = name(&runs[i]);
    if runs.iter().filter(|r| name(r) == mine).count() > 1 {
        runs[i].dir.display().to_string()
    } else {
        mine
    }
}

#[cfg(test)]
mod tests;
