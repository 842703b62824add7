//! The `[run]` settings of how a run treats its run folder: durability (`fsync`), order
//! (`ordered`, `reorder_window`), the response cache, and how long a stop waits
//! (`drain_timeout`). Resolved like every key: flag > `SHEEPDOG_*` variable > job file >
//! default (the binary reads flag and variable into [`super::Overrides`]).

use std::path::PathBuf;
use std::time::Duration;

use super::file::RunEntry;
use super::Overrides;

/// Default of `drain_timeout`: how long a stop waits for the requests in flight.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `reorder_window`: results held back at most to write them in input order.
pub const DEFAULT_REORDER_WINDOW: usize = 10_000;
/// `reorder_window` at most: each held item is a result line in memory.
pub const MAX_REORDER_WINDOW: usize = 1_000_000;
/// How often `fsync = "interval"` syncs the result files.
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

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Interval => "interval",
            FsyncPolicy::Never => "never",
        })
    }
}

/// How a run treats its run folder and its stop.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    pub fsync: FsyncPolicy,
    /// Write results.jsonl in input order, holding at most `reorder_window` finished items.
    pub ordered: bool,
    pub reorder_window: usize,
    /// The response cache database.
    pub cache: Option<PathBuf>,
    /// How long a stop (Ctrl-C, SIGTERM, fatal error) waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            fsync: FsyncPolicy::default(),
            ordered: false,
            reorder_window: DEFAULT_REORDER_WINDOW,
            cache: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// The settings from `o` (flags and variables) over `run` (the job file); an error names the
/// key (`run.fsync`) and what is wrong.
pub fn resolve(o: &Overrides, run: &RunEntry) -> Result<RunSettings, (String, String)> {
    let fsync = match (o.fsync, &run.fsync) {
        (Some(policy), _) => policy,
        (None, Some(text)) => text.parse().map_err(|m| ("run.fsync".to_string(), m))?,
        (None, None) => FsyncPolicy::default(),
    };
    let reorder_window = o
        .reorder_window
        .or(run.reorder_window)
        .unwrap_or(DEFAULT_REORDER_WINDOW);
    if !(1..=MAX_REORDER_WINDOW).contains(&reorder_window) {
        let key = if o.reorder_window.is_some() {
            "--reorder-window"
        } else {
            "run.reorder_window"
        };
        return Err((key.into(), format!("must be from 1 to {MAX_REORDER_WINDOW}")));
    }
    let drain_timeout = o
        .drain_timeout
        .or(run.drain_timeout.map(|d| d.0))
        .unwrap_or(DEFAULT_DRAIN_TIMEOUT);
    Ok(RunSettings {
        fsync,
        ordered: o.ordered.or(run.ordered).unwrap_or(false),
        reorder_window,
        cache: o.cache.clone().or(run.cache.as_ref().map(PathBuf::from)),
        drain_timeout,
    })
}

impl RunSettings {
    /// The settings that differ from the defaults, for the configuration echo (so the echo of
    /// a job that sets none stays as it was).
    pub fn echo(&self) -> super::echo::RunEcho {
        let default = RunSettings::default();
        super::echo::RunEcho {
            fsync: (self.fsync != default.fsync).then(|| self.fsync.to_string()),
            ordered: self.ordered.then_some(true),
            reorder_window: self.ordered.then_some(self.reorder_window),
            cache: self.cache.as_ref().map(|cache| cache.display().to_string()),
            drain_timeout_ms: (self.drain_timeout != default.drain_timeout)
                .then_some(self.drain_timeout.as_millis() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{file, Config, ConfigError, Env};

    struct NoEnv;

    impl Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    const TARGET: &str = r#"
[[providers]]
name = "p"
base_url = "https://llm.example.test/v1/"

[[targets]]
name = "mini"
provider = "p"
model = "gpt-4.1-mini"
"#;

    fn resolve(run: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = format!("{TARGET}\n[run]\n{run}\n");
        let job = file::parse(&text, "job.toml")?;
        super::super::build::build(job, "job.toml", overrides, &NoEnv)
    }

    #[test]
    fn every_key_comes_from_the_job_file() {
        let config = resolve(
            "fsync = \"never\"\nordered = true\nreorder_window = 64\ncache = \"answers.db\"\ndrain_timeout = \"5s\"",
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(
            config.run,
            RunSettings {
                fsync: FsyncPolicy::Never,
                ordered: true,
                reorder_window: 64,
                cache: Some(PathBuf::from("answers.db")),
                drain_timeout: Duration::from_secs(5),
            }
        );
    }

    #[test]
    fn a_flag_or_variable_beats_the_job_file() {
        let overrides = Overrides {
            fsync: Some(FsyncPolicy::Always),
            reorder_window: Some(8),
            drain_timeout: Some(Duration::from_secs(2)),
            cache: Some(PathBuf::from("other.db")),
            ..Overrides::default()
        };
        let config = resolve(
            "fsync = \"never\"\nreorder_window = 64\ncache = \"answers.db\"\ndrain_timeout = \"5s\"",
            &overrides,
        )
        .expect("valid");
        assert_eq!(config.run.fsync, FsyncPolicy::Always);
        assert_eq!(config.run.reorder_window, 8);
        assert_eq!(config.run.drain_timeout, Duration::from_secs(2));
        assert_eq!(config.run.cache, Some(PathBuf::from("other.db")));
    }

    #[test]
    fn nothing_set_gives_the_defaults_and_leaves_the_echo_as_it_was() {
        let config = resolve("", &Overrides::default()).expect("valid");
        assert_eq!(config.run, RunSettings::default());
        let echo = config.echo();
        for key in ["fsync", "ordered", "reorder_window", "cache", "drain_timeout_ms"] {
            assert!(echo.get(key).is_none(), "{key} in {echo}");
        }
        let set = resolve("fsync = \"always\"\ndrain_timeout = \"5s\"", &Overrides::default()).expect("valid");
        assert_eq!(set.echo()["fsync"], "always");
        assert_eq!(set.echo()["drain_timeout_ms"], 5000);
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_key() {
        let e = resolve("fsync = \"sometimes\"", &Overrides::default()).expect_err("bad fsync");
        assert_eq!(e.key, "run.fsync", "{e}");
        assert!(e.to_string().contains("write always, interval or never"), "{e}");
        let e = resolve("reorder_window = 0", &Overrides::default()).expect_err("bad window");
        assert_eq!(e.key, "run.reorder_window", "{e}");
        let e = resolve("fsynk = \"always\"", &Overrides::default()).expect_err("unknown key");
        assert_eq!(e.key, "run.fsynk", "{e}");
        assert!(e.to_string().contains("unknown field `fsynk`"), "{e}");
    }
}
