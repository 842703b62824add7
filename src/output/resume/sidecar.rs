//! The resume scan of a folder written in the `openai` format: the `sheepdog` blocks are read
//! from `sheepdog.jsonl`, and an item counts as done only when both its sidecar line and its
//! line in `results.jsonl` / `errors.jsonl` were written (a crash between the two writes leaves
//! one of them alone: it is moved to `<file>.damaged` and the item is sent again). Replaced error
//! items move out of both files: `errors.jsonl` → `errors.replaced.jsonl`, `sheepdog.jsonl` →
//! `sheepdog.replaced.jsonl`.

use std::path::Path;

use super::view::{LineView, Recorded};
use super::{read_lines, rewrite, Scanned, Verdict};
use crate::output::format::{line_of_id, SIDECAR_FILE, SIDECAR_REPLACED_FILE};
use crate::output::lineset::LineSet;
use crate::output::{ERRORS_FILE, REPLACED_FILE, RESULTS_FILE};
use crate::stats::Collector;

/// The input line of a complete `openai` line, from its `id`.
fn id_line(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: std::borrow::Cow<'a, str>,
    }
    let id: Id<'_> = serde_json::from_slice(bytes).ok()?;
    line_of_id(&id.id)
}

pub(super) fn scan(dir: &Path, retry_failed: bool, collector: &mut Collector) -> Result<Scanned, String> {
    let mut scanned = Scanned::default();
    let files = [RESULTS_FILE, ERRORS_FILE];
    let mut present = [LineSet::new(), LineSet::new()];
    for (name, present) in files.iter().zip(&mut present) {
        let path = dir.join(name);
        read_lines(&path, |bytes, complete| {
            if let Some(line) = complete.then(|| id_line(bytes)).flatten() {
                present.insert(line);
            }
        })
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if let Ok(modified) = path.metadata().and_then(|m| m.modified()) {
            scanned.last_write = scanned.last_write.max(Some(modified));
        }
    }

    let decide = |view: &Option<LineView>, seen: &LineSet| -> Verdict {
        let Some(view) = view else { return Verdict::Damaged };
        let line = view.sheepdog.line;
        let is_errors = view.file.as_deref() == Some("errors");
        if seen.contains(line) || !present[usize::from(is_errors)].contains(line) {
            Verdict::Damaged
        } else if is_errors && (view.sheepdog.unfinished || (retry_failed && !view.is_rejected_input())) {
            Verdict::Replace
        } else {
            Verdict::Keep
        }
    };
    let sidecar = dir.join(SIDECAR_FILE);
    let mut kept = [LineSet::new(), LineSet::new()];
    let (mut replaced, mut damaged) = (LineSet::new(), 0u64);
    read_lines(&sidecar, |bytes, complete| {
        let view = if complete { LineView::parse(bytes) } else { None };
        match (decide(&view, &scanned.done), view) {
            (Verdict::Keep, Some(view)) => {
                let is_errors = view.file.as_deref() == Some("errors");
                scanned.done.insert(view.sheepdog.line);
                kept[usize::from(is_errors)].insert(view.sheepdog.line);
                let order = if is_errors {
                    &mut scanned.errors_order
                } else {
                    &mut scanned.results_order
                };
                order.push(view.sheepdog.line);
                match view.into_recorded() {
                    Recorded::Outcome(outcome) => collector.record(&outcome),
                    Recorded::Rejected(rejected) => collector.record_rejected(&rejected),
                }
            }
            (Verdict::Replace, Some(view)) => {
                replaced.insert(view.sheepdog.line);
            }
            _ => damaged += 1,
        }
    })
    .map_err(|e| format!("{}: cannot read: {e}", sidecar.display()))?;
    scanned.replaced = replaced.len();
    if damaged + replaced.len() > 0 {
        let mut seen = LineSet::new();
        rewrite(dir, SIDECAR_FILE, SIDECAR_REPLACED_FILE, |bytes, complete| {
            let view = if complete { LineView::parse(bytes) } else { None };
            let verdict = decide(&view, &seen);
            if let (Verdict::Keep, Some(view)) = (verdict, view) {
                seen.insert(view.sheepdog.line);
            }
            verdict
        })
        .map_err(|e| format!("{}: cannot repair: {e}", sidecar.display()))?;
    }
    if damaged > 0 {
        scanned.notices.push(format!(
            "{}: moved {damaged} damaged, repeated or unpaired line(s) to {SIDECAR_FILE}.damaged",
            sidecar.display()
        ));
    }

    // Each result file keeps the lines its sidecar lines kept, once.
    for (name, kept) in files.iter().zip(&kept) {
        let path = dir.join(name);
        let decide = |bytes: &[u8], complete: bool, seen: &LineSet| match complete.then(|| id_line(bytes)).flatten() {
            Some(line) if kept.contains(line) && !seen.contains(line) => (Verdict::Keep, Some(line)),
            Some(line) if replaced.contains(line) && *name == ERRORS_FILE => (Verdict::Replace, Some(line)),
            _ => (Verdict::Damaged, None),
        };
        let mut seen = LineSet::new();
        let mut dropped = 0u64;
        read_lines(&path, |bytes, complete| match decide(bytes, complete, &seen) {
            (Verdict::Keep, Some(line)) => {
                seen.insert(line);
            }
            _ => dropped += 1,
        })
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        if dropped == 0 {
            continue;
        }
        let mut seen = LineSet::new();
        rewrite(dir, name, REPLACED_FILE, |bytes, complete| {
            let (verdict, line) = decide(bytes, complete, &seen);
            if let (Verdict::Keep, Some(line)) = (verdict, line) {
                seen.insert(line);
            }
            verdict
        })
        .map_err(|e| format!("{}: cannot repair: {e}", path.display()))?;
        let moved = dropped.saturating_sub(if *name == ERRORS_FILE { replaced.len() } else { 0 });
        if moved > 0 {
            scanned.notices.push(format!(
                "{}: moved {moved} damaged, repeated or unpaired line(s) to {name}.damaged",
                path.display()
            ));
        }
    }
    Ok(scanned)
}
