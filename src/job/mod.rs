//! `sheepdog run`: input → dispatch → results, statistics and reports.
//!
//! [`preflight`] checks and opens everything before the first request (and, for a run folder
//! that already holds a run, scans what the earlier parts finished). [`execute`] then runs:
//! a reader thread streams the input; one loop skips the lines already finished, admits items
//! under the concurrency limit (and, with `--ordered`, the reorder window) and spawns a task
//! per item; each task sends its `Outcome` over a channel to the single owner that writes
//! result lines, syncs them, feeds the collector and the progress display. A stop (signal,
//! fatal provider error, failed write) ends dispatching; requests in flight get
//! `drain_timeout` to finish, then are dropped and left for a resume.

pub mod dry_run;
mod options;
mod owner;
mod preflight;
mod prepare;
pub mod signals;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::dispatch::{DispatchOptions, Dispatcher};
use crate::exit::Exit;
use crate::input::{Entry, InputError, Reader};
use crate::output::{WriteError, ERRORS_FILE, RESULTS_FILE};
use crate::progress::Progress;
use crate::provider::Client;
use crate::record::Rejected;
use crate::stats::summary::{JobInfo, Summary};

pub use dry_run::{dry_run, DryRun};
pub use options::{FsyncPolicy, RunOptions, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REORDER_WINDOW, SYNC_INTERVAL};
pub use owner::{Event, Msg};
pub use preflight::{preflight, Preflight, Resumed};
pub use prepare::{prepare, Prepared};

/// Why a run could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Locked(#[from] crate::output::lock::LockError),
    #[error("{0}; the run stopped so that no answer is paid for and then lost")]
    Write(#[from] WriteError),
}

impl JobError {
    /// Bad usage, config or input; or a run that had to stop.
    pub fn exit(&self) -> Exit {
        match self {
            JobError::Config(_) | JobError::Input(_) | JobError::Setup(_) | JobError::Locked(_) => Exit::Usage,
            JobError::Write(_) => Exit::Aborted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    AllSucceeded,
    SomeFailed,
    /// Stopped before the end: the reason says why and what to fix.
    Aborted(String),
}

impl RunStatus {
    pub fn exit(&self) -> Exit {
        match self {
            RunStatus::AllSucceeded => Exit::Success,
            RunStatus::SomeFailed => Exit::Failed,
            RunStatus::Aborted(_) => Exit::Aborted,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The whole job: every part of it so far, this one included.
    pub summary: Summary,
    pub out_dir: PathBuf,
    pub status: RunStatus,
}

/// Runs a bulk job to the end (or until `stop` is cancelled) and writes its run folder.
pub async fn run_job(config: &Config, options: &RunOptions, stop: CancellationToken) -> Result<RunOutput, JobError> {
    let ready = preflight(config, options).await?;
    execute(config, options, ready, stop, CancellationToken::new()).await
}

/// Runs a job that passed [`preflight`]. `stop`: send nothing new, let requests in flight finish
/// (up to `options.drain_timeout`); `abandon`: drop the requests in flight at once.
pub async fn execute(
    config: &Config,
    options: &RunOptions,
    ready: Preflight,
    stop: CancellationToken,
    abandon: CancellationToken,
) -> Result<RunOutput, JobError> {
    let Preflight {
        out_dir,
        lock,
        streamed,
        input,
        mut manifest,
        collector,
        done,
        order,
        writer,
        journal,
        prepared,
        cache,
        earlier,
        ..
    } = ready;
    // Lines of this run's shard (every non-blank line when not sharded); for a pipe, counted
    // while it is read.
    let mut lines = manifest.shard.map_or(input.lines, |s| s.lines);
    let started = Instant::now();
    let mut client = Client::new(config.concurrency)
        .map_err(|e| JobError::Setup(e.to_string()))?
        .max_response_size(config.max_response_size)
        .journal(journal.clone().stopping(&[&stop, &abandon]));
    if let Some(settings) = config.stream {
        client = client.streaming(settings);
    }
    let route = prepared.route;
    let mut dispatch_options = DispatchOptions::from_config(config);
    dispatch_options.metrics = options.metrics.clone();
    let dispatcher = Dispatcher::new(client, route, dispatch_options, stop.clone());
    if let Some(metrics) = &options.metrics {
        metrics.set_input_lines(lines);
    }
    let shard = config.shard.map_or_else(|| "none".to_string(), |s| s.to_string());
    tracing::info!(
        input = %options.input.display(), out_dir = %out_dir.display(), lines, shard = %shard,
        config = %config.echo(), "run started"
    );

    // Reader thread → entries; the input is never loaded whole. A thread of its own (not a
    // blocking task of the runtime): opening a FIFO or reading a pipe may block for good, and
    // the run must still stop on a signal and the process exit.
    let (entries_tx, mut entries) = mpsc::channel::<Result<Entry, InputError>>(1024);
    let (read_tx, read_rx) = tokio::sync::oneshot::channel::<(u64, Option<String>)>();
    let (path, shard) = (options.input.clone(), config.shard);
    std::thread::spawn(move || {
        let mut reader = match Reader::open(&path) {
            Ok(reader) => reader.with_shard(shard).expecting(lines),
            Err(e) => {
                let _ = entries_tx.blocking_send(Err(e));
                return;
            }
        };
        if streamed {
            reader = reader.hashing();
        }
        for entry in reader.by_ref() {
            let failed = entry.is_err();
            if entries_tx.blocking_send(entry).is_err() || failed {
                return;
            }
        }
        let _ = read_tx.send(reader.fingerprint());
    });

    let (events_tx, events_rx) = mpsc::channel::<Msg>(4096);
    let owner = owner::Owner {
        writer,
        collector,
        progress: Progress::new(options.progress, (!streamed).then_some(lines)),
        stop: stop.clone(),
        abandon: abandon.clone(),
        fsync: options.fsync,
        ordered: options.ordered,
        order,
        metrics: options.metrics.clone(),
    };
    let owner = tokio::spawn(owner.run(events_rx));
    let cache = cache.map(Arc::new);

    let slots = Arc::new(Semaphore::new(config.concurrency));
    // With --ordered, each line holds a window slot from dispatch until it is written.
    let window = options
        .ordered
        .then(|| Arc::new(Semaphore::new(options.reorder_window.max(config.concurrency))));
    let mut seq = 0u64;
    let mut input_error = None;
    let mut read = 0u64;
    loop {
        let entry = tokio::select! {
            entry = entries.recv() => entry,
            // A reader blocked on a pipe that sends nothing must not hold the run.
            _ = stop.cancelled() => break,
        };
        let Some(entry) = entry else { break };
        let entry = match entry {
            Ok(entry) => {
                read += 1;
                entry
            }
            Err(e) => {
                input_error = Some(e);
                stop.cancel();
                break;
            }
        };
        let line = match &entry {
            Entry::Item(item) => item.line,
            Entry::Rejected(rejected) => rejected.line,
        };
        if done.contains(line) {
            continue;
        }
        if stop.is_cancelled() {
            break;
        }
        let window = match &window {
            Some(window) => tokio::select! {
                permit = window.clone().acquire_owned() => permit.ok(),
                _ = stop.cancelled() => break,
            },
            None => None,
        };
        let this = seq;
        seq += 1;
        let item = match entry {
            Entry::Rejected(rejected) => {
                let _ = events_tx.send(rejected_msg(this, rejected, window)).await;
                continue;
            }
            Entry::Item(item) => item,
        };
        if !dispatcher
            .route()
            .iter()
            .any(|t| Dispatcher::model_for(t, &item).is_some())
        {
            let reason = "no model: give --model, targets in a job file, or \"model\" in the line".to_string();
            let rejected = Rejected {
                id: Some(item.id),
                line: item.line,
                reason,
            };
            let _ = events_tx.send(rejected_msg(this, rejected, window)).await;
            continue;
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stop.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let worker = worker::Worker {
            dispatcher: dispatcher.clone(),
            cache: cache.clone(),
            events: events_tx.clone(),
            abandon: abandon.clone(),
            stop: stop.clone(),
            offset: earlier,
        };
        tokio::spawn(worker.run(item, this, window, slot));
    }
    drop(entries);
    drain(&slots, config.concurrency, options.drain_timeout, &stop, &abandon).await;
    drop(events_tx);
    let mut owned = owner
        .await
        .map_err(|e| JobError::Setup(format!("result writer stopped: {e}")))?;
    if let Some(cache) = cache {
        if let Err(e) = cache.cache.close() {
            return Err(JobError::Setup(format!("response cache: {e}")));
        }
    }
    if let Some(mock) = prepared.mock {
        mock.shutdown().await;
    }
    if let Some(error) = owned.write_error {
        return Err(error.into());
    }
    if let Some(source) = journal.failure() {
        let path = out_dir.join(crate::output::journal::SENT_FILE);
        return Err(WriteError { path, source }.into());
    }
    if let Some(error) = input_error {
        return Err(error.into());
    }
    if streamed {
        // Known now: what the pipe held (all of it when its end was reached).
        lines = read;
        // Sent before the reader's end of the channel closes: missing only when the run
        // stopped before the end of the input.
        let mut read_rx = read_rx;
        if let Ok((size, sha256)) = read_rx.try_recv() {
            manifest.input.size = size;
            manifest.input.sha256 = sha256.unwrap_or_default();
            manifest.input.lines = read;
            if let Some(shard) = &mut manifest.shard {
                shard.lines = read;
            }
            if read == 0 && !options.allow_empty {
                return Err(InputError::Empty {
                    path: options.input.clone(),
                }
                .into());
            }
        }
    }

    // Requests a stop dropped in flight were sent: counted as lost, in summary and requests.csv.
    let sent = journal.count().map_err(|source| WriteError {
        path: out_dir.join(crate::output::journal::SENT_FILE),
        source,
    })?;
    crate::output::resume::counts::at_end(&out_dir, sent, &mut owned.collector).map_err(|source| WriteError {
        path: out_dir.join(crate::report::csv::REQUESTS_FILE),
        source,
    })?;
    let finished = owned.collector.live().done;
    let unsent = lines.saturating_sub(finished);
    if options.ordered && unsent == 0 && !owned.in_order {
        for name in [RESULTS_FILE, ERRORS_FILE] {
            crate::output::reorder::sort_by_line(&out_dir, name).map_err(|source| WriteError {
                path: out_dir.join(name),
                source,
            })?;
        }
    }
    let this_part = started.elapsed();
    if let Some(part) = manifest.parts.last_mut() {
        part.duration_s = Some(this_part.as_secs_f64());
    }
    manifest.write(&out_dir).map_err(|source| WriteError {
        path: out_dir.clone(),
        source,
    })?;

    let aborted = if stop.is_cancelled() {
        Some(dispatcher.abort_reason().unwrap_or_else(|| "interrupted".to_string()))
    } else {
        None
    };
    let job = JobInfo {
        input: options.input.display().to_string(),
        out_dir: out_dir.display().to_string(),
        started_at: manifest.parts.first().map(|p| p.started_at.clone()).unwrap_or_default(),
        finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_s: (earlier + this_part).as_secs_f64(),
        aborted: aborted.clone(),
        parts: manifest.parts.len() as u32,
        config: config.echo(),
    };
    let summary = owned.collector.finish_with(job, lines, unsent, &dispatcher.report());
    crate::report::write_all(&out_dir, &summary).map_err(|source| WriteError {
        path: out_dir.clone(),
        source,
    })?;
    let status = match aborted {
        Some(reason) => RunStatus::Aborted(reason),
        None if summary.totals.failed + summary.totals.rejected + unsent > 0 => RunStatus::SomeFailed,
        None => RunStatus::AllSucceeded,
    };
    let t = &summary.totals;
    tracing::info!(
        succeeded = t.succeeded, failed = t.failed, rejected = t.rejected, unsent = t.unsent, requests = t.requests,
        duration_s = summary.job.duration_s, status = ?status, "run finished"
    );
    drop(lock);
    Ok(RunOutput {
        summary,
        out_dir,
        status,
    })
}

fn rejected_msg(seq: u64, rejected: Rejected, window: Option<tokio::sync::OwnedSemaphorePermit>) -> Msg {
    Msg {
        seq,
        event: Event::Rejected(rejected),
        window,
        line: None,
        unfinished: false,
    }
}

/// Waits until every slot is back, i.e. every task has reported. After a stop, tasks get
/// `timeout` to finish; then (or as soon as `abandon` is cancelled) they are dropped.
async fn drain(
    slots: &Semaphore,
    concurrency: usize,
    timeout: Duration,
    stop: &CancellationToken,
    abandon: &CancellationToken,
) {
    let all = concurrency as u32;
    if !stop.is_cancelled() {
        tokio::select! {
            _ = slots.acquire_many(all) => return,
            _ = stop.cancelled() => {}
        }
    }
    tokio::select! {
        _ = slots.acquire_many(all) => return,
        _ = tokio::time::sleep(timeout) => abandon.cancel(),
        _ = abandon.cancelled() => {}
    }
    let _ = slots.acquire_many(all).await;
}
