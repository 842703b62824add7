//! Runs `run_job` in-process against a server of the test's own, and reads what happened.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sheepdog::config::{Config, Env, Overrides};
use sheepdog::mock::{LoggedRequest, MockConfig, MockServer};
use sheepdog::{RunOptions, RunOutput};
use tokio_util::sync::CancellationToken;

/// No environment at all: nothing leaks in from the machine running the tests.
pub struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

pub async fn mock(config: MockConfig) -> MockServer {
    MockServer::start(config, "127.0.0.1:0".parse().expect("loopback address"))
        .await
        .expect("mock server starts on 127.0.0.1:0")
}

/// A job on `base_url` with one target per model, in route order, plus `extra` TOML.
pub fn job(base_url: &str, models: &[&str], extra: &str) -> String {
    let mut text = format!("[[providers]]\nname = \"p\"\nbase_url = \"{base_url}\"\n\n");
    for model in models {
        text.push_str(&format!(
            "[[targets]]\nname = \"{model}\"\nprovider = \"p\"\nmodel = \"{model}\"\n\n"
        ));
    }
    text.push_str(extra);
    text
}

/// `n` short-form lines with distinct prompts.
pub fn prompts(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\":\"i{i}\",\"prompt\":\"Question number {i}: say something.\"}}\n"))
        .collect()
}

pub struct Ran {
    pub output: RunOutput,
    pub results: Vec<Value>,
    pub errors: Vec<Value>,
    _dir: tempfile::TempDir,
}

pub async fn run(job_toml: &str, input: &str, mut overrides: Overrides) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir");
    let job_path = dir.path().join("job.toml");
    let input_path = dir.path().join("input.jsonl");
    std::fs::write(&job_path, job_toml).expect("write job");
    std::fs::write(&input_path, input).expect("write input");
    overrides.config = Some(job_path);
    overrides.out = Some(dir.path().join("run"));
    let config = Config::resolve(&overrides, &NoEnv).unwrap_or_else(|e| panic!("config: {e}"));
    let options = RunOptions::new(input_path);
    let output = sheepdog::run_job(&config, &options, CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("run: {e}"));
    let read = |name: &str| -> Vec<Value> {
        let path: PathBuf = output.out_dir.join(name);
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    };
    let (results, errors) = (read("results.jsonl"), read("errors.jsonl"));
    Ran {
        output,
        results,
        errors,
        _dir: dir,
    }
}

/// The server's log grouped by prompt: the requests of each item in arrival order.
pub fn by_prompt(log: &[LoggedRequest]) -> BTreeMap<String, Vec<LoggedRequest>> {
    let mut groups: BTreeMap<String, Vec<LoggedRequest>> = BTreeMap::new();
    for request in log {
        groups
            .entry(request.prompt_hash.clone())
            .or_default()
            .push(request.clone());
    }
    for requests in groups.values_mut() {
        requests.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    }
    groups
}

/// The most requests (or tokens, with `weight`) that arrived within any window of `window_ms`.
pub fn busiest_window(log: &[LoggedRequest], window_ms: f64, weight: impl Fn(&LoggedRequest) -> u64) -> u64 {
    let mut sorted: Vec<&LoggedRequest> = log.iter().collect();
    sorted.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let mut best = 0;
    let mut start = 0;
    let mut sum = 0;
    for end in 0..sorted.len() {
        sum += weight(sorted[end]);
        while sorted[end].at_ms - sorted[start].at_ms >= window_ms {
            sum -= weight(sorted[start]);
            start += 1;
        }
        best = best.max(sum);
    }
    best
}
