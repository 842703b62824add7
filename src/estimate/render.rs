//! The estimate as a terminal table, Markdown or JSON: pure functions of [`Estimate`].

use std::fmt::Write as _;

use super::{Estimate, Row};
use crate::pricing::currency::Money;
use crate::report::fmt::{aligned, md_cell};

pub use crate::report::TableFormat as Format;

pub fn render(e: &Estimate, format: Format) -> String {
    match format {
        Format::Text => text(e),
        Format::Markdown => markdown(e),
        Format::Json => json(e),
    }
}

/// Pretty JSON with a trailing newline.
pub fn json(e: &Estimate) -> String {
    // Serializing plain data to a String cannot fail.
    let mut text = serde_json::to_string_pretty(e).unwrap_or_default();
    text.push('\n');
    text
}

fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn money(e: &Estimate) -> Money {
    Money {
        currency: e.currency.clone(),
        fx: e.fx,
    }
}

/// The lines explaining how the figures were obtained.
fn notes(e: &Estimate) -> Vec<String> {
    let mut notes = Vec::new();
    notes.push(format!(
        "{} requests from {} lines{}.",
        int(e.requests),
        int(e.lines),
        if e.rejected > 0 {
            let lines = if e.rejected == 1 { "line" } else { "lines" };
            format!(" ({} invalid {lines} not counted)", int(e.rejected))
        } else {
            String::new()
        }
    ));
    notes.push(match (e.output_source, &e.output_measured, e.output_tokens_fixed) {
        ("fixed", _, Some(n)) => format!("Output tokens: {n} per request (--output-tokens)."),
        ("measured", Some(m), _) => {
            let spread = match (m.p50, m.p90) {
                (Some(p50), Some(p90)) => format!(", p50 {p50}, p90 {p90}"),
                _ => String::new(),
            };
            format!(
                "Output tokens: {:.1} per request, the mean over {} answered items of run {}{spread}.",
                m.mean,
                int(m.items),
                m.run
            )
        }
        _ if e.lines_without_max_tokens > 0 => format!(
            "Output tokens: each line's max_tokens (an upper bound); {} lines without max_tokens count 0 \
             — give --output-tokens N or --from-run DIR for those.",
            int(e.lines_without_max_tokens)
        ),
        _ => "Output tokens: each line's max_tokens (an upper bound).".to_string(),
    });
    if e.input_only_requests > 0 {
        notes.push(format!(
            "{} embedding and moderation requests: input tokens only, no output tokens.",
            int(e.input_only_requests)
        ));
    }
    if e.rows.iter().any(|r| r.approximate) {
        notes.push(
            "~ approximate input tokens: not an OpenAI model, so cl100k_base stands in for its own tokenizer.".into(),
        );
    }
    for r in e.rows.iter().filter(|r| r.tiered_requests > 0) {
        let lowest = r
            .price
            .as_ref()
            .and_then(|p| p.tiers.first())
            .map_or(0, |t| t.above_tokens);
        let requests = if r.tiered_requests == 1 { "request" } else { "requests" };
        notes.push(format!(
            "{}: {} {requests} with a prompt above {} tokens priced at the model's size tier, all their tokens.",
            r.label,
            int(r.tiered_requests),
            int(lowest)
        ));
    }
    if e.currency != crate::pricing::currency::USD {
        notes.push(format!("Amounts in {} at {} {} per USD.", e.currency, e.fx, e.currency));
    }
    for r in e.rows.iter().filter(|r| r.billing.is_some()) {
        if let Some(b) = &r.billing {
            notes.push(format!(
                "{}: provider {} bills {} {} per USD of list price.",
                r.label,
                r.provider.as_deref().unwrap_or("?"),
                b.per_usd,
                b.currency
            ));
        }
    }
    if e.cache_hit_rate > 0.0 {
        notes.push(format!(
            "cached: {:.0}% of input tokens at the cached-input price.",
            e.cache_hit_rate * 100.0
        ));
    }
    notes
}

fn price_line(r: &Row) -> String {
    match &r.price {
        None => format!(
            "{}: no price (add one with [prices.\"{}\"] or --prices FILE)",
            r.model, r.model
        ),
        Some(p) => {
            let batch = match (p.batch_input, p.batch_output) {
                (Some(i), Some(o)) => format!(", batch {i} / {o}"),
                _ => String::new(),
            };
            let date = if p.date.is_empty() {
                String::new()
            } else {
                format!(", {}", p.date)
            };
            format!(
                "{}: {} / {} / {}{batch} USD per 1M (in / cached / out) — {}{date}",
                r.model,
                p.input,
                p.cached_input.unwrap_or(p.input),
                p.output,
                p.source
            )
        }
    }
}

/// One line per model priced (a model asked for twice, e.g. on two providers, once).
fn price_lines(e: &Estimate) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for r in &e.rows {
        let line = price_line(r);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

fn cost_headers(e: &Estimate) -> Vec<String> {
    let mut headers = vec!["model".to_string(), "list price".to_string()];
    if e.cache_hit_rate > 0.0 {
        headers.push(format!("cached {:.0}%", e.cache_hit_rate * 100.0));
    }
    headers.push("batch API".into());
    headers.push("per 1k requests".into());
    if let Some(n) = e.per_month {
        headers.push(format!("per month ({})", int(n)));
    }
    headers
}

fn cost_cells(e: &Estimate, r: &Row) -> Vec<String> {
    // "no price" when the model has none; "-" for a figure that does not apply (no batch API,
    // no request to average over).
    let cell = |v: Option<f64>| match (&r.price, v) {
        (None, _) => "no price".to_string(),
        (Some(_), None) => "-".to_string(),
        (Some(_), Some(v)) => money(e).format(v),
    };
    let mut cells = vec![r.label.clone(), cell(r.list)];
    if e.cache_hit_rate > 0.0 {
        cells.push(cell(r.cached));
    }
    cells.push(cell(r.batch));
    cells.push(cell(r.per_1k_requests));
    if e.per_month.is_some() {
        cells.push(cell(r.per_month));
    }
    cells
}

fn token_cells(r: &Row) -> Vec<String> {
    let mark = if r.approximate { "~" } else { "" };
    vec![
        r.label.clone(),
        format!("{}{mark}", r.encoding),
        int(r.requests),
        format!("{}{mark}", int(r.input_tokens)),
        int(r.output_tokens),
    ]
}

const TOKEN_HEADERS: [&str; 5] = ["model", "tokenizer", "requests", "input tokens", "output tokens"];

fn text(e: &Estimate) -> String {
    let mut out = format!("sheepdog estimate  {}\n", e.input);
    for note in notes(e) {
        let _ = writeln!(out, "  {note}");
    }
    out.push_str("\nTokens\n");
    let mut rows = vec![TOKEN_HEADERS.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    rows.extend(e.rows.iter().map(token_cells));
    out.push_str(&aligned(&rows));
    let _ = writeln!(out, "\nCost ({})", e.currency);
    let mut rows = vec![cost_headers(e)];
    rows.extend(e.rows.iter().map(|r| cost_cells(e, r)));
    out.push_str(&aligned(&rows));
    out.push_str("\nPrices\n");
    for line in price_lines(e) {
        let _ = writeln!(out, "  {line}");
    }
    rejected(&mut out, e, "", "  ");
    out
}

fn rejected(out: &mut String, e: &Estimate, heading: &str, indent: &str) {
    if e.rejected == 0 {
        return;
    }
    let _ = writeln!(out, "\n{heading}Invalid lines (not counted)\n");
    for r in &e.rejected_shown {
        let _ = writeln!(out, "{indent}line {}: {}", r.line, r.reason);
    }
    let more = e.rejected.saturating_sub(e.rejected_shown.len() as u64);
    if more > 0 {
        let _ = writeln!(out, "{indent}... and {} more", int(more));
    }
}

fn md_table(out: &mut String, headers: &[String], rows: &[Vec<String>]) {
    let _ = writeln!(
        out,
        "| {} |",
        headers.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | ")
    );
    let align: Vec<&str> = (0..headers.len())
        .map(|i| if i == 0 { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in rows {
        let _ = writeln!(
            out,
            "| {} |",
            row.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
        );
    }
    out.push('\n');
}

fn markdown(e: &Estimate) -> String {
    let mut out = format!("# sheepdog estimate: {}\n\n", md_cell(&e.input));
    for note in notes(e) {
        let _ = writeln!(out, "- {}", md_cell(&note));
    }
    out.push_str("\n## Tokens\n\n");
    let headers: Vec<String> = TOKEN_HEADERS.iter().map(|h| h.to_string()).collect();
    md_table(&mut out, &headers, &e.rows.iter().map(token_cells).collect::<Vec<_>>());
    let _ = writeln!(out, "## Cost ({})\n", e.currency);
    md_table(
        &mut out,
        &cost_headers(e),
        &e.rows.iter().map(|r| cost_cells(e, r)).collect::<Vec<_>>(),
    );
    out.push_str("## Prices\n\n");
    for line in price_lines(e) {
        let _ = writeln!(out, "- {}", md_cell(&line));
    }
    rejected(&mut out, e, "## ", "- ");
    out
}
