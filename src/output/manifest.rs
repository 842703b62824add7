//! `run.json`: what a run folder was started with, so a resume can refuse another input file or
//! an incompatible configuration, and the parts (runs of `sheepdog run`) that made the job.
//!
//! The input fingerprint is the file's size and SHA-256, computed in one streaming pass before
//! the first request (the same pass counts the lines for the progress total). The configuration
//! fingerprint covers what decides the answer to an item: each provider's name and base URL,
//! each target's name, provider and model, and the route. Concurrency, timeout, retries, limits,
//! keys and the output folder may change between parts.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use super::files::MANIFEST_FILE;
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub input: InputFingerprint,
    /// The part of the configuration a resume must keep (see the module docs).
    pub config: Value,
    pub config_sha256: String,
    /// Runs of `sheepdog run` on this folder, in order.
    #[serde(default)]
    pub parts: Vec<Part>,
    /// The shard of the input this folder holds (`--shard I/N`), for `sheepdog merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFingerprint {
    /// As given by the user when the job started (informative: a moved file still matches).
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Non-blank lines.
    pub lines: u64,
    /// Read from a pipe, FIFO or stdin: fingerprinted while the run read it, so size, sha256
    /// and lines are only known (non-empty) once the run read it to its end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streamed: bool,
}

impl InputFingerprint {
    /// The fingerprint of an input read once (a pipe), filled in when its end is reached.
    pub fn streamed(path: &Path) -> InputFingerprint {
        InputFingerprint {
            path: path.display().to_string(),
            size: 0,
            sha256: String::new(),
            lines: 0,
            streamed: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// RFC 3339 UTC.
    pub started_at: String,
    /// Running time; `None` for a part that did not end cleanly (see [`Manifest::duration`]).
    #[serde(default)]
    pub duration_s: Option<f64>,
}

impl Manifest {
    /// The lines this run handles: its shard's, or all `input_lines` (non-blank) when the run
    /// is not sharded.
    pub fn run_lines(&self, input_lines: u64) -> u64 {
        self.shard.map_or(input_lines, |s| s.lines)
    }

    pub fn new(input: InputFingerprint, config_echo: &Value) -> Manifest {
        let config = compatible_part(config_echo);
        Manifest {
            version: VERSION,
            input,
            config_sha256: sha256_hex(config.to_string().as_bytes()),
            config,
            parts: Vec::new(),
            shard: None,
        }
    }

    pub fn read(dir: &Path) -> Result<Option<Manifest>, String> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // A folder that does not exist yet (or cannot: the writability check says why).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: not a sheepdog run manifest: {e}", path.display()))
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        super::write_atomic(dir, MANIFEST_FILE, &bytes)?;
        super::sync_dir(dir)
    }

    /// Why this folder cannot continue with `now` (the fingerprint of today's input and config).
    pub fn refuse_resume(&self, now: &Manifest, dir: &Path) -> Option<String> {
        let folder = dir.display();
        if now.input.streamed {
            return Some(format!(
                "{folder} already holds a run, and {} is a pipe or stdin, which can be read only once: a resume \
                 needs the input as a regular file (to check it is the same input and skip the lines already done)",
                now.input.path
            ));
        }
        if self.input.streamed && self.input.sha256.is_empty() {
            return Some(format!(
                "{folder} was started from a pipe ({}) and stopped before the end of its input, so which input \
                 it was cannot be checked: a resume needs a regular file; save the input to a file and start a \
                 new run folder with it",
                self.input.path
            ));
        }
        if self.input.sha256 != now.input.sha256 || self.input.size != now.input.size {
            return Some(format!(
                "{folder} was started with another input file ({}, {} bytes, sha256 {}…), but {} is {} bytes, \
                 sha256 {}…: resume with the same file, or choose another --out",
                self.input.path,
                self.input.size,
                &self.input.sha256[..12.min(self.input.sha256.len())],
                now.input.path,
                now.input.size,
                &now.input.sha256[..12.min(now.input.sha256.len())],
            ));
        }
        let (was, is) = (self.shard.map(|s| s.shard()), now.shard.map(|s| s.shard()));
        if was != is {
            let show = |s: Option<crate::shard::Shard>| s.map_or("no shard".to_string(), |s| format!("shard {s}"));
            return Some(format!(
                "{folder} holds {} of the input, but this run is {}: resume with the same --shard, or choose another --out",
                show(was),
                show(is)
            ));
        }
        if self.config != now.config {
            let key = ["providers", "targets", "route"]
                .into_iter()
                .find(|k| self.config.get(k) != now.config.get(k))
                .unwrap_or("config");
            return Some(format!(
                "{folder} was started with another configuration: {key} was {} and is now {}; resume with the \
                 same job file and --model, or choose another --out",
                self.config.get(key).unwrap_or(&Value::Null),
                now.config.get(key).unwrap_or(&Value::Null),
            ));
        }
        None
    }

    /// Summed running time of the parts. A part that crashed has no recorded duration: its end
    /// is taken as `last_write` (the results files' modification time), so the figure is close.
    pub fn duration(&self, last_write: Option<SystemTime>) -> Duration {
        let mut total = Duration::ZERO;
        for part in &self.parts {
            match part.duration_s {
                Some(s) if s.is_finite() && s >= 0.0 => total += Duration::from_secs_f64(s),
                _ => {
                    let started = humantime::parse_rfc3339(&part.started_at).ok();
                    if let (Some(started), Some(end)) = (started, last_write) {
                        total += end.duration_since(started).unwrap_or_default();
                    }
                }
            }
        }
        total
    }
}

/// The configuration a resume must keep, from [`crate::config::Config::echo`].
fn compatible_part(echo: &Value) -> Value {
    let pick = |list: Option<&Value>, keys: &[&str]| -> Value {
        let items = list.and_then(Value::as_array).cloned().unwrap_or_default();
        Value::Array(
            items
                .iter()
                .map(|item| {
                    let object: serde_json::Map<String, Value> = keys
                        .iter()
                        .map(|k| (k.to_string(), item.get(*k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    Value::Object(object)
                })
                .collect(),
        )
    };
    json!({
        "providers": pick(echo.get("providers"), &["name", "base_url"]),
        "targets": pick(echo.get("targets"), &["name", "provider", "model"]),
        "route": echo.get("route").cloned().unwrap_or(Value::Null),
    })
}

/// Size, SHA-256 and non-blank line count of the input, in one streaming pass.
pub fn fingerprint_input(path: &Path) -> std::io::Result<InputFingerprint> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let (mut size, mut lines, mut content) = (0u64, 0u64, false);
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        size += n as u64;
        for &b in chunk {
            if b == b'\n' {
                lines += u64::from(content);
                content = false;
            } else if !b.is_ascii_whitespace() {
                content = true;
            }
        }
    }
    lines += u64::from(content);
    Ok(InputFingerprint {
        path: path.display().to_string(),
        size,
        sha256: hex(&hasher.finalize()),
        lines,
        streamed: false,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(model: &str, concurrency: u64) -> Value {
        json!({
            "providers": [{"name": "p", "base_url": "mock", "api_key_env": "K", "rpm": null}],
            "targets": [{"name": "t", "provider": "p", "model": model, "rpm": 5}],
            "route": ["t"],
            "concurrency": concurrency,
            "timeout_ms": 1000,
        })
    }

    fn input(sha: &str) -> InputFingerprint {
        InputFingerprint {
            path: "in.jsonl".into(),
            size: 10,
            sha256: sha.into(),
            lines: 2,
            streamed: false,
        }
    }

    #[test]
    fn concurrency_may_change_but_model_and_input_may_not() {
        let dir = Path::new("run");
        let started = Manifest::new(input("aaaa"), &echo("m1", 16));
        assert_eq!(
            started.refuse_resume(&Manifest::new(input("aaaa"), &echo("m1", 64)), dir),
            None
        );
        let other_model = started.refuse_resume(&Manifest::new(input("aaaa"), &echo("m2", 16)), dir);
        assert!(other_model.is_some_and(|m| m.contains("targets") && m.contains("m2")));
        let other_input = started.refuse_resume(&Manifest::new(input("bbbb"), &echo("m1", 16)), dir);
        assert!(other_input.is_some_and(|m| m.contains("another input file")));
    }

    #[test]
    fn a_pipe_cannot_resume_and_a_folder_started_from_an_unfinished_pipe_cannot_be_resumed() {
        let dir = Path::new("run");
        let file = Manifest::new(input("aaaa"), &echo("m1", 16));
        let pipe = Manifest::new(InputFingerprint::streamed(Path::new("/dev/stdin")), &echo("m1", 16));
        let said = file.refuse_resume(&pipe, dir).unwrap_or_default();
        assert!(said.contains("regular file") && said.contains("/dev/stdin"), "{said}");
        let said = pipe.refuse_resume(&file, dir).unwrap_or_default();
        assert!(
            said.contains("started from a pipe") && said.contains("regular file"),
            "{said}"
        );
        let mut read_whole = pipe.clone();
        read_whole.input = input("aaaa");
        read_whole.input.streamed = true;
        assert_eq!(
            read_whole.refuse_resume(&file, dir),
            None,
            "a pipe read to its end can be resumed from the file"
        );
    }

    #[test]
    fn fingerprint_counts_non_blank_lines_and_hashes_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(&path, "{\"a\":1}\n  \n\n{\"b\":2}").unwrap();
        let f = fingerprint_input(&path).unwrap();
        assert_eq!((f.lines, f.size), (2, 19));
        assert_eq!(f.sha256, sha256_hex(b"{\"a\":1}\n  \n\n{\"b\":2}"));
        assert_eq!(sha256_hex(b"").len(), 64);
    }

    #[test]
    fn a_crashed_part_lasts_until_the_last_write() {
        let mut m = Manifest::new(input("a"), &echo("m", 1));
        m.parts.push(Part {
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_s: None,
        });
        m.parts.push(Part {
            started_at: "2026-01-01T01:00:00Z".into(),
            duration_s: Some(2.5),
        });
        let end = humantime::parse_rfc3339("2026-01-01T00:00:10Z").ok();
        assert_eq!(m.duration(end), Duration::from_secs_f64(12.5));
    }
}
