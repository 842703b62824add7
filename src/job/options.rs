//! How a run treats its run folder: resume, durability, order, cache, stop. Filled by the
//! binary from flags; [`RunOptions::new`] gives the defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::progress::ProgressMode;

/// Default of `--drain-timeout`: how long a stop waits for the requests in flight.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `--reorder-window`: results held back at most to write them in input order.
pub const DEFAULT_REORDER_WINDOW: usize = 10_000;
/// How often `--fsync interval` syncs the result files.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// When result lines are synced to disk (`fdatasync`); every line is always written whole
/// and flushed to the operating system as soon as its item finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every batch of lines, before the next is written.
    Always,
    /// At most every [`SYNC_INTERVAL`] (and at the end).
    #[default]
    Interval,
    /// Left to the operating system (a power loss may lose what it had not written yet).
    Never,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "always" => Ok(FsyncPolicy::Always),
            "interval" => Ok(FsyncPolicy::Interval),
            "never" => Ok(FsyncPolicy::Never),
            other => Err(format!("{other:?}: write always, interval or never")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub input: PathBuf,
    pub progress: ProgressMode,
    /// `--resume DIR`: continue the run in DIR (it must hold a run.json). `--out DIR` on an
    /// existing run folder does the same.
    pub resume: Option<PathBuf>,
    /// Send again the items that failed for good in earlier parts, replacing their error lines.
    pub retry_failed: bool,
    pub fsync: FsyncPolicy,
    /// How long a stop (Ctrl-C, SIGTERM, fatal error) waits for requests in flight.
    pub drain_timeout: Duration,
    /// Write results.jsonl in input order, holding at most `reorder_window` finished items.
    pub ordered: bool,
    pub reorder_window: usize,
    /// The response cache database (`--cache PATH`).
    pub cache: Option<PathBuf>,
    /// Prometheus metrics to feed while running (`--metrics-addr`).
    pub metrics: Option<crate::metrics::Metrics>,
    /// `--allow-empty`: an input without lines is a finished run, not an error.
    pub allow_empty: bool,
}

impl RunOptions {
    pub fn new(input: PathBuf) -> RunOptions {
        RunOptions {
            input,
            progress: ProgressMode::Quiet,
            resume: None,
            retry_failed: false,
            fsync: FsyncPolicy::default(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            ordered: false,
            reorder_window: DEFAULT_REORDER_WINDOW,
            cache: None,
            metrics: None,
            allow_empty: false,
        }
    }
}
