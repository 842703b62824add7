//! Writes `results.jsonl` and `errors.jsonl`: one complete line per item, in the OpenAI Batch
//! output format plus a `sheepdog` block, appended and flushed as items finish.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::record::{Outcome, Rejected};

pub const RESULTS_FILE: &str = "results.jsonl";
pub const ERRORS_FILE: &str = "errors.jsonl";

/// A write to the run folder failed: the run must stop rather than pay for answers it cannot keep.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot write: {source}", .path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub struct ResultsWriter {
    results: Sink,
    errors: Sink,
}

struct Sink {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Sink {
    fn open(path: PathBuf) -> Result<Sink, WriteError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| WriteError {
                path: path.clone(),
                source,
            })?;
        Ok(Sink {
            path,
            file: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    fn line(&mut self, value: &Value) -> Result<(), WriteError> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| self.fail(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        self.file.flush().map_err(|e| self.fail(e))
    }

    fn fail(&self, source: std::io::Error) -> WriteError {
        WriteError {
            path: self.path.clone(),
            source,
        }
    }
}

impl ResultsWriter {
    /// Opens (creating or appending to) both files in `dir`.
    pub fn open(dir: &Path) -> Result<ResultsWriter, WriteError> {
        Ok(ResultsWriter {
            results: Sink::open(dir.join(RESULTS_FILE))?,
            errors: Sink::open(dir.join(ERRORS_FILE))?,
        })
    }

    pub fn write_outcome(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        match &outcome.result {
            Ok(_) => self.results.line(&result_line(outcome)),
            Err(_) => self.errors.line(&result_line(outcome)),
        }
    }

    pub fn write_rejected(&mut self, rejected: &Rejected) -> Result<(), WriteError> {
        self.errors.line(&rejected_line(rejected))
    }

    /// Pushes buffered lines to the operating system.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.results.flush()?;
        self.errors.flush()
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Dollars without float noise (0.0000756, not 0.00007560000000000001).
fn usd(cost: Option<f64>) -> Option<f64> {
    cost.map(|c| (c * 1e12).round() / 1e12)
}

/// The line of a finished item: OpenAI Batch output shape plus the `sheepdog` block.
pub fn result_line(outcome: &Outcome) -> Value {
    let last = outcome.attempts.last();
    let mut block = json!({
        "line": outcome.line,
        "attempts": outcome.attempts.len(),
        "fallbacks": outcome.fallbacks(),
        "targets_tried": targets_tried(outcome),
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
                    "input_tokens": s.usage.input_tokens,
                    "cached_input_tokens": s.usage.cached_input_tokens,
                    "output_tokens": s.usage.output_tokens,
                    "cost_usd": usd(s.cost_usd),
                }),
            );
            (
                json!({"status_code": s.status, "request_id": s.request_id, "body": s.body}),
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
                    "cost_usd": usd(outcome.cost_usd()),
                }),
            );
            let response = match e.status {
                Some(status) => json!({
                    "status_code": status,
                    "request_id": Value::Null,
                    "body": {"error": {"message": e.message, "code": e.code}},
                }),
                None => Value::Null,
            };
            (
                response,
                json!({"code": e.code.clone().unwrap_or_else(|| e.class.to_string()), "message": e.message}),
            )
        }
    };
    if let Some(metadata) = &outcome.metadata {
        extend(&mut block, json!({ "metadata": metadata }));
    }
    json!({
        "id": format!("sheepdog-{}", outcome.line),
        "custom_id": outcome.id,
        "response": response,
        "error": error,
        "sheepdog": block,
    })
}

/// The line of an input line that was not sent.
pub fn rejected_line(rejected: &Rejected) -> Value {
    json!({
        "id": format!("sheepdog-{}", rejected.line),
        "custom_id": rejected.id,
        "response": Value::Null,
        "error": {"code": "invalid_input", "message": format!("line {}: {}", rejected.line, rejected.reason)},
        "sheepdog": {"line": rejected.line, "error_class": "invalid_input", "attempts": 0},
    })
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

fn extend(block: &mut Value, more: Value) {
    if let (Value::Object(block), Value::Object(more)) = (block, more) {
        block.extend(more);
    }
}
