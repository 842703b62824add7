//! When the owner hands its lines to the operating system (a flush) and makes them durable (a
//! sync), per `--fsync`.
//!
//! - A flush follows each batch of lines, unless the last one was less than [`FLUSH_EVERY`]
//!   ago: then a timer flushes the batch with those that follow it.
//! - With `always`, each flush is synced before the owner goes on.
//! - With `interval`, a sync starts once a second on another thread ([`Syncer`]), and the
//!   owner keeps writing meanwhile: an `fdatasync` of a second of answers takes tens of
//!   milliseconds on a busy disk, long enough to fill the queue of finished items and hold
//!   every worker back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::options::{FsyncPolicy, SYNC_INTERVAL};
use crate::output::{Syncer, WriteError};

/// Lines that finish less than this long after the last flush wait for the next one, so that
/// under thousands of answers a second one `write` carries a few milliseconds of them rather
/// than the few that finished together. A line reaches the operating system at most this much
/// later; a `kill -9` loses at most these milliseconds of answers more (the resume sends them
/// again). With `--fsync always` every batch is still flushed and synced at once.
pub const FLUSH_EVERY: Duration = Duration::from_millis(2);

pub struct Disk {
    pub policy: FsyncPolicy,
    /// Lines were written since the last flush, and the flush timer is set.
    pub held_back: bool,
    pub last_flush: tokio::time::Instant,
    /// Lines were flushed since the last sync started.
    pub unsynced: bool,
    last_sync: Instant,
    syncer: Option<Arc<Syncer>>,
    /// The sync running on another thread, if one does.
    pub syncing: Option<JoinHandle<Result<(), WriteError>>>,
}

/// What the owner does after a batch of lines.
pub enum AfterBatch {
    /// Flush now (and sync too with `always`).
    Flush,
    /// Leave the lines to the flush timer, set to this moment.
    HoldUntil(tokio::time::Instant),
    /// The timer is set already.
    Nothing,
}

impl Disk {
    pub fn new(policy: FsyncPolicy, syncer: Option<Syncer>) -> Disk {
        // As if the last flush was long ago: the first batch is flushed at once.
        let now = tokio::time::Instant::now();
        Disk {
            policy,
            held_back: false,
            last_flush: now.checked_sub(FLUSH_EVERY).unwrap_or(now),
            unsynced: false,
            last_sync: Instant::now(),
            syncer: syncer.map(Arc::new),
            syncing: None,
        }
    }

    /// Whether a batch just written is flushed now or with the next ones.
    pub fn after_batch(&mut self) -> AfterBatch {
        if self.held_back {
            return AfterBatch::Nothing;
        }
        let due = self.last_flush + FLUSH_EVERY;
        if self.policy == FsyncPolicy::Always || tokio::time::Instant::now() >= due {
            AfterBatch::Flush
        } else {
            self.held_back = true;
            AfterBatch::HoldUntil(due)
        }
    }

    /// Notes a flush. True when it must be synced before the owner goes on (`always`).
    pub fn flushed(&mut self) -> bool {
        self.held_back = false;
        self.last_flush = tokio::time::Instant::now();
        self.unsynced = true;
        match self.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => {
                if self.last_sync.elapsed() >= SYNC_INTERVAL {
                    self.start_sync();
                }
                false
            }
            FsyncPolicy::Never => false,
        }
    }

    /// Notes a sync the owner made itself.
    pub fn synced(&mut self) {
        (self.unsynced, self.last_sync) = (false, Instant::now());
    }

    /// Whether the once-a-second sync is due and none is running.
    pub fn sync_due(&self) -> bool {
        self.unsynced && self.policy == FsyncPolicy::Interval && self.syncing.is_none()
    }

    /// Starts syncing what was flushed so far on another thread, unless a sync is running.
    pub fn start_sync(&mut self) {
        if self.syncing.is_some() {
            return;
        }
        if let Some(syncer) = &self.syncer {
            let syncer = syncer.clone();
            self.syncing = Some(tokio::task::spawn_blocking(move || syncer.sync()));
            self.synced();
        }
    }

    /// The end of the sync that ran on another thread.
    pub fn sync_ended(
        &mut self,
        ended: Result<Result<(), WriteError>, tokio::task::JoinError>,
    ) -> Result<(), WriteError> {
        self.syncing = None;
        match ended {
            Ok(synced) => synced,
            Err(e) => Err(WriteError {
                path: self.syncer.as_ref().map(|s| s.path().to_path_buf()).unwrap_or_default(),
                source: std::io::Error::other(e),
            }),
        }
    }

    /// Waits for the sync running on another thread, if one does.
    pub async fn sync_finished(&mut self) -> Result<(), WriteError> {
        match self.syncing.take() {
            Some(task) => {
                let ended = task.await;
                self.sync_ended(ended)
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ResultsWriter;

    fn flushes(after: AfterBatch) -> bool {
        matches!(after, AfterBatch::Flush)
    }

    #[tokio::test(start_paused = true)]
    async fn lines_soon_after_a_flush_wait_for_the_timer_and_later_ones_go_at_once() {
        let mut disk = Disk::new(FsyncPolicy::Never, None);
        assert!(flushes(disk.after_batch()), "the first batch goes at once");
        assert!(!disk.flushed(), "`never` syncs nothing");

        tokio::time::advance(Duration::from_micros(500)).await;
        let AfterBatch::HoldUntil(due) = disk.after_batch() else {
            panic!("a batch 0.5 ms after a flush is held back");
        };
        assert_eq!(due - disk.last_flush, FLUSH_EVERY);
        assert!(
            matches!(disk.after_batch(), AfterBatch::Nothing),
            "the timer is set once"
        );

        tokio::time::advance(FLUSH_EVERY).await;
        disk.flushed();
        assert!(!disk.held_back);
        tokio::time::advance(FLUSH_EVERY).await;
        assert!(
            flushes(disk.after_batch()),
            "a batch a flush interval later goes at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_fsync_always_every_batch_is_flushed_and_synced_at_once() {
        let mut disk = Disk::new(FsyncPolicy::Always, None);
        for _ in 0..3 {
            assert!(flushes(disk.after_batch()));
            assert!(disk.flushed(), "the owner syncs before it goes on");
            disk.synced();
        }
    }

    #[tokio::test]
    async fn the_interval_sync_runs_beside_the_owner_and_reports_a_removed_folder() {
        let dir = tempfile::tempdir().unwrap();
        let writer = ResultsWriter::open(dir.path()).unwrap();
        let mut disk = Disk::new(FsyncPolicy::Interval, Some(writer.syncer().unwrap()));
        disk.unsynced = true;
        assert!(disk.sync_due());
        disk.start_sync();
        assert!(disk.syncing.is_some() && !disk.unsynced);
        assert!(disk.sync_finished().await.is_ok());
        assert!(disk.syncing.is_none());

        std::fs::remove_dir_all(dir.path()).unwrap();
        disk.start_sync();
        let error = disk.sync_finished().await.unwrap_err();
        assert!(error.to_string().contains("results.jsonl"), "{error}");
        assert!(error.to_string().contains("deleted"), "{error}");
    }

    #[tokio::test]
    async fn a_sync_is_not_started_while_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let writer = ResultsWriter::open(dir.path()).unwrap();
        let mut disk = Disk::new(FsyncPolicy::Interval, Some(writer.syncer().unwrap()));
        disk.start_sync();
        disk.unsynced = true;
        assert!(!disk.sync_due(), "one sync at a time");
        disk.start_sync();
        assert!(disk.unsynced, "the second start waits for the first to end");
        assert!(disk.sync_finished().await.is_ok());
        assert!(disk.sync_due());
    }
}
