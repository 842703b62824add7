//! Writes `results.jsonl` and `errors.jsonl`: one complete line per item, in the OpenAI Batch
//! output format plus a `sheepdog` block, appended and flushed as items finish, and synced to
//! disk when the owner asks ([`ResultsWriter::sync`]). The other files of a run folder: the
//! manifest (`run.json`, [`manifest`]), the resume scan ([`resume`]) and the final reordering
//! of an `--ordered` job ([`reorder`]).

mod atomic;
pub mod journal;
pub mod lineset;
pub mod lock;
pub mod manifest;
pub mod reorder;
pub mod resume;

pub use atomic::write_atomic;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::record::{Outcome, Rejected};

pub const RESULTS_FILE: &str = "results.jsonl";
pub const ERRORS_FILE: &str = "errors.jsonl";
/// Error lines replaced by a resume (`--retry-failed`, or items a stop cut short), kept for the user.
pub const REPLACED_FILE: &str = "errors.replaced.jsonl";

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
    /// `requests.csv`: one row per request.
    requests: crate::report::csv::RequestsCsv,
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

    fn line<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| self.fail(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(|e| self.fail(e))
    }

    /// A line already serialized, newline included.
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.file.write_all(bytes).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        self.file.flush().map_err(|e| self.fail(e))
    }

    fn sync(&mut self) -> Result<(), WriteError> {
        self.file.flush().map_err(|e| self.fail(e))?;
        self.file.get_ref().sync_data().map_err(|e| self.fail(e))?;
        // Writes to a file whose folder was removed succeed, and are lost with it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let links = self.file.get_ref().metadata().map_err(|e| self.fail(e))?.nlink();
            if links == 0 {
                let gone = std::io::Error::new(std::io::ErrorKind::NotFound, "the file was deleted");
                return Err(self.fail(gone));
            }
        }
        Ok(())
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
            requests: crate::report::csv::RequestsCsv::open(dir).map_err(|source| WriteError {
                path: dir.join(crate::report::csv::REQUESTS_FILE),
                source,
            })?,
        })
    }

    pub fn write_outcome(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        self.write_item(outcome, false)
    }

    /// A failed item that did not fail for good: the run was stopping (interrupt, fatal provider
    /// error) while it was being tried. Marked `"unfinished": true`; a resume sends it again.
    pub fn write_unfinished(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        self.write_item(outcome, true)
    }

    fn write_item(&mut self, outcome: &Outcome, unfinished: bool) -> Result<(), WriteError> {
        let line = render(outcome, unfinished).map_err(|e| self.results.fail(std::io::Error::other(e)))?;
        self.write_rendered(outcome, &line)
    }

    /// Writes `outcome` as `line`, made beforehand by [`render`] (workers render in parallel,
    /// so the single writer only copies bytes).
    pub fn write_rendered(&mut self, outcome: &Outcome, line: &RenderedLine) -> Result<(), WriteError> {
        match &outcome.result {
            Ok(_) => self.results.bytes(&line.0),
            Err(_) => self.errors.bytes(&line.0),
        }?;
        let requests = &mut self.requests;
        requests.write_outcome(outcome).map_err(|source| WriteError {
            path: requests.path().to_path_buf(),
            source,
        })
    }

    pub fn write_rejected(&mut self, rejected: &Rejected) -> Result<(), WriteError> {
        self.errors.line(&rejected_line(rejected))
    }

    /// Pushes buffered lines to the operating system.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.results.flush()?;
        self.errors.flush()?;
        let requests = &mut self.requests;
        requests.flush().map_err(|source| WriteError {
            path: requests.path().to_path_buf(),
            source,
        })
    }

    /// Flushes everything, then waits until both result files are on disk (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), WriteError> {
        self.flush()?;
        self.results.sync()?;
        self.errors.sync()
    }
}

/// Makes the entries of `dir` (created, renamed files) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

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

/// A result or error line, serialized with its newline.
#[derive(Debug, Clone)]
pub struct RenderedLine(Vec<u8>);

/// The line of `outcome` (marked `"unfinished": true` if so, see
/// [`ResultsWriter::write_unfinished`]), ready for [`ResultsWriter::write_rendered`].
pub fn render(outcome: &Outcome, unfinished: bool) -> Result<RenderedLine, serde_json::Error> {
    let mut line = item_line(outcome);
    if unfinished {
        line.sheepdog["unfinished"] = Value::Bool(true);
    }
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, &line)?;
    bytes.push(b'\n');
    Ok(RenderedLine(bytes))
}

/// The line of `outcome` with `id` as its `id` and `extra` added to its `sheepdog` block (an
/// item answered through a provider's Batch API: `via`, the batch id, ...).
pub fn render_extended(outcome: &Outcome, id: &str, extra: Value) -> Result<RenderedLine, serde_json::Error> {
    let mut line = item_line(outcome);
    line.id = id.to_string();
    extend(&mut line.sheepdog, extra);
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, &line)?;
    bytes.push(b'\n');
    Ok(RenderedLine(bytes))
}

/// A result line that borrows the response body instead of copying it (the bulk of the line).
#[derive(serde::Serialize)]
struct ItemLine<'a> {
    id: String,
    custom_id: &'a str,
    response: Response<'a>,
    error: Value,
    sheepdog: Value,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Response<'a> {
    Answer {
        status_code: u16,
        request_id: &'a Option<String>,
        body: &'a Value,
    },
    Other(Value),
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
                    request_id: &s.request_id,
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
                    "request_id": Value::Null,
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

/// A new run folder `reports/<stem>-<UTC timestamp>`, with `-2`, `-3`... when that name is taken.
pub fn fresh_run_dir(stem: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let base = PathBuf::from("reports").join(format!("{stem}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}
