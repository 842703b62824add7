//! Writes `results.jsonl` and `errors.jsonl`: one complete line per item, in the OpenAI Batch
//! output format plus a `sheepdog` block (or with the blocks in a sidecar, see [`format`]),
//! appended and flushed as items finish, and synced to disk when the owner asks
//! ([`ResultsWriter::sync`]). The other files of a run folder: the
//! manifest (`run.json`, [`manifest`]), the resume scan ([`resume`]) and the final reordering
//! of an `--ordered` job ([`reorder`]).

mod atomic;
pub mod files;
pub mod format;
pub mod journal;
mod line;
pub mod lineset;
pub mod lock;
pub mod manifest;
pub mod reorder;
pub mod requests;
pub mod resume;

pub use atomic::write_atomic;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use format::OutputFormat;
pub use line::{rejected_lines, render, render_as, render_extended, result_line, RenderedLine};

use crate::record::{Outcome, Rejected};

pub use files::{ERRORS_FILE, REPLACED_FILE, RESULTS_FILE};

/// A write to the run folder failed: the run must stop rather than pay for answers it cannot keep.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot write: {source}", .path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

pub struct ResultsWriter {
    format: OutputFormat,
    results: Sink,
    errors: Sink,
    /// `sheepdog.jsonl`, in the `openai` format.
    sidecar: Option<Sink>,
    /// `requests.csv`: one row per request.
    requests: requests::RequestsCsv,
}

struct Sink {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Sink {
    fn open(path: PathBuf) -> Result<Sink, WriteError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| WriteError {
                path: path.clone(),
                source,
            })?;
        Ok(Sink {
            path,
            file: BufWriter::with_capacity(256 * 1024, file),
        })
    }

    fn line<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WriteError> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| self.fail(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(|e| self.fail(e))
    }

    /// A line already serialized, newline included.
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.file.write_all(bytes).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> Result<(), WriteError> {
        self.file.flush().map_err(|e| self.fail(e))
    }

    fn sync(&mut self) -> Result<(), WriteError> {
        self.file.flush().map_err(|e| self.fail(e))?;
        sync_file(&self.path, self.file.get_ref())
    }

    /// A second handle on the file, to sync it from another thread.
    fn handle(&self) -> Result<(PathBuf, File), WriteError> {
        let file = self.file.get_ref().try_clone().map_err(|e| self.fail(e))?;
        Ok((self.path.clone(), file))
    }

    fn fail(&self, source: std::io::Error) -> WriteError {
        WriteError {
            path: self.path.clone(),
            source,
        }
    }
}

impl ResultsWriter {
    /// Opens (creating or appending to) both files in `dir`, in the default format.
    pub fn open(dir: &Path) -> Result<ResultsWriter, WriteError> {
        ResultsWriter::open_as(dir, OutputFormat::Sheepdog)
    }

    /// Opens the files of `format` in `dir` (the sidecar too, for `openai`).
    pub fn open_as(dir: &Path, format: OutputFormat) -> Result<ResultsWriter, WriteError> {
        let sidecar = match format {
            OutputFormat::Sheepdog => None,
            OutputFormat::OpenAi => Some(Sink::open(dir.join(format::SIDECAR_FILE))?),
        };
        Ok(ResultsWriter {
            format,
            results: Sink::open(dir.join(RESULTS_FILE))?,
            errors: Sink::open(dir.join(ERRORS_FILE))?,
            sidecar,
            requests: requests::RequestsCsv::open(dir).map_err(|source| WriteError {
                path: dir.join(files::REQUESTS_FILE),
                source,
            })?,
        })
    }

    pub fn write_outcome(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        self.write_item(outcome, false)
    }

    /// A failed item that did not fail for good: the run was stopping (interrupt, fatal provider
    /// error) while it was being tried. Marked `"unfinished": true`; a resume sends it again.
    pub fn write_unfinished(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        self.write_item(outcome, true)
    }

    fn write_item(&mut self, outcome: &Outcome, unfinished: bool) -> Result<(), WriteError> {
        let line =
            render_as(outcome, unfinished, self.format).map_err(|e| self.results.fail(std::io::Error::other(e)))?;
        self.write_rendered(outcome, &line)
    }

    /// Writes `outcome` as `line`, made beforehand by [`render`] (workers render in parallel,
    /// so the single writer only copies bytes).
    /// A line rendered in another format than the writer's is rendered again.
    pub fn write_rendered(&mut self, outcome: &Outcome, line: &RenderedLine) -> Result<(), WriteError> {
        let again;
        let line = match (&self.sidecar, &line.sidecar) {
            (Some(_), None) | (None, Some(_)) => {
                again = render_as(outcome, line.unfinished, self.format)
                    .map_err(|e| self.results.fail(std::io::Error::other(e)))?;
                &again
            }
            _ => line,
        };
        if let (Some(sink), Some(bytes)) = (&mut self.sidecar, &line.sidecar) {
            sink.bytes(bytes)?;
        }
        match &outcome.result {
            Ok(_) => self.results.bytes(&line.main),
            Err(_) => self.errors.bytes(&line.main),
        }?;
        self.requests.write_outcome(outcome)
    }

    pub fn write_rejected(&mut self, rejected: &Rejected) -> Result<(), WriteError> {
        let (line, sidecar) = rejected_lines(rejected, self.format);
        if let (Some(sink), Some(sidecar)) = (&mut self.sidecar, sidecar) {
            sink.line(&sidecar)?;
        }
        self.errors.line(&line)
    }

    /// Pushes buffered lines to the operating system.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.results.flush()?;
        self.errors.flush()?;
        if let Some(sidecar) = &mut self.sidecar {
            sidecar.flush()?;
        }
        self.requests.flush()
    }

    /// Handles on the result files that sync what was flushed to them, on another thread than
    /// the writer's (see [`Syncer`]).
    pub fn syncer(&self) -> Result<Syncer, WriteError> {
        let mut files = vec![self.results.handle()?, self.errors.handle()?];
        if let Some(sidecar) = &self.sidecar {
            files.push(sidecar.handle()?);
        }
        Ok(Syncer { files })
    }

    /// Flushes everything, then waits until both result files are on disk (`fdatasync`).
    pub fn sync(&mut self) -> Result<(), WriteError> {
        self.flush()?;
        self.results.sync()?;
        self.errors.sync()?;
        match &mut self.sidecar {
            Some(sidecar) => sidecar.sync(),
            None => Ok(()),
        }
    }
}

/// The result files, synced away from their writer: an `fdatasync` of a second's worth of
/// answers can take tens of milliseconds, during which the writer keeps writing.
pub struct Syncer {
    files: Vec<(PathBuf, File)>,
}

impl Syncer {
    /// Waits until what was flushed to the result files before the call is on disk.
    pub fn sync(&self) -> Result<(), WriteError> {
        self.files.iter().try_for_each(|(path, file)| sync_file(path, file))
    }

    /// The first file's path (results.jsonl), to name in an error that has no file.
    pub fn path(&self) -> &Path {
        self.files
            .first()
            .map(|(path, _)| path.as_path())
            .unwrap_or(Path::new(""))
    }
}

/// `fdatasync` of `file`; a file whose folder was removed fails: writes to it succeed, and are
/// lost with it.
fn sync_file(path: &Path, file: &File) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    file.sync_data().map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if file.metadata().map_err(fail)?.nlink() == 0 {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the file was deleted",
            )));
        }
    }
    Ok(())
}

/// Makes the entries of `dir` (created, renamed files) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A new run folder `reports/<stem>-<UTC timestamp>`, with `-2`, `-3`... when that name is taken.
pub fn fresh_run_dir(stem: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
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
