//! The line files of a merged folder: `results.jsonl` and `errors.jsonl` concatenated (shard
//! order, or input-line order with `--ordered`), and `requests.csv` with every row's send time
//! moved onto the merged time axis. Streamed: memory does not grow with the files.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
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
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::with_capacity(4096);
    let mut lines = 0;
    loop {
        use io::BufRead;
        buffer.clear();
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            return Ok(lines);
        }
        if buffer.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if buffer.last() != Some(&b'\n') {
            buffer.push(b'\n');
        }
        out.write_all(&buffer)?;
        lines += 1;
    }
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
