//! `report.html`: one self-contained page (inline CSS and SVG; no scripts, fonts or other
//! files to load), so it opens offline from disk and can be mailed as is.

use std::fmt::Write as _;

mod sections;

use super::figures::{figures, Figure};
use super::fmt;
use crate::pricing::currency::Money;
use crate::stats::summary::Summary;
use crate::stats::BudgetReport;
use sections::{attempts, errors, latency, pacing, targets};

/// Renders the page.
pub fn render(s: &Summary) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("sheepdog report: {}", s.job.input);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    header(&mut out, s);
    cards(&mut out, s);
    charts(&mut out, &figures(s));
    latency(&mut out, s);
    targets(&mut out, s);
    pacing(&mut out, s);
    errors(&mut out, s);
    attempts(&mut out, s);
    out.push_str(DEFINITIONS);
    let _ = write!(
        out,
        "<footer>Written by sheepdog {} from summary.json (schema version {}); \
         <code>sheepdog report DIR --format html</code> writes it again.</footer>\n</body>\n</html>\n",
        esc(&s.sheepdog_version),
        s.schema_version
    );
    out
}

pub(crate) const STYLE: &str = "
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6776; --line: #dde3ea; --bg: #f6f8fa; --good: #1a7f37; --bad: #c62828; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; color: var(--ink); background: #fff;
  font: 15px/1.45 -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.meta, figcaption, footer, .note { color: var(--muted); font-size: 13px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.aborted { background: #fdecea; border: 1px solid #f5c2c0; color: var(--bad); padding: 10px 14px; border-radius: 6px; margin: 14px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; margin: 20px 0; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 600; margin: 2px 0; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
.card.good .value { color: var(--good); } .card.bad .value { color: var(--bad); }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px; background: #fff; }
figure.chart svg { width: 100%; height: auto; display: block; }
.chart-error { color: var(--bad); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: right; white-space: nowrap; }
th { background: var(--bg); font-weight: 600; font-size: 13px; }
table.text1 :is(th, td):nth-child(-n+1), table.text2 :is(th, td):nth-child(-n+2),
table.text3 :is(th, td):nth-child(-n+3) { text-align: left; }
.scroll { overflow-x: auto; }
dl { margin: 0; } dt { font-weight: 600; margin-top: 8px; } dd { margin: 2px 0 0 18px; color: var(--muted); }
footer { margin-top: 36px; border-top: 1px solid var(--line); padding-top: 10px; }
";

const DEFINITIONS: &str = "<section id=\"definitions\">\n<h2>Metric definitions</h2>\n<dl>\n\
<dt>latency (e2e)</dt><dd>Request sent → last byte of the response of the final successful attempt of each \
succeeded item. Per target: every successful attempt at that target.</dd>\n\
<dt>TTFT (time to first token)</dt><dd>Request sent → first content chunk, for streamed requests only.</dd>\n\
<dt>ITL (inter-token latency)</dt><dd>(last token time − first token time) / (output tokens − 1), for streamed \
answers with 2 or more output tokens. TPOT: (e2e − TTFT) / (output tokens − 1).</dd>\n\
<dt>success rate</dt><dd>Items with a 2xx final result / items attempted. Retries and fallbacks are counted \
separately, never hidden in success. Rejected input lines and unsent items are not attempted.</dd>\n\
<dt>retries and fallbacks</dt><dd>Retries: attempts after the first, over all targets. Fallbacks: moves of an \
item to the next target of its route.</dd>\n\
<dt>cost</dt><dd>(input − cached) × input price + cached × cached price + output × output price, from the price \
of the target that answered, in USD per 1M tokens. Requests whose model has no price are reported as “no \
price”, never as $0.</dd>\n\
<dt>over time</dt><dd>Requests are counted in the time bucket in which they ended (sent + latency); buckets \
widen as a run gets longer, so the page stays small.</dd>\n\
<dt>percentiles</dt><dd>From HdrHistograms with 3 significant figures (within 0.1%).</dd>\n\
</dl>\n</section>\n";

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, s: &Summary) {
    let job = &s.job;
    let _ = write!(
        out,
        "<header>\n<h1>sheepdog report</h1>\n<p><code>{}</code></p>\n\
         <p class=\"meta\">{} → {} ({}) · run folder <code>{}</code> · sheepdog {}</p>\n</header>\n",
        esc(&job.input),
        esc(&job.started_at),
        esc(&job.finished_at),
        esc(&fmt::duration_s(job.duration_s)),
        esc(&job.out_dir),
        esc(&s.sheepdog_version),
    );
    if let Some(reason) = &job.aborted {
        let _ = writeln!(
            out,
            "<p class=\"aborted\"><strong>Aborted:</strong> {}</p>",
            esc(reason)
        );
    }
    if let Some(budget) = &s.budget {
        budget_line(out, budget);
    }
}

/// The `--max-cost` budget in words: spent of the limit, and whether it stopped sending.
pub(crate) fn budget_line(out: &mut String, budget: &BudgetReport) {
    let _ = writeln!(
        out,
        "<p class=\"meta\" id=\"budget\">Budget (<code>--max-cost</code>): {}</p>",
        esc(&budget.describe())
    );
}

/// The `--max-cost` budget as a card: what was spent, of how much; red when it stopped sending.
pub(crate) fn budget_card(out: &mut String, budget: &BudgetReport) {
    let money = Money {
        currency: budget.currency.clone(),
        fx: 1.0,
    };
    let limit = money.format(budget.limit);
    let (class, sub) = if budget.reached {
        ("bad", format!("of {limit}: reached, sending stopped"))
    } else {
        ("", format!("of {limit} (--max-cost)"))
    };
    card(out, class, "Budget spent", &money.format(budget.spent), &sub);
}

/// The share of input tokens the provider served from its prompt cache, when it served any.
pub(crate) fn cached_card(out: &mut String, cached_input: u64, input: u64) {
    if cached_input == 0 || input == 0 {
        return;
    }
    card(
        out,
        "",
        "Cached input",
        &fmt::pct(cached_input as f64 / input as f64),
        &format!(
            "{} of {} input tokens from the prompt cache",
            fmt::int(cached_input),
            fmt::int(input)
        ),
    );
}

pub(crate) fn card(out: &mut String, class: &str, label: &str, value: &str, sub: &str) {
    let _ = writeln!(
        out,
        "<div class=\"{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div>\
         <div class=\"sub\">{}</div></div>",
        if class.is_empty() {
            "card".to_string()
        } else {
            format!("card {class}")
        },
        esc(label),
        esc(value),
        esc(sub)
    );
}

fn cards(out: &mut String, s: &Summary) {
    let t = &s.totals;
    out.push_str("<section class=\"cards\" id=\"summary\">\n");
    let health = if t.attempted == 0 {
        ""
    } else if t.failed == 0 {
        "good"
    } else {
        "bad"
    };
    card(
        out,
        health,
        "Success rate",
        &fmt::pct(t.success_rate),
        &format!("{} of {} items", fmt::int(t.succeeded), fmt::int(t.attempted)),
    );
    card(
        out,
        "",
        "Items",
        &fmt::int(t.lines),
        &format!(
            "{} failed · {} rejected · {} unsent",
            fmt::int(t.failed),
            fmt::int(t.rejected),
            fmt::int(t.unsent)
        ),
    );
    card(
        out,
        "",
        "Requests",
        &fmt::int(t.requests),
        &format!(
            "{} · {}",
            fmt::count(t.retries, "retry", "retries"),
            fmt::count(t.fallbacks, "fallback", "fallbacks")
        ),
    );
    if s.latency_ms.count > 0 {
        card(
            out,
            "",
            "Latency p50",
            &fmt::ms_short(s.latency_ms.p50),
            &format!(
                "p99 {} · max {}",
                fmt::ms_short(s.latency_ms.p99),
                fmt::ms_short(s.latency_ms.max)
            ),
        );
    }
    for (name, p) in [("TTFT p50", &s.ttft_ms), ("ITL p50", &s.itl_ms)] {
        if let Some(p) = p {
            card(
                out,
                "",
                name,
                &fmt::ms_short(p.p50),
                &format!("p99 {}", fmt::ms_short(p.p99)),
            );
        }
    }
    card(
        out,
        "",
        "Throughput",
        &format!("{}/s", fmt::per_s(t.items_per_s)),
        &format!("items · {} requests/s", fmt::per_s(t.requests_per_s)),
    );
    card(
        out,
        "",
        "Tokens",
        &fmt::int(s.tokens.input + s.tokens.output),
        &format!(
            "in {} ({} cached) · out {}",
            fmt::int(s.tokens.input),
            fmt::int(s.tokens.cached_input),
            fmt::int(s.tokens.output)
        ),
    );
    let (cost, sub) = if s.cost.unpriced_requests == 0 {
        (fmt::usd(s.cost.total_usd), "at list price".to_string())
    } else {
        (
            fmt::usd(s.cost.total_usd),
            format!(
                "priced requests only; no price for {}",
                fmt::count(s.cost.unpriced_requests, "request", "requests")
            ),
        )
    };
    card(out, "", "Cost", &cost, &sub);
    cached_card(out, s.tokens.cached_input, s.tokens.input);
    if let Some(budget) = &s.budget {
        budget_card(out, budget);
    }
    out.push_str("</section>\n");
}

pub(crate) fn charts(out: &mut String, figures: &[Figure]) {
    if figures.is_empty() {
        out.push_str("<section id=\"charts\"><h2>Charts</h2><p class=\"note\">Nothing to draw: no request was answered.</p></section>\n");
        return;
    }
    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n<div class=\"grid\">\n");
    for f in figures {
        let _ = write!(
            out,
            "<figure class=\"chart\" id=\"chart-{id}\" data-chart=\"{id}\">\n<h3>{}</h3>\n",
            esc(&f.title),
            id = f.id
        );
        match &f.svg {
            Ok(svg) => out.push_str(svg.trim()),
            Err(e) => {
                let _ = write!(out, "<p class=\"chart-error\">{}</p>", esc(e));
            }
        }
        let _ = writeln!(out, "\n<figcaption>{}</figcaption>\n</figure>", esc(&f.caption));
    }
    out.push_str("</div>\n</section>\n");
}

/// A table whose first `text_columns` columns are left-aligned text, the others numbers.
pub(crate) fn table_start(out: &mut String, text_columns: usize, headers: &[&str]) {
    let _ = write!(
        out,
        "<div class=\"scroll\"><table class=\"text{text_columns}\">\n<thead><tr>"
    );
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
}

pub(crate) fn row(out: &mut String, cells: &[String]) {
    out.push_str("<tr>");
    for c in cells {
        let _ = write!(out, "<td>{}</td>", esc(c));
    }
    out.push_str("</tr>\n");
}

pub(crate) fn table_end(out: &mut String) {
    out.push_str("</tbody>\n</table></div>\n");
}

#[cfg(test)]
mod tests;
