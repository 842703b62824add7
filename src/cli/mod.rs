//! The command line: clap types and the glue of each command, one file per command group. The
//! only place that knows clap: arguments become library types (`config::Overrides`,
//! `mock::MockConfig`, `bench::BenchSpec`) here, library results become what the user reads on
//! stdout/stderr, and every command ends in one [`Exit`].

use std::fmt::Display;

use clap::{Parser, Subcommand};

use sheepdog::config::{Config, Overrides, ProcessEnv};
use sheepdog::Exit;

mod answers;
mod args;
mod batch;
mod bench;
mod budget;
mod cost;
mod export;
mod mock;
mod ops;
mod prices;
mod run;
mod signals;
mod tables;
mod targets;
pub use answers::ValidateArgs;
pub use args::*;
pub use bench::BenchArgs;
pub use mock::MockArgs;
pub use ops::{LogArgs, MergeArgs, MetricsArgs, ShardArgs};
pub use prices::ModelsArgs;

/// Why a command could not finish: said once on stderr by [`execute`], then its exit code.
#[derive(Debug)]
pub struct Failure {
    message: String,
    exit: Exit,
    /// A second line: what to do next (e.g. the command that resumes the run).
    hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl Display, exit: Exit) -> Failure {
        Failure {
            message: message.to_string(),
            exit,
            hint: None,
        }
    }

    /// Bad usage, job file or input: exit 2.
    pub fn usage(message: impl Display) -> Failure {
        Failure::new(message, Exit::Usage)
    }

    fn with_hint(mut self, hint: String) -> Failure {
        self.hint = Some(hint);
        self
    }
}

impl From<sheepdog::job::JobError> for Failure {
    fn from(e: sheepdog::job::JobError) -> Failure {
        Failure::new(&e, e.exit())
    }
}

impl From<sheepdog::merge::MergeError> for Failure {
    fn from(e: sheepdog::merge::MergeError) -> Failure {
        Failure::new(&e, e.exit())
    }
}

/// How a command ended: its exit, or why it could not finish.
pub type Outcome = Result<Exit, Failure>;

/// Runs the command and says any failure; the exit is the process's.
pub async fn execute(command: Command) -> Exit {
    let outcome = match command {
        Command::Run(args) => run::run(args).await,
        Command::Check(args) => targets::check(args).await,
        Command::Models(args) => targets::models(args),
        Command::Bench(args) => bench::bench(args).await,
        Command::Mock(args) => mock::serve(args).await,
        Command::Estimate(args) => cost::estimate(args),
        Command::Compare(args) => cost::compare(args),
        Command::Report(args) => cost::report(args),
        Command::Merge(args) => ops::merge(args),
        Command::Batch(args) => batch::control(args).await,
        Command::Export(args) => export::export(args),
    };
    outcome.unwrap_or_else(|failure| {
        eprintln!("sheepdog: {}", failure.message);
        if let Some(hint) = &failure.hint {
            eprintln!("sheepdog: {hint}");
        }
        failure.exit
    })
}

/// The validated configuration of a command: flags > environment > job file > defaults.
fn resolve(overrides: &Overrides) -> Result<Config, Failure> {
    Config::resolve(overrides, &ProcessEnv).map_err(Failure::usage)
}

/// What the configuration wants the user to know (e.g. "no job file: using the mock").
fn say_notices(notices: &[String], quiet: bool) {
    if !quiet {
        for notice in notices {
            eprintln!("sheepdog: {notice}");
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "sheepdog",
    version,
    about = "Herds large numbers of LLM chat-completion requests through rate limits, retries and \
             fallbacks, and measures what it saw.",
    after_help = "Exit codes: 0 all items succeeded, 1 some items failed (reports still written), \
                  2 bad usage, config or input file, 3 aborted (fatal provider error or interrupted)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send every prompt of a JSONL file once and write results, errors and reports.
    Run(RunArgs),
    /// Send one tiny request per target of the route: reachable? key accepted? model exists?
    Check(ConfigArgs),
    /// List the route's targets with their prices, and how many prices each source gives
    /// (--all: every price).
    Models(ModelsArgs),
    /// Load-test an endpoint: TTFT, inter-token latency, throughput and goodput at a fixed
    /// concurrency or arrival rate, or a sweep of them.
    Bench(BenchArgs),
    /// Serve the built-in OpenAI-compatible mock server (latency and fault injection).
    Mock(MockArgs),
    /// What a JSONL workload would cost on each model: tokens counted locally, nothing sent.
    Estimate(cost::EstimateArgs),
    /// Runs over the same prompts side by side, the better value of each row marked.
    Compare(cost::CompareArgs),
    /// Render a run folder's report again: md, html, json, csv or text.
    Report(cost::ReportArgs),
    /// Combine the run folders of a sharded job (`run --shard I/N`) into one: results, errors,
    /// requests and exactly merged statistics.
    Merge(MergeArgs),
    /// The provider batches of a `run --batch-api` folder: their status, or cancel them.
    Batch(batch::BatchArgs),
    /// One row per input line of a run folder (input columns, answer, status, tokens, cost,
    /// latency) as CSV or JSONL, for spreadsheets and data frames.
    Export(export::ExportArgs),
}

/// The command that continues the run in `dir`: this one's arguments with `--resume DIR`
/// instead of `--out` / `--resume`, quoted for a POSIX shell.
pub fn resume_command(dir: &std::path::Path) -> String {
    resume_command_with(dir, None)
}

/// [`resume_command`] with the flag `new.0` (and its value) replaced by `new.1`.
pub fn resume_command_with(dir: &std::path::Path, new: Option<(&str, &str)>) -> String {
    let mut words = vec!["sheepdog".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some((flag, _)) = new {
            if arg == flag {
                args.next();
                continue;
            }
            if arg.starts_with(&format!("{flag}=")) {
                continue;
            }
        }
        if matches!(arg.as_str(), "--out" | "-o" | "--resume") {
            args.next();
            continue;
        }
        if arg.starts_with("--out=") || arg.starts_with("--resume=") || (arg.starts_with("-o") && arg.len() > 2) {
            continue;
        }
        words.push(arg);
    }
    if let Some((flag, value)) = new {
        words.push(flag.into());
        words.push(value.into());
    }
    words.push("--resume".into());
    words.push(dir.display().to_string());
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
