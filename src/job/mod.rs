//! `sheepdog run`: input → dispatch → results, statistics and reports.
//!
//! [`preflight`] checks and opens everything before the first request (and, for a run folder
//! that already holds a run, scans what the earlier parts finished). [`execute`] then runs the
//! [engine](crate::engine): its source is the input ([`source`]: a reader thread, lines already
//! finished skipped, rejected lines straight to the owner, the `--ordered` reorder window), its
//! pacer a closed loop of `concurrency` slots, and each item a task ([`worker`]) whose
//! `Outcome` goes over a channel to the single owner ([`owner`]) that writes result lines,
//! syncs them, feeds the collector, the progress display and the metrics. A stop (signal, fatal
//! provider error, failed write) ends dispatching; requests in flight get `drain_timeout` to
//! finish, then are dropped and left for a resume. [`finish`] settles the run folder and writes
//! the reports.

mod disk;
pub mod dry_run;
mod finish;
mod options;
mod owner;
mod preflight;
pub mod signals;
mod source;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::dispatch::Dispatcher;
use crate::engine::{Setup, Source};
use crate::exit::Exit;
use crate::input::InputError;
use crate::load::{Load, Pacer};
use crate::output::WriteError;
use crate::progress::Progress;
use crate::stats::summary::Summary;

pub use crate::engine::{prepare, Prepared};
pub use dry_run::{dry_run, DryRun};
pub use options::{FsyncPolicy, RunOptions, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REORDER_WINDOW, SYNC_INTERVAL};
pub use owner::{Event, Msg};
pub use preflight::{preflight, Preflight, Resumed};

/// Why a run could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// Keys, client or embedded mock server (see [`crate::engine::EngineError`]).
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// The run folder cannot hold this run: another job's, results without a manifest, not
    /// writable, or its files cannot be created.
    #[error("{0}")]
    RunFolder(String),
    /// `--resume` names no run folder, or one that disagrees with `--out`.
    #[error("{0}")]
    Resume(String),
    /// The response cache could not be opened or closed.
    #[error("{0}")]
    Cache(String),
    /// The bench's plan or prompts cannot be run (bad flags, no prompt, no model).
    #[error("{0}")]
    Bench(String),
    /// A task of the run ended abnormally (a bug, never the input's fault).
    #[error("{what} stopped: {source}")]
    Task {
        what: String,
        source: tokio::task::JoinError,
    },
    #[error(transparent)]
    Locked(#[from] crate::output::lock::LockError),
    #[error("{0}; the run stopped so that no answer is paid for and then lost")]
    Write(#[from] WriteError),
}

impl JobError {
    /// Bad usage, config or input; or a run that had to stop.
    pub fn exit(&self) -> Exit {
        match self {
            JobError::Config(_)
            | JobError::Input(_)
            | JobError::Engine(_)
            | JobError::RunFolder(_)
            | JobError::Resume(_)
            | JobError::Cache(_)
            | JobError::Bench(_)
            | JobError::Task { .. }
            | JobError::Locked(_) => Exit::Usage,
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
/// (up to `config.run.drain_timeout`); `abandon`: drop the requests in flight at once.
pub async fn execute(
    config: &Config,
    options: &RunOptions,
    ready: Preflight,
    stop: CancellationToken,
    abandon: CancellationToken,
) -> Result<RunOutput, JobError> {
    let started = Instant::now();
    let Preflight {
        out_dir,
        lock,
        streamed,
        input,
        manifest,
        collector,
        done,
        repeats,
        order,
        writer,
        journal,
        prepared: Prepared { route, mock },
        cache,
        earlier,
        ..
    } = ready;
    // Lines of this run's shard (every non-blank line when not sharded); for a pipe, counted
    // while it is read.
    let lines = manifest.run_lines(input.lines);
    let setup = Setup {
        slots: config.concurrency,
        metrics: options.metrics.clone(),
        journal: Some(journal.clone().stopping(&[&stop, &abandon])),
    };
    let dispatcher = crate::engine::dispatcher(config, route, setup, &stop)?;
    // The budget covers the whole job: what earlier parts spent counts.
    let budget = dispatcher.budget().cloned();
    if let Some(budget) = &budget {
        budget.carry(collector.cost_by_target());
    }
    announce(config, options, &out_dir, lines);

    let (entries, fingerprint) = source::read_input(
        options.input.clone(),
        (config.shard, config.endpoint),
        (lines, repeats),
        streamed,
    );
    // Finished items waiting for the owner: when its thread stalls (a sync, a starved core),
    // each holds its answer twice (parsed and rendered), several KiB; 512 of them bound that
    // to a few MiB (4,096 let the resident size jump by up to 30 MiB at such moments; see
    // docs/performance.md). Workers then wait for the owner.
    let (events, events_rx) = mpsc::channel::<Msg>(512);
    let owner = owner::Owner {
        writer,
        collector,
        progress: Progress::new(options.progress, (!streamed).then_some(lines)).with_budget(budget),
        stop: stop.clone(),
        abandon: abandon.clone(),
        fsync: config.run.fsync,
        ordered: config.run.ordered,
        order,
        metrics: options.metrics.clone(),
    };
    let owner = tokio::spawn(owner.run(events_rx));
    let window = config
        .run
        .ordered
        .then(|| config.run.reorder_window.max(config.concurrency));
    let source = source::InputSource::new(entries, done, events.clone(), window, dispatcher.clone(), stop.clone());
    let tasks = Tasks {
        dispatcher: dispatcher.clone(),
        cache: cache.map(Arc::new),
        events,
        stop: stop.clone(),
        abandon: abandon.clone(),
        offset: earlier,
        format: config.output_format,
    };
    let read = dispatch(source, &tasks, config.concurrency, config.run.drain_timeout).await;
    let Tasks { cache, events, .. } = tasks;
    drop(events);
    let owned = owner.await.map_err(|source| JobError::Task {
        what: "result writer".into(),
        source,
    })?;
    let ended = finish::Ended {
        owned,
        read,
        fingerprint,
        journal,
        cache,
        mock,
    };
    let folder = finish::Folder {
        out_dir,
        lock,
        streamed,
        manifest,
        lines,
        started,
        earlier,
    };
    finish::finish(config, options, &dispatcher, &stop, ended, folder).await
}

/// What each item's task is given.
struct Tasks {
    dispatcher: Arc<Dispatcher>,
    cache: Option<Arc<worker::CacheContext>>,
    events: mpsc::Sender<Msg>,
    stop: CancellationToken,
    abandon: CancellationToken,
    /// Running time of the earlier parts.
    offset: std::time::Duration,
    /// The format the result lines are rendered in.
    format: crate::output::OutputFormat,
}

/// The engine's loop over the input: a closed loop of `concurrency` slots (see
/// [`crate::engine::slots`]), each a task that takes the next item as soon as its last one is
/// with the owner; then the wait for the requests in flight (cut after `drain_timeout` once
/// stopped).
async fn dispatch(
    source: source::InputSource,
    tasks: &Tasks,
    concurrency: usize,
    drain_timeout: std::time::Duration,
) -> source::Read {
    let mut pacer = Pacer::new(Load::Closed { concurrency }, concurrency, tokio::time::Instant::now());
    let source = Arc::new(tokio::sync::Mutex::new(source));
    crate::engine::slots(&mut pacer, None, &tasks.stop, |ticket| {
        let slot = Slot {
            source: source.clone(),
            stop: tasks.stop.clone(),
            worker: worker::Worker {
                dispatcher: tasks.dispatcher.clone(),
                cache: tasks.cache.clone(),
                events: tasks.events.clone(),
                abandon: tasks.abandon.clone(),
                stop: tasks.stop.clone(),
                offset: tasks.offset,
                format: tasks.format,
            },
        };
        slot.run(ticket.permit)
    })
    .await;
    pacer.drain_within(drain_timeout, &tasks.stop, &tasks.abandon).await;
    // Every slot has ended; the reader thread ends with its channel, when the source goes.
    let read = source.lock().await.close();
    read
}

/// One slot of the run's closed loop.
struct Slot {
    source: Arc<tokio::sync::Mutex<source::InputSource>>,
    stop: CancellationToken,
    worker: worker::Worker,
}

impl Slot {
    /// Takes items until the source runs dry (or stops), holding `permit` all along.
    async fn run(self, permit: tokio::sync::OwnedSemaphorePermit) {
        while !self.stop.is_cancelled() {
            // The lock is held for the draw only: the guard goes at the end of this statement.
            let Some(work) = self.source.lock().await.next_work().await else {
                break;
            };
            if !self.worker.handle(work.item, work.seq, work.window).await {
                break;
            }
        }
        drop(self.source);
        drop(permit);
    }
}

fn announce(config: &Config, options: &RunOptions, out_dir: &std::path::Path, lines: u64) {
    if let Some(metrics) = &options.metrics {
        metrics.set_input_lines(lines);
    }
    let shard = config.shard.map_or_else(|| "none".to_string(), |s| s.to_string());
    tracing::info!(
        input = %options.input.display(), out_dir = %out_dir.display(), lines, shard = %shard,
        config = %config.echo(), "run started"
    );
}
