//! Report formats: one module per format, each a pure function of a
//! [`Summary`](crate::stats::summary::Summary).
//!
//! [`write_all`] writes the files of a run folder, each atomically (temporary file in the same
//! folder, then rename), so a crash never leaves half a report.

pub mod charts;
pub mod csv;
pub(crate) mod figures;
pub(crate) mod fmt;
pub mod html;
pub mod json;
pub mod markdown;
mod pacing;
pub mod rebuild;
pub mod terminal;
pub mod thresholds;

use std::fs;
use std::io;
use std::path::Path;

use crate::stats::summary::Summary;

pub use crate::output::write_atomic;
pub use fmt::TableFormat;

pub use crate::output::files::{HTML_FILE, MARKDOWN_FILE, SUMMARY_FILE};

/// Writes `summary.json`, `report.md` and `report.html` into `dir` (created if missing).
pub fn write_all(dir: &Path, summary: &Summary) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let json = json::render(summary).map_err(io::Error::other)?;
    write_atomic(dir, SUMMARY_FILE, &json)?;
    write_atomic(dir, MARKDOWN_FILE, markdown::render(summary).as_bytes())?;
    write_atomic(dir, HTML_FILE, html::render(summary).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    #[test]
    fn write_all_writes_both_files_and_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run-1");
        let summary = fixture::summary();
        write_all(&run, &summary).unwrap();

        let json = fs::read(run.join(SUMMARY_FILE)).unwrap();
        assert_eq!(json::parse(&json).unwrap(), summary);
        let md = fs::read_to_string(run.join(MARKDOWN_FILE)).unwrap();
        assert_eq!(md, markdown::render(&summary));
        let html = fs::read_to_string(run.join(HTML_FILE)).unwrap();
        assert_eq!(html, html::render(&summary));

        let names: Vec<String> = fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn write_all_replaces_an_older_report() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MARKDOWN_FILE), "old report, much longer than needed").unwrap();
        let summary = fixture::empty_summary();
        write_all(dir.path(), &summary).unwrap();
        let md = fs::read_to_string(dir.path().join(MARKDOWN_FILE)).unwrap();
        assert_eq!(md, markdown::render(&summary));
    }

    #[test]
    fn write_all_reports_the_path_it_could_not_write() {
        let dir = tempfile::tempdir().unwrap();
        // `summary.json` is a directory: the rename over it fails.
        fs::create_dir(dir.path().join(SUMMARY_FILE)).unwrap();
        fs::write(dir.path().join(SUMMARY_FILE).join("x"), "x").unwrap();
        let err = write_all(dir.path(), &fixture::summary()).unwrap_err();
        assert!(err.to_string().contains(SUMMARY_FILE), "{err}");
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary file left behind");
    }
}
