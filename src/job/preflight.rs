//! Everything checked and opened before the first request: the input is readable (and its
//! fingerprint taken, unless it is a pipe), the keys are present, the run folder is locked
//! ([`crate::output::lock`]) and writable and, when it already
//! holds a run, matches this input and configuration; the earlier parts are scanned (repaired,
//! their finished lines collected, their statistics rebuilt); disk space is compared with a
//! rough estimate of the output; the response cache is opened.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::options::RunOptions;
use super::prepare::{prepare, Prepared};
use super::worker::CacheContext;
use super::JobError;
use crate::cache::ResponseCache;
use crate::config::{Config, Endpoint};
use crate::input::{InputError, Reader};
use crate::output::journal::{SentJournal, SENT_FILE};
use crate::output::lineset::LineSet;
use crate::output::lock::{RunLock, LOCK_FILE};
use crate::output::manifest::{fingerprint_input, InputFingerprint, Manifest, Part};
use crate::output::resume::{self, FileOrder};
use crate::output::{ResultsWriter, ERRORS_FILE, RESULTS_FILE};
use crate::stats::{Collector, TargetInfo};

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
    if let Some(shard) = config.shard {
        let lines = if streamed {
            0
        } else {
            scan_input(&options.input, move |path| crate::input::count_shard_lines(path, shard)).await?
        };
        manifest.shard = Some(crate::shard::ShardInfo {
            index: shard.index,
            count: shard.count,
            lines,
        });
    }
    let earlier_manifest = match Manifest::read(&out_dir).map_err(JobError::Setup)? {
        Some(earlier) => {
            if let Some(reason) = earlier.refuse_resume(&manifest, &out_dir) {
                return Err(JobError::Setup(reason));
            }
            Some(earlier)
        }
        None if options.resume.is_some() => {
            return Err(JobError::Setup(format!(
                "{}: not a sheepdog run folder (no run.json): nothing to resume",
                out_dir.display()
            )));
        }
        None => {
            for name in [RESULTS_FILE, ERRORS_FILE] {
                if out_dir.join(name).metadata().map(|m| m.len() > 0).unwrap_or(false) {
                    return Err(JobError::Setup(format!(
                        "{}: holds results but no run.json, so it cannot be resumed safely; choose another --out",
                        out_dir.display()
                    )));
                }
            }
            None
        }
    };
    check_writable(&out_dir)?;

    let targets: Vec<TargetInfo> = prepared
        .route
        .iter()
        .map(|t| TargetInfo {
            name: t.name.clone(),
            provider: t.endpoint.provider.clone(),
            model: t.model.clone().unwrap_or_else(|| "(per line)".into()),
        })
        .collect();
    let mut collector = Collector::new(targets);
    let mut notices = Vec::new();
    let (mut done, mut order, mut earlier, mut resumed) = (LineSet::new(), Default::default(), Duration::ZERO, None);
    if let Some(earlier_manifest) = earlier_manifest {
        let (dir, retry_failed) = (out_dir.clone(), options.retry_failed);
        let (scan, rebuilt) = tokio::task::spawn_blocking(move || {
            let scan = resume::scan(&dir, retry_failed, &mut collector).and_then(|mut scan| {
                let lost = resume::counts::at_resume(&dir, &scan.done, &mut collector)?;
                scan.notices.extend(lost);
                Ok(scan)
            });
            (scan, collector)
        })
        .await
        .map_err(|e| JobError::Setup(format!("resume scan stopped: {e}")))?;
        let scan = scan.map_err(JobError::Setup)?;
        collector = rebuilt;
        earlier = earlier_manifest.duration(scan.last_write);
        resumed = Some(Resumed {
            done: scan.done.len(),
            replaced: scan.replaced,
            earlier_parts: earlier_manifest.parts.len(),
        });
        notices.extend(scan.notices);
        (done, order) = (scan.done, (scan.results_order, scan.errors_order));
        manifest.parts = earlier_manifest.parts;
    }
    manifest.parts.push(Part {
        started_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        duration_s: None,
    });
    manifest
        .write(&out_dir)
        .map_err(|e| JobError::Setup(format!("{}: cannot write run.json: {e}", out_dir.display())))?;
    let writer = ResultsWriter::open(&out_dir)?;
    let journal = SentJournal::open(&out_dir)
        .map_err(|e| JobError::Setup(format!("{}: cannot write: {e}", out_dir.join(SENT_FILE).display())))?;
    crate::output::sync_dir(&out_dir).map_err(|e| JobError::Setup(format!("{}: {e}", out_dir.display())))?;

    let left = manifest
        .shard
        .map_or(input.lines, |s| s.lines)
        .saturating_sub(done.len());
    let per_line = input.size / input.lines.max(1) + RESULT_OVERHEAD_BYTES;
    if let Some(free) = available_space(&out_dir) {
        let needed = left.saturating_mul(per_line);
        if free < needed {
            notices.push(format!(
                "warning: {} has {} MiB free, and the {left} items left may need about {} MiB (a rough \
                 estimate); if the disk fills up the run stops, and --resume continues it",
                out_dir.display(),
                free >> 20,
                needed >> 20
            ));
        }
    }

    let cache = match &options.cache {
        Some(path) => Some(CacheContext {
            cache: ResponseCache::open(path).map_err(|e| JobError::Setup(e.to_string()))?,
            endpoints: config
                .route
                .iter()
                .map(|&t| match &config.provider_of(&config.targets[t]).endpoint {
                    Endpoint::Mock => "mock".to_string(),
                    Endpoint::Url(url) => url.clone(),
                })
                .collect(),
            prices: config.prices.clone(),
        }),
        None => None,
    };
    Ok(Preflight {
        out_dir,
        lock,
        streamed,
        input,
        manifest,
        collector,
        done,
        order,
        writer,
        journal,
        prepared,
        cache,
        earlier,
        resumed,
        notices,
    })
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
        .map_err(|e| JobError::Setup(format!("input scan stopped: {e}")))?;
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
            return Err(JobError::Setup(format!(
                "--resume {} and --out {} name different folders; give one",
                dir.display(),
                out.display()
            )));
        }
        if !dir.is_dir() {
            return Err(JobError::Setup(format!(
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
        JobError::Setup(format!(
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
