//! What the mock server saw: atomic counters and a bounded log of chat requests.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The log keeps at most this many of the latest chat requests.
pub const LOG_CAPACITY: usize = 200_000;

/// Status codes are counted in an array indexed by code; codes at or above this are not counted.
const STATUS_SLOTS: usize = 600;

/// Counters of the chat-completion requests the server received, as served by `GET /mock/stats`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MockStats {
    /// Requests received at any endpoint that answers (whatever their outcome).
    pub requests: u64,
    /// Chat requests being handled now (a stream counts until its last chunk).
    pub in_flight: u64,
    /// The most chat requests ever handled at the same time.
    pub peak_in_flight: u64,
    /// Chat requests by the HTTP status they were answered with.
    pub by_status: BTreeMap<u16, u64>,
    /// Files uploaded to `POST /v1/files`.
    #[serde(default)]
    pub files_uploaded: u64,
    /// Batches created by `POST /v1/batches`.
    #[serde(default)]
    pub batches_created: u64,
    /// The latest requests, oldest first; only with `?log=true`, otherwise empty.
    pub log: Vec<LoggedRequest>,
}

/// One chat request as logged by the mock server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    /// Arrival time, ms since server start (monotonic clock).
    pub at_ms: f64,
    /// A short non-reversible fingerprint of the bearer key (never the key itself).
    pub key_id: Option<String>,
    /// The model asked for (empty when the body could not be read).
    pub model: String,
    pub status: u16,
    pub stream: bool,
    /// Hex fingerprint of the messages (empty when the body had none); equal for retries of one
    /// item.
    pub prompt_hash: String,
    /// Prompt plus completion tokens of the answer (0 when it was refused).
    #[serde(default)]
    pub tokens: u64,
}

/// A log entry as stored: compact, turned into a [`LoggedRequest`] only for a snapshot.
#[derive(Debug)]
pub(crate) struct Entry {
    pub at_us: u64,
    pub key_id: Option<u32>,
    pub model: String,
    pub status: u16,
    pub stream: bool,
    pub prompt_hash: Option<u64>,
    pub tokens: u64,
}

/// Formats a key fingerprint as it appears in logs.
pub(crate) fn key_id_string(id: u32) -> String {
    format!("key_{id:08x}")
}

/// Formats a prompt fingerprint as it appears in logs.
pub(crate) fn prompt_hash_string(hash: u64) -> String {
    format!("{hash:016x}")
}

/// The live counters, shared by all handlers.
pub(crate) struct Recorder {
    started: Instant,
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    by_status: Box<[AtomicU64]>,
    files_uploaded: AtomicU64,
    batches_created: AtomicU64,
    log: Mutex<VecDeque<Entry>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            files_uploaded: AtomicU64::new(0),
            batches_created: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// Microseconds since the server started.
    pub fn elapsed_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Nanoseconds since the server started.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts an arriving chat request; returns its 1-based number and a guard that keeps it
    /// in flight until dropped.
    pub fn arrive(self: &Arc<Self>) -> (u64, InFlight) {
        let number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
        (number, InFlight { recorder: self.clone() })
    }

    /// Counts a file uploaded to `POST /v1/files`.
    pub fn file_uploaded(&self) {
        self.files_uploaded.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a batch created by `POST /v1/batches`.
    pub fn batch_created(&self) {
        self.batches_created.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the answer to a chat request and logs it.
    pub fn answered(&self, entry: Entry) {
        if let Some(slot) = self.by_status.get(usize::from(entry.status)) {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let mut log = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }

    /// A copy of the counters; the log only when `with_log`.
    pub fn snapshot(&self, with_log: bool) -> MockStats {
        let by_status = self
            .by_status
            .iter()
            .enumerate()
            .filter_map(|(code, count)| {
                let count = count.load(Ordering::Relaxed);
                let code = u16::try_from(code).ok()?;
                (count > 0).then_some((code, count))
            })
            .collect();
        let log = if with_log {
            let log = self.log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            log.iter()
                .map(|e| LoggedRequest {
                    at_ms: e.at_us as f64 / 1000.0,
                    key_id: e.key_id.map(key_id_string),
                    model: e.model.clone(),
                    status: e.status,
                    stream: e.stream,
                    prompt_hash: e.prompt_hash.map(prompt_hash_string).unwrap_or_default(),
                    tokens: e.tokens,
                })
                .collect()
        } else {
            Vec::new()
        };
        MockStats {
            requests: self.requests.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            peak_in_flight: self.peak_in_flight.load(Ordering::Relaxed),
            by_status,
            files_uploaded: self.files_uploaded.load(Ordering::Relaxed),
            batches_created: self.batches_created.load(Ordering::Relaxed),
            log,
        }
    }
}

/// Keeps one chat request counted as in flight while it lives.
pub(crate) struct InFlight {
    recorder: Arc<Recorder>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.recorder.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_only_the_latest_entries() {
        let recorder = Recorder::new();
        for i in 0..(LOG_CAPACITY as u64 + 5) {
            recorder.answered(Entry {
                at_us: i,
                key_id: None,
                model: String::new(),
                status: 200,
                stream: false,
                prompt_hash: None,
                tokens: 0,
            });
        }
        let stats = recorder.snapshot(true);
        assert_eq!(stats.log.len(), LOG_CAPACITY);
        assert_eq!(stats.log[0].at_ms, 5.0 / 1000.0);
        assert_eq!(stats.by_status.get(&200), Some(&(LOG_CAPACITY as u64 + 5)));
        assert!(recorder.snapshot(false).log.is_empty());
    }
}
