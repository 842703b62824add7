//! `sheepdog export DIR --format csv|jsonl`: one row per input line of a run folder, for
//! spreadsheets and data frames: the line, its id, the input columns of a table run
//! (`run --template`), the answer text, the final status, tokens, cost and latency. Rows are in
//! input-line order; the CSV has one header line and RFC 4180 quoting (pandas, duckdb and
//! spreadsheets read it as is).
//!
//! Memory: the rows are held to sort them (about the size of the answers); an `openai` folder's
//! sidecar blocks are held by line while the result files are read.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::input::table;
use crate::output::format::{line_of_id, SIDECAR_FILE};
use crate::output::{OutputFormat, ERRORS_FILE, RESULTS_FILE};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

/// The columns every export has, after `line` and `id` and before nothing: the input columns
/// of a table run come between `id` and these.
pub const COLUMNS: [&str; 12] = [
    "status",
    "http_status",
    "answer",
    "target",
    "model",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "error",
];

/// A run folder that cannot be exported. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: not a sheepdog run folder (no {RESULTS_FILE} or {ERRORS_FILE})", .0.display())]
    NotARun(std::path::PathBuf),
    #[error("{}: line {line}: {message}", .path.display())]
    Line {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

/// Writes the export of run folder `dir` to `out`; returns the number of rows.
pub fn export(dir: &Path, format: ExportFormat, out: &mut dyn Write) -> Result<u64, ExportError> {
    if !dir.join(RESULTS_FILE).is_file() && !dir.join(ERRORS_FILE).is_file() {
        return Err(ExportError::NotARun(dir.to_path_buf()));
    }
    // The input columns of a table run, but the one the ids came from (that is `id`).
    let input_columns: Vec<String> = table::read_info(dir)
        .map(|t| {
            t.columns
                .into_iter()
                .filter(|c| Some(c) != t.id_column.as_ref())
                .collect()
        })
        .unwrap_or_default();
    let blocks = match OutputFormat::of_folder(dir) {
        OutputFormat::Sheepdog => None,
        OutputFormat::OpenAi => Some(sidecar_blocks(dir)?),
    };
    let mut rows: Vec<(u64, Map<String, Value>)> = Vec::new();
    for name in [RESULTS_FILE, ERRORS_FILE] {
        each_line(&dir.join(name), |line| {
            let block = match &blocks {
                Some(blocks) => line["id"]
                    .as_str()
                    .and_then(line_of_id)
                    .and_then(|n| blocks.get(&n))
                    .unwrap_or(&Value::Null),
                None => &line["sheepdog"],
            };
            rows.push(row(&line, block, &input_columns));
        })?;
    }
    rows.sort_by_key(|(line, _)| *line);
    let headers = headers(&input_columns);
    let io = |e: std::io::Error| ExportError::Io(e.to_string());
    match format {
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer
                .write_record(&headers)
                .map_err(|e| ExportError::Io(e.to_string()))?;
            for (_, row) in &rows {
                let cells = headers.iter().map(|h| match row.get(h) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                });
                writer.write_record(cells).map_err(|e| ExportError::Io(e.to_string()))?;
            }
            writer.flush().map_err(io)?;
        }
        ExportFormat::Jsonl => {
            for (_, row) in &rows {
                let ordered: Map<String, Value> = headers
                    .iter()
                    .map(|h| (h.clone(), row.get(h).cloned().unwrap_or(Value::Null)))
                    .collect();
                serde_json::to_writer(&mut *out, &ordered).map_err(|e| ExportError::Io(e.to_string()))?;
                out.write_all(b"\n").map_err(io)?;
            }
        }
    }
    Ok(rows.len() as u64)
}

/// `line`, `id`, the input columns (renamed `input.<name>` where they would clash), the rest.
fn headers(input_columns: &[String]) -> Vec<String> {
    let mut headers = vec!["line".to_string(), "id".to_string()];
    headers.extend(input_columns.iter().map(|c| input_header(c)));
    headers.extend(COLUMNS.iter().map(|c| c.to_string()));
    headers
}

fn input_header(column: &str) -> String {
    if column == "line" || column == "id" || COLUMNS.contains(&column) {
        format!("input.{column}")
    } else {
        column.to_string()
    }
}

fn row(line: &Value, block: &Value, input_columns: &[String]) -> (u64, Map<String, Value>) {
    let number = block["line"]
        .as_u64()
        .or_else(|| line["id"].as_str().and_then(line_of_id))
        .unwrap_or(0);
    let mut row = Map::new();
    row.insert("line".into(), number.into());
    row.insert("id".into(), line["custom_id"].clone());
    for column in input_columns {
        let value = block["metadata"].get(column).cloned().unwrap_or(Value::Null);
        row.insert(input_header(column), value);
    }
    let status = match block["error_class"].as_str() {
        Some(class) => class.to_string(),
        None if line["error"].is_null() => "ok".to_string(),
        None => line["error"]["code"].as_str().unwrap_or("error").to_string(),
    };
    row.insert("status".into(), status.into());
    row.insert("http_status".into(), line["response"]["status_code"].clone());
    row.insert(
        "answer".into(),
        answer(&line["response"]["body"]).map_or(Value::Null, Value::String),
    );
    for key in [
        "target",
        "model",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_ms",
        "ttft_ms",
        "attempts",
    ] {
        row.insert(key.into(), block.get(key).cloned().unwrap_or(Value::Null));
    }
    row.insert("error".into(), line["error"]["message"].clone());
    (number, row)
}

/// The text of an answer: the first choice's message (chat) or text (completions), or the
/// output text of a Responses API answer.
fn answer(body: &Value) -> Option<String> {
    let choice = &body["choices"][0];
    if let Some(text) = choice["message"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
    {
        return Some(text.to_string());
    }
    if let Some(calls) = choice["message"]["tool_calls"].as_array() {
        return Some(Value::Array(calls.clone()).to_string());
    }
    let texts: Vec<&str> = body["output"]
        .as_array()?
        .iter()
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter_map(|part| part["text"].as_str())
        .collect();
    (!texts.is_empty()).then(|| texts.concat())
}

fn sidecar_blocks(dir: &Path) -> Result<HashMap<u64, Value>, ExportError> {
    let mut blocks = HashMap::new();
    each_line(&dir.join(SIDECAR_FILE), |mut line| {
        if let Some(n) = line["line"].as_u64() {
            blocks.insert(n, line["sheepdog"].take());
        }
    })?;
    Ok(blocks)
}

/// Calls `each` with every JSON line of `path` (a missing file has none).
fn each_line(path: &Path, mut each: impl FnMut(Value)) -> Result<(), ExportError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ExportError::Io(format!("{}: {e}", path.display()))),
    };
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| ExportError::Io(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| ExportError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("not JSON: {e}"),
        })?;
        each(value);
    }
    Ok(())
}
