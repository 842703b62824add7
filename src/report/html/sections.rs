//! The tables of `report.html`: latency percentiles, targets, pacing, errors, attempts.

use std::fmt::Write as _;

use super::super::fmt;
use super::{esc, row, table_end, table_start};
use crate::stats::summary::{ErrorScope, Percentiles, Summary};

fn percentile_cells(name: &str, p: &Percentiles) -> Vec<String> {
    let mut cells = vec![name.to_string(), fmt::int(p.count)];
    cells.extend([p.min, p.mean, p.p50, p.p90, p.p95, p.p99, p.p999, p.max].map(fmt::ms_number));
    cells
}

pub(super) fn latency(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"latency\">\n<h2>Latency (ms)</h2>\n");
    if s.latency_ms.count == 0 {
        out.push_str("<p class=\"note\">No item succeeded: no latency to report.</p>\n</section>\n");
        return;
    }
    table_start(
        out,
        1,
        &[
            "metric", "count", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max",
        ],
    );
    row(out, &percentile_cells("latency (e2e)", &s.latency_ms));
    for (name, p) in [("TTFT", &s.ttft_ms), ("ITL", &s.itl_ms), ("TPOT", &s.tpot_ms)] {
        if let Some(p) = p {
            row(out, &percentile_cells(name, p));
        }
    }
    table_end(out);
    out.push_str("</section>\n");
}

pub(super) fn targets(out: &mut String, s: &Summary) {
    if s.targets.is_empty() {
        return;
    }
    out.push_str("<section id=\"targets\">\n<h2>Targets</h2>\n");
    table_start(
        out,
        3,
        &[
            "target",
            "provider",
            "model",
            "requests",
            "succeeded",
            "failed requests",
            "failed items",
            "retries",
            "p50 ms",
            "p99 ms",
            "input tokens",
            "output tokens",
            "cost",
        ],
    );
    for t in &s.targets {
        let (p50, p99) = if t.latency_ms.count == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (fmt::ms_number(t.latency_ms.p50), fmt::ms_number(t.latency_ms.p99))
        };
        let provider = if t.provider.is_empty() {
            "-".to_string()
        } else {
            t.provider.clone()
        };
        row(
            out,
            &[
                t.name.clone(),
                provider,
                t.model.clone(),
                fmt::int(t.requests),
                fmt::int(t.succeeded),
                fmt::int(t.failed_requests),
                fmt::int(t.failed_items),
                fmt::int(t.retries),
                p50,
                p99,
                fmt::int(t.tokens.input),
                fmt::int(t.tokens.output),
                fmt::target_cost(t),
            ],
        );
    }
    table_end(out);
    table_start(
        out,
        1,
        &[
            "target",
            "fallbacks in",
            "fallbacks out",
            "breaker openings",
            "slowdowns after 429",
        ],
    );
    for t in &s.targets {
        let cells = [t.fallbacks_in, t.fallbacks_out, t.breaker_openings, t.slowdowns].map(fmt::int);
        row(out, &[vec![t.name.clone()], cells.to_vec()].concat());
    }
    table_end(out);
    out.push_str("</section>\n");
}

/// Why the run took the time it took, per target (only when some target met a limit).
pub(super) fn pacing(out: &mut String, s: &Summary) {
    let rows = crate::report::pacing::rows(s);
    if rows.is_empty() {
        return;
    }
    out.push_str("<section id=\"pacing\">\n<h2>Why the run took the time it took</h2>\n");
    table_start(out, 1, &crate::report::pacing::HEADERS);
    for cells in rows {
        row(out, &cells);
    }
    table_end(out);
    for note in crate::report::pacing::notes(s) {
        out.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&note)));
    }
    out.push_str(&format!(
        "<p class=\"note\">{}</p>\n</section>\n",
        esc(crate::report::pacing::EXPLANATION)
    ));
}

pub(super) fn errors(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"errors\">\n<h2>Errors</h2>\n");
    if s.errors.is_empty() {
        out.push_str("<p class=\"note\">No errors.</p>\n</section>\n");
        return;
    }
    for (scope, heading, unit) in [
        (
            ErrorScope::Items,
            "Items that failed for good (rejected input lines included)",
            "items",
        ),
        (
            ErrorScope::Attempts,
            "Every failed attempt (including those retried or moved to a fallback later)",
            "attempts",
        ),
    ] {
        let _ = writeln!(out, "<h3>{}</h3>", esc(heading));
        let rows = fmt::errors_of(&s.errors, scope);
        if rows.is_empty() {
            out.push_str("<p class=\"note\">None.</p>\n");
            continue;
        }
        table_start(out, 1, &["class", "HTTP status", unit]);
        for e in rows {
            let status = e.status.map_or_else(|| "-".to_string(), |s| s.to_string());
            row(out, &[e.class.to_string(), status, fmt::int(e.count)]);
        }
        table_end(out);
    }
    out.push_str("</section>\n");
}

pub(super) fn attempts(out: &mut String, s: &Summary) {
    let total: u64 = s.attempts_per_item.iter().sum();
    if total == 0 {
        return;
    }
    out.push_str("<section id=\"attempts\">\n<h2>Attempts per item</h2>\n");
    table_start(out, 0, &["attempts", "items", "share"]);
    for (k, &items) in s.attempts_per_item.iter().enumerate().filter(|(_, &n)| n > 0) {
        let share = format!("{:.1}%", 100.0 * items as f64 / total as f64);
        row(out, &[(k + 1).to_string(), fmt::int(items), share]);
    }
    table_end(out);
    out.push_str("</section>\n");
}
