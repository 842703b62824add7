//! Tables in (`run data.csv --template prompt.j2`): each row of a CSV (or TSV) file, with its
//! header names as variables, or each object of a JSONL file, renders a prompt through
//! [`super::template`], and becomes one short-form request line of `rendered.jsonl` in the run
//! folder; the run then reads that file like any input. So the input fingerprint of a resume
//! covers the rendered requests (a changed template, `--system` or table is refused), and every
//! other part of a run (shards, dry run, cache, reports) works unchanged.
//!
//! The rendered line of a row has the row's line number in the table (blank lines are written
//! for the header and for rows that span several lines), so errors and results point at the
//! table's own lines. The row itself goes into the line's `metadata`, echoed in the results,
//! for `sheepdog export`. The table is rendered whole before the first request: a row the
//! templates cannot render stops the run (exit 2) with the file, line and variable or column.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::template::{TemplateSource, Templates};

/// The rendered requests of a table, in the run folder.
pub const RENDERED_FILE: &str = "rendered.jsonl";
/// What the run folder remembers of its table, for `sheepdog export`.
pub const TABLE_FILE: &str = "table.json";

/// `--template`, `--system`, `--id-column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub template: TemplateSource,
    pub system: Option<TemplateSource>,
    /// The column that holds each row's id [default: `id` when the table has it; otherwise
    /// rows are `line-<n>`].
    pub id_column: Option<String>,
}

/// A table that cannot be rendered. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    Template(String),
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: line {line}: {message}", .path.display())]
    Row { path: PathBuf, line: u64, message: String },
    #[error("{}: cannot write: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What was rendered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TableInfo {
    /// The table as given.
    pub source: String,
    /// Its columns in order (a JSONL table: the keys in the order first seen).
    pub columns: Vec<String>,
    /// The column the ids came from, when one did.
    #[serde(default)]
    pub id_column: Option<String>,
    pub rows: u64,
    /// The first rendered requests (`[system, user]` messages), for `--dry-run`.
    #[serde(skip)]
    pub preview: Vec<Value>,
}

/// How many rendered requests a dry run shows.
pub const PREVIEW_ROWS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv(u8),
    Jsonl,
}

fn kind_of(path: &Path) -> Result<Kind, TableError> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("csv") => return Ok(Kind::Csv(b',')),
        Some("tsv" | "tab") => return Ok(Kind::Csv(b'\t')),
        Some("jsonl" | "ndjson" | "json") => return Ok(Kind::Jsonl),
        _ => {}
    }
    // Anything else (stdin, a pipe, another name): JSONL if the first non-blank byte opens an
    // object. Only a regular file can be sniffed and read again.
    if super::is_streamed(path) {
        return Ok(Kind::Jsonl);
    }
    let file = std::fs::File::open(path).map_err(|e| file_error(path, format!("cannot open: {e}")))?;
    let mut reader = BufReader::new(file);
    let first = loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    Ok(if first == Some(b'{') {
        Kind::Jsonl
    } else {
        Kind::Csv(b',')
    })
}

fn file_error(path: &Path, message: String) -> TableError {
    TableError::File {
        path: path.to_path_buf(),
        message,
    }
}

/// Renders every row of `table` into `dest` (created or replaced).
pub fn render_to(spec: &TableSpec, table: &Path, dest: &Path) -> Result<TableInfo, TableError> {
    let templates = Templates::new(&spec.template, spec.system.as_ref()).map_err(TableError::Template)?;
    let write_err = |source| TableError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(dest).map_err(write_err)?;
    let mut out = Output {
        file: BufWriter::with_capacity(256 * 1024, file),
        line: 0,
        templates: &templates,
        spec,
        table,
        info: TableInfo {
            source: table.display().to_string(),
            columns: Vec::new(),
            id_column: None,
            rows: 0,
            preview: Vec::new(),
        },
    };
    let input = super::source::open(table).map_err(|e| file_error(table, e.to_string()))?;
    match kind_of(table)? {
        Kind::Csv(delimiter) => read_csv(input, delimiter, &mut out)?,
        Kind::Jsonl => read_jsonl(input, &mut out)?,
    }
    let Output { file, info, .. } = out;
    file.into_inner()
        .map_err(|e| write_err(e.into_error()))?
        .sync_all()
        .map_err(write_err)?;
    Ok(info)
}

struct Output<'a> {
    file: BufWriter<std::fs::File>,
    /// Lines written so far.
    line: u64,
    templates: &'a Templates,
    spec: &'a TableSpec,
    table: &'a Path,
    info: TableInfo,
}

impl Output<'_> {
    fn row_error(&self, line: u64, message: impl Into<String>) -> TableError {
        TableError::Row {
            path: self.table.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// Writes the request of `row`, which starts on `line` of the table.
    fn row(&mut self, line: u64, row: Map<String, Value>) -> Result<(), TableError> {
        let (system, user) = self.templates.render(&row).map_err(|m| self.row_error(line, m))?;
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": user}));
        let mut request = Map::new();
        let id_column = self.spec.id_column.as_deref().unwrap_or("id");
        match row.get(id_column) {
            Some(Value::String(id)) if !id.is_empty() => {
                request.insert("id".into(), Value::String(id.clone()));
            }
            Some(Value::Number(id)) => {
                request.insert("id".into(), Value::String(id.to_string()));
            }
            _ => {}
        }
        if request.contains_key("id") && self.info.id_column.is_none() {
            self.info.id_column = Some(id_column.to_string());
        }
        request.insert("messages".into(), Value::Array(messages));
        match row.get("model") {
            Some(Value::String(model)) if !model.trim().is_empty() => {
                request.insert("model".into(), Value::String(model.trim().to_string()));
            }
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => return Err(self.row_error(line, format!("column model: {other} is not a model name"))),
        }
        match row.get("max_tokens") {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                let n: u64 = text
                    .trim()
                    .parse()
                    .map_err(|_| self.row_error(line, format!("column max_tokens: {text:?} is not a whole number")))?;
                request.insert("max_tokens".into(), json!(n));
            }
            Some(Value::Number(n)) if n.is_u64() => {
                request.insert("max_tokens".into(), Value::Number(n.clone()));
            }
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => {
                return Err(self.row_error(line, format!("column max_tokens: {other} is not a whole number")))
            }
        }
        if self.info.preview.len() < PREVIEW_ROWS {
            self.info.preview.push(request["messages"].clone());
        }
        request.insert("metadata".into(), Value::Object(row));
        // Blank lines keep the rendered line number equal to the table's.
        let write_err = |source| TableError::Write {
            path: PathBuf::from(RENDERED_FILE),
            source,
        };
        while self.line + 1 < line {
            self.file.write_all(b"\n").map_err(write_err)?;
            self.line += 1;
        }
        serde_json::to_writer(&mut self.file, &request).map_err(|e| write_err(std::io::Error::other(e)))?;
        self.file.write_all(b"\n").map_err(write_err)?;
        self.line += 1;
        self.info.rows += 1;
        Ok(())
    }
}

fn read_csv(input: Box<dyn std::io::Read + Send>, delimiter: u8, out: &mut Output<'_>) -> Result<(), TableError> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| file_error(out.table, format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(file_error(out.table, "the table has no header line".into()));
    }
    // Every variable the templates read must be a column: said once, before any row.
    let missing: Vec<&String> = out
        .templates
        .variables()
        .iter()
        .filter(|v| !headers.contains(v))
        .collect();
    if let Some(first) = missing.first() {
        return Err(file_error(
            out.table,
            format!(
                "the template uses {{{{ {first} }}}}, but the header has no such column (columns: {})",
                headers.join(", ")
            ),
        ));
    }
    if let Some(column) = &out.spec.id_column {
        if !headers.contains(column) {
            return Err(file_error(
                out.table,
                format!("--id-column {column}: no such column (columns: {})", headers.join(", ")),
            ));
        }
    }
    out.info.columns = headers.clone();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                        format!("the row has {len} fields, the header {expected_len}")
                    }
                    _ => e.to_string(),
                };
                return Err(out.row_error(line, message));
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        let row: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.clone(), Value::String(v.to_string())))
            .collect();
        out.row(line, row)?;
    }
}

fn read_jsonl(input: Box<dyn std::io::Read + Send>, out: &mut Output<'_>) -> Result<(), TableError> {
    let mut lines = crate::lines::Lines::new(input);
    loop {
        let (line, bytes) = match lines.next_filled() {
            Ok(Some(next)) => next,
            Ok(None) => return Ok(()),
            Err(e) => return Err(out.row_error(lines.number() + 1, format!("cannot read: {e}"))),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| out.row_error(line, format!("not valid UTF-8 ({e})")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let row = match serde_json::from_str::<Value>(text.trim()) {
            Ok(Value::Object(row)) => row,
            Ok(_) => return Err(out.row_error(line, "not a JSON object")),
            Err(e) => return Err(out.row_error(line, format!("not valid JSON: {e}"))),
        };
        for key in row.keys() {
            if !out.info.columns.contains(key) {
                out.info.columns.push(key.clone());
            }
        }
        out.row(line, row)?;
    }
}

/// Renders `table` into the run folder `dir` ([`RENDERED_FILE`], and [`TABLE_FILE`]). A folder
/// that already holds a run keeps its rendered requests: the new ones must be the same bytes
/// (a resume), or this is refused with what changed.
pub fn render_into(spec: &TableSpec, table: &Path, dir: &Path) -> Result<(PathBuf, TableInfo), TableError> {
    let write_err = |path: &Path, source| TableError::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let dest = dir.join(RENDERED_FILE);
    let fresh = dir.join(format!(".{RENDERED_FILE}.new"));
    let info = render_to(spec, table, &fresh).inspect_err(|_| {
        let _ = std::fs::remove_file(&fresh);
    })?;
    let same = |a: &Path, b: &Path| -> std::io::Result<bool> { Ok(std::fs::read(a)? == std::fs::read(b)?) };
    if dest.exists() && dir.join(crate::output::manifest::MANIFEST_FILE).exists() {
        let unchanged = same(&dest, &fresh).map_err(|e| write_err(&dest, e))?;
        let _ = std::fs::remove_file(&fresh);
        if !unchanged {
            return Err(file_error(
                dir,
                format!(
                    "holds a run whose rendered requests ({RENDERED_FILE}) differ from those of {} now: the \
                     template, --system, --id-column or the table changed; resume with the same ones, or \
                     choose another --out",
                    table.display()
                ),
            ));
        }
    } else {
        std::fs::rename(&fresh, &dest).map_err(|e| write_err(&dest, e))?;
    }
    let bytes = serde_json::to_vec_pretty(&info).map_err(|e| write_err(dir, std::io::Error::other(e)))?;
    crate::output::write_atomic(dir, TABLE_FILE, &bytes).map_err(|e| write_err(&dir.join(TABLE_FILE), e))?;
    Ok((dest, info))
}

/// The table a run folder was rendered from, if it was.
pub fn read_info(dir: &Path) -> Option<TableInfo> {
    let bytes = std::fs::read(dir.join(TABLE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests;
