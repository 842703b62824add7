//! The response cache (`--cache PATH`): answers of earlier requests in a local redb database,
//! keyed by [`key::request_key`]. A request identical to one already answered is served from it
//! without a request; identical requests inside one run are sent once (the others wait for the
//! first one's answer).
//!
//! Writes go to one thread that commits in batches (every [`COMMIT_EVERY`] or
//! [`COMMIT_BATCH`] answers), so the cache never slows a run down; answers not yet committed
//! are served from memory meanwhile. A crash loses at most the last batch of the cache, never
//! a result: results.jsonl is the record, the cache only saves money.

pub mod key;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::record::Usage;
pub use key::{request_key, Key};

const ANSWERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("answers_v1");
pub const COMMIT_EVERY: Duration = Duration::from_millis(200);
pub const COMMIT_BATCH: usize = 2000;

/// An answer as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cached {
    pub target: String,
    pub model: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub body: crate::record::JsonText,
    pub usage: Usage,
}

type Answer = Option<Arc<Cached>>;

enum Slot {
    /// Sent, answer not there yet: identical requests wait on it.
    Pending(watch::Sender<Answer>),
    /// Answered, not yet committed to the database.
    Ready(Arc<Cached>),
}

type Slots = Arc<Mutex<HashMap<Key, Slot>>>;
type Writes = mpsc::Sender<(Key, Vec<u8>)>;

/// What to do with a request.
pub enum Lookup {
    Hit(Arc<Cached>),
    /// An identical request is in flight: wait for its answer (`None` or a closed channel: it
    /// failed, look up again).
    Wait(watch::Receiver<Answer>),
    /// Send it, then [`ResponseCache::finish`].
    Lead(Lead),
}

/// The duty to send a request and report its answer. Dropped unfinished (the task was
/// cancelled), it lets the waiting requests go ahead on their own.
pub struct Lead {
    key: Key,
    slots: Slots,
    done: bool,
}

impl Drop for Lead {
    fn drop(&mut self) {
        if !self.done {
            let mut slots = lock(&self.slots);
            if matches!(slots.get(&self.key), Some(Slot::Pending(_))) {
                slots.remove(&self.key);
            }
        }
    }
}

pub struct ResponseCache {
    db: Arc<Database>,
    slots: Slots,
    writes: Mutex<Option<Writes>>,
    writer: Mutex<Option<JoinHandle<Result<(), CacheWriteError>>>>,
}

/// The cache could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("response cache {path}: {message}")]
pub struct CacheError {
    pub path: String,
    pub message: String,
}

impl ResponseCache {
    /// Opens the database at `path`, creating it if needed.
    pub fn open(path: &Path) -> Result<ResponseCache, CacheError> {
        let fail = |message: String| CacheError {
            path: path.display().to_string(),
            message,
        };
        let db = Database::create(path).map_err(|e| fail(e.to_string()))?;
        let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
        txn.open_table(ANSWERS).map_err(|e| fail(e.to_string()))?;
        txn.commit().map_err(|e| fail(e.to_string()))?;
        let db = Arc::new(db);
        let slots: Slots = Arc::default();
        let (tx, rx) = mpsc::channel();
        let writer = {
            let (db, slots) = (db.clone(), slots.clone());
            std::thread::Builder::new()
                .name("sheepdog-cache".into())
                .spawn(move || write_loop(&db, &slots, rx))
                .map_err(|e| fail(format!("cannot start its writer: {e}")))?
        };
        Ok(ResponseCache {
            db,
            slots,
            writes: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Looks `keys` up (the request at each target of its route, in order); when none is known
    /// or in flight, the caller leads under the first key.
    pub fn lookup(&self, keys: &[Key]) -> Lookup {
        let mut slots = lock(&self.slots);
        for key in keys {
            match slots.get(key) {
                Some(Slot::Ready(answer)) => return Lookup::Hit(answer.clone()),
                Some(Slot::Pending(sender)) => return Lookup::Wait(sender.subscribe()),
                None => {}
            }
        }
        for key in keys {
            if let Some(answer) = self.stored(key) {
                return Lookup::Hit(Arc::new(answer));
            }
        }
        let Some(&first) = keys.first() else {
            return Lookup::Lead(Lead {
                key: [0; 32],
                slots: Arc::default(),
                done: true,
            });
        };
        let (sender, _) = watch::channel(None);
        slots.insert(first, Slot::Pending(sender));
        Lookup::Lead(Lead {
            key: first,
            slots: self.slots.clone(),
            done: false,
        })
    }

    /// Reports the answer of a led request (`None`: it failed), stored under `answer_key` (the
    /// key at the target that answered).
    pub fn finish(&self, mut lead: Lead, answer: Option<(Key, Cached)>) {
        lead.done = true;
        let mut slots = lock(&self.slots);
        let pending = match slots.remove(&lead.key) {
            Some(Slot::Pending(sender)) => Some(sender),
            Some(ready) => {
                slots.insert(lead.key, ready);
                None
            }
            None => None,
        };
        let Some((key, answer)) = answer else { return };
        // An answer that cannot be encoded is still shared with this run's identical requests,
        // but never stored as empty bytes that a later run would read back as garbage.
        let bytes = match serde_json::to_vec(&answer) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(error = %e, "response cache: cannot encode an answer; it is not stored");
                None
            }
        };
        let answer = Arc::new(answer);
        slots.insert(key, Slot::Ready(answer.clone()));
        if let Some(sender) = pending {
            sender.send_replace(Some(answer));
        }
        let Some(bytes) = bytes else { return };
        if let Ok(writes) = self.writes.lock() {
            if let Some(writes) = writes.as_ref() {
                let _ = writes.send((key, bytes));
            }
        }
    }

    fn stored(&self, key: &Key) -> Option<Cached> {
        let txn = self.db.begin_read().ok()?;
        let table = txn.open_table(ANSWERS).ok()?;
        let value = table.get(key.as_slice()).ok()??;
        serde_json::from_slice(value.value()).ok()
    }

    /// Commits what is pending and stops the writer.
    pub fn close(&self) -> Result<(), CacheWriteError> {
        if let Ok(mut writes) = self.writes.lock() {
            writes.take();
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        match handle.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(CacheWriteError::WriterStopped),
            None => Ok(()),
        }
    }
}

impl Drop for ResponseCache {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The map stays consistent even if a holder panicked (every change is a single insert/remove).
fn lock(slots: &Slots) -> std::sync::MutexGuard<'_, HashMap<Key, Slot>> {
    slots.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why the cache could not store what the run answered.
#[derive(Debug, thiserror::Error)]
pub enum CacheWriteError {
    #[error("cannot write: {0}")]
    Write(#[from] redb::Error),
    #[error("the cache writer stopped unexpectedly")]
    WriterStopped,
}

fn write_loop(db: &Database, slots: &Slots, rx: mpsc::Receiver<(Key, Vec<u8>)>) -> Result<(), CacheWriteError> {
    let mut batch: Vec<(Key, Vec<u8>)> = Vec::new();
    let mut since = Instant::now();
    loop {
        let open = match rx.recv_timeout(COMMIT_EVERY) {
            Ok(entry) => {
                batch.push(entry);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        if !batch.is_empty() && (!open || batch.len() >= COMMIT_BATCH || since.elapsed() >= COMMIT_EVERY) {
            commit(db, &batch)?;
            let mut slots = lock(slots);
            for (key, _) in &batch {
                if matches!(slots.get(key), Some(Slot::Ready(_))) {
                    slots.remove(key);
                }
            }
            batch.clear();
            since = Instant::now();
        }
        if !open {
            return Ok(());
        }
    }
}

fn commit(db: &Database, batch: &[(Key, Vec<u8>)]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(ANSWERS)?;
        for (key, bytes) in batch {
            table.insert(key.as_slice(), bytes.as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
