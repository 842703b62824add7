//! The prompts of a JSONL file, read a few requests ahead on a thread of their own and read
//! again from the start at the file's end, so that a bench holds no more of its file than the
//! prompts in flight.
//!
//! Held whole, a file of long prompts costs its size in memory, and the first touch of every
//! page of it: 500 prompts of 400 KB were 200 MB and 53,000 page faults, which doubled the
//! client's CPU per request. Read as requests go, a prompt's memory is used again by the next
//! one. The reading and parsing run on the reader's thread, off the runtime's; a request waits
//! for its prompt without blocking a runtime thread, so a slow disk never delays the reading of
//! answers (and their timings).

use std::path::{Path, PathBuf};

use tokio::sync::mpsc::{channel, Receiver, Sender};

use crate::input::{Entry, Reader, WorkItem};
use crate::job::JobError;
use crate::provider::ApiEndpoint;

/// Prompts read ahead of the requests.
const AHEAD: usize = 8;

/// A file's prompts, in the file's order, for ever.
pub(super) struct Lines {
    ahead: Receiver<Result<WorkItem, String>>,
    /// Why the prompts ended (a read error, a file left with no valid line), once they have.
    failed: Option<String>,
}

impl Lines {
    /// Opens `path` and reads up to its first valid line, which it returns: a file without
    /// one is refused here, before the bench starts.
    pub fn open(path: &Path, endpoint: ApiEndpoint) -> Result<(Lines, WorkItem), JobError> {
        let mut reader = Reader::open(path)?.with_endpoint(endpoint);
        let mut rejected = 0;
        let first = loop {
            match reader.next_entry()? {
                Some(Entry::Item(item)) => break item,
                Some(Entry::Rejected(_)) => rejected += 1,
                None => return Err(no_valid_request(path, rejected)),
            }
        };
        let (sender, ahead) = channel(AHEAD);
        let cycle = Cycle {
            path: path.to_path_buf(),
            endpoint,
            sender,
        };
        let sent_first = first.clone();
        std::thread::Builder::new()
            .name("bench-prompts".into())
            .spawn(move || cycle.run(reader, sent_first))
            .map_err(|e| JobError::Bench(format!("cannot start the thread that reads {}: {e}", path.display())))?;
        Ok((Lines { ahead, failed: None }, first))
    }

    /// The next prompt; `None` once the prompts have ended ([`Lines::failure`] says why).
    pub async fn next(&mut self) -> Option<WorkItem> {
        if self.failed.is_some() {
            return None;
        }
        let message = match self.ahead.recv().await {
            Some(Ok(item)) => return Some(item),
            Some(Err(message)) => message,
            None => "the thread reading the prompts stopped".to_string(),
        };
        self.failed = Some(message);
        None
    }

    /// Why the prompts ended, if they have.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }
}

/// The error of a file with no line that is a valid request.
pub(super) fn no_valid_request(path: &Path, rejected: u64) -> JobError {
    JobError::Bench(format!(
        "{}: no valid request in the file ({rejected} invalid lines; `sheepdog run {} --dry-run` says why)",
        path.display(),
        path.display()
    ))
}

/// The reader's side: reads the file to its end, then again, until the bench drops its end of
/// the channel.
struct Cycle {
    path: PathBuf,
    endpoint: ApiEndpoint,
    sender: Sender<Result<WorkItem, String>>,
}

impl Cycle {
    fn run(self, mut reader: Reader, first: WorkItem) {
        if self.sender.blocking_send(Ok(first)).is_err() {
            return;
        }
        // The first pass has its first item already.
        let mut found = true;
        loop {
            match reader.next_entry() {
                Ok(Some(Entry::Item(item))) => {
                    found = true;
                    if self.sender.blocking_send(Ok(item)).is_err() {
                        return;
                    }
                }
                Ok(Some(Entry::Rejected(_))) => {}
                Ok(None) if found => match Reader::open(&self.path) {
                    Ok(again) => {
                        reader = again.with_endpoint(self.endpoint);
                        found = false;
                    }
                    Err(e) => return self.fail(e.to_string()),
                },
                Ok(None) => {
                    let left = format!(
                        "{}: no valid request left in the file (it changed during the bench)",
                        self.path.display()
                    );
                    return self.fail(left);
                }
                Err(e) => return self.fail(e.to_string()),
            }
        }
    }

    fn fail(&self, message: String) {
        let _ = self.sender.blocking_send(Err(message));
    }
}
