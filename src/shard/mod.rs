//! Sharding: splitting one job over N machines (Kubernetes Indexed Jobs, or any N processes).
//!
//! Every non-blank input line belongs to exactly one of N shards, decided by its **shard key**
//! alone, so the split is the same on every machine and in every run:
//!
//! - the shard key is the line's id as the input reader gives it (`custom_id` of a Batch API
//!   line, `id` of a short-form line, `line-<n>` when the line has none); a line that has no
//!   valid id (not JSON, not an object, an id that is not a string or number) uses `line-<n>`,
//!   `n` being its 1-based physical line number in the file;
//! - `shard = u64::from_be_bytes(SHA-256(key as UTF-8)[0..8]) % N`.
//!
//! In Python: `int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n`.
//! Repeated ids share a key, so a repeat is caught in the shard that holds the first one.
//!
//! Shard indices are 0-based (`--shard 0/4` … `--shard 3/4`), like `JOB_COMPLETION_INDEX`.

mod limits;

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use limits::{divided_notice, share, ShardLimits};

/// The environment variable Kubernetes Indexed Jobs set to the pod's index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// More shards than this is a typo.
pub const MAX_SHARDS: u32 = 100_000;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a shard or a shard setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("{0:?} is not a shard: write INDEX/COUNT, e.g. 0/4 (indices start at 0)")]
    NotAShard(String),
    #[error("{text:?}: the {what} {part:?} is not a whole number")]
    NotANumber {
        text: String,
        what: &'static str,
        part: String,
    },
    #[error("the shard count must be between 1 and {MAX_SHARDS}, not {0}")]
    Count(u32),
    #[error("shard index {index} is out of range for {count} shards: indices run from 0 to {}", .count - 1)]
    Index { index: u32, count: u32 },
    #[error("{0:?}: write \"divide\" (the default) or \"full\"")]
    Limits(String),
}

impl std::str::FromStr for Shard {
    type Err = ShardError;

    /// `I/N`, e.g. `0/4`.
    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let (index, count) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| ShardError::NotAShard(text.to_string()))?;
        let number = |part: &str, what: &'static str| {
            part.trim().parse::<u32>().map_err(|_| ShardError::NotANumber {
                text: text.to_string(),
                what,
                part: part.to_string(),
            })
        };
        Shard::new(number(index, "index")?, number(count, "count")?)
    }
}

impl Shard {
    /// Checks `index < count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count(count));
        }
        if index >= count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether the line with this shard key belongs to this shard.
    pub fn owns_key(&self, key: &str) -> bool {
        shard_of(key, self.count) == self.index
    }
}

/// The shard (of `count`) that holds the line with shard key `key`.
pub fn shard_of(key: &str, count: u32) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

/// `--shard I/N`, or `--shards N` with the index from `JOB_COMPLETION_INDEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRequest {
    Fixed(Shard),
    /// The index comes from [`INDEX_ENV`].
    FromEnv {
        count: u32,
    },
}

/// The shard a run handles. `index_var` is the value of `JOB_COMPLETION_INDEX`, if set.
/// Errors are `(key, message)`: the flag or variable that is wrong.
pub fn resolve(request: Option<ShardRequest>, index_var: Option<&str>) -> Result<Option<Shard>, (String, String)> {
    match request {
        None => Ok(None),
        Some(ShardRequest::Fixed(shard)) => Ok(Some(shard)),
        Some(ShardRequest::FromEnv { count }) => {
            let Some(text) = index_var else {
                return Err((
                    "--shards".into(),
                    format!(
                        "{INDEX_ENV} is not set: it is set by Kubernetes Indexed Jobs; elsewhere give --shard I/{count}"
                    ),
                ));
            };
            let index = text.trim().parse::<u32>().map_err(|_| {
                (
                    INDEX_ENV.to_string(),
                    format!("{text:?} is not a shard index (a whole number)"),
                )
            })?;
            Shard::new(index, count)
                .map(Some)
                .map_err(|e| (INDEX_ENV.to_string(), e.to_string()))
        }
    }
}

/// What `run.json` records about the shard of a run folder, for `sheepdog merge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// Non-blank input lines that belong to this shard.
    pub lines: u64,
}

impl ShardInfo {
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests;
