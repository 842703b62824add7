//! One process per run folder: `sheepdog run` holds an exclusive advisory lock (`flock`) on
//! `run.lock` in the folder from before it reads anything until it exits. The kernel releases
//! the lock when the process ends, however it ends (`kill -9` included), so a lock is never
//! stale; a second `sheepdog run` on the same folder fails at once instead of sending the same
//! items a second time. The holder's PID is written in the file, for the message.
//!
//! `sheepdog report` and `sheepdog merge` only read a run folder and take no lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use super::files::LOCK_FILE;

/// The run folder is in use (or the lock could not be taken). Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{}: the run folder is in use by another sheepdog process{}; wait until it ends, or choose another --out",
        .dir.display(),
        .pid.map(|p| format!(" (PID {p})")).unwrap_or_default()
    )]
    Held { dir: PathBuf, pid: Option<u32> },
    #[error("{}: the run folder is not writable, so it cannot be locked ({source}); nothing was sent", .dir.display())]
    Io { dir: PathBuf, source: std::io::Error },
}

/// Held for the life of the run; dropping it (or the process ending) releases the folder.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Creates `dir` if needed and takes its lock without waiting.
    pub fn acquire(dir: &Path) -> Result<RunLock, LockError> {
        let io = |source: std::io::Error| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                dir: dir.to_path_buf(),
                pid: text.trim().parse().ok(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock { _file: file })
    }
}

/// `Ok(false)` when another open file description holds the lock.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_folder_is_refused_with_the_pid_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        let text = std::fs::read_to_string(run.join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());

        let second = RunLock::acquire(&run).unwrap_err();
        let message = second.to_string();
        assert!(matches!(second, LockError::Held { pid: Some(p), .. } if p == std::process::id()));
        assert!(message.contains(&run.display().to_string()), "{message}");
        assert!(message.contains(&format!("PID {}", std::process::id())), "{message}");

        drop(first);
        assert!(RunLock::acquire(&run).is_ok(), "released when the holder is dropped");
    }
}
