//! `requests.csv` of a run folder, read back: the file itself, or for a run folder without it
//! (an older run) one row per item rebuilt from `results.jsonl` and `errors.jsonl` (the final
//! attempt only). The file is written by [`crate::output::requests`].

use std::io;
use std::path::Path;

use serde_json::Value;

use crate::output::files::{ERRORS_FILE, REQUESTS_FILE, RESULTS_FILE};
use crate::output::requests::RequestRow;

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
                "{}: no {REQUESTS_FILE}, {RESULTS_FILE} or {ERRORS_FILE}: not a sheepdog run folder",
                dir.display(),
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
