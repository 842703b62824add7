//! `sheepdog run`: input → dispatch → results, statistics and reports.
//!
//! A reader thread streams the input; one loop admits items under the concurrency limit and
//! spawns a task per item; each task sends its `Outcome` over a channel to the single owner
//! that writes result lines, feeds the collector and the progress display.

mod dry_run;
mod owner;
mod prepare;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::dispatch::Dispatcher;
use crate::input::{Entry, InputError, Reader};
use crate::output::{ResultsWriter, WriteError, RESULTS_FILE};
use crate::progress::{Progress, ProgressMode};
use crate::provider::Client;
use crate::record::Rejected;
use crate::stats::summary::{JobInfo, Summary};
use crate::stats::{Collector, TargetInfo};

pub use dry_run::{dry_run, DryRun};
pub use owner::Event;
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
    #[error("{0}; the run stopped so that no answer is paid for and then lost")]
    Write(#[from] WriteError),
}

impl JobError {
    /// Exit code per DESIGN.md: 2 for bad usage, config or input; 3 for a run that had to stop.
    pub fn exit_code(&self) -> i32 {
        match self {
            JobError::Config(_) | JobError::Input(_) | JobError::Setup(_) => 2,
            JobError::Write(_) => 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub input: PathBuf,
    pub progress: ProgressMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    AllSucceeded,
    SomeFailed,
    /// Stopped before the end: the reason says why and what to fix.
    Aborted(String),
}

impl RunStatus {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunStatus::AllSucceeded => 0,
            RunStatus::SomeFailed => 1,
            RunStatus::Aborted(_) => 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOutput {
    pub summary: Summary,
    pub out_dir: PathBuf,
    pub status: RunStatus,
}

/// Runs a bulk job to the end (or until `stop` is cancelled) and writes its run folder.
pub async fn run_job(config: &Config, options: &RunOptions, stop: CancellationToken) -> Result<RunOutput, JobError> {
    let reader = Reader::open(&options.input)?;
    let prepared = prepare(config).await?;
    let out_dir = out_dir(config, &options.input)?;
    let writer = ResultsWriter::open(&out_dir)?;
    let total = match options.progress {
        ProgressMode::Quiet => 0,
        _ => count_lines(&options.input),
    };

    let started_at = SystemTime::now();
    let started = Instant::now();
    let targets: Vec<TargetInfo> = prepared
        .route
        .iter()
        .map(|t| TargetInfo {
            name: t.name.clone(),
            provider: t.endpoint.provider.clone(),
            model: t.model.clone().unwrap_or_else(|| "(per line)".into()),
        })
        .collect();
    let client = Client::new(config.concurrency).map_err(|e| JobError::Setup(e.to_string()))?;
    let route = prepared.route;
    let dispatcher = Dispatcher::new(
        client,
        route,
        config.retry,
        config.timeout,
        config.prices.clone(),
        stop.clone(),
    );

    // Reader thread → entries; the file is never loaded whole.
    let (entries_tx, mut entries) = mpsc::channel::<Result<Entry, InputError>>(1024);
    std::thread::spawn(move || {
        for entry in reader {
            if entries_tx.blocking_send(entry).is_err() {
                break;
            }
        }
    });

    let (events_tx, events_rx) = mpsc::channel::<Event>(4096);
    let owner = tokio::spawn(owner::run(
        events_rx,
        writer,
        Collector::new(targets),
        Progress::new(options.progress, total),
        stop.clone(),
    ));

    let slots = Arc::new(Semaphore::new(config.concurrency));
    let (mut lines, mut unsent) = (0u64, 0u64);
    let mut input_error = None;
    while let Some(entry) = entries.recv().await {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                input_error = Some(e);
                stop.cancel();
                break;
            }
        };
        lines += 1;
        let item = match entry {
            Entry::Rejected(rejected) => {
                let _ = events_tx.send(Event::Rejected(rejected)).await;
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
            let _ = events_tx.send(Event::Rejected(rejected)).await;
            continue;
        }
        if stop.is_cancelled() {
            unsent += 1;
            continue;
        }
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = stop.cancelled() => { unsent += 1; continue; }
        };
        let Ok(permit) = permit else { break };
        let dispatcher = dispatcher.clone();
        let events = events_tx.clone();
        tokio::spawn(async move {
            let outcome = dispatcher.process(item).await;
            let _ = events.send(Event::Done(Box::new(outcome))).await;
            drop(permit);
        });
    }
    // Every slot back means every in-flight item has reported.
    let _ = slots.acquire_many(config.concurrency as u32).await;
    drop(events_tx);
    let owned = owner
        .await
        .map_err(|e| JobError::Setup(format!("result writer stopped: {e}")))?;
    if let Some(mock) = prepared.mock {
        mock.shutdown().await;
    }
    if let Some(error) = owned.write_error {
        return Err(error.into());
    }
    if let Some(error) = input_error {
        return Err(error.into());
    }

    let finished_at = SystemTime::now();
    let aborted = if stop.is_cancelled() {
        Some(dispatcher.abort_reason().unwrap_or_else(|| "interrupted".to_string()))
    } else {
        None
    };
    let job = JobInfo {
        input: options.input.display().to_string(),
        out_dir: out_dir.display().to_string(),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        finished_at: humantime::format_rfc3339_millis(finished_at).to_string(),
        duration_s: started.elapsed().as_secs_f64(),
        aborted: aborted.clone(),
        config: config.echo(),
    };
    let summary = owned.collector.finish(job, lines, unsent);
    crate::report::write_all(&out_dir, &summary).map_err(|source| WriteError {
        path: out_dir.clone(),
        source,
    })?;
    let status = match aborted {
        Some(reason) => RunStatus::Aborted(reason),
        None if summary.totals.failed + summary.totals.rejected > 0 => RunStatus::SomeFailed,
        None => RunStatus::AllSucceeded,
    };
    Ok(RunOutput {
        summary,
        out_dir,
        status,
    })
}

/// The run folder: `--out`, or `reports/<input stem>-<UTC timestamp>/`. A folder that already
/// holds results is refused, so one run never mixes with another.
fn out_dir(config: &Config, input: &Path) -> Result<PathBuf, JobError> {
    let dir = match &config.out {
        Some(dir) => dir.clone(),
        None => {
            let stem = input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into());
            let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
                .to_string()
                .chars()
                .filter(|c| !matches!(c, '-' | ':'))
                .collect();
            let base = PathBuf::from("reports").join(format!("{stem}-{stamp}"));
            let mut dir = base.clone();
            let mut n = 2;
            while dir.exists() {
                dir = PathBuf::from(format!("{}-{n}", base.display()));
                n += 1;
            }
            dir
        }
    };
    let results = dir.join(RESULTS_FILE);
    if results.metadata().map(|m| m.len() > 0).unwrap_or(false) {
        return Err(JobError::Setup(format!(
            "{}: already holds the results of a run; choose another --out",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| JobError::Setup(format!("{}: cannot create the run folder: {e}", dir.display())))?;
    Ok(dir)
}

/// Non-blank lines of the input, for the progress total. 0 if the file cannot be read.
fn count_lines(path: &Path) -> u64 {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else { return 0 };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut count = 0;
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) | Err(_) => return count,
            Ok(_) if buffer.iter().all(u8::is_ascii_whitespace) => {}
            Ok(_) => count += 1,
        }
    }
}
