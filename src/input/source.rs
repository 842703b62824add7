//! Where input bytes come from: a file, a pipe or FIFO, or stdin (`-`), read once, with the
//! size and (on request) SHA-256 of what was read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::InputError;

/// `-`: read the input from stdin.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether `path` can only be read once (stdin, a pipe, a FIFO, a process substitution, a
/// character device): anything that is not a regular file. A path that cannot be inspected
/// counts as a file, so that opening it reports the error.
pub fn is_streamed(path: &Path) -> bool {
    is_stdin(path) || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Opens the input for reading. A FIFO's open waits for its writer.
pub(super) fn open(path: &Path) -> Result<Box<dyn Read + Send>, InputError> {
    let fail = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    if is_stdin(path) {
        return Ok(Box::new(std::io::stdin()));
    }
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(fail(std::io::Error::other("it is a directory")));
    }
    let file = File::open(path).map_err(fail)?;
    Ok(Box::new(file))
}

/// Counts (and optionally hashes) the bytes read through it.
pub struct Tally {
    inner: Box<dyn Read + Send>,
    size: u64,
    hasher: Option<Sha256>,
}

impl Tally {
    pub fn new(inner: Box<dyn Read + Send>) -> Tally {
        Tally {
            inner,
            size: 0,
            hasher: None,
        }
    }

    pub fn hash(&mut self) {
        self.hasher.get_or_insert_with(Sha256::new);
    }

    /// Bytes read so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes read, and their SHA-256 in hex when hashing.
    pub fn fingerprint(&self) -> (u64, Option<String>) {
        let hex = self.hasher.as_ref().map(|h| {
            h.clone().finalize().iter().fold(String::with_capacity(64), |mut s, b| {
                use std::fmt::Write;
                let _ = write!(s, "{b:02x}");
                s
            })
        });
        (self.size, hex)
    }
}

impl Read for Tally {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.size += n as u64;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_not_streamed_and_stdin_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{}\n").unwrap();
        assert!(!is_streamed(&path));
        assert!(!is_streamed(dir.path()));
        assert!(!is_streamed(&dir.path().join("missing")));
        assert!(is_streamed(Path::new("-")));
    }

    #[test]
    fn tally_hashes_what_it_reads() {
        let mut tally = Tally::new(Box::new(std::io::Cursor::new(b"abc\n".to_vec())));
        tally.hash();
        let mut text = String::new();
        tally.read_to_string(&mut text).unwrap();
        let (size, sha) = tally.fingerprint();
        assert_eq!(size, 4);
        assert_eq!(sha.as_deref().map(str::len), Some(64));
        assert_eq!(sha, Some(crate::output::manifest::sha256_hex(b"abc\n")));
    }
}
