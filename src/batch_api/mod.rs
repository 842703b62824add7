//! `sheepdog run --batch-api`: the job sent through the primary target's provider Batch API
//! instead of live requests, at the provider's batch price.
//!
//! The run folder is the same as a live run's (run.json, results.jsonl, errors.jsonl,
//! summary.json, report.md, report.html) plus `batch_api.json` ([`state`]) and the batch files
//! under `batch/`. Steps: [`split`] the lines not done yet into batch files; upload and create
//! each (ids written the moment they come back); poll until every batch ends, with a progress
//! display from `request_counts`; download the output and error files and write one line per
//! item ([`collect`]); then the reports, with the cost at batch prices against live prices
//! ([`summary`]). A resume continues where the state file says, `--retry-failed` submits what
//! did not come back as a new batch, `--then-live` sends it live through the dispatcher.

pub mod client;
pub mod collect;
mod poll;
pub mod split;
pub mod state;
pub mod summary;

use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::exit::Exit;
use crate::input::InputError;
use crate::job::{JobError, RunOptions, RunOutput, RunStatus};
use crate::output::lineset::LineSet;
use crate::output::WriteError;
use crate::stats::summary::JobInfo;

pub use client::BatchClient;
pub use state::{BatchState, PartState};
pub use summary::BatchApiSummary;

pub const DEFAULT_COMPLETION_WINDOW: &str = "24h";
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// How a `--batch-api` run goes.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Input, run folder, `--resume`, `--retry-failed`, progress display.
    pub run: RunOptions,
    pub completion_window: String,
    pub poll_interval: Duration,
    /// Send what the batches did not answer live, through the dispatcher.
    pub then_live: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    Setup(String),
    #[error("the provider's Batch API: {0}")]
    Provider(String),
    #[error("{0}; the run stopped so that no answer is paid for and then lost")]
    Write(#[from] WriteError),
    #[error("interrupted")]
    Interrupted,
    /// The run stopped (interrupt, provider error) after batches were created: they keep
    /// running at the provider; `dir` resumes them.
    #[error("{reason}")]
    Left {
        dir: std::path::PathBuf,
        running: Vec<String>,
        reason: Box<BatchError>,
    },
}

impl BatchError {
    pub fn exit(&self) -> Exit {
        match self {
            BatchError::Job(e) => e.exit(),
            BatchError::Input(_) | BatchError::Setup(_) => Exit::Usage,
            BatchError::Provider(_) | BatchError::Write(_) | BatchError::Interrupted => Exit::Aborted,
            BatchError::Left { reason, .. } => reason.exit(),
        }
    }
}

/// A `--batch-api` run that ended.
#[derive(Debug)]
pub struct BatchOutput {
    pub output: RunOutput,
}

/// Runs the job through the Batch API (then, with `then_live`, what did not come back live).
pub async fn run(config: &Config, options: &BatchOptions, stop: CancellationToken) -> Result<BatchOutput, BatchError> {
    let started = Instant::now();
    let ready = crate::job::preflight(config, &options.run).await?;
    let out_dir = ready.out_dir.clone();
    let mut state = match BatchState::read(&out_dir).map_err(BatchError::Setup)? {
        Some(state) => state,
        None => BatchState {
            run_id: run_id(),
            config: config.source.clone(),
            completion_window: options.completion_window.clone(),
            parts: Vec::new(),
        },
    };
    let target = config.primary();
    let provider = config.provider_of(target);
    let limits = split::Limits {
        max_lines: provider.batch_max_lines.unwrap_or(split::DEFAULT_MAX_LINES),
        max_bytes: provider.batch_max_bytes.unwrap_or(split::DEFAULT_MAX_BYTES),
    };
    let crate::job::Preflight {
        mut writer,
        mut collector,
        mut done,
        mut manifest,
        prepared,
        input,
        lock,
        resumed,
        ..
    } = ready;
    let endpoint = prepared
        .route
        .first()
        .map(|t| t.endpoint.clone())
        .ok_or_else(|| BatchError::Setup("no target to send the batches to".into()))?;

    // Lines of this run's shard (every non-blank line when not sharded), as a live run counts.
    let lines = manifest.run_lines(input.lines);

    // Lines of parts not written yet are on their way already.
    let mut covered = LineSet::new();
    for part in state.parts.iter().filter(|p| !p.written) {
        for line in split::read_index(&out_dir, part)? {
            covered.insert(line);
        }
    }
    // `--then-live` on a resume sends what did not come back live instead of in new batches.
    if !(options.then_live && resumed.is_some()) {
        let first = state.parts.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        let (dir, input_path, target, run_id, short) = (
            out_dir.clone(),
            options.run.input.clone(),
            target.clone(),
            state.run_id.clone(),
            config.endpoint,
        );
        let skip = (done.clone(), covered.clone());
        let shard = config.shard;
        let made = tokio::task::spawn_blocking(move || {
            let plan = split::Plan {
                dir: &dir,
                target: &target,
                limits,
                short,
                first,
                run_id: &run_id,
                shard,
            };
            split::split(&input_path, &plan, |line| {
                !skip.0.contains(line) && !skip.1.contains(line)
            })
        })
        .await
        .map_err(|e| BatchError::Setup(format!("splitting the input stopped: {e}")))??;
        for rejected in &made.rejected {
            writer.write_rejected(rejected)?;
            collector.record_rejected(rejected);
            done.insert(rejected.line);
        }
        writer.sync()?;
        state.parts.extend(made.parts);
        save(&state, &out_dir)?;
    }

    let client = BatchClient::new(endpoint, stop.clone())?;
    let mut poller = poll::Poller {
        client,
        dir: out_dir.clone(),
        state,
        writer,
        collector,
        done,
        progress: crate::progress::Progress::new(options.run.progress, Some(lines)),
        poll_interval: options.poll_interval,
        target: target.name.clone(),
        prices: config.prices.clone(),
    };
    let polled = poller.run().await;
    let poll::Poller {
        state,
        collector,
        done,
        mut progress,
        ..
    } = poller;
    progress.finish();
    let running: Vec<String> = state
        .parts
        .iter()
        .filter(|p| p.is_running())
        .filter_map(|p| p.batch_id.clone())
        .collect();
    if let Err(e) = polled {
        // What was written so far is kept; the reports are written only at a clean end.
        prepared.shutdown().await;
        return Err(BatchError::Left {
            dir: out_dir,
            running,
            reason: Box::new(e),
        });
    }

    let unsent = lines.saturating_sub(done.len());
    if let Some(part) = manifest.parts.last_mut() {
        part.duration_s = Some(started.elapsed().as_secs_f64());
    }
    manifest.write(&out_dir).map_err(|source| WriteError {
        path: out_dir.clone(),
        source,
    })?;
    let job = JobInfo {
        input: options.run.input.display().to_string(),
        out_dir: out_dir.display().to_string(),
        started_at: manifest.parts.first().map(|p| p.started_at.clone()).unwrap_or_default(),
        finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_s: manifest.duration(None).as_secs_f64(),
        aborted: None,
        parts: manifest.parts.len() as u32,
        config: config.echo(),
    };
    let mut summary = collector.finish(job, lines, unsent);
    summary.batch_api = Some(summary::build(&out_dir, &state).map_err(|source| WriteError {
        path: out_dir.join(crate::output::RESULTS_FILE),
        source,
    })?);
    crate::report::write_all(&out_dir, &summary).map_err(|source| WriteError {
        path: out_dir.clone(),
        source,
    })?;
    prepared.shutdown().await;
    drop(lock);
    let failed = summary.totals.failed + summary.totals.rejected + unsent;
    let mut output = RunOutput {
        status: if failed > 0 {
            RunStatus::SomeFailed
        } else {
            RunStatus::AllSucceeded
        },
        summary,
        out_dir,
    };
    if options.then_live && failed > 0 {
        output = then_live(config, options, &state, &output.out_dir, stop).await?;
    }
    Ok(BatchOutput { output })
}

/// Sends live what the batches did not answer: a resume of the run folder with every failed
/// item sent again through the dispatcher; the report keeps the Batch API block.
async fn then_live(
    config: &Config,
    options: &BatchOptions,
    state: &BatchState,
    dir: &std::path::Path,
    stop: CancellationToken,
) -> Result<RunOutput, BatchError> {
    let mut live = options.run.clone();
    live.resume = Some(dir.to_path_buf());
    live.retry_failed = true;
    let mut output = crate::job::run_job(config, &live, stop).await?;
    let dir = output.out_dir.clone();
    output.summary.batch_api = Some(summary::build(&dir, state).map_err(|source| WriteError {
        path: dir.join(crate::output::RESULTS_FILE),
        source,
    })?);
    crate::report::write_all(&dir, &output.summary).map_err(|source| WriteError { path: dir, source })?;
    Ok(output)
}

pub(crate) fn save(state: &BatchState, dir: &std::path::Path) -> Result<(), BatchError> {
    state.write(dir).map_err(|source| {
        BatchError::Write(WriteError {
            path: dir.join(state::STATE_FILE),
            source,
        })
    })
}

/// A name for this run at the provider, unique enough to find its files and batches again.
fn run_id() -> String {
    let ms = state::now_ms();
    format!("sheepdog-{ms:x}-{:x}", std::process::id())
}

/// One batch of a run folder as the provider reports it now (`sheepdog batch status|cancel`).
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub number: u32,
    pub batch_id: Option<String>,
    pub endpoint: String,
    /// The provider's status now, or the last one written when it could not be asked.
    pub status: String,
    pub counts: state::Counts,
    /// Written into results.jsonl / errors.jsonl already.
    pub written: bool,
    /// What went wrong asking the provider, if something did.
    pub problem: Option<String>,
}

/// The batches of run folder `dir`, as the provider reports them; with `cancel`, every batch
/// still running is cancelled first. Nothing else in the folder is changed.
pub async fn control(config: &Config, dir: &std::path::Path, cancel: bool) -> Result<Vec<BatchReport>, BatchError> {
    let state = BatchState::read(dir).map_err(BatchError::Setup)?.ok_or_else(|| {
        BatchError::Setup(format!(
            "{}: no {} here: not a --batch-api run folder",
            dir.display(),
            state::STATE_FILE
        ))
    })?;
    let prepared = crate::job::prepare(config).await.map_err(JobError::from)?;
    let endpoint = prepared
        .route
        .first()
        .map(|t| t.endpoint.clone())
        .ok_or_else(|| BatchError::Setup("no target in the configuration".into()))?;
    let client = BatchClient::new(endpoint, CancellationToken::new())?;
    let mut reports = Vec::new();
    for part in &state.parts {
        let mut report = BatchReport {
            number: part.number,
            batch_id: part.batch_id.clone(),
            endpoint: part.endpoint.batch_url().to_string(),
            status: part.status.clone().unwrap_or_else(|| "not created".into()),
            counts: part.counts,
            written: part.written,
            problem: None,
        };
        if let Some(id) = &part.batch_id {
            let asked = if cancel && part.is_running() {
                client.cancel(id).await
            } else {
                client.retrieve(id).await
            };
            match asked {
                Ok(batch) => {
                    if let Some(status) = batch["status"].as_str() {
                        report.status = status.to_string();
                    }
                    let counts = &batch["request_counts"];
                    let count = |name: &str| counts[name].as_u64().unwrap_or(0);
                    report.counts = state::Counts {
                        total: count("total"),
                        completed: count("completed"),
                        failed: count("failed"),
                    };
                }
                Err(e) => report.problem = Some(e.message()),
            }
        }
        reports.push(report);
    }
    prepared.shutdown().await;
    Ok(reports)
}
