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

/// Batches waiting for the run: `BATCHES × BATCH` entries read ahead at most.
const BATCHES: usize = 16;

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
        for entry in reader.by_ref() {
            let failed = entry.is_err();
            batch.push(entry);
            batch = if batch.len() >= size || failed {
                if entries_tx.blocking_send(batch).is_err() || failed {
                    return;
                }
                Vec::with_capacity(size)
            } else {
                match entries_tx.try_send(batch) {
                    Ok(()) => Vec::with_capacity(size),
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
    pub fn close(self) -> Read {
        Read {
            lines: self.read,
            error: self.error,
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
