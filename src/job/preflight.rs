//! Everything checked and opened before the first request: the input is readable (and its
//! fingerprint taken, unless it is a pipe), the keys are present, the run folder is locked
//! ([`crate::output::lock`]) and writable and, when it already
//! holds a run, matches this input and configuration; the earlier parts are scanned (repaired,
//! their finished lines collected, their statistics rebuilt); disk space is compared with a
//! rough estimate of the output; the response cache is opened.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::options::RunOptions;
use super::worker::CacheContext;
use super::JobError;
use crate::cache::ResponseCache;
use crate::config::{Config, Endpoint};
use crate::engine::{prepare, Prepared};
use crate::input::{InputError, Reader, Repeats};
use crate::output::journal::{SentJournal, SENT_FILE};
use crate::output::lineset::LineSet;
use crate::output::lock::{RunLock, LOCK_FILE};
use crate::output::manifest::{fingerprint_input, InputFingerprint, Manifest, Part};
use crate::output::resume::{self, FileOrder};
use crate::output::{ResultsWriter, ERRORS_FILE, RESULTS_FILE};
use crate::stats::Collector;

/// Bytes of a result line beyond the input line it answers (response body and bookkeeping):
/// a rough figure for the disk-space check, not a limit.
const RESULT_OVERHEAD_BYTES: u64 = 1536;

/// A run ready to start.
pub struct Preflight {
    pub out_dir: PathBuf,
    /// This process's hold on the run folder, kept until the run ends.
    pub lock: RunLock,
    /// The input is a pipe, FIFO or stdin: read once, fingerprinted while read.
    pub streamed: bool,
    pub input: InputFingerprint,
    pub manifest: Manifest,
    /// Statistics of the earlier parts (empty for a new run).
    pub collector: Collector,
    /// Input lines already finished.
    pub done: LineSet,
    /// The ids that may repeat, for a regular input (a pipe is read once: `None`).
    pub repeats: Option<Repeats>,
    pub order: (FileOrder, FileOrder),
    pub writer: ResultsWriter,
    /// Every request of the run is noted here before it is sent.
    pub journal: SentJournal,
    pub prepared: Prepared,
    pub cache: Option<CacheContext>,
    /// Running time of the earlier parts.
    pub earlier: Duration,
    /// Set when this run continues an earlier one.
    pub resumed: Option<Resumed>,
    /// Things the user should know before the run starts (repairs, low disk space).
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// Input lines finished by the earlier parts.
    pub done: u64,
    /// Error lines moved to errors.replaced.jsonl to be sent again.
    pub replaced: u64,
    pub earlier_parts: usize,
}

pub async fn preflight(config: &Config, options: &RunOptions) -> Result<Preflight, JobError> {
    let out_dir = out_dir(config, options)?;
    let streamed = crate::input::is_streamed(&options.input);
    if !streamed {
        Reader::open(&options.input)?;
    }
    let prepared = prepare(config).await?;
    // Before the folder is read or anything sent: one process per run folder.
    let created = !out_dir.exists();
    let lock = RunLock::acquire(&out_dir).map_err(JobError::Locked)?;
    let ready = checked(config, options, out_dir.clone(), streamed, prepared, lock).await;
    if ready.is_err() && created {
        // Leave no empty folder behind a run that never started.
        let _ = std::fs::remove_file(out_dir.join(LOCK_FILE));
        let _ = std::fs::remove_dir(&out_dir);
    }
    ready
}

/// The rest of [`preflight`], once the run folder is locked.
async fn checked(
    config: &Config,
    options: &RunOptions,
    out_dir: PathBuf,
    streamed: bool,
    prepared: Prepared,
    lock: RunLock,
) -> Result<Preflight, JobError> {
    let input = if streamed {
        InputFingerprint::streamed(&options.input)
    } else {
        scan_input(&options.input, fingerprint_input).await?
    };
    if !streamed && input.lines == 0 && !options.allow_empty {
        return Err(InputError::Empty {
            path: options.input.clone(),
        }
        .into());
    }
    let mut manifest = Manifest::new(input.clone(), &config.echo());
    manifest.shard = shard_info(config, options, streamed).await?;
    let earlier_manifest = earlier_run(&out_dir, &manifest, options, config.output_format)?;
    check_writable(&out_dir)?;

    let collector = Collector::new(crate::engine::targets_of(&prepared.route));
    let Scanned {
        collector,
        done,
        order,
        mut notices,
        resumed,
        earlier,
    } = match earlier_manifest {
        Some(earlier) => resume_scan(&out_dir, options, collector, earlier, &mut manifest).await?,
        None => Scanned::fresh(collector),
    };
    manifest.parts.push(Part {
        started_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_s: None,
    });
    let (writer, journal) = open_files(&out_dir, &manifest, config.output_format)?;
    let left = manifest.run_lines(input.lines).saturating_sub(done.len());
    notices.extend(disk_notice(&out_dir, &input, left));
    let repeats = if streamed {
        None
    } else {
        let shard = config.shard;
        Some(scan_input(&options.input, move |path| Repeats::scan(path, shard)).await?)
    };
    Ok(Preflight {
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
        prepared,
        cache: open_cache(config)?,
        earlier,
        resumed,
        notices,
    })
}

/// The shard this run takes, with its line count (0 for a pipe, counted while read).
async fn shard_info(
    config: &Config,
    options: &RunOptions,
    streamed: bool,
) -> Result<Option<crate::shard::ShardInfo>, JobError> {
    let Some(shard) = config.shard else {
        return Ok(None);
    };
    let lines = if streamed {
        0
    } else {
        scan_input(&options.input, move |path| crate::input::count_shard_lines(path, shard)).await?
    };
    Ok(Some(crate::shard::ShardInfo {
        index: shard.index,
        count: shard.count,
        lines,
    }))
}

/// The manifest of the run already in `out_dir`, if any, checked against this one: a folder
/// of another job, or with results but no manifest, is refused.
fn earlier_run(
    out_dir: &Path,
    manifest: &Manifest,
    options: &RunOptions,
    format: crate::output::OutputFormat,
) -> Result<Option<Manifest>, JobError> {
    match Manifest::read(out_dir).map_err(JobError::RunFolder)? {
        Some(earlier) => match earlier.refuse_resume(manifest, out_dir) {
            Some(reason) => Err(JobError::RunFolder(reason)),
            None => {
                format.check_resume(out_dir).map_err(JobError::RunFolder)?;
                Ok(Some(earlier))
            }
        },
        None if options.resume.is_some() => Err(JobError::Resume(format!(
            "{}: not a sheepdog run folder (no run.json): nothing to resume",
            out_dir.display()
        ))),
        None => {
            for name in [RESULTS_FILE, ERRORS_FILE] {
                if out_dir.join(name).metadata().map(|m| m.len() > 0).unwrap_or(false) {
                    return Err(JobError::RunFolder(format!(
                        "{}: holds results but no run.json, so it cannot be resumed safely; choose another --out",
                        out_dir.display()
                    )));
                }
            }
            Ok(None)
        }
    }
}

/// What the earlier parts left: statistics, lines done, file order.
struct Scanned {
    collector: Collector,
    done: LineSet,
    order: (FileOrder, FileOrder),
    notices: Vec<String>,
    resumed: Option<Resumed>,
    /// Running time of the earlier parts.
    earlier: Duration,
}

impl Scanned {
    fn fresh(collector: Collector) -> Scanned {
        Scanned {
            collector,
            done: LineSet::new(),
            order: Default::default(),
            notices: Vec::new(),
            resumed: None,
            earlier: Duration::ZERO,
        }
    }
}

/// Scans (and repairs) the earlier parts on a blocking thread; their parts go into `manifest`.
async fn resume_scan(
    out_dir: &Path,
    options: &RunOptions,
    mut collector: Collector,
    earlier: Manifest,
    manifest: &mut Manifest,
) -> Result<Scanned, JobError> {
    let (dir, retry_failed) = (out_dir.to_path_buf(), options.retry_failed);
    let (scan, rebuilt) = tokio::task::spawn_blocking(move || {
        let scan = resume::scan(&dir, retry_failed, &mut collector).and_then(|mut scan| {
            let lost = resume::counts::at_resume(&dir, &scan.done, &mut collector)?;
            scan.notices.extend(lost);
            Ok(scan)
        });
        (scan, collector)
    })
    .await
    .map_err(|source| JobError::Task {
        what: "resume scan".into(),
        source,
    })?;
    let scan = scan.map_err(JobError::RunFolder)?;
    let resumed = Resumed {
        done: scan.done.len(),
        replaced: scan.replaced,
        earlier_parts: earlier.parts.len(),
    };
    let earlier_time = earlier.duration(scan.last_write);
    manifest.parts = earlier.parts;
    Ok(Scanned {
        collector: rebuilt,
        done: scan.done,
        order: (scan.results_order, scan.errors_order),
        notices: scan.notices,
        resumed: Some(resumed),
        earlier: earlier_time,
    })
}

/// Writes `run.json` and opens the result files and the journal, durably.
fn open_files(
    out_dir: &Path,
    manifest: &Manifest,
    format: crate::output::OutputFormat,
) -> Result<(ResultsWriter, SentJournal), JobError> {
    manifest
        .write(out_dir)
        .map_err(|e| JobError::RunFolder(format!("{}: cannot write run.json: {e}", out_dir.display())))?;
    let writer = ResultsWriter::open_as(out_dir, format)?;
    let journal = SentJournal::open(out_dir)
        .map_err(|e| JobError::RunFolder(format!("{}: cannot write: {e}", out_dir.join(SENT_FILE).display())))?;
    crate::output::sync_dir(out_dir).map_err(|e| JobError::RunFolder(format!("{}: {e}", out_dir.display())))?;
    Ok((writer, journal))
}

/// A warning when the disk may not hold the results of the `left` items.
fn disk_notice(out_dir: &Path, input: &InputFingerprint, left: u64) -> Option<String> {
    let per_line = input.size / input.lines.max(1) + RESULT_OVERHEAD_BYTES;
    let free = available_space(out_dir)?;
    let needed = left.saturating_mul(per_line);
    (free < needed).then(|| {
        format!(
            "warning: {} has {} MiB free, and the {left} items left may need about {} MiB (a rough \
             estimate); if the disk fills up the run stops, and --resume continues it",
            out_dir.display(),
            free >> 20,
            needed >> 20
        )
    })
}

/// The response cache (`--cache`), with the endpoint of each route target for its keys.
fn open_cache(config: &Config) -> Result<Option<CacheContext>, JobError> {
    let Some(path) = &config.run.cache else {
        return Ok(None);
    };
    Ok(Some(CacheContext {
        cache: ResponseCache::open(path).map_err(|e| JobError::Cache(e.to_string()))?,
        endpoints: config
            .route
            .iter()
            .map(|&t| match &config.provider_of(&config.targets[t]).endpoint {
                Endpoint::Mock => "mock".to_string(),
                Endpoint::Url(url) => url.clone(),
            })
            .collect(),
        prices: config.prices.clone(),
    }))
}

/// The run folder: `--resume DIR`, `--out DIR`, or `reports/<input stem>-<UTC timestamp>/`.
/// Reads the whole input file once on a blocking thread (fingerprint, shard count); a read
/// error names the file.
async fn scan_input<T: Send + 'static>(
    input: &Path,
    scan: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
) -> Result<T, JobError> {
    let path = input.to_path_buf();
    let scanned = tokio::task::spawn_blocking(move || scan(&path))
        .await
        .map_err(|source| JobError::Task {
            what: "input scan".into(),
            source,
        })?;
    scanned.map_err(|source| {
        JobError::from(InputError::Read {
            path: input.to_path_buf(),
            line: 0,
            source,
        })
    })
}

fn out_dir(config: &Config, options: &RunOptions) -> Result<PathBuf, JobError> {
    if let Some(dir) = &options.resume {
        if let Some(out) = config.out.as_ref().filter(|out| *out != dir) {
            return Err(JobError::Resume(format!(
                "--resume {} and --out {} name different folders; give one",
                dir.display(),
                out.display()
            )));
        }
        if !dir.is_dir() {
            return Err(JobError::Resume(format!(
                "--resume {}: no such run folder",
                dir.display()
            )));
        }
        return Ok(dir.clone());
    }
    if let Some(dir) = &config.out {
        return Ok(dir.clone());
    }
    let stem = options
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    Ok(crate::output::fresh_run_dir(&stem))
}

/// Creates the folder and proves a file can be written, synced and removed in it.
fn check_writable(dir: &Path) -> Result<(), JobError> {
    let fail = |e: std::io::Error| {
        JobError::RunFolder(format!(
            "{}: the run folder is not writable ({e}); nothing was sent",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".sheepdog-write-check");
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        use std::io::Write;
        file.write_all(b"ok\n")?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(fail)
}

/// Bytes available to this user on the file system of `dir`, when it can be told.
fn available_space(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let stat = rustix::fs::statvfs(dir).ok()?;
        Some(stat.f_bavail.saturating_mul(stat.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}
