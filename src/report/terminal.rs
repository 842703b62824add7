//! The compact plain-text summary printed at the end of a run (no colours, fits 80 columns).

use std::fmt::Write as _;

use super::fmt;
use crate::stats::summary::{ErrorScope, Percentiles, Summary};

/// Lines are kept to this width where the data allows.
const WIDTH: usize = 80;
/// Target names longer than this are cut with an ellipsis.
const NAME_WIDTH: usize = 24;

/// Renders the end-of-run summary.
pub fn render(s: &Summary) -> String {
    let t = &s.totals;
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        let _ = writeln!(out, "{label:<10}{text}");
    };

    line("sheepdog", single_line(&s.job.input));
    if let Some(reason) = &s.job.aborted {
        line("ABORTED", single_line(reason));
    }
    line(
        "items",
        format!(
            "{} ok, {} failed, {} rejected, {} unsent · success {}",
            fmt::int(t.succeeded),
            fmt::int(t.failed),
            fmt::int(t.rejected),
            fmt::int(t.unsent),
            fmt::pct(t.success_rate),
        ),
    );
    line(
        "time",
        format!(
            "{} · {} items/s · {} ({}, {})",
            fmt::duration_s(s.job.duration_s),
            fmt::per_s(t.items_per_s),
            fmt::count(t.requests, "request", "requests"),
            fmt::count(t.retries, "retry", "retries"),
            fmt::count(t.fallbacks, "fallback", "fallbacks"),
        ),
    );
    if s.latency_ms.count == 0 && s.cache.hits > 0 {
        line("latency", "only cache hits (not measured)".to_string());
    } else if s.latency_ms.count == 0 && s.batch_latency_ms.is_some() {
        line(
            "latency",
            "no live request: the items went through the Batch API (its latency below)".to_string(),
        );
    } else if s.latency_ms.count == 0 {
        line("latency", "no item succeeded".to_string());
    } else {
        line("latency", percentiles(&s.latency_ms));
    }
    if let Some(ttft) = &s.ttft_ms {
        line("ttft", percentiles(ttft));
    }
    line(
        "tokens",
        format!(
            "in {} ({} cached) · out {}",
            fmt::int(s.tokens.input),
            fmt::int(s.tokens.cached_input),
            fmt::int(s.tokens.output),
        ),
    );
    line("cost", fmt::cost(&s.cost));
    if let Some(budget) = &s.budget {
        line("budget", budget.describe());
    }
    if s.cache.hits > 0 {
        let (hits, saved) = (fmt::int(s.cache.hits), fmt::usd(s.cache.saved_usd));
        line(
            "cache",
            format!("{hits} answers from the cache (no request) · saved {saved}"),
        );
    }
    for (scope, label) in [(ErrorScope::Items, "errors"), (ErrorScope::Attempts, "failed")] {
        let rows = fmt::errors_of(&s.errors, scope);
        if !rows.is_empty() {
            let items: Vec<String> = rows
                .iter()
                .map(|e| format!("{} ({})", fmt::error_label(e), fmt::int(e.count)))
                .collect();
            line(label, fit_list(&items, WIDTH - 10));
        }
    }
    targets(&mut out, s);
    for row in super::pacing::rows(s) {
        let _ = writeln!(
            out,
            "  {}: limit {} · waits {} paced, {} Retry-After, {} breaker · 429s {} limit, {} noise",
            truncate(&single_line(&row[0]), NAME_WIDTH),
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6]
        );
    }
    out
}

fn single_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn percentiles(p: &Percentiles) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  max {}",
        fmt::ms_short(p.p50),
        fmt::ms_short(p.p90),
        fmt::ms_short(p.p99),
        fmt::ms_short(p.max),
    )
}

/// Joins as many items as fit in `width`, then `+N more`.
fn fit_list(items: &[String], width: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let rest = items.len() - i - 1;
        let more = if rest == 0 {
            String::new()
        } else {
            format!(", +{rest} more")
        };
        let sep = if out.is_empty() { "" } else { ", " };
        if i > 0 && out.len() + sep.len() + item.len() + more.len() > width {
            let _ = write!(out, ", +{} more", items.len() - i);
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

/// Cuts `text` to `width` characters, marking the cut with `…`.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// One aligned row per target: name, requests, answered items, failed requests, p50, cost.
fn targets(out: &mut String, s: &Summary) {
    if s.targets.is_empty() {
        return;
    }
    let mut rows = vec![[
        "target".to_string(),
        "requests".to_string(),
        "ok".to_string(),
        "failed".to_string(),
        "p50".to_string(),
        "cost".to_string(),
    ]];
    for t in &s.targets {
        let p50 = if t.latency_ms.count == 0 {
            "-".to_string()
        } else {
            fmt::ms_short(t.latency_ms.p50)
        };
        rows.push([
            truncate(&single_line(&t.name), NAME_WIDTH),
            fmt::int(t.requests),
            fmt::int(t.succeeded),
            fmt::int(t.failed_requests),
            p50,
            fmt::target_cost(t),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in &rows {
        let mut text = String::from("  ");
        for (i, (c, &w)) in row.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 {
                text.push_str(c);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str("  ");
                text.push_str(&" ".repeat(pad));
                text.push_str(c);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    #[test]
    fn shows_counts_latency_tokens_cost_and_errors() {
        let text = render(&fixture::summary());
        for needle in [
            "sheepdog  jobs/sample.jsonl",
            "items     5 ok, 2 failed, 1 rejected, 0 unsent · success 71.4%",
            "time      2.00 s · 3.50 items/s · 11 requests (3 retries, 1 fallback)",
            "latency   p50 300ms",
            "ttft      p50 20.0ms",
            "tokens    in 4,600 (300 cached) · out 460",
            "cost      $0.007500 + no price for 1 request (llama-free)",
            "errors    timeout (1), bad_request 400 (1), invalid_input (1)",
            "failed    timeout (2), server_error 503 (2), rate_limited 429 (1), +1 more\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let local = text.lines().find(|l| l.starts_with("  local")).unwrap();
        assert!(local.ends_with("no price"), "{local}");
        let deepseek = text.lines().find(|l| l.starts_with("  deepseek")).unwrap();
        assert!(deepseek.ends_with("$0.003500"), "{deepseek}");
    }

    #[test]
    fn fits_80_columns_and_stays_short() {
        let mut s = fixture::summary();
        s.targets[0].name = "a-very-long-target-name-that-goes-on-and-on".into();
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!((10..=20).contains(&lines.len()), "{} lines:\n{text}", lines.len());
        for l in &lines {
            assert!(l.chars().count() <= WIDTH, "too wide: {l:?}");
        }
        assert!(text.contains("a-very-long-target-name…"), "{text}");
        assert!(!text.contains('\x1b'), "no ANSI escapes");
    }

    #[test]
    fn target_columns_are_aligned() {
        let text = render(&fixture::summary());
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(rows.len(), 4, "{text}");
        // Right-aligned columns: every row ends its `requests` column at the same place.
        let ends: Vec<usize> = rows
            .iter()
            .map(|r| r.find("requests").map_or(0, |i| i + "requests".len()))
            .collect();
        let header_end = ends[0];
        for r in &rows[1..] {
            let before: String = r.chars().take(header_end).collect();
            assert!(before.ends_with(|c: char| c.is_ascii_digit()), "{r:?}\n{text}");
        }
    }

    #[test]
    fn fit_list_stops_with_a_count_of_the_rest() {
        let items: Vec<String> = (0..10).map(|i| format!("error_class_{i} (1)")).collect();
        let text = fit_list(&items, 70);
        assert!(text.len() <= 70, "{text}");
        assert!(text.ends_with(" more"), "{text}");
        assert_eq!(fit_list(&items[..1], 70), "error_class_0 (1)");
    }

    #[test]
    fn a_run_of_batch_items_only_does_not_say_that_nothing_succeeded() {
        let mut summary = fixture::empty_summary();
        summary.batch_latency_ms = Some(crate::stats::summary::Percentiles {
            count: 2,
            ..Default::default()
        });
        let text = render(&summary);
        assert!(
            text.contains("latency   no live request: the items went through the Batch API"),
            "{text}"
        );
        assert!(!text.contains("no item succeeded"), "{text}");
    }

    #[test]
    fn empty_run_renders_without_nan() {
        let text = render(&fixture::empty_summary());
        assert!(text.contains("latency   no item succeeded"), "{text}");
        assert!(text.contains("success 0.0%"), "{text}");
        assert!(!text.contains("NaN") && !text.contains("n/a"), "{text}");
    }

    #[test]
    fn aborted_reason_comes_second() {
        let mut s = fixture::summary();
        s.job.aborted = Some("insufficient_quota on every target".into());
        let text = render(&s);
        assert_eq!(
            text.lines().nth(1),
            Some("ABORTED   insufficient_quota on every target")
        );
    }
}
