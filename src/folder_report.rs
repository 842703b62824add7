//! `sheepdog report DIR`: any run or bench folder's report rendered again, in the format asked.
//! Above both `report` (run reports) and `bench` (bench reports), so neither imports the other.

use std::path::Path;

use crate::bench::{self, BenchSummary};
use crate::report;

/// Which report of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Md,
    Html,
    /// summary.json.
    Json,
    /// requests.csv (rebuilt from the result files when the folder has none).
    Csv,
    /// The end-of-run table.
    Text,
}

/// The report's bytes, and what the user should know about how they were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub notes: Vec<String>,
}

pub fn render(dir: &Path, format: Format) -> Result<Rendered, String> {
    let mut notes = Vec::new();
    if format == Format::Csv {
        let (bytes, source) = report::csv::render_from_dir(dir).map_err(|e| e.to_string())?;
        if source == report::csv::CsvSource::ResultFiles {
            notes.push(format!(
                "{} has no {}: one row per item (its final request) rebuilt from the result files",
                dir.display(),
                crate::output::files::REQUESTS_FILE
            ));
        }
        return Ok(Rendered { bytes, notes });
    }
    if let Some(bench) = bench_summary(dir)? {
        let bytes = match format {
            Format::Md => bench::markdown::render(&bench).into_bytes(),
            Format::Html => bench::html::render(&bench).into_bytes(),
            Format::Text => bench::terminal::render(&bench).into_bytes(),
            Format::Json | Format::Csv => {
                let mut json = serde_json::to_vec_pretty(&bench).map_err(|e| e.to_string())?;
                json.push(b'\n');
                json
            }
        };
        return Ok(Rendered { bytes, notes });
    }
    let (summary, rebuilt) = report::rebuild::load_or_rebuild(dir).map_err(|e| e.to_string())?;
    if rebuilt {
        notes.push(format!(
            "{} has no {}: the report is rebuilt from {} and {} (the run did not finish)",
            dir.display(),
            report::SUMMARY_FILE,
            crate::output::files::REQUESTS_FILE,
            crate::output::ERRORS_FILE
        ));
    }
    let bytes = match format {
        Format::Md => report::markdown::render(&summary).into_bytes(),
        Format::Html => report::html::render(&summary).into_bytes(),
        Format::Json => report::json::render(&summary).map_err(|e| e.to_string())?,
        Format::Text => report::terminal::render(&summary).into_bytes(),
        Format::Csv => Vec::new(),
    };
    Ok(Rendered { bytes, notes })
}

/// The folder's summary when it is a bench's (`"kind": "bench"`).
fn bench_summary(dir: &Path) -> Result<Option<BenchSummary>, String> {
    let path = dir.join(report::SUMMARY_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
    if kind.as_deref() != Some("bench") {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: not a sheepdog bench summary: {e}", path.display()))
}
