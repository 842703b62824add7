//! Tests of the HTML report.

use super::*;
use crate::stats::fixture;

#[test]
fn page_is_self_contained() {
    let page = render(&fixture::summary());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    for forbidden in ["<script", "<link", "@import", "url(", "http://", "https://", "src="] {
        let outside_svg_namespace = page.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !outside_svg_namespace.contains(forbidden),
            "page loads something: {forbidden}"
        );
    }
}

#[test]
fn page_has_summary_tables_and_every_chart() {
    let page = render(&fixture::summary());
    for needle in [
        "<title>sheepdog report: jobs/sample.jsonl</title>",
        "71.4%",
        "5 of 7 items",
        "<td>deepseek</td><td>holysheep</td><td>deepseek-chat</td>",
        "<td>no price</td>",
        "<td>server_error</td><td>503</td><td>2</td>",
        "id=\"definitions\"",
    ] {
        assert!(page.contains(needle), "missing {needle:?}");
    }
    for id in [
        "latency-histogram",
        "latency-cdf",
        "ttft-cdf",
        "throughput-over-time",
        "cost-by-target",
    ] {
        let start = page
            .find(&format!("id=\"chart-{id}\""))
            .unwrap_or_else(|| panic!("no chart {id}"));
        let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg"), "chart {id} has no svg");
    }
}

#[test]
fn text_from_the_run_is_escaped() {
    let mut s = fixture::summary();
    s.job.input = "<script>alert(1)</script>.jsonl".into();
    s.job.aborted = Some("a & b <c>".into());
    s.targets[0].name = "\"><img>".into();
    let page = render(&s);
    assert!(!page.contains("<script>alert"), "input not escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;.jsonl"));
    assert!(page.contains("a &amp; b &lt;c&gt;"));
    assert!(!page.contains("\"><img>"));
}

#[test]
fn empty_run_renders_without_charts_or_nan() {
    let page = render(&fixture::empty_summary());
    assert!(page.contains("Nothing to draw"), "{page}");
    assert!(!page.contains("NaN") && !page.contains(">inf"), "{page}");
}

fn budget(spent: f64, reached: bool) -> crate::stats::BudgetReport {
    crate::stats::BudgetReport {
        limit: 25.0,
        currency: "USD".into(),
        spent,
        spent_before: 0.0,
        reached,
    }
}

#[test]
fn the_budget_is_shown_when_the_run_had_one() {
    let mut s = fixture::summary();
    assert!(!render(&s).contains("Budget"), "no --max-cost, no budget");
    s.budget = Some(budget(12.5, false));
    let page = render(&s);
    assert!(page.contains("id=\"budget\""), "{page}");
    assert!(page.contains("$12.50 of $25.00 spent"), "{page}");
    assert!(page.contains("<div class=\"label\">Budget spent</div><div class=\"value\">$12.50</div>"));
    assert!(page.contains("of $25.00 (--max-cost)"));
    assert!(!page.contains("reached"));

    s.budget = Some(budget(24.91, true));
    let page = render(&s);
    assert!(
        page.contains("<div class=\"card bad\"><div class=\"label\">Budget spent</div>"),
        "{page}"
    );
    assert!(page.contains("of $25.00: reached, sending stopped"));
    assert!(page.contains("reached: the next request could have passed it, so sending stopped"));
}

#[test]
fn the_cached_input_share_is_shown_when_the_provider_cached_any() {
    let mut s = fixture::summary();
    // 300 of the fixture's 4,600 input tokens came from the prompt cache.
    let page = render(&s);
    assert!(
        page.contains("<div class=\"label\">Cached input</div><div class=\"value\">6.5%</div>"),
        "{page}"
    );
    assert!(page.contains("300 of 4,600 input tokens from the prompt cache"));
    s.tokens.cached_input = 0;
    assert!(!render(&s).contains("Cached input"));
}
