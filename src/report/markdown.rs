//! `report.md`: the full human-readable report, with the metric definitions it relies on.

use std::fmt::Write as _;

use super::fmt::{self, md_cell};
use crate::stats::summary::{ErrorScope, Percentiles, Summary};

/// Renders the Markdown report.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    title(&mut out, s);
    out.push_str(&crate::report::thresholds::markdown(&s.thresholds));
    totals(&mut out, s);
    latency(&mut out, s);
    tokens_and_cost(&mut out, s);
    if let Some(batch) = &s.batch_api {
        out.push_str(&crate::batch_api::summary::markdown(batch, s.batch_latency_ms.as_ref()));
    }
    targets(&mut out, s);
    pacing(&mut out, s);
    errors(&mut out, s);
    attempts(&mut out, s);
    out.push_str(DEFINITIONS);
    out
}

const DEFINITIONS: &str = "\
## Metric definitions

- **latency (e2e)**: request sent → last byte of the response of the final successful attempt \
of each succeeded item. Per target: every successful attempt at that target.
- **TTFT** (time to first token): request sent → first content chunk, for streamed requests only.
- **success rate**: items with a 2xx final result / items attempted. Retries and fallbacks are \
counted separately, never hidden in success. Rejected input lines and unsent items are not \
attempted.
- **retries**: repeated tries of an item at the same target; **fallbacks**: moves of an item to \
the next target of its route (its first try there is not a retry).
- **cost**: (input − cached) × input price + cached × cached price + output × output price, from \
the price table of the target that answered, in USD per 1M tokens. Requests whose model has no \
price are reported as \"no price\", never as $0.
- Percentiles come from HdrHistograms (3 significant figures, so within 0.1%).
";

fn title(out: &mut String, s: &Summary) {
    let job = &s.job;
    let _ = writeln!(out, "# sheepdog report: {}\n", md_cell(&job.input));
    let _ = writeln!(
        out,
        "{} → {} ({}) · run folder `{}` · sheepdog {}\n",
        md_cell(&job.started_at),
        md_cell(&job.finished_at),
        fmt::duration_s(job.duration_s),
        md_cell(&job.out_dir),
        md_cell(&s.sheepdog_version),
    );
    if let Some(reason) = &job.aborted {
        let _ = writeln!(out, "> **Aborted:** {}\n", md_cell(reason));
    }
    if let Some(budget) = &s.budget {
        let _ = writeln!(out, "Budget (`--max-cost`): {}\n", md_cell(&budget.describe()));
    }
}

fn totals(out: &mut String, s: &Summary) {
    let t = &s.totals;
    let rows = [
        ("Input lines", fmt::int(t.lines)),
        ("Items attempted", fmt::int(t.attempted)),
        ("Succeeded", fmt::int(t.succeeded)),
        ("Failed", fmt::int(t.failed)),
        ("Rejected (not sent)", fmt::int(t.rejected)),
        ("Unsent (run stopped early)", fmt::int(t.unsent)),
        ("Success rate", fmt::pct(t.success_rate)),
        ("Requests", fmt::int(t.requests)),
        ("Retries", fmt::int(t.retries)),
        ("Fallbacks", fmt::int(t.fallbacks)),
        ("Items/s", fmt::per_s(t.items_per_s)),
        ("Requests/s", fmt::per_s(t.requests_per_s)),
        ("Duration", fmt::duration_s(s.job.duration_s)),
    ];
    out.push_str("## Totals\n\n| | |\n|---|---:|\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');
}

fn percentile_row(out: &mut String, name: &str, p: &Percentiles) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        fmt::int(p.count),
        fmt::ms_number(p.min),
        fmt::ms_number(p.mean),
        fmt::ms_number(p.p50),
        fmt::ms_number(p.p90),
        fmt::ms_number(p.p95),
        fmt::ms_number(p.p99),
        fmt::ms_number(p.p999),
        fmt::ms_number(p.max),
    );
}

fn latency(out: &mut String, s: &Summary) {
    out.push_str("## Latency (ms)\n\n");
    if s.latency_ms.count == 0 {
        out.push_str("No item succeeded: no latency to report.\n\n");
        return;
    }
    out.push_str(
        "| metric | count | min | mean | p50 | p90 | p95 | p99 | p99.9 | max |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    percentile_row(out, "latency (e2e)", &s.latency_ms);
    if let Some(ttft) = &s.ttft_ms {
        percentile_row(out, "TTFT", ttft);
    }
    if let Some(itl) = &s.itl_ms {
        percentile_row(out, "ITL", itl);
    }
    if let Some(tpot) = &s.tpot_ms {
        percentile_row(out, "TPOT", tpot);
    }
    out.push('\n');
    if s.itl_ms.is_some() || s.tpot_ms.is_some() {
        out.push_str(
            "ITL: (last token time − first token time) / (output tokens − 1); TPOT: \
             (e2e − TTFT) / (output tokens − 1); streamed answers of 2 tokens or more.\n\n",
        );
    }
    if s.output_tokens_estimated > 0 {
        let _ = writeln!(
            out,
            "{} streamed answers came without `usage`: their tokens were counted with the tokenizer \
             (estimates).\n",
            fmt::int(s.output_tokens_estimated)
        );
    }
}

fn tokens_and_cost(out: &mut String, s: &Summary) {
    let t = &s.tokens;
    out.push_str("## Tokens and cost\n\n| | |\n|---|---:|\n");
    let _ = writeln!(out, "| Input tokens | {} |", fmt::int(t.input));
    let _ = writeln!(out, "| of which cached | {} |", fmt::int(t.cached_input));
    let _ = writeln!(out, "| Output tokens | {} |", fmt::int(t.output));
    if s.cache.hits > 0 {
        let hits = fmt::int(s.cache.hits);
        let _ = writeln!(out, "| Answers from the cache (not sent) | {hits} |");
        let _ = writeln!(out, "| Saved by the cache | {} |", fmt::usd(s.cache.saved_usd));
    }
    let c = &s.cost;
    if c.unpriced_requests == 0 {
        let _ = writeln!(out, "| Cost | {} |", fmt::usd(c.total_usd));
    } else {
        let priced = if c.total_usd == 0.0 {
            "no price".to_string()
        } else {
            format!("{} (priced requests only)", fmt::usd(c.total_usd))
        };
        let _ = writeln!(out, "| Cost | {priced} |");
        let _ = writeln!(out, "| Requests with no price | {} |", fmt::int(c.unpriced_requests));
        let models = c
            .unpriced_models
            .iter()
            .map(|m| format!("`{}`", md_cell(m)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(out, "| Models with no price | {models} |");
    }
    out.push('\n');
}

fn targets(out: &mut String, s: &Summary) {
    if s.targets.is_empty() {
        return;
    }
    out.push_str(
        "## Targets\n\n\
         | target | provider | model | requests | succeeded | failed requests | failed items \
         | retries | p50 ms | p99 ms | input tokens | output tokens | cost |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for t in &s.targets {
        let provider = if t.provider.is_empty() {
            "-".to_string()
        } else {
            md_cell(&t.provider)
        };
        let (p50, p99) = if t.latency_ms.count == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (fmt::ms_number(t.latency_ms.p50), fmt::ms_number(t.latency_ms.p99))
        };
        let _ = writeln!(
            out,
            "| {} | {provider} | {} | {} | {} | {} | {} | {} | {p50} | {p99} | {} | {} | {} |",
            md_cell(&t.name),
            md_cell(&t.model),
            fmt::int(t.requests),
            fmt::int(t.succeeded),
            fmt::int(t.failed_requests),
            fmt::int(t.failed_items),
            fmt::int(t.retries),
            fmt::int(t.tokens.input),
            fmt::int(t.tokens.output),
            fmt::target_cost(t),
        );
    }
    out.push('\n');
    out.push_str(
        "| target | fallbacks in | fallbacks out | breaker openings | slowdowns after 429 |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for t in &s.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            md_cell(&t.name),
            fmt::int(t.fallbacks_in),
            fmt::int(t.fallbacks_out),
            fmt::int(t.breaker_openings),
            fmt::int(t.slowdowns),
        );
    }
    out.push('\n');
}

/// Why the run took the time it took, per target (only when some target met a limit).
fn pacing(out: &mut String, s: &Summary) {
    let rows = super::pacing::rows(s);
    if rows.is_empty() {
        return;
    }
    out.push_str(
        "## Why the run took the time it took

",
    );
    let _ = writeln!(out, "| {} |", super::pacing::HEADERS.join(" | "));
    out.push_str(
        "|---|---:|---:|---:|---:|---:|---:|
",
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    for note in super::pacing::notes(s) {
        let _ = writeln!(out, "- {}", md_cell(&note));
    }
    let _ = writeln!(out, "\n{}\n", super::pacing::EXPLANATION);
}

fn errors(out: &mut String, s: &Summary) {
    out.push_str("## Errors\n\n");
    if s.errors.is_empty() {
        out.push_str("No errors.\n\n");
        return;
    }
    let tables = [
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
    ];
    for (scope, heading, unit) in tables {
        let rows = fmt::errors_of(&s.errors, scope);
        let _ = writeln!(out, "### {heading}\n");
        if rows.is_empty() {
            out.push_str("None.\n\n");
            continue;
        }
        let _ = writeln!(out, "| class | HTTP status | {unit} |\n|---|---:|---:|");
        for e in rows {
            let status = e.status.map_or_else(|| "-".to_string(), |s| s.to_string());
            let _ = writeln!(out, "| {} | {status} | {} |", e.class, fmt::int(e.count));
        }
        out.push('\n');
    }
}

fn attempts(out: &mut String, s: &Summary) {
    let total: u64 = s.attempts_per_item.iter().sum();
    if total == 0 {
        return;
    }
    out.push_str("## Attempts per item\n\n| attempts | items | share |\n|---:|---:|---:|\n");
    for (k, &items) in s.attempts_per_item.iter().enumerate() {
        if items == 0 {
            continue;
        }
        let share = 100.0 * items as f64 / total as f64;
        let _ = writeln!(out, "| {} | {} | {share:.1}% |", k + 1, fmt::int(items));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    #[test]
    fn contains_the_key_figures() {
        let md = render(&fixture::summary());
        for needle in [
            "# sheepdog report: jobs/sample.jsonl",
            "2025-01-01T00:00:00Z → 2025-01-01T00:00:02Z (2.00 s)",
            "| Input lines | 8 |",
            "| Items attempted | 7 |",
            "| Succeeded | 5 |",
            "| Failed | 2 |",
            "| Rejected (not sent) | 1 |",
            "| Unsent (run stopped early) | 0 |",
            "| Success rate | 71.4% |",
            "| Requests | 11 |",
            "| Retries | 3 |",
            "| Fallbacks | 1 |",
            "| Items/s | 3.50 |",
            "| Input tokens | 4,600 |",
            "| of which cached | 300 |",
            "| Output tokens | 460 |",
            "| Cost | $0.007500 (priced requests only) |",
            "| Requests with no price | 1 |",
            "| Models with no price | `llama-free` |",
            "| deepseek | holysheep | deepseek-chat | 8 | 3 | 5 | 1 | 3 |",
            "| $0.003500 |",
            "| local | local | llama-free | 1 | 1 | 0 | 0 | 0 |",
            "| server_error | 503 | 2 |",
            "| invalid_input | - | 1 |",
            "| 2 | 2 | 28.6% |",
            "| 3 | 1 | 14.3% |",
            "## Metric definitions",
            "request sent → last byte of the response of the final successful attempt",
            "request sent → first content chunk",
            "items with a 2xx final result / items attempted",
            "(input − cached) × input price + cached × cached price + output × output price",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        let local_row = md.lines().find(|l| l.starts_with("| local |")).unwrap();
        assert!(local_row.ends_with("| no price |"), "{local_row}");
        assert!(!local_row.contains('$'), "{local_row}");
    }

    #[test]
    fn latency_table_has_e2e_and_ttft_rows() {
        let md = render(&fixture::summary());
        let e2e = md.lines().find(|l| l.starts_with("| latency (e2e) |")).unwrap();
        // count 5, min 100 ms ... max 500 ms (HdrHistogram keeps 3 significant figures).
        assert!(e2e.starts_with("| latency (e2e) | 5 | 100.0 |"), "{e2e}");
        assert!(e2e.ends_with("| 500.2 |") || e2e.ends_with("| 500.0 |"), "{e2e}");
        let ttft = md.lines().find(|l| l.starts_with("| TTFT |")).unwrap();
        assert!(ttft.starts_with("| TTFT | 2 | 20.0 |"), "{ttft}");
    }

    #[test]
    fn all_unpriced_cost_says_no_price_never_zero_dollars() {
        let mut s = fixture::summary();
        s.cost.total_usd = 0.0;
        let md = render(&s);
        assert!(md.contains("| Cost | no price |"), "{md}");
        assert!(!md.contains("$0.00 "), "{md}");
    }

    #[test]
    fn aborted_reason_is_shown() {
        let mut s = fixture::summary();
        s.job.aborted = Some("auth | invalid key\non every target".into());
        let md = render(&s);
        assert!(
            md.contains("> **Aborted:** auth \\| invalid key on every target"),
            "{md}"
        );
        assert!(!render(&fixture::summary()).contains("Aborted"));
    }

    #[test]
    fn empty_run_renders_without_nan() {
        let md = render(&fixture::empty_summary());
        assert!(md.contains("| Success rate | 0.0% |"), "{md}");
        assert!(md.contains("No item succeeded"), "{md}");
        assert!(md.contains("No errors."), "{md}");
        assert!(md.contains("## Metric definitions"));
        assert!(!md.contains("NaN") && !md.contains("n/a"), "{md}");
    }
}
