//! Exact request counts across parts: summary.json's `requests`, the rows of requests.csv and
//! `requests.sent` (one byte per request sent, see [`crate::output::journal`]) agree after any
//! stop. Requests the result files do not record (the answer was lost to a kill, a full disk, or
//! a stop that dropped it) are counted as class `lost`, in both.

use std::fs::File;
use std::path::Path;

use super::view::{LineView, Recorded};
use super::{read_lines, sync_dir};
use crate::output::files::REQUESTS_FILE;
use crate::output::journal::SENT_FILE;
use crate::output::lineset::LineSet;
use crate::output::requests::RequestsCsv;
use crate::output::REPLACED_FILE;
use crate::stats::Collector;

/// After the resume scan: counts the requests of replaced items, keeps in requests.csv only the
/// rows of items the result files record (and earlier lost rows), and counts the rest as lost.
/// Returns what to tell the user, if anything was lost.
pub fn at_resume(dir: &Path, done: &LineSet, collector: &mut Collector) -> Result<Option<String>, String> {
    let replaced_file = match crate::output::OutputFormat::of_folder(dir) {
        crate::output::OutputFormat::Sheepdog => REPLACED_FILE,
        crate::output::OutputFormat::OpenAi => crate::output::format::SIDECAR_REPLACED_FILE,
    };
    let path = dir.join(replaced_file);
    let mut replaced = LineSet::new();
    read_lines(&path, |bytes, complete| {
        let Some(view) = complete.then(|| LineView::parse(bytes)).flatten() else {
            return;
        };
        replaced.insert(view.sheepdog.line);
        if let Recorded::Outcome(outcome) = view.into_recorded() {
            collector.record_requests(&outcome);
        }
    })
    .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let rows = keep_rows(dir, |line| done.contains(line) || replaced.contains(line))
        .map_err(|e| format!("{}: cannot repair: {e}", dir.join(REQUESTS_FILE).display()))?;
    let recorded = collector.live().requests;
    let sent = sent_count(dir, recorded).map_err(|e| format!("{}: {e}", dir.join(SENT_FILE).display()))?;
    append_lost(dir, sent.saturating_sub(rows))
        .map_err(|e| format!("{}: cannot write: {e}", dir.join(REQUESTS_FILE).display()))?;
    let lost = sent.saturating_sub(recorded);
    collector.record_lost(lost);
    Ok((lost > 0).then(|| {
        format!(
            "{lost} request(s) of the earlier run were sent but their answers were never written (it was killed, \
             the disk was full, or a stop dropped them): counted as lost in summary.json and requests.csv; \
             their items are sent again"
        )
    }))
}

/// At the end of a part: the requests sent in it that no result records (dropped by a stop).
pub fn at_end(dir: &Path, sent: u64, collector: &mut Collector) -> std::io::Result<()> {
    let lost = sent.saturating_sub(collector.live().requests);
    append_lost(dir, lost)?;
    collector.record_lost(lost);
    Ok(())
}

/// Requests noted in `requests.sent`. A folder from before it existed gets one holding the
/// `recorded` requests, so that later parts count from there.
fn sent_count(dir: &Path, recorded: u64) -> std::io::Result<u64> {
    let path = dir.join(SENT_FILE);
    match std::fs::metadata(&path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            File::create(&path)?.set_len(recorded)?;
            Ok(recorded)
        }
        Err(e) => Err(e),
    }
}

fn append_lost(dir: &Path, rows: u64) -> std::io::Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let mut csv = RequestsCsv::open(dir)?;
    csv.write_lost(rows).map_err(|e| e.source)?;
    csv.flush().map_err(|e| e.source)
}

/// Keeps the rows of requests.csv whose line `keep` says, and the lost rows; drops the others
/// (an item whose result line never reached the disk) and torn rows. Returns the rows kept.
fn keep_rows(dir: &Path, keep: impl Fn(u64) -> bool) -> std::io::Result<u64> {
    let path = dir.join(REQUESTS_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = ::csv::ReaderBuilder::new().has_headers(true).from_reader(file);
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(line_at), Some(class_at)) = (column("line"), column("error_class")) else {
        return Ok(0);
    };
    let tmp = dir.join(format!(".{REQUESTS_FILE}.repair"));
    let mut writer = ::csv::Writer::from_path(&tmp)?;
    writer.write_record(&headers)?;
    let (mut kept, mut dropped) = (0u64, 0u64);
    for record in reader.records() {
        let keeps = record
            .as_ref()
            .ok()
            .filter(|r| r.len() == headers.len())
            .is_some_and(|r| {
                r.get(class_at) == Some("lost") || r.get(line_at).and_then(|l| l.parse().ok()).is_some_and(&keep)
            });
        match (keeps, record) {
            (true, Ok(record)) => {
                writer.write_record(&record)?;
                kept += 1;
            }
            _ => dropped += 1,
        }
    }
    if dropped == 0 {
        drop(writer);
        std::fs::remove_file(&tmp)?;
        return Ok(kept);
    }
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    Ok(kept)
}
