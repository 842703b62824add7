//! `requests.csv`: one row per HTTP request (attempt), columns derived from [`RequestRow`].
//!
//! Written during the run by the results writer, one item's attempts at a time. For a run folder
//! without it (an older run), [`render_from_dir`] rebuilds one row per item from
//! `results.jsonl` and `errors.jsonl` (the final attempt only).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::record::{ErrorClass, Outcome};

/// File name of the per-request table in a run folder.
pub const REQUESTS_FILE: &str = "requests.csv";

/// One request. The CSV header is these field names, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRow {
    /// The item's id (`custom_id` / `id` / `line-<n>`).
    pub id: String,
    /// 1-based input line of the item.
    pub line: u64,
    pub target: String,
    pub model: String,
    /// 1-based number of this try at this target (a fallback starts again at 1).
    pub attempt: u32,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    /// Empty when the request succeeded.
    pub error_class: Option<ErrorClass>,
    /// When the request was sent, in ms after the start of the run (`job.started_at`).
    #[serde(serialize_with = "ms3")]
    pub sent_at_ms: Option<f64>,
    /// Request sent → first content chunk (streamed requests).
    #[serde(serialize_with = "ms3")]
    pub ttft_ms: Option<f64>,
    /// Inter-token latency (streamed requests that succeeded with 2 or more output tokens).
    #[serde(serialize_with = "ms3")]
    pub itl_ms: Option<f64>,
    /// Request sent → last byte of the answer or the failure.
    #[serde(serialize_with = "ms3")]
    pub latency_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// USD; empty when the request reported no usage or its model has no price.
    #[serde(serialize_with = "dollars")]
    pub cost_usd: Option<f64>,
}

/// Whole microseconds (truncated, as the histograms record them) in milliseconds, so a summary
/// rebuilt from this file has the very same percentiles.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

/// Milliseconds with at most 3 decimals, never in exponent notation.
fn ms3<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.is_finite() => s.serialize_str(&trim_zeros(format!("{v:.3}"))),
        _ => s.serialize_none(),
    }
}

/// Dollars with at most 12 decimals, never in exponent notation (`0.0000756`, not `7.56e-5`).
fn dollars<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.is_finite() => s.serialize_str(&trim_zeros(format!("{v:.12}"))),
        _ => s.serialize_none(),
    }
}

fn trim_zeros(text: String) -> String {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The rows of one finished item, one per request, in the order they were sent.
pub fn rows_of(outcome: &Outcome) -> Vec<RequestRow> {
    outcome
        .attempts
        .iter()
        .map(|a| RequestRow {
            id: outcome.id.clone(),
            line: outcome.line,
            target: a.target.clone(),
            model: a.model.clone(),
            attempt: a.number,
            status: a.status.or(a.error.as_ref().and_then(|e| e.status)),
            error_class: a.error.as_ref().map(|e| e.class),
            sent_at_ms: Some(ms(a.sent_at)),
            ttft_ms: a.ttft.map(ms),
            itl_ms: a.stream.and_then(|s| s.itl).map(ms),
            latency_ms: Some(ms(a.latency)),
            input_tokens: a.usage.map(|u| u.input_tokens),
            cached_input_tokens: a.usage.map(|u| u.cached_input_tokens),
            output_tokens: a.usage.map(|u| u.output_tokens),
            cost_usd: a.usage.and(a.cost_usd),
        })
        .collect()
}

/// Appends rows to `requests.csv`; the header is written when the file is new or empty.
pub struct RequestsCsv {
    path: PathBuf,
    writer: ::csv::Writer<File>,
}

impl RequestsCsv {
    /// Opens (creating or appending to) `dir/requests.csv`.
    pub fn open(dir: &Path) -> io::Result<RequestsCsv> {
        let path = dir.join(REQUESTS_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let empty = file.metadata()?.len() == 0;
        let writer = ::csv::WriterBuilder::new()
            .has_headers(empty)
            .buffer_capacity(256 * 1024)
            .from_writer(file);
        Ok(RequestsCsv { path, writer })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One row per request of `outcome`.
    pub fn write_outcome(&mut self, outcome: &Outcome) -> io::Result<()> {
        for row in rows_of(outcome) {
            self.writer.serialize(row).map_err(io::Error::from)?;
        }
        Ok(())
    }

    /// `count` rows of requests sent whose answers were lost (class `lost`, no item: see
    /// [`crate::output::journal`]).
    pub fn write_lost(&mut self, count: u64) -> io::Result<()> {
        let row = RequestRow {
            id: String::new(),
            line: 0,
            target: String::new(),
            model: String::new(),
            attempt: 0,
            status: None,
            error_class: Some(ErrorClass::Lost),
            sent_at_ms: None,
            ttft_ms: None,
            itl_ms: None,
            latency_ms: None,
            input_tokens: None,
            cached_input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        };
        for _ in 0..count {
            self.writer.serialize(&row).map_err(io::Error::from)?;
        }
        Ok(())
    }

    /// Pushes buffered rows to the operating system.
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Where the bytes of [`render_from_dir`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvSource {
    /// The run's own `requests.csv`, every request.
    RequestsFile,
    /// Rebuilt from `results.jsonl` and `errors.jsonl`: one row per item, its final request.
    ResultFiles,
}

/// `requests.csv` of a run folder: the file itself when the run wrote one, otherwise rebuilt
/// from the result files (one row per item that was sent).
pub fn render_from_dir(dir: &Path) -> io::Result<(Vec<u8>, CsvSource)> {
    let requests = dir.join(REQUESTS_FILE);
    if requests.is_file() {
        let bytes = std::fs::read(&requests).map_err(|e| with_path(&requests, e))?;
        return Ok((bytes, CsvSource::RequestsFile));
    }
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let mut any = false;
    for path in crate::output::format::block_files(dir) {
        if !path.is_file() {
            continue;
        }
        any = true;
        let text = std::fs::read_to_string(&path).map_err(|e| with_path(&path, e))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value: Value = serde_json::from_str(line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} line {}: not JSON: {e}", path.display(), i + 1),
                )
            })?;
            if let Some(row) = row_of_result_line(&value) {
                writer.serialize(row).map_err(io::Error::from)?;
            }
        }
    }
    if !any {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no {REQUESTS_FILE}, {} or {}: not a sheepdog run folder",
                dir.display(),
                crate::output::RESULTS_FILE,
                crate::output::ERRORS_FILE
            ),
        ));
    }
    let bytes = writer.into_inner().map_err(|e| io::Error::other(e.to_string()))?;
    Ok((bytes, CsvSource::ResultFiles))
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The final request of one `results.jsonl` / `errors.jsonl` line; `None` for an input line
/// that was never sent.
pub fn row_of_result_line(line: &Value) -> Option<RequestRow> {
    let block = &line["sheepdog"];
    let attempts = block["attempts"].as_u64().filter(|&n| n > 0)?;
    // The final request's number at its target: the last `targets_tried` entry's count.
    let at_target = block["targets_tried"]
        .as_array()
        .and_then(|tried| tried.last())
        .and_then(|last| last["attempts"].as_u64())
        .unwrap_or(attempts);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let error_class = block["error_class"]
        .as_str()
        .and_then(|c| serde_json::from_value(Value::String(c.to_string())).ok());
    Some(RequestRow {
        id: text(&line["custom_id"]),
        line: block["line"].as_u64().unwrap_or(0),
        target: text(&block["target"]),
        model: text(&block["model"]),
        attempt: u32::try_from(at_target).unwrap_or(u32::MAX),
        status: line["response"]["status_code"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok()),
        error_class,
        sent_at_ms: None,
        ttft_ms: block["ttft_ms"].as_f64(),
        itl_ms: block["itl_ms"].as_f64(),
        latency_ms: block["latency_ms"].as_f64(),
        input_tokens: block["input_tokens"].as_u64(),
        cached_input_tokens: block["cached_input_tokens"].as_u64(),
        output_tokens: block["output_tokens"].as_u64(),
        cost_usd: block["cost_usd"].as_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    fn render(outcomes: &[Outcome]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = RequestsCsv::open(dir.path()).unwrap();
        for o in outcomes {
            csv.write_outcome(o).unwrap();
        }
        csv.flush().unwrap();
        std::fs::read_to_string(dir.path().join(REQUESTS_FILE)).unwrap()
    }

    #[test]
    fn one_row_per_attempt_with_the_header_from_the_struct() {
        let text = render(&fixture::outcomes());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "id,line,target,model,attempt,status,error_class,sent_at_ms,ttft_ms,itl_ms,latency_ms,\
             input_tokens,cached_input_tokens,output_tokens,cost_usd"
        );
        // 11 requests in the fixture.
        assert_eq!(lines.len(), 12, "{text}");
        assert_eq!(
            lines[1],
            "a1,1,deepseek,deepseek-chat,1,200,,0,20,,100,1000,200,100,0.001"
        );
        let a4: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("a4,")).collect();
        assert_eq!(a4.len(), 3);
        assert_eq!(a4[0], "a4,1,deepseek,deepseek-chat,1,503,server_error,0,,,50,,,,");
        // The fallback's first try at gpt41 is try 1 there.
        assert!(a4[2].starts_with("a4,1,gpt41,gpt-4.1,1,200,,"), "{}", a4[2]);
        // The unpriced answer has tokens but no cost, never 0.
        let a5 = lines.iter().find(|l| l.starts_with("a5,")).unwrap();
        assert!(a5.ends_with(",300,0,30,"), "{a5}");
    }

    #[test]
    fn small_costs_are_not_written_in_exponent_notation() {
        let mut outcome = fixture::outcomes().remove(0);
        outcome.attempts[0].cost_usd = Some(0.0000756);
        let text = render(&[outcome]);
        assert!(text.contains(",0.0000756\n"), "{text}");
        assert!(!text.contains("e-"), "{text}");
    }

    #[test]
    fn appending_to_an_existing_file_writes_no_second_header() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let mut csv = RequestsCsv::open(dir.path()).unwrap();
            csv.write_outcome(&fixture::outcomes()[0]).unwrap();
            csv.flush().unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(REQUESTS_FILE)).unwrap();
        assert_eq!(text.matches("id,line,").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn rows_parse_back_into_the_struct() {
        let text = render(&fixture::outcomes());
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<RequestRow> = reader.deserialize().collect::<Result<_, _>>().unwrap();
        let expected: Vec<RequestRow> = fixture::outcomes().iter().flat_map(rows_of).collect();
        assert_eq!(rows, expected);
    }

    #[test]
    fn a_folder_without_requests_csv_is_rebuilt_from_the_result_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = crate::output::ResultsWriter::open(dir.path()).unwrap();
        for o in fixture::outcomes() {
            writer.write_outcome(&o).unwrap();
        }
        writer.flush().unwrap();
        drop(writer);
        let (full, source) = render_from_dir(dir.path()).unwrap();
        assert_eq!(source, CsvSource::RequestsFile);
        assert_eq!(String::from_utf8(full).unwrap().lines().count(), 12);

        std::fs::remove_file(dir.path().join(REQUESTS_FILE)).unwrap();
        let (rebuilt, source) = render_from_dir(dir.path()).unwrap();
        assert_eq!(source, CsvSource::ResultFiles);
        let text = String::from_utf8(rebuilt).unwrap();
        assert_eq!(text.lines().count(), 8, "one row per item plus the header:\n{text}");
        assert!(
            text.contains("a4,1,gpt41,gpt-4.1,1,200,,,40,,400,800,100,80,0.004\n"),
            "{text}"
        );
        assert!(
            text.contains("a6,1,deepseek,deepseek-chat,2,,timeout,,,,,,,,0\n"),
            "{text}"
        );

        let empty = tempfile::tempdir().unwrap();
        let err = render_from_dir(empty.path()).unwrap_err();
        assert!(err.to_string().contains("not a sheepdog run folder"), "{err}");
    }
}
