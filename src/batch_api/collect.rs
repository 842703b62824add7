//! Turning a finished batch into result and error lines: each line of its output file is a
//! result, each line of its error file an error, and a line in neither (or in a batch that
//! failed, expired or was cancelled) an error that says why. Lines are written with the same
//! writer as a live run, plus `via: "batch_api"`, the batch id, and the cost at batch prices.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::state::PartState;
use super::BatchError;
use crate::output::lineset::LineSet;
use crate::output::{render_extended, ResultsWriter};
use crate::pricing::Price;
use crate::provider::ApiEndpoint;
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Success, Usage};
use crate::stats::Collector;

/// What the lines of a part are written with.
pub struct Context<'a> {
    pub target: &'a str,
    pub prices: &'a crate::pricing::PriceTable,
}

/// One line of the part's input file.
struct Sent {
    custom_id: String,
    line: u64,
    model: String,
    /// Where the line is in the part's file.
    span: std::ops::Range<usize>,
}

/// Writes the line of every item of `part` that has none yet; returns how many were written.
#[allow(clippy::too_many_arguments)]
pub fn collect(
    dir: &Path,
    part: &PartState,
    output: &[u8],
    errors: &[u8],
    context: &Context<'_>,
    writer: &mut ResultsWriter,
    collector: &mut Collector,
    done: &mut LineSet,
) -> Result<u64, BatchError> {
    let (file, sent) = read_part(dir, part)?;
    let mut answers: HashMap<&str, (Value, bool)> = HashMap::new();
    let parsed: Vec<(Value, bool)> = [(output, true), (errors, false)]
        .into_iter()
        .flat_map(|(bytes, ok)| {
            bytes
                .split(|&b| b == b'\n')
                .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
                .map(move |v| (v, ok))
        })
        .collect();
    for (value, ok) in &parsed {
        if let Some(id) = value["custom_id"].as_str() {
            answers.entry(id).or_insert_with(|| (value.clone(), *ok));
        }
    }
    let latency = Duration::from_millis(part.latency_ms().unwrap_or(0));
    let batch_id = part.batch_id.clone().unwrap_or_default();
    let mut written = 0;
    for item in &sent {
        if done.contains(item.line) {
            continue;
        }
        let price = context.prices.get(&item.model);
        let (outcome, id, live_cost) = match answers.get(item.custom_id.as_str()) {
            Some((value, ok)) => outcome_of(
                Answer {
                    endpoint: part.endpoint,
                    item,
                    request: &file[item.span.clone()],
                    value,
                    ok: *ok && succeeded(value),
                },
                context.target,
                price,
                latency,
            ),
            None => (
                missing(item, part, context.target),
                format!("sheepdog-{}", item.line),
                None,
            ),
        };
        let extra = json!({
            "via": "batch_api",
            "batch_id": batch_id,
            "batch_latency_ms": latency.as_millis() as u64,
            "live_cost_usd": live_cost.map(|c| (c * 1e12).round() / 1e12),
        });
        let line = render_extended(&outcome, &id, extra).map_err(|e| BatchError::Setup(e.to_string()))?;
        writer.write_rendered(&outcome, &line)?;
        collector.record_batch(&outcome);
        done.insert(item.line);
        written += 1;
    }
    writer.sync()?;
    Ok(written)
}

fn succeeded(value: &Value) -> bool {
    value["response"]["status_code"]
        .as_u64()
        .is_some_and(|s| (200..300).contains(&s))
}

/// The part's file, and its lines.
fn read_part(dir: &Path, part: &PartState) -> Result<(Vec<u8>, Vec<Sent>), BatchError> {
    let lines = super::split::read_index(dir, part)?;
    let path = dir.join(&part.file);
    let text = std::fs::read(&path).map_err(|e| BatchError::Setup(format!("{}: cannot read: {e}", path.display())))?;
    let mut sent = Vec::with_capacity(lines.len());
    let mut start = 0;
    let spans = text.split(|&b| b == b'\n').map(|bytes| {
        let span = start..start + bytes.len();
        start = span.end + 1;
        span
    });
    for (span, line) in spans.filter(|span| !span.is_empty()).zip(lines) {
        let value: Value = serde_json::from_slice(&text[span.clone()])
            .map_err(|e| BatchError::Setup(format!("{}: damaged line: {e}", path.display())))?;
        sent.push(Sent {
            custom_id: value["custom_id"].as_str().unwrap_or_default().to_string(),
            line,
            model: value["body"]["model"].as_str().unwrap_or_default().to_string(),
            span,
        });
    }
    Ok((text, sent))
}

/// Input tokens of a request whose answer has no `usage` (moderations), counted with the
/// tokenizer of its model, as the live path counts them.
fn counted_usage(endpoint: ApiEndpoint, model: &str, request: &[u8]) -> Usage {
    let line: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let (encoding, _) = crate::tokens::encoding_for_model(model);
    Usage {
        input_tokens: endpoint.prompt_tokens(encoding, &line["body"]),
        ..Usage::default()
    }
}

/// Cost at batch prices, and at live prices, of `usage`. A model without a batch price has no
/// batch cost (never a guess).
pub fn costs(price: Option<&Price>, usage: &Usage) -> (Option<f64>, Option<f64>) {
    let Some(price) = price else { return (None, None) };
    let live = price.cost_usd(usage);
    let batch = match (price.batch_input, price.batch_output) {
        (Some(input), Some(output)) => {
            let ratio = if price.input > 0.0 { input / price.input } else { 1.0 };
            let at_batch = Price {
                input,
                output,
                cached_input: price.cached_input.map(|c| c * ratio),
                cache_write: price.cache_write.map(|c| c * ratio),
                tiers: Vec::new(),
                ..price.clone()
            };
            Some(at_batch.cost_usd(usage))
        }
        _ => None,
    };
    (batch, Some(live))
}

/// A line of the output or error file, and the request it answers.
struct Answer<'a> {
    endpoint: ApiEndpoint,
    item: &'a Sent,
    /// The request's line in the part's file.
    request: &'a [u8],
    value: &'a Value,
    /// A 2xx in the output file.
    ok: bool,
}

fn outcome_of(
    answer: Answer<'_>,
    target: &str,
    price: Option<&Price>,
    latency: Duration,
) -> (Outcome, String, Option<f64>) {
    let Answer {
        endpoint,
        item,
        value,
        ok,
        ..
    } = answer;
    let id = value["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("sheepdog-{}", item.line));
    let response = &value["response"];
    let status = response["status_code"].as_u64().and_then(|s| u16::try_from(s).ok());
    let mut attempt = Attempt {
        target: target.to_string(),
        model: item.model.clone(),
        number: 1,
        sent_at: Duration::ZERO,
        latency,
        ttft: None,
        stream: None,
        status,
        usage: None,
        cost_usd: None,
        error: None,
        concurrency_limit: None,
    };
    if ok {
        let body = &response["body"];
        let usage = endpoint
            .parse_usage(body)
            .unwrap_or_else(|| counted_usage(endpoint, &item.model, answer.request));
        let (batch_cost, live_cost) = costs(price, &usage);
        attempt.usage = Some(usage);
        attempt.cost_usd = batch_cost;
        let success = Success {
            target: target.to_string(),
            model: item.model.clone(),
            status: status.unwrap_or(200),
            request_id: response["request_id"].as_str().map(str::to_string),
            body: crate::record::raw_body(body),
            usage,
            latency,
            ttft: None,
            stream: None,
            cost_usd: batch_cost,
            cache_hit: None,
        };
        let outcome = Outcome {
            id: item.custom_id.clone(),
            line: item.line,
            metadata: None,
            attempts: vec![attempt],
            result: Ok(success),
        };
        return (outcome, id, live_cost);
    }
    let said = if response.is_object() {
        &response["body"]["error"]
    } else {
        &value["error"]
    };
    let code = said["code"].as_str().map(str::to_string);
    let error = ErrorInfo {
        class: class_of(status, code.as_deref()),
        status,
        message: said["message"]
            .as_str()
            .unwrap_or("the batch reported an error for this line")
            .to_string(),
        code,
    };
    attempt.error = Some(error.clone());
    let outcome = Outcome {
        id: item.custom_id.clone(),
        line: item.line,
        metadata: None,
        attempts: vec![attempt],
        result: Err(error),
    };
    (outcome, id, None)
}

/// A line the batch did not answer: why depends on how the batch ended.
fn missing(item: &Sent, part: &PartState, target: &str) -> Outcome {
    let status = part.status.as_deref().unwrap_or("unknown");
    let (class, code, message) = match status {
        "failed" => (
            ErrorClass::BadRequest,
            "batch_failed",
            format!(
                "the batch failed: {}",
                part.failure.as_deref().unwrap_or("no reason given")
            ),
        ),
        "expired" => (
            ErrorClass::Timeout,
            "batch_expired",
            "the batch expired before this line was answered".to_string(),
        ),
        "cancelled" => (
            ErrorClass::Lost,
            "batch_cancelled",
            "the batch was cancelled before this line was answered".to_string(),
        ),
        _ => (
            ErrorClass::Lost,
            "missing_from_batch",
            format!("the batch ended {status} but this line is in neither its output nor its error file"),
        ),
    };
    let error = ErrorInfo {
        class,
        status: None,
        message,
        code: Some(code.to_string()),
    };
    Outcome {
        id: item.custom_id.clone(),
        line: item.line,
        metadata: None,
        attempts: vec![Attempt {
            target: target.to_string(),
            model: item.model.clone(),
            number: 1,
            sent_at: Duration::ZERO,
            latency: Duration::ZERO,
            ttft: None,
            stream: None,
            status: None,
            usage: None,
            cost_usd: None,
            error: Some(error.clone()),
            concurrency_limit: None,
        }],
        result: Err(error),
    }
}

/// The class of a line's error, from its HTTP status (or the Batch API's code).
fn class_of(status: Option<u16>, code: Option<&str>) -> ErrorClass {
    match (status, code) {
        (_, Some("insufficient_quota")) => ErrorClass::InsufficientQuota,
        (_, Some("batch_expired")) => ErrorClass::Timeout,
        (Some(429), _) => ErrorClass::RateLimited,
        (Some(401 | 403), _) => ErrorClass::Auth,
        (Some(404), _) => ErrorClass::NotFound,
        (Some(408 | 409), _) => ErrorClass::Conflict,
        (Some(500..=599), _) => ErrorClass::ServerError,
        (Some(_), _) => ErrorClass::BadRequest,
        (None, _) => ErrorClass::ServerError,
    }
}
