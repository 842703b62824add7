//! Puts the lines of a results file in input order, for an `--ordered` job whose file got out of
//! order: lines sent again by a resume, or answers that a stop released out of order so that
//! nothing paid for is lost. Runs once, when the job is complete.
//!
//! Memory: 16 bytes per line (line number, offset) plus one line at a time; the file is read
//! twice (once in order, once by position) and replaced through a temporary file and a rename.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Deserialize;

use super::sync_dir;

/// The input line of a result line: its `sheepdog` block's, or (an `openai` line) its `id`'s.
#[derive(Deserialize)]
struct LineNumber {
    #[serde(default)]
    sheepdog: Option<Block>,
    #[serde(default)]
    id: Option<String>,
}

impl LineNumber {
    fn line(&self) -> Option<u64> {
        match &self.sheepdog {
            Some(block) => Some(block.line),
            None => self.id.as_deref().and_then(super::format::line_of_id),
        }
    }
}

#[derive(Deserialize)]
struct Block {
    line: u64,
}

/// Rewrites `dir/name` sorted by `sheepdog.line` (or the line in the `id` of an `openai` line).
pub fn sort_by_line(dir: &Path, name: &str) -> std::io::Result<()> {
    let path = dir.join(name);
    let mut index: Vec<(u64, u64)> = Vec::new();
    {
        let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
        let mut buffer = Vec::new();
        let mut offset = 0u64;
        loop {
            buffer.clear();
            let n = reader.read_until(b'\n', &mut buffer)?;
            if n == 0 {
                break;
            }
            let not_result = |e: &dyn std::fmt::Display| {
                std::io::Error::other(format!("{}: byte {offset}: not a result line: {e}", path.display()))
            };
            let parsed: LineNumber = serde_json::from_slice(&buffer).map_err(|e| not_result(&e))?;
            let line = parsed.line().ok_or_else(|| not_result(&"no line number"))?;
            index.push((line, offset));
            offset += n as u64;
        }
    }
    index.sort_unstable();
    let tmp = dir.join(format!(".{name}.sorted"));
    let mut source = BufReader::with_capacity(64 * 1024, File::open(&path)?);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    let mut line = Vec::new();
    let mut position = 0u64;
    for (_, offset) in index {
        if offset != position {
            // Only where the order changes: a seek drops the read buffer.
            source.seek(SeekFrom::Start(offset))?;
        }
        line.clear();
        position = offset + source.read_until(b'\n', &mut line)? as u64;
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        out.write_all(&line)?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_in_line_order_and_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"id":"c","sheepdog":{"line":30}}"#,
            r#"{"id":"a","sheepdog":{"line":2},"response":{"body":"x"}}"#,
            r#"{"id":"b","sheepdog":{"line":17}}"#,
        ];
        std::fs::write(dir.path().join("r.jsonl"), lines.join("\n") + "\n").unwrap();
        sort_by_line(dir.path(), "r.jsonl").unwrap();
        let text = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
        assert_eq!(text, format!("{}\n{}\n{}\n", lines[1], lines[2], lines[0]));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
    }
}

#[cfg(test)]
mod openai_tests {
    use super::*;

    #[test]
    fn openai_lines_are_ordered_by_the_line_in_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            r#"{"id":"sheepdog-30","custom_id":"c","response":null,"error":null}"#,
            r#"{"id":"sheepdog-2","custom_id":"a","response":null,"error":null}"#,
        ];
        std::fs::write(dir.path().join("r.jsonl"), lines.join("\n") + "\n").unwrap();
        sort_by_line(dir.path(), "r.jsonl").unwrap();
        let text = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
        assert_eq!(text, format!("{}\n{}\n", lines[1], lines[0]));
    }
}
