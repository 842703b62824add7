//! `report.html` of a bench: the sweep as charts (latency, throughput and errors versus load,
//! and the latency distribution of each step), the sweep table, and for a single step the
//! charts of a run. Self-contained like the run report.

use std::fmt::Write as _;

use super::{BenchSummary, StepReport};
use crate::report::charts::{self, Line, FAILURE, PALETTE};
use crate::report::figures::{cdf, figures, Figure};
use crate::report::fmt;
use crate::report::html::{
    budget_card, budget_line, cached_card, card, charts as chart_section, esc, row, table_end, table_start, STYLE,
};
use crate::stats::decode_histogram;
use crate::stats::summary::Percentiles;

/// Renders the page.
pub fn render(s: &BenchSummary) -> String {
    let b = &s.bench;
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>sheepdog bench: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header>\n<h1>sheepdog bench</h1>\n<p><code>{}</code> on <code>{}</code>, prompts {}</p>\n\
         <p class=\"meta\">{} → {} ({}) · {} · {} · run folder <code>{}</code> · sheepdog {}</p>\n</header>\n",
        esc(&b.model),
        esc(&b.model),
        esc(&b.target),
        esc(&b.prompts),
        esc(&b.started_at),
        esc(&b.finished_at),
        esc(&fmt::duration_s(b.duration_s)),
        if b.streamed { "streamed" } else { "not streamed" },
        esc(&b.stop),
        esc(&b.out_dir),
        esc(&s.sheepdog_version),
    );
    if let Some(reason) = &b.aborted {
        let _ = writeln!(
            out,
            "<p class=\"aborted\"><strong>Aborted:</strong> {}</p>",
            esc(reason)
        );
    }
    if let Some(reason) = &b.stopped_early {
        let _ = writeln!(
            out,
            "<p class=\"aborted\"><strong>Stopped early:</strong> {}</p>",
            esc(reason)
        );
    }
    if let Some(found) = &s.find_max {
        let _ = writeln!(out, "<p><strong>Find max:</strong> {}</p>", esc(&found.answer));
    }
    if let Some(budget) = &b.budget {
        budget_line(&mut out, budget);
    }
    cards(&mut out, s);
    let mut figs: Vec<Figure> = s.find_max.as_ref().map(find_max_figure).into_iter().collect();
    figs.extend(sweep_figures(s));
    if let [only] = s.steps.as_slice() {
        figs.extend(figures(&only.summary));
    }
    chart_section(&mut out, &figs);
    out.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n");
    let (headers, rows) = super::markdown::sweep_table(s);
    table_start(&mut out, 2, &headers);
    for cells in rows {
        let cells: Vec<String> = cells.iter().map(|c| c.replace("\\|", "|")).collect();
        row(&mut out, &cells);
    }
    table_end(&mut out);
    out.push_str(
        "<p class=\"note\">Latency percentiles in ms; req/s and out tok/s per second of each step's measured \
         window (after the warm-up).</p>\n</section>\n",
    );
    let _ = write!(
        out,
        "<footer>Written by sheepdog {} from summary.json; <code>sheepdog report DIR --format html</code> \
         writes it again.</footer>\n</body>\n</html>\n",
        esc(&s.sheepdog_version)
    );
    out
}

fn cards(out: &mut String, s: &BenchSummary) {
    out.push_str("<section class=\"cards\" id=\"summary\">\n");
    card(
        out,
        "",
        "Steps",
        &s.steps.len().to_string(),
        &format!("{} per step", s.bench.stop),
    );
    if let Some(best) = s.steps.iter().max_by(|a, b| a.achieved_rps.total_cmp(&b.achieved_rps)) {
        card(
            out,
            "",
            "Peak throughput",
            &format!("{}/s", fmt::per_s(best.achieved_rps)),
            &format!("requests at {}", best.load.label),
        );
        card(
            out,
            "",
            "Peak output",
            &format!("{} tok/s", fmt::per_s(best.output_tokens_per_s)),
            &format!("at {}", best.load.label),
        );
    }
    let requests: u64 = s.steps.iter().map(|st| st.requests).sum();
    let failed: u64 = s.steps.iter().map(|st| st.failed).sum();
    card(
        out,
        if failed == 0 { "good" } else { "bad" },
        "Errors",
        &fmt::int(failed),
        &format!("of {} measured requests", fmt::int(requests)),
    );
    let tokens = s.steps.iter().map(|st| &st.summary.tokens);
    cached_card(
        out,
        tokens.clone().map(|t| t.cached_input).sum(),
        tokens.map(|t| t.input).sum(),
    );
    if let Some(budget) = &s.bench.budget {
        budget_card(out, budget);
    }
    out.push_str("</section>\n");
}

/// The load of a step as a number for the x axis, and the axis name.
/// `--find-max`: the goodput share of each probe against its load, the share required, and the
/// answer marked.
fn find_max_figure(found: &super::FindMaxReport) -> Figure {
    let mut probes: Vec<(f64, f64)> = found.probes.iter().map(|p| (p.load, p.goodput * 100.0)).collect();
    probes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (low, high) = (probes.first().map_or(0.0, |p| p.0), probes.last().map_or(1.0, |p| p.0));
    let mut lines = vec![
        Line {
            name: "goodput share".into(),
            color: PALETTE[0],
            points: probes,
            markers: true,
        },
        Line {
            name: format!("required {}%", found.goodput * 100.0),
            color: PALETTE[3],
            points: vec![(low, found.goodput * 100.0), (high, found.goodput * 100.0)],
            markers: false,
        },
    ];
    if let Some(max) = found.max_load {
        lines.push(Line {
            name: format!("max {}", crate::load::trim_float(max)),
            color: PALETTE[2],
            points: vec![(max, 0.0), (max, 100.0)],
            markers: true,
        });
    }
    let axis = match found.by {
        super::SearchBy::Rate => "arrival rate (requests/s)",
        super::SearchBy::Concurrency => "concurrency",
    };
    Figure {
        id: "find-max",
        title: "Goodput share versus load (--find-max)".into(),
        caption: format!(
            "Share of each probe's measured requests meeting every objective. {}",
            found.answer
        ),
        svg: charts::lines_legend_beside(&lines, axis, "% meeting every objective", Some(100.0)),
    }
}

fn load_axis(steps: &[StepReport]) -> (Vec<f64>, &'static str) {
    let rates: Option<Vec<f64>> = steps.iter().map(|st| st.load.rate).collect();
    if let Some(rates) = rates {
        return (rates, "arrival rate (requests/s)");
    }
    let concurrency: Option<Vec<f64>> = steps.iter().map(|st| st.load.concurrency.map(|c| c as f64)).collect();
    match concurrency {
        Some(values) => (values, "concurrency"),
        None => ((1..=steps.len()).map(|i| i as f64).collect(), "step"),
    }
}

/// Charts across the steps of a sweep (none for a single step).
fn sweep_figures(s: &BenchSummary) -> Vec<Figure> {
    if s.steps.len() < 2 {
        return Vec::new();
    }
    let (x, axis) = load_axis(&s.steps);
    let series = |name: &str, color, value: &dyn Fn(&StepReport) -> Option<f64>| Line {
        name: name.to_string(),
        color,
        points: x
            .iter()
            .zip(&s.steps)
            .filter_map(|(&x, st)| value(st).map(|v| (x, v)))
            .collect(),
        markers: true,
    };
    let latency = |p: &Percentiles, f: fn(&Percentiles) -> f64| (p.count > 0).then(|| f(p));
    let mut out = vec![Figure {
        id: "latency-vs-load",
        title: "Latency versus load".into(),
        caption: "End-to-end latency percentiles of each step's succeeded requests.".into(),
        svg: charts::lines_legend_beside(
            &[
                series("p50", PALETTE[0], &|st| latency(&st.summary.latency_ms, |p| p.p50)),
                series("p95", PALETTE[1], &|st| latency(&st.summary.latency_ms, |p| p.p95)),
                series("p99", PALETTE[3], &|st| latency(&st.summary.latency_ms, |p| p.p99)),
            ],
            axis,
            "latency (ms)",
            None,
        ),
    }];
    if s.steps.iter().any(|st| st.summary.ttft_ms.is_some()) {
        out.push(Figure {
            id: "ttft-vs-load",
            title: "Time to first token versus load".into(),
            caption: "TTFT percentiles of each step's succeeded streamed requests.".into(),
            svg: charts::lines_legend_beside(
                &[
                    series("p50", PALETTE[0], &|st| st.summary.ttft_ms.as_ref().map(|p| p.p50)),
                    series("p99", PALETTE[3], &|st| st.summary.ttft_ms.as_ref().map(|p| p.p99)),
                ],
                axis,
                "TTFT (ms)",
                None,
            ),
        });
    }
    out.push(Figure {
        id: "throughput-vs-load",
        title: "Throughput versus load".into(),
        caption: "Requests finished per second of each step's measured window.".into(),
        svg: charts::lines_legend_beside(
            &[series("requests/s", PALETTE[2], &|st| Some(st.achieved_rps))],
            axis,
            "requests/s",
            None,
        ),
    });
    out.push(Figure {
        id: "tokens-vs-load",
        title: "Output tokens versus load".into(),
        caption: "Output tokens of succeeded requests per second of each step's measured window.".into(),
        svg: charts::lines_legend_beside(
            &[series("output tokens/s", PALETTE[4], &|st| {
                Some(st.output_tokens_per_s)
            })],
            axis,
            "output tokens/s",
            None,
        ),
    });
    out.push(Figure {
        id: "errors-vs-load",
        title: "Errors versus load".into(),
        caption: "Failed measured requests, as a share of each step's requests.".into(),
        svg: charts::lines_legend_beside(
            &[series("error rate", FAILURE, &|st| Some(st.error_rate * 100.0))],
            axis,
            "failed requests (%)",
            None,
        ),
    });
    let cdfs: Vec<Line> = s
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, st)| {
            let h = decode_histogram(&st.summary.histograms.latency_us).ok()?;
            (!h.is_empty()).then(|| Line {
                name: st.load.label.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: cdf(&h),
                markers: false,
            })
        })
        .collect();
    if !cdfs.is_empty() {
        out.push(Figure {
            id: "latency-cdf-by-step",
            title: "Latency distribution of each step".into(),
            caption: "Share of each step's succeeded requests with this latency or less.".into(),
            svg: charts::lines_legend_beside(&cdfs, "latency (ms)", "% of requests", Some(100.0)),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::stats::fixture;

    fn bench(steps: usize) -> BenchSummary {
        let steps: Vec<serde_json::Value> = (1..=steps)
            .map(|i| {
                let mut summary = fixture::summary();
                summary.latency_ms.p50 *= i as f64;
                json!({
                    "step": i,
                    "load": {"mode": "closed", "concurrency": 4 * i, "label": format!("concurrency {}", 4 * i)},
                    "window_s": 10.0, "requests": 100, "succeeded": 99, "failed": 1, "warmup_requests": 5,
                    "achieved_rps": 10.0 * i as f64, "output_tokens_per_s": 300.0 * i as f64,
                    "error_rate": 0.01, "errors": [],
                    "summary": summary,
                })
            })
            .collect();
        serde_json::from_value(json!({
            "schema_version": 1, "kind": "bench", "sheepdog_version": "0.1.0",
            "bench": {
                "prompts": "synthetic in=512,out=128", "prompt_tokens": 512, "target": "mini",
                "model": "gpt-4.1-mini", "streamed": true, "stop": "100 requests", "warmup_s": 1.0,
                "out_dir": "reports/bench", "started_at": "2026-01-01T00:00:00Z",
                "finished_at": "2026-01-01T00:00:30Z", "duration_s": 30.0, "config": {},
            },
            "steps": steps,
        }))
        .expect("a bench summary")
    }

    fn chart_ids(page: &str) -> Vec<&str> {
        page.split("data-chart=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect()
    }

    #[test]
    fn a_sweep_gets_charts_against_load() {
        let page = render(&bench(3));
        assert_eq!(
            chart_ids(&page),
            [
                "latency-vs-load",
                "ttft-vs-load",
                "throughput-vs-load",
                "tokens-vs-load",
                "errors-vs-load",
                "latency-cdf-by-step"
            ]
        );
        assert!(!page.contains("class=\"chart-error\""), "a chart failed");
        assert!(
            page.contains(">concurrency<") || page.contains("\nconcurrency\n"),
            "x axis named"
        );
        assert!(page.contains("<td>concurrency 12</td>"), "sweep table");
    }

    #[test]
    fn a_single_step_gets_the_charts_of_a_run() {
        let page = render(&bench(1));
        let ids = chart_ids(&page);
        assert!(
            ids.contains(&"latency-histogram") && ids.contains(&"throughput-over-time"),
            "{ids:?}"
        );
        assert!(!ids.contains(&"latency-vs-load"));
    }

    #[test]
    fn the_budget_and_the_cached_input_share_are_shown_when_there_are_some() {
        let mut s = bench(2);
        let page = render(&s);
        // Each step's summary is the run fixture's: 300 of 4,600 input tokens cached.
        assert!(
            page.contains("600 of 9,200 input tokens from the prompt cache"),
            "{page}"
        );
        assert!(!page.contains("Budget"));
        s.bench.budget = Some(crate::dispatch::budget::BudgetReport {
            limit: 5.0,
            currency: "USD".into(),
            spent: 5.0,
            spent_before: 0.0,
            reached: true,
        });
        for step in &mut s.steps {
            step.summary.tokens.cached_input = 0;
        }
        let page = render(&s);
        assert!(page.contains("$5.00 of $5.00 spent; reached"), "{page}");
        assert!(page.contains("of $5.00: reached, sending stopped"));
        assert!(!page.contains("Cached input"));
    }
}
