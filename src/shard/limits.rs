//! Per-shard limits: N pods sharing one API key must stay under its limits together, so by
//! default each shard gets the configured requests-per-minute, tokens-per-minute and
//! `max_concurrency` divided by N (rounded down, at least 1), at every level: the run
//! (`--rpm`, `--tpm`), each provider and each target. `--shard-limits full` (or
//! `[run] shard_limits = "full"`) keeps them whole, for shards with keys of their own.

use std::fmt;

/// How limits apply to one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShardLimits {
    /// Each limit divided by the shard count.
    #[default]
    Divide,
    /// Each shard gets the limits as configured.
    Full,
}

impl std::str::FromStr for ShardLimits {
    type Err = super::ShardError;

    fn from_str(text: &str) -> Result<Self, super::ShardError> {
        match text.trim() {
            "divide" => Ok(ShardLimits::Divide),
            "full" => Ok(ShardLimits::Full),
            other => Err(super::ShardError::Limits(other.to_string())),
        }
    }
}

impl fmt::Display for ShardLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShardLimits::Divide => "divide",
            ShardLimits::Full => "full",
        })
    }
}

/// One shard's part of a limit shared by `count` shards: divided, rounded down, at least 1.
pub fn share(limit: u64, count: u32) -> u64 {
    (limit / u64::from(count.max(1))).max(1)
}

/// What a run says when its limits are divided by `count`.
pub fn divided_notice(count: u32) -> String {
    format!(
        "sharded run: rpm, tpm and max_concurrency limits are divided by {count} for this shard \
         (--shard-limits full keeps them whole)"
    )
}
