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
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "divide" => Ok(ShardLimits::Divide),
            "full" => Ok(ShardLimits::Full),
            other => Err(format!("{other:?}: write \"divide\" (the default) or \"full\"")),
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

fn share_u32(limit: &mut Option<u32>, n: u32) {
    if let Some(v) = limit {
        *v = (*v / n).max(1);
    }
}

fn share_u64(limit: &mut Option<u64>, n: u32) {
    if let Some(v) = limit {
        *v = (*v / u64::from(n)).max(1);
    }
}

fn share_usize(limit: &mut Option<usize>, n: u32) {
    if let Some(v) = limit {
        *v = (*v / n as usize).max(1);
    }
}

/// Divides every rpm, tpm and max_concurrency of `config` by `count`. Returns a notice that
/// says so, or `None` when no limit is configured.
pub fn divide_limits(config: &mut crate::config::Config, count: u32) -> Option<String> {
    if count <= 1 {
        return None;
    }
    let mut any = config.dispatch.rpm.is_some() || config.dispatch.tpm.is_some();
    share_u32(&mut config.dispatch.rpm, count);
    share_u64(&mut config.dispatch.tpm, count);
    for p in &mut config.providers {
        any |= p.rpm.is_some() || p.tpm.is_some() || p.max_concurrency.is_some();
        share_u32(&mut p.rpm, count);
        share_u64(&mut p.tpm, count);
        share_usize(&mut p.max_concurrency, count);
    }
    for t in &mut config.targets {
        any |= t.rpm.is_some() || t.tpm.is_some() || t.max_concurrency.is_some();
        share_u32(&mut t.rpm, count);
        share_u64(&mut t.tpm, count);
        share_usize(&mut t.max_concurrency, count);
    }
    any.then(|| {
        format!(
            "sharded run: rpm, tpm and max_concurrency limits are divided by {count} for this shard \
             (--shard-limits full keeps them whole)"
        )
    })
}
