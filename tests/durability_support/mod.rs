//! Helpers of the durability tests: a job in a scratch folder run (or spawned) against a mock
//! server, and the one-line-per-input-line check.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{self, job, read_jsonl, Expected, Scratch};
use sheepdog::MockServer;

pub const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
pub const FAST_RETRY: &str = "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"10ms\"\n";

/// A scratch folder with an input and a job file pointing at `server`.
pub struct Job {
    pub scratch: Scratch,
    pub input: PathBuf,
    pub config: PathBuf,
    pub out: PathBuf,
}

impl Job {
    pub fn new(server: &MockServer, text: &str) -> Job {
        let scratch = Scratch::new();
        let input = scratch.write("input.jsonl", text);
        let config = scratch.write(
            "job.toml",
            &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], FAST_RETRY),
        );
        let out = scratch.path().join("run");
        Job {
            scratch,
            input,
            config,
            out,
        }
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "run",
            self.input.to_str().expect("utf-8 path"),
            "--config",
            self.config.to_str().expect("utf-8 path"),
            "--out",
            self.out.to_str().expect("utf-8 path"),
            "--quiet",
        ];
        args.extend_from_slice(extra);
        args
    }

    pub async fn run(&self, extra: &[&str]) -> common::Finished {
        self.scratch.run(&self.args(extra), &[(KEY_ENV, "k")]).await
    }

    /// The binary started in the background (for kill and signal tests).
    pub fn spawn(&self, extra: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_sheepdog"))
            .current_dir(self.scratch.path())
            .env_clear()
            .env(KEY_ENV, "k")
            .args(self.args(extra))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sheepdog starts")
    }
}

/// Every expected line has exactly one output line (in the right file, with its id), and every
/// output line is valid JSON (read_jsonl panics otherwise). `may_fail`: valid lines may have
/// failed (the mock injects errors), so they may be in errors.jsonl.
pub fn assert_exactly_one_line_each(out: &Path, expected: &BTreeMap<u64, Expected>, may_fail: bool) {
    let results = read_jsonl(&out.join("results.jsonl"));
    let errors = read_jsonl(&out.join("errors.jsonl"));
    let mut seen: BTreeMap<u64, (serde_json::Value, bool)> = BTreeMap::new();
    for (line, ok) in results
        .into_iter()
        .map(|l| (l, true))
        .chain(errors.into_iter().map(|l| (l, false)))
    {
        let number = line["sheepdog"]["line"].as_u64().expect("sheepdog.line");
        if let Some((first, _)) = seen.insert(number, (line.clone(), ok)) {
            panic!("input line {number} has two output lines:\n{first}\n{line}");
        }
    }
    let missing: Vec<&u64> = expected.keys().filter(|n| !seen.contains_key(n)).take(5).collect();
    assert!(missing.is_empty(), "input lines without output: {missing:?}");
    assert_eq!(
        seen.len(),
        expected.len(),
        "output lines for input lines that do not exist"
    );
    for (number, exp) in expected {
        let (line, ok) = &seen[number];
        if !(may_fail && exp.valid) {
            assert_eq!(*ok, exp.valid, "line {number} in the wrong file: {line}");
        }
        assert_eq!(
            line["custom_id"].as_str(),
            // A line that cannot be read at all is `line-<n>`, like a line without an id.
            Some(exp.id.clone().unwrap_or_else(|| format!("line-{number}")).as_str()),
            "custom_id of line {number}"
        );
    }
}
