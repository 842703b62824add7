//! The lines of `results.jsonl` / `errors.jsonl`: the OpenAI Batch output shape (`id`,
//! `custom_id`, `response`, `error`), plus the `sheepdog` block in the default format, or with
//! that block in the sidecar `sheepdog.jsonl` in the strict `openai` format
//! ([`super::format::OutputFormat`]).

use serde_json::{json, Value};

use super::format::OutputFormat;
use crate::record::{Outcome, Rejected};

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
    serde_json::to_value(item_line(outcome)).unwrap_or(Value::Null)
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

/// The line of `outcome` in `format`.
pub fn render_as(outcome: &Outcome, unfinished: bool, format: OutputFormat) -> Result<RenderedLine, serde_json::Error> {
    let mut line = item_line(outcome);
    if unfinished {
        line.sheepdog["unfinished"] = Value::Bool(true);
    }
    let with_newline = |value: &dyn erased::Line| -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = Vec::with_capacity(1024);
        value.write(&mut bytes)?;
        bytes.push(b'\n');
        Ok(bytes)
    };
    match format {
        OutputFormat::Sheepdog => Ok(RenderedLine {
            main: with_newline(&line)?,
            sidecar: None,
            unfinished,
        }),
        OutputFormat::OpenAi => {
            let file = if outcome.result.is_ok() { "results" } else { "errors" };
            let sidecar = sidecar_line(&line, file);
            line.sheepdog = Value::Null;
            Ok(RenderedLine {
                main: with_newline(&line)?,
                sidecar: Some(with_newline(&sidecar)?),
                unfinished,
            })
        }
    }
}

/// The line of `outcome` with `id` as its `id` and `extra` added to its `sheepdog` block (an
/// item answered through a provider's Batch API: `via`, the batch id, ...). Default format; a
/// writer in the `openai` format renders the item again in its own.
pub fn render_extended(outcome: &Outcome, id: &str, extra: Value) -> Result<RenderedLine, serde_json::Error> {
    let mut line = item_line(outcome);
    line.id = id.to_string();
    extend(&mut line.sheepdog, extra);
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, &line)?;
    bytes.push(b'\n');
    Ok(RenderedLine {
        main: bytes,
        sidecar: None,
        unfinished: false,
    })
}

/// Serialization of either line kind without naming its type.
mod erased {
    pub trait Line {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
    }

    impl<T: serde::Serialize> Line for T {
        fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
            serde_json::to_writer(out, self)
        }
    }
}

/// The sidecar line of an item: everything of its line but the response body, keyed by the
/// input line and naming the file that holds the line itself.
fn sidecar_line(line: &ItemLine<'_>, file: &str) -> Value {
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
        "line": line.sheepdog["line"],
        "file": file,
        "id": line.id,
        "custom_id": line.custom_id,
        "response": response,
        "error": line.error,
        "sheepdog": line.sheepdog,
    })
}

/// A result line that borrows the response body instead of copying it (the bulk of the line).
#[derive(serde::Serialize)]
struct ItemLine<'a> {
    id: String,
    custom_id: &'a str,
    response: Response<'a>,
    error: Value,
    #[serde(skip_serializing_if = "Value::is_null")]
    sheepdog: Value,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Response<'a> {
    Answer {
        status_code: u16,
        request_id: String,
        body: &'a Value,
    },
    Other(Value),
}

/// The `request_id` of a line: the server's (`x-request-id`, or the body's `id`), or one made
/// from the line and the number of requests, since OpenAI's format has no null there.
fn request_id(server: Option<&str>, outcome: &Outcome) -> String {
    match server {
        Some(id) => id.to_string(),
        None => format!("req_sheepdog_{}_{}", outcome.line, outcome.attempts.len()),
    }
}

fn item_line(outcome: &Outcome) -> ItemLine<'_> {
    let last = outcome.attempts.last();
    let mut block = json!({
        "line": outcome.line,
        "attempts": outcome.attempts.len(),
        "fallbacks": outcome.fallbacks(),
        "targets_tried": targets_tried(outcome),
        "attempt_log": attempt_log(outcome),
    });
    let (response, error) = match &outcome.result {
        Ok(s) => {
            extend(
                &mut block,
                json!({
                    "target": s.target,
                    "model": s.model,
                    "latency_ms": ms(s.latency),
                    "ttft_ms": s.ttft.map(ms),
                    "itl_ms": s.stream.and_then(|t| t.itl).map(ms),
                    "tpot_ms": s.stream.and_then(|t| t.tpot).map(ms),
                    "input_tokens": s.usage.input_tokens,
                    "cached_input_tokens": s.usage.cached_input_tokens,
                    "output_tokens": s.usage.output_tokens,
                    "output_tokens_estimated": s.stream.is_some_and(|t| t.output_tokens_estimated),
                    "output_tokens_per_s": per_second(s.usage.output_tokens, s.latency),
                    "cost_usd": usd(s.cost_usd),
                }),
            );
            if let Some(hit) = s.cache_hit {
                extend(&mut block, json!({"cache_hit": true, "saved_usd": usd(hit.saved_usd)}));
            }
            (
                Response::Answer {
                    status_code: s.status,
                    request_id: request_id(s.request_id.as_deref(), outcome),
                    body: &s.body,
                },
                Value::Null,
            )
        }
        Err(e) => {
            extend(
                &mut block,
                json!({
                    "target": last.map(|a| a.target.clone()),
                    "model": last.map(|a| a.model.clone()),
                    "error_class": e.class,
                    "error_status": e.status,
                    "cost_usd": usd(outcome.cost_usd()),
                }),
            );
            let response = match e.status {
                Some(status) => json!({
                    "status_code": status,
                    "request_id": request_id(None, outcome),
                    "body": {"error": {"message": e.message, "code": e.code}},
                }),
                None => Value::Null,
            };
            (
                Response::Other(response),
                json!({"code": e.code.clone().unwrap_or_else(|| e.class.to_string()), "message": e.message}),
            )
        }
    };
    if let Some(metadata) = &outcome.metadata {
        extend(&mut block, json!({ "metadata": metadata }));
    }
    ItemLine {
        id: format!("sheepdog-{}", outcome.line),
        custom_id: &outcome.id,
        response,
        error,
        sheepdog: block,
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
fn targets_tried(outcome: &Outcome) -> Vec<Value> {
    let mut tried: Vec<Value> = Vec::new();
    for attempt in &outcome.attempts {
        let left_because = attempt.error.as_ref().map(|e| e.class.as_str());
        match tried.last_mut() {
            Some(last) if last["target"] == attempt.target.as_str() => {
                last["attempts"] = json!(attempt.number);
                last["result"] = json!(left_because.unwrap_or("ok"));
            }
            _ => tried.push(json!({
                "target": attempt.target,
                "attempts": attempt.number,
                "result": left_because.unwrap_or("ok"),
            })),
        }
    }
    tried
}

/// Every request of the item: where it went, what came back and how long it took, so a resume
/// can rebuild the statistics of earlier parts exactly (the attempt-level error table included).
fn attempt_log(outcome: &Outcome) -> Vec<Value> {
    outcome
        .attempts
        .iter()
        .map(|a| {
            json!({
                "target": a.target,
                "model": a.model,
                "status": a.error.as_ref().and_then(|e| e.status).or(a.status),
                "error_class": a.error.as_ref().map(|e| e.class),
                "latency_ms": ms(a.latency),
                "sent_ms": ms(a.sent_at),
            })
        })
        .collect()
}

fn extend(block: &mut Value, more: Value) {
    if let (Value::Object(block), Value::Object(more)) = (block, more) {
        block.extend(more);
    }
}
