//! Rows that compare runs item by item: ratios of latency and cost over the items every run
//! answered.

use super::*;

/// Per-item ratio of output tokens of each run to the first, over the items both answered.
pub(super) fn ratio_rows(runs: &[Run], push: &mut Push<'_>, notes: &mut Vec<String>) {
    let base = &runs[0].outputs;
    let mut stats: Vec<Option<RatioStats>> = vec![None];
    for (i, run) in runs.iter().enumerate().skip(1) {
        let mut ratios: Vec<f64> = base
            .iter()
            .filter(|(_, &b)| b > 0)
            .filter_map(|(id, &b)| run.outputs.get(id).map(|&o| o as f64 / b as f64))
            .collect();
        if ratios.is_empty() {
            notes.push(format!(
                "{}: no item answered in both it and {} (matched by custom_id): no output token ratio",
                label(runs, i),
                label(runs, 0)
            ));
            stats.push(None);
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        stats.push(Some(RatioStats {
            matched: ratios.len() as u64,
            p10: at(0.1),
            p50: at(0.5),
            p90: at(0.9),
        }));
    }
    let ratio = |v: f64| format!("{v:.2}×");
    let first = |f: fn(&RatioStats) -> f64| {
        stats
            .iter()
            .enumerate()
            .map(|(i, s)| if i == 0 { Some(1.0) } else { s.as_ref().map(f) })
            .collect::<Vec<_>>()
    };
    push(
        "output ratio",
        "items matched".into(),
        Better::Neither,
        stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    Some(runs[0].outputs.len() as f64)
                } else {
                    s.as_ref().map(|s| s.matched as f64)
                }
            })
            .collect(),
        &|v| crate::report::fmt::int(v as u64),
    );
    push(
        "output ratio",
        "output tokens vs first, p10".into(),
        Better::Neither,
        first(|s| s.p10),
        &ratio,
    );
    push(
        "output ratio",
        "output tokens vs first, p50".into(),
        Better::Neither,
        first(|s| s.p50),
        &ratio,
    );
    push(
        "output ratio",
        "output tokens vs first, p90".into(),
        Better::Neither,
        first(|s| s.p90),
        &ratio,
    );
}

struct RatioStats {
    matched: u64,
    p10: f64,
    p50: f64,
    p90: f64,
}
