//! The end of a run: the checks that a part ended cleanly (writes, journal, input), the
//! fingerprint of a piped input, lost requests counted, an `--ordered` job's files put in order,
//! `run.json` updated, and the summary and reports written.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::owner::Owned;
use super::source::{Fingerprint, Read};
use super::worker::CacheContext;
use super::{JobError, RunOptions, RunOutput, RunStatus};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::input::InputError;
use crate::mock::MockServer;
use crate::output::files::{ERRORS_FILE, REQUESTS_FILE, RESULTS_FILE, SENT_FILE};
use crate::output::journal::SentJournal;
use crate::output::lock::RunLock;
use crate::output::manifest::Manifest;
use crate::output::WriteError;
use crate::stats::summary::{JobInfo, Summary};

/// What the engine left once every task reported.
pub(super) struct Ended {
    pub owned: Owned,
    pub read: Read,
    pub fingerprint: oneshot::Receiver<Fingerprint>,
    pub journal: SentJournal,
    pub cache: Option<Arc<CacheContext>>,
    pub mock: Option<MockServer>,
}

/// The run folder and what this part knows of the job.
pub(super) struct Folder {
    pub out_dir: PathBuf,
    pub lock: RunLock,
    pub streamed: bool,
    pub manifest: Manifest,
    /// Lines of this run's shard as known before the start (a pipe's are counted while read).
    pub lines: u64,
    pub started: Instant,
    /// Running time of the earlier parts.
    pub earlier: Duration,
}

pub(super) async fn finish(
    config: &Config,
    options: &RunOptions,
    dispatcher: &Dispatcher,
    stop: &CancellationToken,
    ended: Ended,
    mut folder: Folder,
) -> Result<RunOutput, JobError> {
    let Ended {
        mut owned,
        read,
        fingerprint,
        journal,
        cache,
        mock,
    } = ended;
    close(owned.write_error.take(), cache, mock, &journal, &folder).await?;
    if let Some(error) = read.error {
        return Err(error.into());
    }
    if folder.streamed {
        settle_pipe(&mut folder, read.lines, fingerprint, options)?;
    }
    let sent = journal.count().map_err(|source| WriteError {
        path: folder.out_dir.join(SENT_FILE),
        source,
    })?;
    // Requests a stop dropped in flight were sent: counted as lost, in summary and requests.csv.
    crate::output::resume::counts::at_end(&folder.out_dir, sent, &mut owned.collector).map_err(|source| {
        WriteError {
            path: folder.out_dir.join(REQUESTS_FILE),
            source,
        }
    })?;
    let unsent = folder.lines.saturating_sub(owned.collector.live().done);
    if config.run.ordered && unsent == 0 && !owned.in_order {
        for name in [RESULTS_FILE, ERRORS_FILE] {
            crate::output::reorder::sort_by_line(&folder.out_dir, name).map_err(|source| WriteError {
                path: folder.out_dir.join(name),
                source,
            })?;
        }
    }
    let this_part = folder.started.elapsed();
    if let Some(part) = folder.manifest.parts.last_mut() {
        part.duration_s = Some(this_part.as_secs_f64());
    }
    folder.manifest.write(&folder.out_dir).map_err(|source| WriteError {
        path: folder.out_dir.clone(),
        source,
    })?;
    let aborted = stop
        .is_cancelled()
        .then(|| dispatcher.abort_reason().unwrap_or_else(|| "interrupted".to_string()));
    let job = job_info(config, options, &folder, this_part, aborted.clone());
    let summary = owned
        .collector
        .finish_with(job, folder.lines, unsent, &dispatcher.report());
    report(folder, summary, aborted, unsent)
}

/// Closes what the part opened, and fails on a write, journal or cache error.
async fn close(
    write_error: Option<WriteError>,
    cache: Option<Arc<CacheContext>>,
    mock: Option<MockServer>,
    journal: &SentJournal,
    folder: &Folder,
) -> Result<(), JobError> {
    if let Some(cache) = cache {
        if let Err(e) = cache.cache.close() {
            return Err(JobError::Cache(format!("response cache: {e}")));
        }
    }
    if let Some(mock) = mock {
        mock.shutdown().await;
    }
    if let Some(error) = write_error {
        return Err(error.into());
    }
    if let Some(source) = journal.failure() {
        let path = folder.out_dir.join(SENT_FILE);
        return Err(WriteError { path, source }.into());
    }
    Ok(())
}

/// Known now: what the pipe held (all of it when its end was reached). The fingerprint is sent
/// before the reader's end of the channel closes: missing only when the run stopped before the
/// end of the input.
fn settle_pipe(
    folder: &mut Folder,
    read: u64,
    mut fingerprint: oneshot::Receiver<Fingerprint>,
    options: &RunOptions,
) -> Result<(), JobError> {
    folder.lines = read;
    let Ok((size, sha256)) = fingerprint.try_recv() else {
        return Ok(());
    };
    let manifest = &mut folder.manifest;
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
    Ok(())
}

fn job_info(
    config: &Config,
    options: &RunOptions,
    folder: &Folder,
    this_part: Duration,
    aborted: Option<String>,
) -> JobInfo {
    let manifest = &folder.manifest;
    JobInfo {
        input: options.input.display().to_string(),
        out_dir: folder.out_dir.display().to_string(),
        started_at: manifest.parts.first().map(|p| p.started_at.clone()).unwrap_or_default(),
        finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_s: (folder.earlier + this_part).as_secs_f64(),
        aborted,
        parts: manifest.parts.len() as u32,
        config: config.echo(),
    }
}

/// Writes the reports and says how the run ended; the run folder's lock is released last.
fn report(folder: Folder, summary: Summary, aborted: Option<String>, unsent: u64) -> Result<RunOutput, JobError> {
    crate::report::write_all(&folder.out_dir, &summary).map_err(|source| WriteError {
        path: folder.out_dir.clone(),
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
    drop(folder.lock);
    Ok(RunOutput {
        summary,
        out_dir: folder.out_dir,
        status,
    })
}
