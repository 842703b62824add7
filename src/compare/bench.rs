//! `sheepdog compare` of bench folders: step by step against the first folder (the baseline),
//! the median e2e latency and TTFT of each step side by side, and whether a change is larger
//! than the noise.
//!
//! The per-request latencies come from each folder's `requests.csv` (measured, succeeded
//! requests). A change is *significant* when a bootstrap of the relative change in the median
//! (resampling both folders' requests, seeded so the verdict is reproducible) puts its 99%
//! interval wholly on one side of zero, and the change is at least [`MIN_CHANGE`]: a shift of a
//! fraction of a percent is real noise of a machine, not a regression.

use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::bench::BenchSummary;
use crate::output::files::REQUESTS_FILE;

/// Changes of the median below this share are never marked.
pub const MIN_CHANGE: f64 = 0.05;
/// Bootstrap resamples per comparison.
const RESAMPLES: usize = 1000;
/// Requests per folder and step the bootstrap draws from at most (an even subsample beyond).
const MAX_SAMPLES: usize = 2000;
/// Two-sided level of the interval.
const LEVEL: f64 = 0.99;

/// A bench folder, read.
#[derive(Debug, Clone)]
pub struct BenchRun {
    pub dir: PathBuf,
    pub summary: BenchSummary,
    /// Per step (index = step − 1): e2e and TTFT of each measured, succeeded request, in ms.
    steps: Vec<Samples>,
}

#[derive(Debug, Clone, Default)]
struct Samples {
    e2e: Vec<f64>,
    ttft: Vec<f64>,
}

/// The columns of `requests.csv` a comparison reads.
#[derive(Debug, Deserialize)]
struct Row {
    step: usize,
    warmup: bool,
    latency_ms: f64,
    ttft_ms: Option<f64>,
    error_class: Option<String>,
}

/// Whether `dir` holds a bench (its `summary.json` says `"kind": "bench"`).
pub fn is_bench(dir: &Path) -> bool {
    std::fs::read(dir.join(crate::report::SUMMARY_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v["kind"] == "bench")
}

/// Reads a bench folder: `summary.json` and `requests.csv`. Errors name the file and line.
pub fn load(dir: &Path) -> Result<BenchRun, String> {
    let path = dir.join(crate::report::SUMMARY_FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let summary: BenchSummary =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a bench summary: {e}", path.display()))?;
    let path = dir.join(REQUESTS_FILE);
    let mut reader = csv::Reader::from_path(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut steps = vec![Samples::default(); summary.steps.len()];
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.map_err(|e| format!("{}: line {}: {e}", path.display(), i + 2))?;
        let ok = row.error_class.as_deref().is_none_or(str::is_empty);
        let Some(samples) = steps.get_mut(row.step.wrapping_sub(1)) else {
            continue;
        };
        if row.warmup || !ok {
            continue;
        }
        samples.e2e.push(row.latency_ms);
        samples.ttft.extend(row.ttft_ms);
    }
    Ok(BenchRun {
        dir: dir.to_path_buf(),
        summary,
        steps,
    })
}

/// Which way a step's figure moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    /// Within the noise (or below [`MIN_CHANGE`]).
    NoChange,
    /// Too few requests on one side to tell.
    Unknown,
}

/// One figure of one step, baseline against another folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// 1-based step.
    pub step: usize,
    pub load: String,
    /// `e2e` or `ttft`.
    pub metric: &'static str,
    pub baseline_p50_ms: f64,
    pub other_p50_ms: f64,
    /// (other − baseline) / baseline of the medians.
    pub change: f64,
    /// The bootstrap's 99% interval of `change`.
    pub interval: (f64, f64),
    /// Share of resamples on the side of the observed change: how sure the direction is.
    pub confidence: f64,
    pub verdict: Verdict,
}

/// The comparison of each folder with the first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchComparison {
    pub baseline: String,
    pub others: Vec<Against>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Against {
    pub dir: String,
    pub changes: Vec<Change>,
    pub notes: Vec<String>,
}

impl BenchComparison {
    /// Whether any figure of any folder changed significantly.
    pub fn any_significant(&self) -> bool {
        self.others
            .iter()
            .flat_map(|o| &o.changes)
            .any(|c| matches!(c.verdict, Verdict::Faster | Verdict::Slower))
    }
}

/// Compares every run with the first, step by step (steps paired by position).
pub fn compare(runs: &[BenchRun]) -> BenchComparison {
    let Some((base, others)) = runs.split_first() else {
        return BenchComparison {
            baseline: String::new(),
            others: Vec::new(),
        };
    };
    let others = others
        .iter()
        .map(|other| {
            let mut changes = Vec::new();
            let mut notes = Vec::new();
            for (i, (a, b)) in base.steps.iter().zip(&other.steps).enumerate() {
                let (la, lb) = (&base.summary.steps[i].load.label, &other.summary.steps[i].load.label);
                if la != lb {
                    notes.push(format!("step {}: the loads differ ({la} and {lb})", i + 1));
                }
                for (metric, x, y) in [("e2e", &a.e2e, &b.e2e), ("ttft", &a.ttft, &b.ttft)] {
                    if x.is_empty() && y.is_empty() {
                        continue;
                    }
                    changes.push(change(i + 1, la.clone(), metric, x, y));
                }
            }
            if base.steps.len() != other.steps.len() {
                notes.push(format!(
                    "{} steps against {}: only the first {} are compared",
                    base.steps.len(),
                    other.steps.len(),
                    base.steps.len().min(other.steps.len())
                ));
            }
            Against {
                dir: other.dir.display().to_string(),
                changes,
                notes,
            }
        })
        .collect();
    BenchComparison {
        baseline: base.dir.display().to_string(),
        others,
    }
}

fn median(values: &mut [f64]) -> f64 {
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// At most [`MAX_SAMPLES`] values, evenly picked.
fn capped(values: &[f64]) -> Vec<f64> {
    let step = values.len().div_ceil(MAX_SAMPLES).max(1);
    values.iter().step_by(step).copied().collect()
}

fn change(step: usize, load: String, metric: &'static str, baseline: &[f64], other: &[f64]) -> Change {
    let (a, b) = (capped(baseline), capped(other));
    let mut result = Change {
        step,
        load,
        metric,
        baseline_p50_ms: if a.is_empty() { 0.0 } else { median(&mut a.clone()) },
        other_p50_ms: if b.is_empty() { 0.0 } else { median(&mut b.clone()) },
        change: 0.0,
        interval: (0.0, 0.0),
        confidence: 0.0,
        verdict: Verdict::Unknown,
    };
    if a.len() < 5 || b.len() < 5 || result.baseline_p50_ms <= 0.0 {
        return result;
    }
    let observed = (result.other_p50_ms - result.baseline_p50_ms) / result.baseline_p50_ms;
    let draws = bootstrap(&a, &b, step as u64);
    if draws.is_empty() {
        return result;
    }
    let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
    let tail = (1.0 - LEVEL) / 2.0;
    let interval = (at(tail), at(1.0 - tail));
    let same_side = draws
        .iter()
        .filter(|d| **d != 0.0 && d.signum() == observed.signum())
        .count();
    let excludes_zero = interval.0 > 0.0 || interval.1 < 0.0;
    result.change = observed;
    result.interval = interval;
    result.confidence = same_side as f64 / draws.len() as f64;
    result.verdict = match (excludes_zero && observed.abs() >= MIN_CHANGE, observed > 0.0) {
        (false, _) => Verdict::NoChange,
        (true, true) => Verdict::Slower,
        (true, false) => Verdict::Faster,
    };
    result
}

/// The relative change of the median over [`RESAMPLES`] resamples of both sides, sorted.
fn bootstrap(a: &[f64], b: &[f64], seed: u64) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut draws = Vec::with_capacity(RESAMPLES);
    let (mut ra, mut rb) = (vec![0.0; a.len()], vec![0.0; b.len()]);
    for _ in 0..RESAMPLES {
        for slot in ra.iter_mut() {
            *slot = a[rng.random_range(0..a.len())];
        }
        for slot in rb.iter_mut() {
            *slot = b[rng.random_range(0..b.len())];
        }
        let (ma, mb) = (median(&mut ra), median(&mut rb));
        if ma > 0.0 {
            draws.push((mb - ma) / ma);
        }
    }
    draws.sort_by(f64::total_cmp);
    draws
}
