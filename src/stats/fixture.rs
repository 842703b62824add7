//! Hand-built outcomes of a small run, shared by the stats and report tests.
//!
//! Targets: `deepseek` and `gpt41` are priced, `local` (model `llama-free`) is not.
//!
//! | item | attempts                                            | result               |
//! |------|-----------------------------------------------------|----------------------|
//! | a1   | deepseek ok 100 ms (ttft 20 ms)                     | ok, $0.001           |
//! | a2   | deepseek ok 200 ms                                  | ok, $0.002           |
//! | a3   | deepseek 429, deepseek ok 300 ms                    | ok, $0.0005 (retry)  |
//! | a4   | deepseek 503, deepseek 503, gpt41 ok 400 ms (40 ms) | ok, $0.004 (fallback)|
//! | a5   | local ok 500 ms                                     | ok, no price         |
//! | a6   | deepseek timeout, deepseek timeout                  | failed timeout       |
//! | a7   | gpt41 400                                           | failed bad_request   |
//!
//! plus one rejected input line (line 8).

use std::time::Duration;

use serde_json::json;

use super::summary::{JobInfo, Summary};
use super::{Collector, TargetInfo};
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Rejected, Success, Usage};

pub(crate) fn targets() -> Vec<TargetInfo> {
    let t = |name: &str, provider: &str, model: &str| TargetInfo {
        name: name.into(),
        provider: provider.into(),
        model: model.into(),
    };
    vec![
        t("deepseek", "holysheep", "deepseek-chat"),
        t("gpt41", "openai", "gpt-4.1"),
        t("local", "local", "llama-free"),
    ]
}

fn model_of(target: &str) -> &'static str {
    match target {
        "deepseek" => "deepseek-chat",
        "gpt41" => "gpt-4.1",
        "local" => "llama-free",
        _ => "other-model",
    }
}

pub(crate) fn usage(input: u64, cached: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: 0,
        output_tokens: output,
    }
}

pub(crate) fn error(class: ErrorClass, status: Option<u16>) -> ErrorInfo {
    ErrorInfo {
        class,
        status,
        message: format!("{class} happened"),
        code: None,
    }
}

pub(crate) fn failed_attempt(target: &str, number: u32, err: ErrorInfo) -> Attempt {
    Attempt {
        target: target.into(),
        model: model_of(target).into(),
        number,
        sent_at: Duration::ZERO,
        latency: Duration::from_millis(50),
        ttft: None,
        stream: None,
        status: err.status,
        usage: None,
        cost_usd: None,
        error: Some(err),
        concurrency_limit: None,
    }
}

/// A successful attempt and the matching `Success`.
pub(crate) fn ok(
    target: &str,
    number: u32,
    latency_ms: u64,
    ttft_ms: Option<u64>,
    usage: Usage,
    cost_usd: Option<f64>,
) -> (Attempt, Success) {
    let latency = Duration::from_millis(latency_ms);
    let ttft = ttft_ms.map(Duration::from_millis);
    let attempt = Attempt {
        target: target.into(),
        model: model_of(target).into(),
        number,
        sent_at: Duration::ZERO,
        latency,
        ttft,
        stream: None,
        status: Some(200),
        usage: Some(usage),
        cost_usd,
        error: None,
        concurrency_limit: None,
    };
    let success = Success {
        target: target.into(),
        model: model_of(target).into(),
        status: 200,
        request_id: Some("req-1".into()),
        body: crate::record::raw_body(&json!({"choices": []})),
        usage,
        latency,
        ttft,
        stream: None,
        cost_usd,
        cache_hit: None,
    };
    (attempt, success)
}

pub(crate) fn succeeded(id: &str, mut before: Vec<Attempt>, last: (Attempt, Success)) -> Outcome {
    before.push(last.0);
    Outcome {
        id: id.into(),
        line: 1,
        metadata: None,
        attempts: before,
        result: Ok(last.1),
    }
}

pub(crate) fn failed(id: &str, attempts: Vec<Attempt>) -> Outcome {
    let last = attempts
        .last()
        .and_then(|a| a.error.clone())
        .unwrap_or_else(|| error(ErrorClass::Connect, None));
    Outcome {
        id: id.into(),
        line: 1,
        metadata: None,
        attempts,
        result: Err(last),
    }
}

pub(crate) fn outcomes() -> Vec<Outcome> {
    use ErrorClass::*;
    vec![
        succeeded(
            "a1",
            vec![],
            ok("deepseek", 1, 100, Some(20), usage(1000, 200, 100), Some(0.001)),
        ),
        succeeded(
            "a2",
            vec![],
            ok("deepseek", 1, 200, None, usage(2000, 0, 200), Some(0.002)),
        ),
        succeeded(
            "a3",
            vec![failed_attempt("deepseek", 1, error(RateLimited, Some(429)))],
            ok("deepseek", 2, 300, None, usage(500, 0, 50), Some(0.0005)),
        ),
        succeeded(
            "a4",
            vec![
                failed_attempt("deepseek", 1, error(ServerError, Some(503))),
                failed_attempt("deepseek", 2, error(ServerError, Some(503))),
            ],
            ok("gpt41", 1, 400, Some(40), usage(800, 100, 80), Some(0.004)),
        ),
        succeeded("a5", vec![], ok("local", 1, 500, None, usage(300, 0, 30), None)),
        failed(
            "a6",
            vec![
                failed_attempt("deepseek", 1, error(Timeout, None)),
                failed_attempt("deepseek", 2, error(Timeout, None)),
            ],
        ),
        failed("a7", vec![failed_attempt("gpt41", 1, error(BadRequest, Some(400)))]),
    ]
}

pub(crate) fn job(duration_s: f64) -> JobInfo {
    JobInfo {
        input: "jobs/sample.jsonl".into(),
        out_dir: "reports/sample-20250101T000000Z".into(),
        started_at: "2025-01-01T00:00:00Z".into(),
        finished_at: "2025-01-01T00:00:02Z".into(),
        duration_s,
        aborted: None,
        parts: 1,
        config: json!({"route": {"targets": ["deepseek", "gpt41", "local"]}}),
    }
}

pub(crate) fn collector() -> Collector {
    let mut collector = Collector::new(targets());
    for outcome in outcomes() {
        collector.record(&outcome);
    }
    collector.record_rejected(&Rejected {
        id: None,
        line: 8,
        reason: "line is not valid JSON".into(),
    });
    collector
}

/// The sample run: 8 lines, 2 seconds, nothing unsent.
pub(crate) fn summary() -> Summary {
    collector().finish(job(2.0), 8, 0)
}

/// A run where nothing happened.
pub(crate) fn empty_summary() -> Summary {
    Collector::new(Vec::new()).finish(job(0.0), 0, 0)
}
