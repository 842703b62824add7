use super::render::{render, Format};
use super::*;
use crate::stats::fixture;

fn run(dir: &str, summary: Summary, outputs: &[(&str, u64)]) -> Run {
    Run {
        dir: PathBuf::from(dir),
        summary,
        outputs: outputs.iter().map(|(id, n)| (id_hash(id), *n)).collect(),
    }
}

fn row<'a>(c: &'a Comparison, metric: &str) -> &'a Row {
    c.rows.iter().find(|r| r.metric == metric).unwrap_or_else(|| {
        panic!(
            "no row {metric}: {:?}",
            c.rows.iter().map(|r| &r.metric).collect::<Vec<_>>()
        )
    })
}

/// Two runs: the second is faster, cheaper and succeeds more.
fn pair() -> Vec<Run> {
    let slow = fixture::summary();
    let mut fast = fixture::summary();
    fast.latency_ms.p50 /= 2.0;
    fast.latency_ms.p95 /= 2.0;
    fast.latency_ms.p99 /= 2.0;
    fast.cost = crate::stats::summary::Cost {
        total_usd: 0.001,
        unpriced_requests: 0,
        unpriced_models: vec![],
    };
    fast.totals.succeeded = 7;
    fast.totals.failed = 0;
    fast.totals.success_rate = 1.0;
    let mut slow = slow;
    slow.cost.unpriced_requests = 0;
    vec![
        run("reports/a", slow, &[("x", 100), ("y", 50), ("z", 10)]),
        run("reports/b", fast, &[("x", 200), ("y", 50), ("w", 5)]),
    ]
}

#[test]
fn the_better_side_is_marked_in_each_row() {
    let c = compare(&pair());
    assert_eq!(row(&c, "latency p50").best, [1]);
    assert_eq!(row(&c, "latency p99").best, [1]);
    assert_eq!(row(&c, "cost").best, [1]);
    assert_eq!(row(&c, "cost per 1,000 requests").best, [1]);
    assert_eq!(row(&c, "success rate").best, [1]);
    assert_eq!(row(&c, "failed items").best, [1]);
    // Equal values and informative rows are not marked.
    assert!(row(&c, "items attempted").best.is_empty());
    assert!(row(&c, "retries").best.is_empty());
    assert!(row(&c, "output tokens").best.is_empty());
}

#[test]
fn output_ratio_is_per_item_over_matched_ids() {
    let c = compare(&pair());
    assert_eq!(row(&c, "items matched").values, [Some(3.0), Some(2.0)]);
    // Ratios 2.0 (x) and 1.0 (y).
    assert_eq!(row(&c, "output tokens vs first, p10").values, [Some(1.0), Some(1.0)]);
    assert_eq!(row(&c, "output tokens vs first, p90").values, [Some(1.0), Some(2.0)]);
    assert_eq!(row(&c, "output tokens vs first, p90").shown[1], "2.00×");
}

#[test]
fn errors_by_class_get_a_row_each() {
    let c = compare(&pair());
    let timeout = row(&c, "failed items: timeout");
    assert_eq!(timeout.values, [Some(1.0), Some(1.0)]);
    assert!(row(&c, "failed requests: server_error 503").values[0] == Some(2.0));
}

#[test]
fn unpriced_runs_are_not_ranked_on_cost() {
    let mut runs = pair();
    runs[1].summary.cost.unpriced_requests = 2;
    runs[1].summary.cost.unpriced_models = vec!["llama".into()];
    let c = compare(&runs);
    assert_eq!(row(&c, "cost").values[1], None);
    assert!(row(&c, "cost").best.is_empty());
    assert!(
        c.notes.iter().any(|n| n.contains("no price for 2 requests (llama)")),
        "{:?}",
        c.notes
    );
}

#[test]
fn renderings_mark_the_same_cells() {
    let c = compare(&pair());
    let text = render(&c, Format::Text);
    let p50 = text
        .lines()
        .find(|l| l.trim_start().starts_with("latency p50"))
        .unwrap();
    assert!(p50.trim_end().ends_with('*'), "{p50}");
    assert!(text.contains("[2] b  reports/b"), "{text}");
    let md = render(&c, Format::Markdown);
    let p50 = md.lines().find(|l| l.starts_with("| latency p50 |")).unwrap();
    assert!(p50.ends_with("| **150ms** |"), "{p50}");
    let json: serde_json::Value = serde_json::from_str(&render(&c, Format::Json)).unwrap();
    let cost = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "cost")
        .unwrap();
    assert_eq!(cost["best"], serde_json::json!([1]));
    assert_eq!(cost["better"], "lower");
}

#[test]
fn same_folder_names_are_told_apart_by_path() {
    let mut runs = pair();
    runs[0].dir = PathBuf::from("x/run");
    runs[1].dir = PathBuf::from("y/run");
    let c = compare(&runs);
    assert_eq!(c.runs[0].label, "x/run");
    assert_eq!(c.runs[1].label, "y/run");
}

#[test]
fn a_folder_without_summary_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(err.contains("summary.json"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}
