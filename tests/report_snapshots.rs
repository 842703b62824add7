//! Every report format pinned with insta snapshots, from a hand-built run whose volatile fields
//! (times, paths) are fixed: report.md, report.html (charts elided to their size), summary.json,
//! the terminal table, requests.csv, and the compare and estimate renderings.
//!
//! After an intended change: `cargo insta review` (or `INSTA_UPDATE=always cargo test --test
//! report_snapshots`), then read the diff of `tests/snapshots/` before committing it.

use std::time::Duration;

use serde_json::{json, Value};
use sheepdog::compare;
use sheepdog::estimate::{self, EstimateOptions, ModelSpec, OutputTokens};
use sheepdog::output::ResultsWriter;
use sheepdog::pricing::currency::Money;
use sheepdog::pricing::PriceTable;
use sheepdog::record::{Attempt, ErrorClass, ErrorInfo, Outcome, StreamTiming, Success, Usage};
use sheepdog::report;
use sheepdog::stats::summary::{JobInfo, Summary};
use sheepdog::stats::{Collector, TargetInfo};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn usage(input: u64, cached: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: 0,
        output_tokens: output,
    }
}

fn model_of(target: &str) -> &'static str {
    if target == "primary" {
        "gpt-4.1-mini"
    } else {
        "deepseek-chat"
    }
}

/// A request of item `n` at `target`: answered (with usage and cost) or failed with `error`.
fn attempt(n: u64, target: &str, number: u32, latency: u64, error: Option<(ErrorClass, u16)>) -> Attempt {
    let ok = error.is_none();
    let tokens = usage(40 + n % 7, if n.is_multiple_of(4) { 16 } else { 0 }, 20 + (n * 13) % 30);
    Attempt {
        target: target.into(),
        model: model_of(target).into(),
        number,
        sent_at: ms(n * 40 + u64::from(number) * 5),
        latency: ms(latency),
        ttft: ok.then(|| ms(latency / 4)),
        stream: ok.then_some(StreamTiming {
            itl: Some(Duration::from_micros(1500 + (n % 5) * 300)),
            tpot: Some(Duration::from_micros(1700 + (n % 5) * 300)),
            content_chunks: 20,
            output_tokens_estimated: false,
        }),
        status: Some(error.map_or(200, |e| e.1)),
        usage: ok.then_some(tokens),
        cost_usd: ok.then(|| (tokens.input_tokens as f64 * 0.4 + tokens.output_tokens as f64 * 1.6) / 1e6),
        error: error.map(|(class, status)| ErrorInfo {
            class,
            status: Some(status),
            message: format!("HTTP {status}"),
            code: None,
        }),
        concurrency_limit: Some(8 + (n % 3) as u32),
    }
}

fn outcome(n: u64, attempts: Vec<Attempt>) -> Outcome {
    let last = attempts.last().cloned();
    let result = match last {
        Some(a) if a.error.is_none() => Ok(Success {
            target: a.target.clone(),
            model: a.model.clone(),
            status: 200,
            request_id: Some(format!("req-{n}")),
            body: sheepdog::record::raw_body(&json!({"choices": []})),
            usage: a.usage.unwrap_or_default(),
            latency: a.latency,
            ttft: a.ttft,
            stream: a.stream,
            cost_usd: a.cost_usd,
            cache_hit: None,
        }),
        Some(a) => Err(a.error.clone().unwrap_or_else(|| unreachable!())),
        None => unreachable!("every item has a request"),
    };
    Outcome {
        id: format!("item-{n:02}"),
        line: n + 1,
        metadata: None,
        attempts,
        result,
    }
}

/// 24 items: most answered by `primary` (80 to 200 ms), a few retried after 429/503, two moved
/// to `fallback`, one failed for good.
fn outcomes() -> Vec<Outcome> {
    (0..24u64)
        .map(|n| {
            let latency = 80 + (n * 37) % 120;
            let attempts = match n {
                3 | 11 => vec![
                    attempt(n, "primary", 1, 30, Some((ErrorClass::RateLimited, 429))),
                    attempt(n, "primary", 2, latency, None),
                ],
                7 => vec![
                    attempt(n, "primary", 1, 50, Some((ErrorClass::ServerError, 503))),
                    attempt(n, "primary", 2, 50, Some((ErrorClass::ServerError, 503))),
                    attempt(n, "fallback", 1, latency + 100, None),
                ],
                15 => vec![
                    attempt(n, "primary", 1, 40, Some((ErrorClass::ServerError, 503))),
                    attempt(n, "fallback", 1, latency + 150, None),
                ],
                20 => vec![attempt(n, "primary", 1, 20, Some((ErrorClass::BadRequest, 400)))],
                _ => vec![attempt(n, "primary", 1, latency, None)],
            };
            outcome(n, attempts)
        })
        .collect()
}

fn summary_named(input: &str) -> Summary {
    let targets = ["primary", "fallback"]
        .iter()
        .map(|t| TargetInfo {
            name: t.to_string(),
            provider: "gateway".into(),
            model: model_of(t).into(),
        })
        .collect();
    let mut collector = Collector::new(targets);
    for o in outcomes() {
        collector.record(&o);
    }
    let job: JobInfo = serde_json::from_value(json!({
        "input": input,
        "out_dir": "reports/prompts-20260101T000000Z",
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-01T00:00:01.250Z",
        "duration_s": 1.25,
        "config": {"route": ["primary", "fallback"]},
    }))
    .expect("a JobInfo");
    collector.finish(job, 24, 0)
}

fn summary() -> Summary {
    summary_named("prompts.jsonl")
}

/// The page with each `<svg>…</svg>` replaced by a line naming its size, so the snapshot pins
/// the page and not plotters' coordinates (the page checks test the charts themselves).
fn without_svg_bodies(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("</svg>") else { break };
        let svg = &rest[start..start + len];
        let drawn = ["<rect", "<polyline", "<line", "<text"]
            .iter()
            .map(|tag| svg.matches(tag).count())
            .sum::<usize>();
        let kind = if drawn > 20 { "drawn" } else { "sparse" };
        out.push_str(&format!("<svg …{kind}…></svg>"));
        rest = &rest[start + len + "</svg>".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn markdown_report() {
    insta::assert_snapshot!(report::markdown::render(&summary()));
}

#[test]
fn terminal_report() {
    insta::assert_snapshot!(report::terminal::render(&summary()));
}

#[test]
fn summary_json() {
    let bytes = report::json::render(&summary()).expect("serializable");
    insta::assert_snapshot!(String::from_utf8(bytes).expect("utf-8"));
}

#[test]
fn html_report() {
    let page = report::html::render(&summary());
    insta::assert_snapshot!(without_svg_bodies(&page));
}

#[test]
fn requests_csv() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut writer = ResultsWriter::open(dir.path()).expect("open writer");
    for o in outcomes() {
        writer.write_outcome(&o).expect("write");
    }
    writer.flush().expect("flush");
    drop(writer);
    let csv = std::fs::read_to_string(dir.path().join(sheepdog::output::files::REQUESTS_FILE)).expect("requests.csv");
    insta::assert_snapshot!(csv);
}

/// Two run folders over the same prompts; the second answers faster and shorter.
fn comparison() -> compare::Comparison {
    let root = tempfile::tempdir().expect("temporary directory");
    let mut runs = Vec::new();
    for (name, speedup) in [("provider-a", 1.0), ("provider-b", 0.6)] {
        let dir = root.path().join(name);
        let mut s = summary();
        for p in [&mut s.latency_ms.p50, &mut s.latency_ms.p95, &mut s.latency_ms.p99] {
            *p = (*p * speedup).round();
        }
        s.cost.total_usd *= speedup;
        report::write_all(&dir, &s).expect("write reports");
        let results: String = (0..24u64)
            .map(|n| {
                let tokens = ((20 + (n * 13) % 30) as f64 * speedup).round() as u64;
                format!("{{\"custom_id\":\"item-{n:02}\",\"sheepdog\":{{\"output_tokens\":{tokens}}}}}\n")
            })
            .collect();
        std::fs::write(dir.join("results.jsonl"), results).expect("results.jsonl");
        runs.push(compare::load(&dir).expect("a run folder"));
    }
    let mut c = compare::compare(&runs);
    for run in &mut c.runs {
        run.dir = format!("reports/{}", run.label);
    }
    c
}

#[test]
fn compare_text() {
    insta::assert_snapshot!(compare::render::render(&comparison(), compare::render::Format::Text));
}

#[test]
fn compare_markdown() {
    insta::assert_snapshot!(compare::render::render(
        &comparison(),
        compare::render::Format::Markdown
    ));
}

fn estimate() -> estimate::Estimate {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("prompts.jsonl");
    let lines: String = (0..6)
        .map(|i| {
            format!("{{\"id\":\"q{i}\",\"prompt\":\"Summarize item number {i} in one line.\",\"max_tokens\":64}}\n")
        })
        .chain(["{broken\n".to_string()])
        .collect();
    std::fs::write(&input, lines).expect("write input");
    let mut gateway = ModelSpec::model("deepseek-chat");
    gateway.label = "deepseek".into();
    gateway.provider = Some("gateway".into());
    gateway.billing = Some(sheepdog::pricing::currency::Billing::new("CNY", 1.0).expect("billing"));
    let options = EstimateOptions {
        input,
        models: Some(vec![
            ModelSpec::model("gpt-4.1"),
            ModelSpec::model("gpt-4.1-mini"),
            gateway,
        ]),
        output: OutputTokens::MaxTokens,
        cache_hit_rate: 0.3,
        per_month: Some(1_000_000),
        money: Money::new(Some("CNY"), Some(7.1)).expect("money"),
        threads: 2,
        endpoint: sheepdog::provider::ApiEndpoint::Chat,
    };
    let prices = PriceTable::builtin().expect("built-in prices");
    let mut e = estimate::estimate(&options, &prices).expect("estimate");
    e.input = "prompts.jsonl".into();
    e
}

#[test]
fn estimate_text() {
    insta::assert_snapshot!(estimate::render::render(&estimate(), estimate::render::Format::Text));
}

#[test]
fn estimate_markdown() {
    insta::assert_snapshot!(estimate::render::render(
        &estimate(),
        estimate::render::Format::Markdown
    ));
}

#[test]
fn estimate_json_has_every_field() {
    let value: Value =
        serde_json::from_str(&estimate::render::render(&estimate(), estimate::render::Format::Json)).expect("JSON");
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).expect("JSON"));
}
