//! The lines of `results.jsonl` / `errors.jsonl`: the OpenAI Batch output shape (`id`,
//! `custom_id`, `response`, `error`), plus the `sheepdog` block in the default format, or with
//! that block in the sidecar `sheepdog.jsonl` in the strict `openai` format
//! ([`super::format::OutputFormat`]).

use std::borrow::Cow;

use serde_json::{json, Value};

use super::format::OutputFormat;
use crate::record::{Outcome, Rejected, Success};

mod succeeded;

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Output tokens per second of the whole request (tokens / e2e latency), to 0.1.
fn per_second(tokens: u64, latency: std::time::Duration) -> Option<f64> {
    let secs = latency.as_secs_f64();
    (secs > 0.0).then(|| (tokens as f64 / secs * 10.0).round() / 10.0)
}

/// Dollars without float noise (0.0000756, not 0.00007560000000000001).
fn usd(cost: Option<f64>) -> Option<f64> {
    cost.map(|c| (c * 1e12).round() / 1e12)
}

/// The line of a finished item: OpenAI Batch output shape plus the `sheepdog` block.
pub fn result_line(outcome: &Outcome) -> Value {
    serde_json::to_value(item_line(outcome, false)).unwrap_or(Value::Null)
}

/// A result or error line serialized with its newline, and in the `openai` format the
/// sidecar line that carries its `sheepdog` block.
#[derive(Debug, Clone)]
pub struct RenderedLine {
    pub(super) main: Vec<u8>,
    pub(super) sidecar: Option<Vec<u8>>,
    pub(super) unfinished: bool,
}

/// The line of `outcome` in the default format (marked `"unfinished": true` if so, see
/// [`super::ResultsWriter::write_unfinished`]), ready for [`super::ResultsWriter::write_rendered`].
pub fn render(outcome: &Outcome, unfinished: bool) -> Result<RenderedLine, serde_json::Error> {
    render_as(outcome, unfinished, OutputFormat::Sheepdog)
}

/// The line of `outcome` in `format`, serialized straight from the outcome (no `Value` built on
/// the way: this runs once per request); a succeeded item's line in the default format is
/// written by hand ([`succeeded`]).
pub fn render_as(outcome: &Outcome, unfinished: bool, format: OutputFormat) -> Result<RenderedLine, serde_json::Error> {
    if let (OutputFormat::Sheepdog, Ok(success)) = (format, &outcome.result) {
        return Ok(RenderedLine {
            main: succeeded::line(outcome, success, unfinished)?,
            sidecar: None,
            unfinished,
        });
    }
    let line = item_line(outcome, unfinished);
    match format {
        OutputFormat::Sheepdog => Ok(RenderedLine {
            main: with_newline(&line)?,
            sidecar: None,
            unfinished,
        }),
        OutputFormat::OpenAi => {
            let file = if outcome.result.is_ok() { "results" } else { "errors" };
            let block = serde_json::to_value(&line.sheepdog)?;
            let sidecar = sidecar_line(&line, &block, file);
            let line = ItemLine::<Block<'_>> { sheepdog: None, ..line };
            Ok(RenderedLine {
                main: with_newline(&line)?,
                sidecar: Some(with_newline(&sidecar)?),
                unfinished,
            })
        }
    }
}

fn with_newline(value: &impl serde::Serialize) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The line of `outcome` with `id` as its `id` and `extra` added to its `sheepdog` block (an
/// item answered through a provider's Batch API: `via`, the batch id, ...). Default format; a
/// writer in the `openai` format renders the item again in its own.
pub fn render_extended(outcome: &Outcome, id: &str, extra: Value) -> Result<RenderedLine, serde_json::Error> {
    let line = item_line(outcome, false);
    let mut block = serde_json::to_value(&line.sheepdog)?;
    extend(&mut block, extra);
    let line = ItemLine {
        id: LineId::Given(id),
        sheepdog: Some(block),
        custom_id: line.custom_id,
        response: line.response,
        error: line.error,
    };
    Ok(RenderedLine {
        main: with_newline(&line)?,
        sidecar: None,
        unfinished: false,
    })
}

/// The sidecar line of an item: everything of its line but the response body, keyed by the
/// input line and naming the file that holds the line itself.
fn sidecar_line(line: &ItemLine<'_, Block<'_>>, block: &Value, file: &str) -> Value {
    let response = match &line.response {
        Response::Answer {
            status_code,
            request_id,
            ..
        } => json!({"status_code": status_code, "request_id": request_id}),
        Response::Other(Value::Null) => Value::Null,
        Response::Other(other) => json!({"status_code": other["status_code"], "request_id": other["request_id"]}),
    };
    json!({
        "line": block["line"],
        "file": file,
        "id": line.id,
        "custom_id": line.custom_id,
        "response": response,
        "error": line.error,
        "sheepdog": block,
    })
}

/// A result line that borrows the response body instead of copying it (the bulk of the line).
#[derive(serde::Serialize)]
struct ItemLine<'a, B> {
    id: LineId<'a>,
    custom_id: &'a str,
    response: Response<'a>,
    error: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    sheepdog: Option<B>,
}

/// `sheepdog-<line>`, written without a `String` of its own, or an id given by the caller.
enum LineId<'a> {
    Line(u64),
    Given(&'a str),
}

impl serde::Serialize for LineId<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LineId::Line(line) => serializer.collect_str(&format_args!("sheepdog-{line}")),
            LineId::Given(id) => serializer.serialize_str(id),
        }
    }
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Response<'a> {
    Answer {
        status_code: u16,
        request_id: Cow<'a, str>,
        /// The answer's bytes as they came, not parsed again.
        body: &'a crate::record::JsonText,
    },
    Other(Value),
}

/// The `sheepdog` block of a line, in the order its keys are written.
#[derive(serde::Serialize)]
struct Block<'a> {
    line: u64,
    attempts: usize,
    fallbacks: u32,
    targets_tried: Vec<Tried<'a>>,
    attempt_log: Vec<Logged<'a>>,
    #[serde(flatten)]
    end: End<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unfinished: bool,
}

/// The block's keys that depend on how the item ended.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum End<'a> {
    Succeeded {
        target: &'a str,
        model: &'a str,
        latency_ms: f64,
        ttft_ms: Option<f64>,
        itl_ms: Option<f64>,
        tpot_ms: Option<f64>,
        input_tokens: u64,
        cached_input_tokens: u64,
        output_tokens: u64,
        output_tokens_estimated: bool,
        output_tokens_per_s: Option<f64>,
        cost_usd: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_hit: Option<bool>,
        /// `Some(None)`: a cache hit of a model without a price (written as null).
        #[serde(skip_serializing_if = "Option::is_none")]
        saved_usd: Option<Option<f64>>,
    },
    Failed {
        target: Option<&'a str>,
        model: Option<&'a str>,
        error_class: crate::record::ErrorClass,
        error_status: Option<u16>,
        cost_usd: Option<f64>,
    },
}

/// One target of `targets_tried`.
#[derive(serde::Serialize)]
struct Tried<'a> {
    target: &'a str,
    attempts: u32,
    result: &'a str,
}

/// One request of `attempt_log`.
#[derive(serde::Serialize)]
struct Logged<'a> {
    target: &'a str,
    model: &'a str,
    status: Option<u16>,
    error_class: Option<crate::record::ErrorClass>,
    latency_ms: f64,
    sent_ms: f64,
}

/// The `request_id` of a line: the server's (`x-request-id`, or the body's `id`), or one made
/// from the line and the number of requests, since OpenAI's format has no null there.
fn request_id<'a>(server: Option<&'a str>, outcome: &Outcome) -> Cow<'a, str> {
    match server {
        Some(id) => Cow::Borrowed(id),
        None => Cow::Owned(format!("req_sheepdog_{}_{}", outcome.line, outcome.attempts.len())),
    }
}

/// The block's end of an item that succeeded with `s`.
fn succeeded_end(s: &Success) -> End<'_> {
    End::Succeeded {
        target: &s.target,
        model: &s.model,
        latency_ms: ms(s.latency),
        ttft_ms: s.ttft.map(ms),
        itl_ms: s.stream.and_then(|t| t.itl).map(ms),
        tpot_ms: s.stream.and_then(|t| t.tpot).map(ms),
        input_tokens: s.usage.input_tokens,
        cached_input_tokens: s.usage.cached_input_tokens,
        output_tokens: s.usage.output_tokens,
        output_tokens_estimated: s.stream.is_some_and(|t| t.output_tokens_estimated),
        output_tokens_per_s: per_second(s.usage.output_tokens, s.latency),
        cost_usd: usd(s.cost_usd),
        cache_hit: s.cache_hit.map(|_| true),
        saved_usd: s.cache_hit.map(|hit| usd(hit.saved_usd)),
    }
}

fn item_line(outcome: &Outcome, unfinished: bool) -> ItemLine<'_, Block<'_>> {
    let last = outcome.attempts.last();
    let (end, response, error) = match &outcome.result {
        Ok(s) => (
            succeeded_end(s),
            Response::Answer {
                status_code: s.status,
                request_id: request_id(s.request_id.as_deref(), outcome),
                body: &s.body,
            },
            Value::Null,
        ),
        Err(e) => {
            let response = match e.status {
                Some(status) => json!({
                    "status_code": status,
                    "request_id": request_id(None, outcome),
                    "body": {"error": {"message": e.message, "code": e.code}},
                }),
                None => Value::Null,
            };
            (
                End::Failed {
                    target: last.map(|a| a.target.as_str()),
                    model: last.map(|a| a.model.as_str()),
                    error_class: e.class,
                    error_status: e.status,
                    cost_usd: usd(outcome.cost_usd()),
                },
                Response::Other(response),
                json!({"code": e.code.clone().unwrap_or_else(|| e.class.to_string()), "message": e.message}),
            )
        }
    };
    ItemLine {
        id: LineId::Line(outcome.line),
        custom_id: &outcome.id,
        response,
        error,
        sheepdog: Some(Block {
            line: outcome.line,
            attempts: outcome.attempts.len(),
            fallbacks: outcome.fallbacks(),
            targets_tried: targets_tried(outcome),
            attempt_log: attempt_log(outcome),
            end,
            metadata: outcome.metadata.as_ref(),
            unfinished,
        }),
    }
}

/// The line of an input line that was not sent (its `custom_id` is `line-<n>` when the line
/// had none, or was not JSON), and in the `openai` format its sidecar line.
pub fn rejected_lines(rejected: &Rejected, format: OutputFormat) -> (Value, Option<Value>) {
    let custom_id = rejected.id.clone().unwrap_or_else(|| format!("line-{}", rejected.line));
    let mut line = json!({
        "id": format!("sheepdog-{}", rejected.line),
        "custom_id": custom_id,
        "response": Value::Null,
        "error": {"code": "invalid_input", "message": format!("line {}: {}", rejected.line, rejected.reason)},
    });
    let block = json!({"line": rejected.line, "error_class": "invalid_input", "attempts": 0});
    match format {
        OutputFormat::Sheepdog => {
            line["sheepdog"] = block;
            (line, None)
        }
        OutputFormat::OpenAi => {
            let sidecar = json!({
                "line": rejected.line,
                "file": "errors",
                "id": line["id"],
                "custom_id": line["custom_id"],
                "response": Value::Null,
                "error": line["error"],
                "sheepdog": block,
            });
            (line, Some(sidecar))
        }
    }
}

/// Each target the item went to, in order, with why it left it.
fn targets_tried(outcome: &Outcome) -> Vec<Tried<'_>> {
    let mut tried: Vec<Tried<'_>> = Vec::new();
    for attempt in &outcome.attempts {
        let result = attempt.error.as_ref().map_or("ok", |e| e.class.as_str());
        match tried.last_mut() {
            Some(last) if last.target == attempt.target => {
                last.attempts = attempt.number;
                last.result = result;
            }
            _ => tried.push(Tried {
                target: &attempt.target,
                attempts: attempt.number,
                result,
            }),
        }
    }
    tried
}

/// Every request of the item: where it went, what came back and how long it took, so a resume
/// can rebuild the statistics of earlier parts exactly (the attempt-level error table included).
fn attempt_log(outcome: &Outcome) -> Vec<Logged<'_>> {
    outcome
        .attempts
        .iter()
        .map(|a| Logged {
            target: &a.target,
            model: &a.model,
            status: a.error.as_ref().and_then(|e| e.status).or(a.status),
            error_class: a.error.as_ref().map(|e| e.class),
            latency_ms: ms(a.latency),
            sent_ms: ms(a.sent_at),
        })
        .collect()
}

fn extend(block: &mut Value, more: Value) {
    if let (Value::Object(block), Value::Object(more)) = (block, more) {
        block.extend(more);
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
