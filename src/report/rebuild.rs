//! The report data of a run folder: its `summary.json`, or — when the run never got to write
//! one (a crash, a kill) — a summary rebuilt from `requests.csv` (every request, with its timing,
//! tokens and cost) and the rejected lines of `errors.jsonl`.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::output::files::REQUESTS_FILE;
use crate::output::requests::RequestRow;
use crate::output::ERRORS_FILE;
use crate::record::{Attempt, ErrorInfo, Outcome, Rejected, StreamTiming, Success, Usage};
use crate::stats::summary::{JobInfo, Summary};
use crate::stats::Collector;

/// The run's summary and whether it had to be rebuilt.
pub fn load_or_rebuild(dir: &Path) -> io::Result<(Summary, bool)> {
    let path = dir.join(super::SUMMARY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let summary = super::json::parse(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
            Ok((summary, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((rebuild(dir)?, true)),
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    }
}

fn invalid(path: &Path, line: usize, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{} line {line}: {what}", path.display()),
    )
}

/// A summary from `requests.csv` and `errors.jsonl`. Timing and totals are exact; what only the
/// finished run knew (its input name, its start time, unsent items) is marked unknown.
pub fn rebuild(dir: &Path) -> io::Result<Summary> {
    let csv_path = dir.join(REQUESTS_FILE);
    let mut reader = ::csv::Reader::from_path(&csv_path).map_err(|e| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no {} and no {REQUESTS_FILE} to rebuild it from ({e})",
                dir.display(),
                super::SUMMARY_FILE
            ),
        )
    })?;
    let mut collector = Collector::new(Vec::new());
    let mut lines = 0u64;
    let mut pending: Vec<RequestRow> = Vec::new();
    let mut end = Duration::ZERO;
    for (i, row) in reader.deserialize::<RequestRow>().enumerate() {
        let row = row.map_err(|e| invalid(&csv_path, i + 2, e))?;
        let ms = |v: Option<f64>| Duration::from_micros((v.unwrap_or(0.0).max(0.0) * 1000.0).round() as u64);
        end = end.max(ms(row.sent_at_ms) + ms(row.latency_ms));
        if pending
            .last()
            .is_some_and(|last| last.id != row.id || last.line != row.line)
        {
            collector.record(&outcome(std::mem::take(&mut pending)));
            lines += 1;
        }
        pending.push(row);
    }
    if !pending.is_empty() {
        collector.record(&outcome(pending));
        lines += 1;
    }
    // Rejected input lines: in errors.jsonl, or the sidecar of an `openai` folder.
    let files = crate::output::format::block_files(dir);
    for errors_path in files.into_iter().filter(|p| !p.ends_with(crate::output::RESULTS_FILE)) {
        let Ok(text) = std::fs::read_to_string(&errors_path) else {
            continue;
        };
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value: Value = serde_json::from_str(line).map_err(|e| invalid(&errors_path, i + 1, e))?;
            if value["sheepdog"]["attempts"].as_u64() == Some(0) && !crate::output::format::is_answer(&value) {
                collector.record_rejected(&Rejected {
                    id: value["custom_id"].as_str().map(str::to_string),
                    line: value["sheepdog"]["line"].as_u64().unwrap_or(0),
                    reason: value["error"]["message"].as_str().unwrap_or_default().to_string(),
                });
                lines += 1;
            }
        }
    }
    let job = JobInfo {
        input: "(unknown: the run did not finish)".into(),
        out_dir: dir.display().to_string(),
        started_at: String::new(),
        finished_at: String::new(),
        duration_s: end.as_secs_f64(),
        aborted: Some(format!(
            "the run did not finish; this report was rebuilt from {REQUESTS_FILE} and {ERRORS_FILE}"
        )),
        parts: 1,
        config: Value::Null,
    };
    Ok(collector.finish(job, lines, 0))
}

/// One item's requests (its rows, in order) as the outcome the run would have recorded.
fn outcome(rows: Vec<RequestRow>) -> Outcome {
    let ms = |v: Option<f64>| Duration::from_micros((v.unwrap_or(0.0).max(0.0) * 1000.0).round() as u64);
    let attempts: Vec<Attempt> = rows
        .iter()
        .map(|r| Attempt {
            target: r.target.clone(),
            model: r.model.clone(),
            number: r.attempt,
            sent_at: ms(r.sent_at_ms),
            latency: ms(r.latency_ms),
            ttft: r.ttft_ms.map(|t| ms(Some(t))),
            stream: r.itl_ms.map(|itl| StreamTiming {
                itl: Some(ms(Some(itl))),
                tpot: match (r.ttft_ms, r.latency_ms, r.output_tokens) {
                    (Some(ttft), Some(e2e), Some(n)) if n > 1 => Some(ms(Some((e2e - ttft) / (n - 1) as f64))),
                    _ => None,
                },
                ..StreamTiming::default()
            }),
            status: r.status,
            usage: r.input_tokens.map(|input| Usage {
                input_tokens: input,
                cached_input_tokens: r.cached_input_tokens.unwrap_or(0),
                cache_write_tokens: 0,
                output_tokens: r.output_tokens.unwrap_or(0),
            }),
            cost_usd: r.cost_usd,
            error: r.error_class.map(|class| ErrorInfo {
                class,
                status: r.status,
                message: String::new(),
                code: None,
            }),
            concurrency_limit: None,
        })
        .collect();
    let (id, line) = rows.first().map(|r| (r.id.clone(), r.line)).unwrap_or_default();
    let result = match attempts.last() {
        Some(last) if last.error.is_none() => Ok(Success {
            target: last.target.clone(),
            model: last.model.clone(),
            status: last.status.unwrap_or(200),
            request_id: None,
            body: crate::record::JsonText::null(),
            usage: last.usage.unwrap_or_default(),
            latency: last.latency,
            ttft: last.ttft,
            stream: last.stream,
            cost_usd: last.cost_usd,
            cache_hit: None,
        }),
        Some(last) => Err(last.error.clone().unwrap_or_else(unknown_error)),
        None => Err(unknown_error()),
    };
    Outcome {
        id,
        line,
        metadata: None,
        attempts,
        result,
    }
}

fn unknown_error() -> ErrorInfo {
    ErrorInfo {
        class: crate::record::ErrorClass::Connect,
        status: None,
        message: "unknown".into(),
        code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    #[test]
    fn a_rebuilt_summary_has_the_counts_timing_and_cost_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = crate::output::ResultsWriter::open(dir.path()).unwrap();
        for o in fixture::outcomes() {
            writer.write_outcome(&o).unwrap();
        }
        writer
            .write_rejected(&Rejected {
                id: None,
                line: 8,
                reason: "line is not valid JSON".into(),
            })
            .unwrap();
        writer.flush().unwrap();
        drop(writer);

        let (rebuilt, was_rebuilt) = load_or_rebuild(dir.path()).unwrap();
        assert!(was_rebuilt);
        let original = fixture::summary();
        assert_eq!(rebuilt.totals.lines, original.totals.lines);
        assert_eq!(rebuilt.totals.succeeded, original.totals.succeeded);
        assert_eq!(rebuilt.totals.failed, original.totals.failed);
        assert_eq!(rebuilt.totals.rejected, original.totals.rejected);
        assert_eq!(rebuilt.totals.requests, original.totals.requests);
        assert_eq!(rebuilt.totals.retries, original.totals.retries);
        assert_eq!(rebuilt.totals.fallbacks, original.totals.fallbacks);
        assert_eq!(rebuilt.latency_ms, original.latency_ms);
        assert_eq!(rebuilt.ttft_ms, original.ttft_ms);
        assert_eq!(rebuilt.tokens, original.tokens);
        assert!((rebuilt.cost.total_usd - original.cost.total_usd).abs() < 1e-12);
        assert_eq!(rebuilt.cost.unpriced_models, original.cost.unpriced_models);
        assert_eq!(rebuilt.errors, original.errors);
        assert!(rebuilt.job.aborted.as_deref().unwrap_or("").contains("rebuilt"));

        // With a summary.json, that is what is read.
        super::super::write_all(dir.path(), &original).unwrap();
        assert_eq!(load_or_rebuild(dir.path()).unwrap(), (original, false));
    }

    #[test]
    fn an_empty_folder_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_or_rebuild(dir.path()).unwrap_err();
        assert!(err.to_string().contains("no summary.json and no requests.csv"), "{err}");
    }
}
