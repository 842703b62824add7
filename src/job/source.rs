//! The source of a run's work: the input file, read on a thread of its own, with the lines the
//! earlier parts finished skipped, rejected lines handed straight to the owner, and (with
//! `--ordered`) a reorder-window slot taken for each line.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::owner::{Event, Msg};
use crate::dispatch::Dispatcher;
use crate::engine::Source;
use crate::input::{Entry, InputError, Reader, Repeats, WorkItem};
use crate::output::lineset::LineSet;
use crate::record::Rejected;
use crate::shard::Shard;

/// What the reader learnt once it reached the end of the input: its size and SHA-256.
pub type Fingerprint = (u64, Option<String>);

/// Entries the reader hands over at once. Handing them one by one woke the reader's thread
/// (a futex wake and a park) for every item the run took, about 5% of a short-prompt run's CPU.
const BATCH: usize = 64;

/// A batch also goes once its lines hold this many bytes, so long prompts are not read far
/// ahead: the read-ahead stays near `BATCHES` MiB whatever the lines' length (64 lines of 400 KB
/// were 25 MB a batch, and 1,024 of them waiting held over 400 MB).
const BATCH_BYTES: u64 = 1 << 20;

/// Batches waiting for the run: `BATCHES × BATCH` entries read ahead at most.
const BATCHES: usize = 16;

/// Whether a batch of `len` entries holding `bytes` of input goes now.
fn full(len: usize, bytes: u64, size: usize) -> bool {
    len >= size || bytes >= BATCH_BYTES
}

/// Entries read from the input, in order.
pub type Entries = mpsc::Receiver<Vec<Result<Entry, InputError>>>;

/// Starts the reader thread. The input is never loaded whole. A thread of its own (not a
/// blocking task of the runtime): opening a FIFO or reading a pipe may block for good, and the
/// run must still stop on a signal and the process exit. `hashing`: fingerprint what is read
/// (a pipe, read once). `repeats`: the ids that may repeat, found before the run (see
/// [`Repeats`]); without them the reader keeps every id's hash, sized for `lines`.
pub fn read_input(
    path: PathBuf,
    (shard, endpoint): (Option<Shard>, crate::provider::ApiEndpoint),
    (lines, repeats): (u64, Option<Repeats>),
    hashing: bool,
) -> (Entries, oneshot::Receiver<Fingerprint>) {
    let (entries_tx, entries) = mpsc::channel(BATCHES);
    let (read_tx, read_rx) = oneshot::channel::<Fingerprint>();
    std::thread::spawn(move || {
        let mut reader = match Reader::open(&path) {
            Ok(reader) => {
                let reader = reader.with_shard(shard).with_endpoint(endpoint);
                match repeats {
                    Some(repeats) => reader.with_repeats(repeats),
                    None => reader.expecting(lines),
                }
            }
            Err(e) => {
                let _ = entries_tx.blocking_send(vec![Err(e)]);
                return;
            }
        };
        if hashing {
            reader = reader.hashing();
        }
        // A pipe's next line may be long in coming: what was read goes at once. A file's next
        // line is always there, so a partial batch waits only while the run has lines enough.
        let size = if hashing { 1 } else { BATCH };
        let mut batch = Vec::with_capacity(size);
        let mut from = reader.bytes_taken();
        while let Some(entry) = reader.next() {
            let failed = entry.is_err();
            batch.push(entry);
            let bytes = reader.bytes_taken().saturating_sub(from);
            batch = if full(batch.len(), bytes, size) || failed {
                if entries_tx.blocking_send(batch).is_err() || failed {
                    return;
                }
                from = reader.bytes_taken();
                Vec::with_capacity(size)
            } else {
                match entries_tx.try_send(batch) {
                    Ok(()) => {
                        from = reader.bytes_taken();
                        Vec::with_capacity(size)
                    }
                    Err(mpsc::error::TrySendError::Full(batch)) => batch,
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            };
        }
        if !batch.is_empty() && entries_tx.blocking_send(batch).is_err() {
            return;
        }
        let _ = read_tx.send(reader.fingerprint());
    });
    (entries, read_rx)
}

/// One item to send, with its place in this part's order and its reorder-window slot.
pub struct Work {
    pub item: WorkItem,
    pub seq: u64,
    pub window: Option<OwnedSemaphorePermit>,
}

pub struct InputSource {
    entries: Entries,
    /// The rest of the batch being taken.
    batch: std::vec::IntoIter<Result<Entry, InputError>>,
    /// Input lines already finished by earlier parts.
    done: LineSet,
    events: mpsc::Sender<Msg>,
    /// With `--ordered`: each line holds a slot from dispatch until it is written.
    window: Option<Arc<Semaphore>>,
    dispatcher: Arc<Dispatcher>,
    stop: CancellationToken,
    seq: u64,
    read: u64,
    error: Option<InputError>,
}

/// What the source saw, once the run is over.
pub struct Read {
    /// Entries read (lines of this shard, blank lines apart).
    pub lines: u64,
    /// The input could not be read to its end.
    pub error: Option<InputError>,
}

impl InputSource {
    pub fn new(
        entries: Entries,
        done: LineSet,
        events: mpsc::Sender<Msg>,
        window: Option<usize>,
        dispatcher: Arc<Dispatcher>,
        stop: CancellationToken,
    ) -> InputSource {
        InputSource {
            entries,
            batch: Vec::new().into_iter(),
            done,
            events,
            window: window.map(|size| Arc::new(Semaphore::new(size))),
            dispatcher,
            stop,
            seq: 0,
            read: 0,
            error: None,
        }
    }

    /// Closes the input (the reader thread ends) and says what was read.
    /// What was read, once the run took its last item.
    pub fn close(&mut self) -> Read {
        Read {
            lines: self.read,
            error: self.error.take(),
        }
    }

    /// The next entry of a line not done yet; `None` at the end, on a stop or a read error.
    async fn entry(&mut self) -> Option<Entry> {
        loop {
            // A reader blocked on a pipe that sends nothing must not hold the run.
            let entry = match self.batch.next() {
                Some(entry) => entry,
                None => {
                    self.batch = tokio::select! {
                        batch = self.entries.recv() => batch?,
                        _ = self.stop.cancelled() => return None,
                    }
                    .into_iter();
                    continue;
                }
            };
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.error = Some(e);
                    self.stop.cancel();
                    return None;
                }
            };
            self.read += 1;
            let line = match &entry {
                Entry::Item(item) => item.line,
                Entry::Rejected(rejected) => rejected.line,
            };
            if self.done.contains(line) {
                continue;
            }
            return (!self.stop.is_cancelled()).then_some(entry);
        }
    }

    async fn reject(&mut self, rejected: Rejected, window: Option<OwnedSemaphorePermit>) {
        let msg = Msg {
            seq: self.seq,
            event: Event::Rejected(rejected),
            window,
            line: None,
            unfinished: false,
        };
        self.seq += 1;
        let _ = self.events.send(msg).await;
    }
}

impl Source for InputSource {
    type Work = Work;

    async fn next_work(&mut self) -> Option<Work> {
        loop {
            let entry = self.entry().await?;
            let window = match &self.window {
                Some(window) => tokio::select! {
                    permit = window.clone().acquire_owned() => permit.ok(),
                    _ = self.stop.cancelled() => return None,
                },
                None => None,
            };
            let item = match entry {
                Entry::Rejected(rejected) => {
                    self.reject(rejected, window).await;
                    continue;
                }
                Entry::Item(item) => item,
            };
            let routable = self
                .dispatcher
                .route()
                .iter()
                .any(|t| Dispatcher::model_for(t, &item).is_some());
            if !routable {
                let reason = "no model: give --model, targets in a job file, or \"model\" in the line".to_string();
                let rejected = Rejected {
                    id: Some(item.id),
                    line: item.line,
                    reason,
                };
                self.reject(rejected, window).await;
                continue;
            }
            let seq = self.seq;
            self.seq += 1;
            return Some(Work { item, seq, window });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_batch_goes_at_64_lines_or_a_mebibyte() {
        assert!(!full(63, 1000, BATCH));
        assert!(full(64, 1000, BATCH));
        assert!(full(3, BATCH_BYTES, BATCH));
        assert!(full(1, 0, 1));
    }

    /// Long lines are handed over a few at a time, not 64 at once: the read-ahead is bounded in
    /// bytes as well as in lines.
    #[tokio::test]
    async fn long_lines_are_not_read_far_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl");
        let prompt = "word ".repeat(60_000);
        let text: String = (0..100)
            .map(|i| format!("{{\"id\":\"l{i}\",\"prompt\":\"{prompt}\"}}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        let (mut entries, _) = read_input(path, (None, crate::provider::ApiEndpoint::Chat), (100, None), false);
        // Once the channel is full, the reader fills a batch in its hands: that one shows the cap.
        let waited = Instant::now();
        while entries.len() < BATCHES && waited.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut sizes = Vec::new();
        while let Some(batch) = entries.recv().await {
            sizes.push(batch.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 100, "{sizes:?}");
        // 300 KB a line: a mebibyte is 4 lines, however far ahead the read buffer holds.
        assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");
        assert!(sizes.len() > BATCHES, "{sizes:?}");
    }
}
