//! `requests.sent`: one byte appended before every request of a run, so that the number of
//! requests sent is known exactly even when their answers were lost (a `kill -9`, a full
//! disk, a drain that timed out). The resume compares it with the requests recorded in the
//! result files; the difference is counted as `lost` in summary.json and requests.csv, so
//! both agree with what the provider received (and billed).
//!
//! A byte that cannot be appended (a full disk) means the request is not sent, and stops the
//! run like any failed write: the journal cancels the run's tokens, and the run reports the
//! error ([`SentJournal::failure`]).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

pub use super::files::SENT_FILE;

#[derive(Debug, Clone)]
pub struct SentJournal {
    /// Behind a lock of sheepdog's own: two worker threads appending at once contend for the
    /// file's lock in the kernel, which costs several times the write itself.
    file: Arc<Mutex<File>>,
    /// Cancelled when a note fails: the run stops and drops its requests in flight.
    on_failure: Vec<CancellationToken>,
    failure: Arc<Mutex<Option<std::io::Error>>>,
}

impl SentJournal {
    pub fn open(dir: &Path) -> std::io::Result<SentJournal> {
        let file = OpenOptions::new().create(true).append(true).open(dir.join(SENT_FILE))?;
        Ok(SentJournal {
            file: Arc::new(Mutex::new(file)),
            on_failure: Vec::new(),
            failure: Arc::default(),
        })
    }

    /// Cancels `tokens` when a note fails.
    pub fn stopping(mut self, tokens: &[&CancellationToken]) -> SentJournal {
        self.on_failure = tokens.iter().map(|t| (*t).clone()).collect();
        self
    }

    /// Notes one request about to be sent: one `write` of one byte (appends are atomic). On
    /// failure the request must not be sent; the run is being stopped.
    pub fn note(&self) -> std::io::Result<()> {
        let written = self.file().and_then(|mut file| file.write_all(b"."));
        if let Err(e) = &written {
            if let Ok(mut failure) = self.failure.lock() {
                failure.get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
            }
            for token in &self.on_failure {
                token.cancel();
            }
        }
        written
    }

    /// The first failed note, if any.
    pub fn failure(&self) -> Option<std::io::Error> {
        let failure = self.failure.lock().ok()?;
        failure.as_ref().map(|e| std::io::Error::new(e.kind(), e.to_string()))
    }

    /// Requests noted so far.
    pub fn count(&self) -> std::io::Result<u64> {
        Ok(self.file()?.metadata()?.len())
    }

    /// The file, under the journal's lock.
    fn file(&self) -> std::io::Result<std::sync::MutexGuard<'_, File>> {
        self.file
            .lock()
            .map_err(|_| std::io::Error::other("the journal's lock was poisoned"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_note_is_one_request_and_clones_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let journal = SentJournal::open(dir.path()).unwrap();
        let clone = journal.clone();
        journal.note().unwrap();
        clone.note().unwrap();
        assert_eq!(journal.count().unwrap(), 2);
        let again = SentJournal::open(dir.path()).unwrap();
        again.note().unwrap();
        assert_eq!(journal.count().unwrap(), 3, "a resume appends");
    }
}
