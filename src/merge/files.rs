//! The line files of a merged folder: `results.jsonl` and `errors.jsonl` concatenated (shard
//! order, or input-line order with `--ordered`), and `requests.csv` with every row's send time
//! moved onto the merged time axis. Streamed: memory does not grow with the files.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use crate::output::files::REQUESTS_FILE;
use crate::output::requests::RequestRow;

/// Appends `from/name` (if it exists) to `out`, adding a final newline if the file lacks one
/// (a line cut by a crash is kept as it is, on its own line).
pub fn append_lines(from: &Path, name: &str, out: &mut BufWriter<File>) -> io::Result<u64> {
    let path = from.join(name);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let mut lines = crate::lines::Lines::new(file);
    let mut written = 0;
    while let Some((_, line)) = lines.next_filled()? {
        out.write_all(line)?;
        if line.last() != Some(&b'\n') {
            out.write_all(b"\n")?;
        }
        written += 1;
    }
    Ok(written)
}

/// Appends the rows of `from/requests.csv` to `out` with `offset` added to `sent_at_ms`.
/// Returns `false` when the shard has no requests.csv.
pub fn append_requests(from: &Path, offset: Duration, out: &mut csv::Writer<BufWriter<File>>) -> io::Result<bool> {
    let path = from.join(REQUESTS_FILE);
    let mut reader = match csv::Reader::from_path(&path) {
        Ok(reader) => reader,
        Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::NotFound) => {
            return Ok(false)
        }
        Err(e) => return Err(io::Error::other(format!("{}: {e}", path.display()))),
    };
    let shift = offset.as_secs_f64() * 1e3;
    for (i, row) in reader.deserialize::<RequestRow>().enumerate() {
        let mut row = row.map_err(|e| io::Error::other(format!("{} line {}: {e}", path.display(), i + 2)))?;
        row.sent_at_ms = row.sent_at_ms.map(|ms| ((ms + shift) * 1e3).round() / 1e3);
        out.serialize(&row).map_err(io::Error::other)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_whole_without_blank_ones_and_each_ends_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("results.jsonl"),
            "{\"a\":1}\n\n  \n{\"b\":2}\n{\"c\":3}",
        )
        .unwrap();
        let path = dir.path().join("merged.jsonl");
        let mut out = BufWriter::new(File::create(&path).unwrap());
        assert_eq!(append_lines(dir.path(), "results.jsonl", &mut out).unwrap(), 3);
        assert_eq!(append_lines(dir.path(), "missing.jsonl", &mut out).unwrap(), 0);
        drop(out);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
    }
}
