//! `report.md` of a bench: the sweep table, each step's percentiles, errors and SLOs, and the
//! metric definitions. A pure function of [`BenchSummary`].

use std::fmt::Write as _;

use super::spec::SloMetric;
use super::summary::{BenchSummary, StepReport};
use crate::report::fmt::{self, md_cell};
use crate::stats::summary::Percentiles;

/// Renders the Markdown report.
pub fn render(s: &BenchSummary) -> String {
    let mut out = String::new();
    let b = &s.bench;
    let _ = writeln!(
        out,
        "# sheepdog bench: {} → {} ({})\n",
        md_cell(&b.prompts),
        md_cell(&b.target),
        md_cell(&b.model)
    );
    let _ = writeln!(
        out,
        "{} → {} ({}) · {} · {} · warm-up {} s per step · prompts of ~{} tokens · run folder `{}` · sheepdog {}\n",
        md_cell(&b.started_at),
        md_cell(&b.finished_at),
        fmt::duration_s(b.duration_s),
        if b.streamed { "streamed" } else { "not streamed" },
        md_cell(&b.stop),
        b.warmup_s,
        b.prompt_tokens,
        md_cell(&b.out_dir),
        md_cell(&s.sheepdog_version),
    );
    if let Some(slo) = &b.slo {
        let _ = writeln!(out, "Objectives: {}\n", objectives(slo));
    }
    if let Some(reason) = &b.aborted {
        let _ = writeln!(out, "> **Aborted:** {}\n", md_cell(reason));
    }
    if let Some(reason) = &b.stopped_early {
        let _ = writeln!(out, "> **Stopped early:** {}\n", md_cell(reason));
    }
    if let Some(budget) = &b.budget {
        let _ = writeln!(out, "Budget (`--max-cost`): {}\n", md_cell(&budget.describe()));
    }
    out.push_str(&crate::report::thresholds::markdown(&s.thresholds));
    if let Some(found) = &s.find_max {
        find_max(&mut out, found);
    }
    out.push_str("## Sweep\n\n");
    let (header, rows) = sweep_table(s);
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len()).map(|i| if i == 1 { "---" } else { "---:" }).collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
    for step in &s.steps {
        step_section(&mut out, step);
    }
    out.push_str(DEFINITIONS);
    out
}

const DEFINITIONS: &str = "\
## Metric definitions

- **e2e latency**: request sent → last byte of the answer (final attempt). **from schedule** \
(open loop): the request's scheduled send time → its end, retries included: corrected for \
coordinated omission, so a client that falls behind cannot hide it. **scheduling lag**: \
scheduled send time → first attempt actually sent.
- **TTFT**: request sent → first SSE chunk carrying content (a role-only chunk is not content). \
**ITL**: (last token time − first token time) / (output tokens − 1). **TPOT**: \
(e2e − TTFT) / (output tokens − 1). Output tokens come from the server's `usage`; when it sends \
none they are counted with the tokenizer and marked estimated.
- **req/s**: measured requests / window; the window runs from the end of the warm-up to the end \
of the last measured request. Requests started during the warm-up are left out of every figure. \
**output tok/s**: output tokens of the succeeded measured requests / window.
- **goodput**: measured requests meeting every objective / window. SLO latencies count from when \
the request was due (open loop: scheduled; closed loop: when its slot came free), so retries and \
client lag count against them; a failed request meets none; an answer of one token has no \
inter-token gap and meets ITL and TPOT.
- Percentiles come from HdrHistograms (3 significant figures, so within 0.1%).
";

/// `## Find max`: the answer with its bracket, and every probe in the order it ran.
fn find_max(out: &mut String, found: &super::FindMaxReport) {
    let _ = writeln!(out, "## Find max\n\n**{}**\n", md_cell(&found.answer));
    let _ = writeln!(
        out,
        "A doubling ramp until a probe failed (goodput share below {}% or the server saturated), then \
         a bisection to {}% precision.\n",
        found.goodput * 100.0,
        found.precision * 100.0
    );
    out.push_str(
        "| probe (step) | load | goodput share | req/s | saturated | verdict |\n|---:|---:|---:|---:|---|---|\n",
    );
    for p in &found.probes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            p.step,
            crate::load::trim_float(p.load),
            fmt::pct(p.goodput),
            fmt::per_s(p.achieved_rps),
            if p.saturated { "yes" } else { "no" },
            if p.passed { "passed" } else { "failed" }
        );
    }
    out.push('\n');
}

/// `ttft ≤ 500ms · e2e ≤ 5.00s`.
pub fn objectives(slo: &super::spec::SloSpec) -> String {
    let parts: Vec<String> = SloMetric::ALL
        .into_iter()
        .filter_map(|metric| slo.bound_ms(metric).map(|b| format!("{metric} ≤ {}", fmt::ms_short(b))))
        .collect();
    parts.join(" · ")
}

fn ms(p: Option<&Percentiles>, pick: fn(&Percentiles) -> f64) -> String {
    match p {
        Some(p) if p.count > 0 => fmt::ms_short(pick(p)),
        _ => "-".into(),
    }
}

/// The sweep summary: one row per step. Shared with the terminal table.
pub fn sweep_table(s: &BenchSummary) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let open = s.steps.iter().any(|st| st.latency_from_schedule_ms.is_some());
    let slo = s.steps.iter().any(|st| st.slo.is_some());
    // A prompt cache was measured: the share of prompt tokens it served.
    let cached = s.bench.prompts.contains("prefix=") || s.steps.iter().any(|st| st.cached_input_share > 0.0);
    let mut header = vec![
        "step",
        "load",
        "requests",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "ITL p50",
        "TPOT p50",
        "e2e p50",
        "e2e p99",
    ];
    if open {
        header.extend(["sched e2e p99", "lag p99"]);
    }
    if cached {
        header.push("cached");
    }
    header.push("errors");
    if slo {
        header.push("goodput/s");
    }
    let rows = s
        .steps
        .iter()
        .map(|st| {
            let sum = &st.summary;
            let mut row = vec![
                st.step.to_string(),
                md_cell(&st.load.label),
                fmt::int(st.requests),
                fmt::per_s(st.achieved_rps),
                fmt::per_s(st.output_tokens_per_s),
                ms(sum.ttft_ms.as_ref(), |p| p.p50),
                ms(sum.ttft_ms.as_ref(), |p| p.p99),
                ms(sum.itl_ms.as_ref(), |p| p.p50),
                ms(sum.tpot_ms.as_ref(), |p| p.p50),
                ms(Some(&sum.latency_ms), |p| p.p50),
                ms(Some(&sum.latency_ms), |p| p.p99),
            ];
            if open {
                row.push(ms(st.latency_from_schedule_ms.as_ref(), |p| p.p99));
                row.push(ms(st.schedule_lag_ms.as_ref(), |p| p.p99));
            }
            if cached {
                row.push(fmt::pct(st.cached_input_share));
            }
            row.push(fmt::pct(st.error_rate));
            if slo {
                row.push(st.slo.as_ref().map_or("-".into(), |r| fmt::per_s(r.goodput_rps)));
            }
            row
        })
        .collect();
    (header, rows)
}

fn step_section(out: &mut String, st: &StepReport) {
    let _ = writeln!(out, "## Step {}: {}\n", st.step, md_cell(&st.load.label));
    if let Some(why) = &st.saturated {
        let _ = writeln!(out, "> **Saturated:** {}\n", md_cell(why));
    }
    let estimated = st.summary.output_tokens_estimated;
    let _ = writeln!(
        out,
        "{} requests measured ({} succeeded, {} failed; {} warm-up requests left out) in {} · \
         **{} req/s** · **{} output tokens/s**{}\n",
        fmt::int(st.requests),
        fmt::int(st.succeeded),
        fmt::int(st.failed),
        fmt::int(st.warmup_requests),
        fmt::duration_s(st.window_s),
        fmt::per_s(st.achieved_rps),
        fmt::per_s(st.output_tokens_per_s),
        if estimated > 0 {
            format!(
                " ({} answers without usage: their tokens are estimated)",
                fmt::int(estimated)
            )
        } else {
            String::new()
        },
    );
    out.push_str("| metric (ms) | p50 | p90 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n");
    let sum = &st.summary;
    let rows: [(&str, Option<&Percentiles>); 6] = [
        ("TTFT", sum.ttft_ms.as_ref()),
        ("ITL", sum.itl_ms.as_ref()),
        ("TPOT", sum.tpot_ms.as_ref()),
        ("e2e", Some(&sum.latency_ms)),
        ("e2e from schedule", st.latency_from_schedule_ms.as_ref()),
        ("scheduling lag", st.schedule_lag_ms.as_ref()),
    ];
    for (name, p) in rows {
        let Some(p) = p.filter(|p| p.count > 0) else { continue };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            fmt::ms_number(p.p50),
            fmt::ms_number(p.p90),
            fmt::ms_number(p.p95),
            fmt::ms_number(p.p99),
            fmt::ms_number(p.max)
        );
    }
    out.push('\n');
    if !st.errors.is_empty() {
        out.push_str("| error class | requests | share |\n|---|---:|---:|\n");
        for e in &st.errors {
            let _ = writeln!(out, "| {} | {} | {} |", e.class, fmt::int(e.count), fmt::pct(e.rate));
        }
        out.push('\n');
    }
    if let Some(slo) = &st.slo {
        out.push_str("| objective | met |\n|---|---:|\n");
        for metric in SloMetric::ALL {
            if let Some(share) = slo.share(metric) {
                let _ = writeln!(out, "| {metric} | {} |", fmt::pct(share));
            }
        }
        let _ = writeln!(
            out,
            "| **all** | {} |\n\n**Goodput: {} req/s** meeting every objective.\n",
            fmt::pct(slo.met_all),
            fmt::per_s(slo.goodput_rps)
        );
    }
}
