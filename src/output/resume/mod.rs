//! The resume scan: reads `results.jsonl` and `errors.jsonl` of a run folder once, repairs them,
//! collects the input lines already finished, and feeds every kept line to the collector so the
//! final summary covers the whole job.
//!
//! Repairs: a torn last line (a crash in the middle of a write) is cut off; lines that are not
//! JSON elsewhere (a power loss can leave garbage) and repeated line numbers are moved to
//! `<file>.damaged`. Error lines of items a stop cut short (`"unfinished": true`), and with
//! `--retry-failed` every failed item, are moved to `errors.replaced.jsonl` so the item is sent
//! again and ends up with exactly one line. Each rewrite goes through a temporary file and a
//! rename, so a crash during the scan leaves either the old file or the new one.
//!
//! Memory: one bit per input line ([`LineSet`]) and one line at a time.

pub mod counts;
mod sidecar;
mod view;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::lineset::LineSet;
use super::{sync_dir, ERRORS_FILE, REPLACED_FILE, RESULTS_FILE};
use crate::stats::Collector;
use view::{LineView, Recorded};

/// What the scan found and did.
#[derive(Debug, Default)]
pub struct Scanned {
    /// Input lines (1-based numbers) that already have their one output line.
    pub done: LineSet,
    /// Lines sent again in this part (error lines moved to errors.replaced.jsonl).
    pub replaced: u64,
    /// What was repaired, for the user.
    pub notices: Vec<String>,
    /// Latest modification time of the two files, to estimate when a crashed part ended.
    pub last_write: Option<SystemTime>,
    /// Highest line number in each file, and whether each file is in line order.
    pub results_order: FileOrder,
    pub errors_order: FileOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileOrder {
    pub last_line: u64,
    pub sorted: bool,
}

impl Default for FileOrder {
    fn default() -> Self {
        FileOrder {
            last_line: 0,
            sorted: true,
        }
    }
}

impl FileOrder {
    pub fn push(&mut self, line: u64) {
        self.sorted &= line > self.last_line;
        self.last_line = self.last_line.max(line);
    }
}

/// What happens to one line of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Moved to errors.replaced.jsonl; the item is sent again.
    Replace,
    /// Not JSON, torn, or a repeat: moved to `<file>.damaged`.
    Damaged,
}

/// Scans and repairs both files of `dir`, recording every kept line in `collector`.
pub fn scan(dir: &Path, retry_failed: bool, collector: &mut Collector) -> Result<Scanned, String> {
    if super::OutputFormat::of_folder(dir) == super::OutputFormat::OpenAi {
        return sidecar::scan(dir, retry_failed, collector);
    }
    let mut scanned = Scanned::default();
    for (name, is_errors) in [(RESULTS_FILE, false), (ERRORS_FILE, true)] {
        let path = dir.join(name);
        let decide = |view: &Option<LineView>, seen: &LineSet| -> Verdict {
            let Some(view) = view else { return Verdict::Damaged };
            if seen.contains(view.sheepdog.line) {
                Verdict::Damaged
            } else if is_errors && (view.sheepdog.unfinished || (retry_failed && !view.is_rejected_input())) {
                Verdict::Replace
            } else {
                Verdict::Keep
            }
        };
        let before = scanned.done.clone();
        let mut order = FileOrder::default();
        let mut counts = Counts::default();
        read_lines(&path, |bytes, complete| {
            let view = if complete { LineView::parse(bytes) } else { None };
            let verdict = decide(&view, &scanned.done);
            counts.note(verdict, bytes.len() as u64 + u64::from(complete));
            if let (Verdict::Keep, Some(view)) = (verdict, view) {
                scanned.done.insert(view.sheepdog.line);
                order.push(view.sheepdog.line);
                let batch = view.sheepdog.via.as_deref() == Some("batch_api");
                match view.into_recorded() {
                    Recorded::Outcome(outcome) if batch => collector.record_batch(&outcome),
                    Recorded::Outcome(outcome) => collector.record(&outcome),
                    Recorded::Rejected(rejected) => collector.record_rejected(&rejected),
                }
            }
        })
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if is_errors {
            scanned.errors_order = order;
        } else {
            scanned.results_order = order;
        }
        scanned.replaced += counts.replaced;
        if let Ok(modified) = path.metadata().and_then(|m| m.modified()) {
            scanned.last_write = scanned.last_write.max(Some(modified));
        }
        if counts.replaced == 0 && counts.damaged == 0 {
            continue;
        }
        if counts.replaced == 0 && counts.damaged_only_at_end {
            truncate(&path, counts.kept_end).map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
            scanned.notices.push(format!(
                "{}: cut off an incomplete last line (the previous run stopped while writing it)",
                path.display()
            ));
            continue;
        }
        let mut seen = before;
        rewrite(dir, name, REPLACED_FILE, |bytes, complete| {
            let view = if complete { LineView::parse(bytes) } else { None };
            let verdict = decide(&view, &seen);
            if let (Verdict::Keep, Some(view)) = (verdict, view) {
                seen.insert(view.sheepdog.line);
            }
            verdict
        })
        .map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
        if counts.damaged > 0 {
            scanned.notices.push(format!(
                "{}: moved {} damaged or repeated line(s) to {name}.damaged",
                path.display(),
                counts.damaged
            ));
        }
    }
    Ok(scanned)
}

#[derive(Debug, Default)]
struct Counts {
    replaced: u64,
    damaged: u64,
    /// Byte offset just after the last kept line.
    kept_end: u64,
    offset: u64,
    /// Every damaged line comes after the last kept or replaced line.
    damaged_only_at_end: bool,
}

impl Counts {
    fn note(&mut self, verdict: Verdict, len: u64) {
        self.offset += len;
        match verdict {
            Verdict::Damaged => {
                if self.damaged == 0 {
                    self.damaged_only_at_end = true;
                }
                self.damaged += 1;
            }
            Verdict::Keep | Verdict::Replace => {
                self.damaged_only_at_end = false;
                self.kept_end = self.offset;
                self.replaced += u64::from(verdict == Verdict::Replace);
            }
        }
    }
}

/// Calls `each(line without newline, ended with a newline)` for every line of `path` (a missing
/// file has none).
fn read_lines(path: &Path, mut each: impl FnMut(&[u8], bool)) -> std::io::Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut lines = crate::lines::Lines::new(file);
    while let Some(line) = lines.next_line()? {
        match line.strip_suffix(b"\n") {
            Some(line) => each(line, true),
            None => each(line, false),
        }
    }
    Ok(())
}

fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Rewrites `dir/name` keeping the lines `decide(line, ended with a newline)` keeps; the others
/// are appended to `replaced_to` or `name.damaged`. Temporary file, sync, rename, sync the folder.
fn rewrite(
    dir: &Path,
    name: &str,
    replaced_to: &str,
    mut decide: impl FnMut(&[u8], bool) -> Verdict,
) -> std::io::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.repair"));
    let mut kept = BufWriter::new(File::create(&tmp)?);
    let mut replaced: Option<BufWriter<File>> = None;
    let mut damaged: Option<BufWriter<File>> = None;
    let append = |slot: &mut Option<BufWriter<File>>, file: PathBuf| -> std::io::Result<()> {
        if slot.is_none() {
            *slot = Some(BufWriter::new(OpenOptions::new().create(true).append(true).open(file)?));
        }
        Ok(())
    };
    let mut failed: Option<std::io::Error> = None;
    read_lines(&path, |bytes, complete| {
        if failed.is_some() {
            return;
        }
        let written = match decide(bytes, complete) {
            Verdict::Keep => kept.write_all(bytes).and_then(|_| kept.write_all(b"\n")),
            Verdict::Replace => append(&mut replaced, dir.join(replaced_to)).and_then(|_| match &mut replaced {
                Some(w) => w.write_all(bytes).and_then(|_| w.write_all(b"\n")),
                None => Ok(()),
            }),
            Verdict::Damaged => {
                append(&mut damaged, dir.join(format!("{name}.damaged"))).and_then(|_| match &mut damaged {
                    Some(w) => w.write_all(bytes).and_then(|_| w.write_all(b"\n")),
                    None => Ok(()),
                })
            }
        };
        if let Err(e) = written {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The moved lines are on disk before the file that held them is replaced.
    for writer in [replaced, damaged].into_iter().flatten() {
        writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    kept.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests;
