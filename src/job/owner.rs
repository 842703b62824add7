//! The single owner of a run's results: writes each line, feeds the collector and the
//! progress display, syncs the files to disk per the fsync policy, and (with `--ordered`)
//! releases results in input order. If a write fails it stops the run at once: no new request,
//! none of those in flight awaited.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::OptionFuture;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::disk::{AfterBatch, Disk};
use super::options::{FsyncPolicy, SYNC_INTERVAL};
use crate::output::resume::FileOrder;
use crate::output::{RenderedLine, ResultsWriter, WriteError};
use crate::progress::Progress;
use crate::record::{Outcome, Rejected};
use crate::stats::Collector;

/// What workers and the reader report.
#[derive(Debug)]
pub enum Event {
    Done(Box<Outcome>),
    Rejected(Rejected),
}

/// An event with its place in the input (`seq`, counted over the lines this part handles) and,
/// with `--ordered`, the reorder-window slot it holds until it is written.
#[derive(Debug)]
pub struct Msg {
    pub seq: u64,
    pub event: Event,
    pub window: Option<OwnedSemaphorePermit>,
    /// The outcome's line, serialized by the worker (so the single writer only copies bytes).
    pub line: Option<RenderedLine>,
    /// The item did not fail for good (see [`unfinished`]); its line says so.
    pub unfinished: bool,
}

/// A failure that says nothing about the item: an account-level refusal (bad key, no quota),
/// or a retryable error the item could not retry because the run was stopping.
pub fn unfinished(outcome: &Outcome, stopping: bool) -> bool {
    match &outcome.result {
        Ok(_) => false,
        Err(e) => e.class.is_fatal() || (stopping && e.class.is_retryable()),
    }
}

/// At most this many lines are written between two flushes (and two syncs with `always`).
const MAX_BATCH: usize = 1024;

pub struct Owner {
    pub writer: ResultsWriter,
    pub collector: Collector,
    pub progress: Progress,
    /// Cancelled on a write error, like a stop signal.
    pub stop: CancellationToken,
    /// Cancelled on a write error too: requests in flight are dropped at once.
    pub abandon: CancellationToken,
    pub fsync: FsyncPolicy,
    pub ordered: bool,
    /// Line order of results.jsonl and errors.jsonl so far (from the resume scan).
    pub order: (FileOrder, FileOrder),
    /// Prometheus metrics fed with every written line (`--metrics-addr`).
    pub metrics: Option<crate::metrics::Metrics>,
}

pub struct Owned {
    pub collector: Collector,
    pub write_error: Option<WriteError>,
    /// Both files are in input-line order.
    pub in_order: bool,
}

impl Owner {
    pub async fn run(mut self, mut events: mpsc::Receiver<Msg>) -> Owned {
        let mut write_error: Option<WriteError> = None;
        let mut held: BTreeMap<u64, Msg> = BTreeMap::new();
        let mut next_seq = 0u64;
        let mut tick = tokio::time::interval(SYNC_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let syncer = match self.writer.syncer() {
            Ok(syncer) => Some(syncer),
            Err(e) => {
                self.fail(&mut write_error, e);
                None
            }
        };
        let mut disk = Disk::new(self.fsync, syncer);
        let flush_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(flush_timer);
        loop {
            let first = tokio::select! {
                msg = events.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                () = &mut flush_timer, if disk.held_back => {
                    self.flush(&mut disk, &mut write_error);
                    continue;
                }
                Some(ended) = OptionFuture::from(disk.syncing.as_mut()) => {
                    if let Err(e) = disk.sync_ended(ended) {
                        self.fail(&mut write_error, e);
                    }
                    continue;
                }
                _ = tick.tick(), if disk.sync_due() && write_error.is_none() => {
                    disk.start_sync();
                    continue;
                }
            };
            // Write everything already waiting (up to a batch). When the queue runs dry, the
            // owner steps aside once first: the workers already woken on its thread finish
            // their items, and the same write carries their lines too.
            let (mut next, mut count, mut yielded) = (Some(first), 0, false);
            while let Some(msg) = next {
                if self.ordered {
                    held.insert(msg.seq, msg);
                    while let Some(msg) = held.remove(&next_seq) {
                        self.write(msg, &mut write_error);
                        next_seq += 1;
                    }
                } else {
                    self.write(msg, &mut write_error);
                }
                count += 1;
                next = if count < MAX_BATCH {
                    events.try_recv().ok()
                } else {
                    None
                };
                if next.is_none() && count < MAX_BATCH && !yielded && write_error.is_none() {
                    tokio::task::yield_now().await;
                    yielded = true;
                    next = events.try_recv().ok();
                }
            }
            if write_error.is_none() {
                match disk.after_batch() {
                    AfterBatch::Flush => self.flush(&mut disk, &mut write_error),
                    AfterBatch::HoldUntil(due) => flush_timer.as_mut().reset(due),
                    AfterBatch::Nothing => {}
                }
            }
            self.progress.update(&self.collector.live());
        }
        // Items after a gap (a request abandoned by a stop) are written anyway: they are paid
        // for. The job's files are put back in order when it completes.
        for (_, msg) in std::mem::take(&mut held) {
            self.write(msg, &mut write_error);
        }
        if let Err(e) = disk.sync_finished().await {
            self.fail(&mut write_error, e);
        }
        if write_error.is_none() && self.fsync != FsyncPolicy::Never {
            self.sync(&mut write_error);
        } else if write_error.is_none() {
            if let Err(e) = self.writer.flush() {
                self.fail(&mut write_error, e);
            }
        }
        self.progress.finish();
        Owned {
            in_order: self.order.0.sorted && self.order.1.sorted,
            collector: self.collector,
            write_error,
        }
    }

    fn write(&mut self, msg: Msg, write_error: &mut Option<WriteError>) {
        if write_error.is_some() {
            return;
        }
        let Msg {
            event,
            window,
            line,
            unfinished,
            ..
        } = msg;
        let written = match event {
            Event::Done(outcome) => {
                let written = match (&line, unfinished) {
                    (Some(line), _) => self.writer.write_rendered(&outcome, line),
                    (None, true) => self.writer.write_unfinished(&outcome),
                    (None, false) => self.writer.write_outcome(&outcome),
                };
                written.map(|()| {
                    let order = if outcome.result.is_ok() {
                        &mut self.order.0
                    } else {
                        &mut self.order.1
                    };
                    order.push(outcome.line);
                    if unfinished && outcome.result.is_err() {
                        self.collector.record_requests(&outcome);
                    } else {
                        self.collector.record(&outcome);
                    }
                    if let Some(metrics) = &self.metrics {
                        metrics.observe(&outcome);
                    }
                })
            }
            Event::Rejected(rejected) => self.writer.write_rejected(&rejected).map(|()| {
                self.order.1.push(rejected.line);
                self.collector.record_rejected(&rejected);
                if let Some(metrics) = &self.metrics {
                    metrics.observe_rejected();
                }
            }),
        };
        if let Err(e) = written {
            self.fail(write_error, e);
        }
        drop(window);
    }

    /// Hands the lines written so far to the operating system, and syncs them per the fsync
    /// policy (see [`super::disk`]).
    fn flush(&mut self, disk: &mut Disk, write_error: &mut Option<WriteError>) {
        if write_error.is_some() {
            return;
        }
        if let Err(e) = self.writer.flush() {
            self.fail(write_error, e);
            return;
        }
        if disk.flushed() {
            self.sync(write_error);
            disk.synced();
        }
    }

    fn sync(&mut self, write_error: &mut Option<WriteError>) {
        if let Err(e) = self.writer.sync() {
            self.fail(write_error, e);
        }
    }

    fn fail(&mut self, write_error: &mut Option<WriteError>, error: WriteError) {
        write_error.get_or_insert(error);
        self.stop.cancel();
        self.abandon.cancel();
    }
}
