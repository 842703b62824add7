//! Shared helpers of the integration tests: run the real `sheepdog` binary in a scratch folder,
//! with a cleared environment, against a mock server the test started on 127.0.0.1:0.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sheepdog::{MockConfig, MockServer};
use tempfile::TempDir;

/// No test run of the binary may take longer than this; a hang fails instead of blocking CI.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A file shipped with the crate (e.g. `jobs/with-errors.jsonl`), as an absolute path.
pub fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub async fn start_mock(config: MockConfig) -> MockServer {
    let addr = "127.0.0.1:0".parse().expect("loopback address");
    MockServer::start(config, addr)
        .await
        .expect("mock server starts on 127.0.0.1:0")
}

/// A scratch working directory: the binary runs inside it, so no `.env` or `reports/` of the
/// repository is read or written.
pub struct Scratch {
    pub dir: TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` in the scratch folder and returns its absolute path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).expect("write scratch file");
        path
    }

    /// The `sheepdog` binary with `args`, run in this folder with an empty environment (no
    /// `OPENAI_*`, no `SHEEPDOG_*`, no proxy settings) plus `envs`.
    pub fn command(&self, args: &[&str], envs: &[(&str, &str)]) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_sheepdog"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .args(args)
            .timeout(RUN_TIMEOUT);
        for var in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "SHEEPDOG_CONFIG", "SHEEPDOG_MODEL"] {
            cmd.env_remove(var);
        }
        for (name, value) in envs {
            cmd.env(name, value);
        }
        cmd
    }

    /// Starts the binary like [`Scratch::command`] without waiting, stdout and stderr piped.
    pub fn spawn(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sheepdog"));
        cmd.current_dir(self.dir.path())
            .env_clear()
            .args(args)
            .envs(envs.iter().copied());
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("sheepdog could not be started")
    }

    /// Runs the binary on a blocking thread, so the test's mock server keeps serving.
    pub async fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Finished {
        let mut cmd = self.command(args, envs);
        let output = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("the thread running sheepdog panicked");
        Finished::from_output(output.expect("sheepdog could not be run"))
    }

    /// Writes `input.jsonl` and `job.toml` here and runs `sheepdog run` on them into the run
    /// folder `run/`, with `extra` flags; returns the run folder and how the run ended.
    pub async fn run_job(&self, input: &str, job: &str, extra: &[&str], envs: &[(&str, &str)]) -> (PathBuf, Finished) {
        let input = self.write("input.jsonl", input);
        let job = self.write("job.toml", job);
        let out = self.path().join("run");
        let text = |p: &Path| p.to_str().expect("utf-8 path").to_string();
        let (input, job, out_text) = (text(&input), text(&job), text(&out));
        let mut args = vec![
            "run",
            input.as_str(),
            "--config",
            job.as_str(),
            "--out",
            out_text.as_str(),
        ];
        args.extend_from_slice(extra);
        let finished = self.run(&args, envs).await;
        (out, finished)
    }

    /// Same as [`Scratch::run`] for tests that need no mock server (no runtime around them).
    pub fn run_blocking(&self, args: &[&str], envs: &[(&str, &str)]) -> Finished {
        Finished::from_output(self.command(args, envs).output().expect("sheepdog could not be run"))
    }
}

/// How one run of the binary ended.
#[derive(Debug)]
pub struct Finished {
    /// `None` when the process was killed by a signal (e.g. the run timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The run's output; panics if sheepdog itself panicked.
    pub fn from_output(output: std::process::Output) -> Finished {
        let finished = Finished {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !finished.stderr.contains("panicked"),
            "sheepdog panicked:\n{}",
            finished.stderr
        );
        finished
    }

    /// Asserts the exit code, showing both streams when it differs.
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "exit code\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A job file with one provider `p` at `base_url` (key in `key_env`) and one target per
/// `(name, model)`, routed in that order, followed by `extra` TOML.
pub fn job(base_url: &str, key_env: &str, targets: &[(&str, &str)], extra: &str) -> String {
    let mut toml = format!("[[providers]]\nname = \"p\"\nbase_url = \"{base_url}\"\napi_key_env = \"{key_env}\"\n");
    for (name, model) in targets {
        toml.push_str(&format!(
            "\n[[targets]]\nname = \"{name}\"\nprovider = \"p\"\nmodel = \"{model}\"\n"
        ));
    }
    let route: Vec<String> = targets.iter().map(|(name, _)| format!("\"{name}\"")).collect();
    toml.push_str(&format!("\n[route]\ntargets = [{}]\n\n{extra}\n", route.join(", ")));
    toml
}

/// Every line of a JSONL file parsed; panics naming the file and line that is not JSON.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: not JSON ({e}): {line}", path.display(), i + 1))
        })
        .collect()
}

/// The files of a finished run folder.
pub struct RunFolder {
    pub results: Vec<Value>,
    pub errors: Vec<Value>,
    pub summary: Value,
}

impl RunFolder {
    pub fn read(dir: &Path) -> RunFolder {
        let summary = fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
        RunFolder {
            results: read_jsonl(&dir.join("results.jsonl")),
            errors: read_jsonl(&dir.join("errors.jsonl")),
            summary: serde_json::from_str(&summary).expect("summary.json is JSON"),
        }
    }

    /// A number in summary.json by JSON pointer, e.g. `/totals/retries`.
    pub fn summary_u64(&self, pointer: &str) -> u64 {
        self.summary
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("summary.json has no integer at {pointer}: {}", self.summary))
    }

    /// Every line of results.jsonl and errors.jsonl.
    pub fn all_lines(&self) -> impl Iterator<Item = &Value> {
        self.results.iter().chain(&self.errors)
    }
}

/// `line["sheepdog"][field]` as an integer.
pub fn block_u64(line: &Value, field: &str) -> u64 {
    line["sheepdog"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer sheepdog.{field} in {line}"))
}

/// What a generated input line should become.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The id sheepdog should report (`None` when the line cannot be read at all).
    pub id: Option<String>,
    pub valid: bool,
}

/// A generated input of `lines` non-blank lines mixing both formats (OpenAI Batch lines,
/// short `prompt` and short `messages` lines, one without id), with an invalid line every
/// `invalid_every` lines (0: none) and a few blank lines. Returns the text and, per 1-based
/// line number (blank lines counted as the reader counts them), what the line should become.
pub fn generated_input(lines: usize, invalid_every: usize) -> (String, BTreeMap<u64, Expected>) {
    let mut text = String::new();
    let mut expected = BTreeMap::new();
    let mut number = 0u64;
    for i in 0..lines {
        if i > 0 && i % 250 == 0 {
            text.push_str("   \n");
            number += 1;
        }
        number += 1;
        let id = format!("item-{i:05}");
        let invalid = invalid_every > 0 && i % invalid_every == invalid_every - 1;
        let (line, exp) = if invalid {
            match (i / invalid_every) % 4 {
                0 => (format!("{{\"id\":\"{id}\",\"prompt\":\"unterminated"), None),
                1 => (format!("{{\"id\":\"{id}\",\"max_tokens\":5}}"), Some(id.clone())),
                2 => (
                    format!(
                        "{{\"custom_id\":\"{id}\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\
                         \"body\":{{\"messages\":[{{\"role\":\"user\",\"content\":\"x\"}}]}}}}"
                    ),
                    Some(id.clone()),
                ),
                _ => ("[1, 2, 3]".to_string(), None),
            }
        } else {
            let line = match i % 3 {
                0 => format!(
                    "{{\"custom_id\":\"{id}\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\
                     \"body\":{{\"model\":\"gpt-4.1-mini\",\"messages\":[{{\"role\":\"user\",\"content\":\"Question {i}?\"}}],\"max_tokens\":20}}}}"
                ),
                1 => format!("{{\"id\":\"{id}\",\"prompt\":\"Say something about {i}.\",\"temperature\":0}}"),
                _ if i == 2 => format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"No id on line {number}\"}}]}}"),
                _ => format!("{{\"id\":\"{id}\",\"messages\":[{{\"role\":\"system\",\"content\":\"Be brief.\"}},{{\"role\":\"user\",\"content\":\"Topic {i}\"}}]}}"),
            };
            let id = if i == 2 { format!("line-{number}") } else { id };
            (line, Some(id))
        };
        text.push_str(&line);
        text.push('\n');
        expected.insert(
            number,
            Expected {
                id: exp,
                valid: !invalid,
            },
        );
    }
    (text, expected)
}

/// Every file under `dir` (recursively) with its bytes.
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                files.push((path, bytes));
            }
        }
    }
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// What `sheepdog bench` left behind: its exit, output and the files of its folder (empty
/// when missing).
pub struct BenchRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: Value,
    pub report: String,
    pub html: String,
    pub requests_csv: String,
}

/// Runs `sheepdog bench --config JOB --out DIR ARGS` against `server`, with one target `mini`
/// (`gpt-4.1-mini`) whose key is in `SHEEPDOG_TEST_KEY`.
pub async fn bench(server: &MockServer, args: &[&str]) -> BenchRun {
    const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
    let scratch = Scratch::new();
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    let out = scratch.path().join("bench");
    let mut all = vec![
        "bench",
        "--config",
        job_file.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    all.extend_from_slice(args);
    let finished = scratch.run(&all, &[(KEY_ENV, "k")]).await;
    let read = |name: &str| fs::read_to_string(out.join(name)).unwrap_or_default();
    BenchRun {
        code: finished.code.unwrap_or(-1),
        summary: serde_json::from_str(&read("summary.json")).unwrap_or(Value::Null),
        report: read("report.md"),
        html: read("report.html"),
        requests_csv: read("requests.csv"),
        stdout: finished.stdout,
        stderr: finished.stderr,
    }
}

/// The non-blank lines of a JSONL file, parsed.
pub fn read_jsonl_skipping_blanks(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {l}", path.display())))
        .collect()
}
