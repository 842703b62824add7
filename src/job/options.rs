//! The details of one invocation of `sheepdog run`: the input, the progress display, whether it
//! resumes, the metrics to feed. Job settings (durability, order, cache, drain timeout) are in
//! [`crate::config::run::RunSettings`], resolved with every other key. [`RunOptions::new`] gives
//! the defaults.

use std::path::PathBuf;

use crate::progress::ProgressMode;

pub use crate::config::run::{FsyncPolicy, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REORDER_WINDOW, SYNC_INTERVAL};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub input: PathBuf,
    pub progress: ProgressMode,
    /// `--resume DIR`: continue the run in DIR (it must hold a run.json). `--out DIR` on an
    /// existing run folder does the same.
    pub resume: Option<PathBuf>,
    /// Send again the items that failed for good in earlier parts, replacing their error lines.
    pub retry_failed: bool,
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
            metrics: None,
            allow_empty: false,
        }
    }
}
