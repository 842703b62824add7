//! `sheepdog run --batch-api` (the flags and the run's glue) and `sheepdog batch status|cancel`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use sheepdog::batch_api::{BatchError, BatchOptions, DEFAULT_COMPLETION_WINDOW, DEFAULT_POLL_INTERVAL};
use sheepdog::config::{Overrides, ProcessEnv};
use sheepdog::progress::ProgressMode;
use sheepdog::{report, Config, Exit, RunOptions};

use super::{parse_duration, resume_command, signals, Failure, Outcome, RunArgs};

/// The provider's Batch API instead of live requests (`run --batch-api`).
#[derive(Debug, Args, Default)]
pub struct BatchApiArgs {
    /// Send the job through the primary target's provider Batch API (half price at OpenAI,
    /// answers within the completion window instead of seconds).
    #[arg(long)]
    pub batch_api: bool,
    /// With --batch-api: the completion window asked for [default: 24h].
    #[arg(long, requires = "batch_api")]
    pub completion_window: Option<String>,
    /// With --batch-api: time between two polls of a batch's status [default: 30s].
    #[arg(long, requires = "batch_api", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,
    /// With --batch-api: send what the batches did not answer (failed lines, expired or failed
    /// batches) live through the normal dispatcher, in the same run folder.
    #[arg(long, requires = "batch_api")]
    pub then_live: bool,
}

pub async fn run(args: &RunArgs, config: &Config) -> Outcome {
    let flags = &args.batch_api;
    if args.stream {
        return Err(Failure::usage(
            "--stream does not apply to --batch-api: batches are not streamed",
        ));
    }
    let window = flags
        .completion_window
        .clone()
        .unwrap_or_else(|| DEFAULT_COMPLETION_WINDOW.to_string());
    if humantime::parse_duration(&window).is_err() {
        return Err(Failure::usage(format!(
            "--completion-window {window:?}: not a duration such as 24h"
        )));
    }
    let mut run = RunOptions::new(args.input.clone());
    run.progress = ProgressMode::detect(args.quiet);
    args.durable.options(&mut run);
    let options = BatchOptions {
        run,
        completion_window: window,
        poll_interval: flags.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL),
        then_live: flags.then_live,
    };
    let stop = signals::watch(config.run.drain_timeout)?;
    let done = sheepdog::batch_api::run(config, &options, stop.stop).await;
    let output = match done {
        Ok(done) => done.output,
        Err(BatchError::Left { dir, running, reason }) => {
            let exit = reason.exit();
            if !running.is_empty() {
                eprintln!(
                    "sheepdog: {} batch(es) left running at the provider: {}",
                    running.len(),
                    running.join(", ")
                );
                eprintln!("sheepdog: their state: sheepdog batch status {}", dir.display());
                eprintln!("sheepdog: to cancel them: sheepdog batch cancel {}", dir.display());
            }
            return Err(
                Failure::new(format!("{reason}"), exit).with_hint(format!("to continue: {}", resume_command(&dir)))
            );
        }
        Err(e) => {
            let exit = e.exit();
            return Err(Failure::new(e, exit));
        }
    };
    if !args.quiet {
        println!("{}", report::terminal::render(&output.summary));
        if let Some(batch) = &output.summary.batch_api {
            println!(
                "Batch API: {} item(s) in {} batch(es), ${:.6} at batch prices (${:.6} at live prices, ${:.6} saved)",
                batch.items,
                batch.batches.len(),
                batch.cost_batch_usd,
                batch.cost_live_usd,
                batch.saved_usd
            );
        }
        if let Some(latency) = &output.summary.batch_latency_ms {
            println!(
                "Batch latency (batch created -> ended; the live latency line counts live requests only): p50 {:.1} s, max {:.1} s",
                latency.p50 / 1000.0,
                latency.max / 1000.0
            );
        }
        println!("Run folder: {}", output.out_dir.display());
    }
    Ok(output.status.exit())
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub action: BatchAction,
}

#[derive(Debug, Subcommand)]
pub enum BatchAction {
    /// Print the state of the run's batches at the provider, changing nothing.
    Status(BatchDirArgs),
    /// Cancel the run's batches still running at the provider.
    Cancel(BatchDirArgs),
}

#[derive(Debug, Args)]
pub struct BatchDirArgs {
    /// Run folder of a `sheepdog run --batch-api`.
    pub dir: PathBuf,
    /// Job file [default: the one the run was started with].
    #[arg(long, short = 'c', env = "SHEEPDOG_CONFIG")]
    pub config: Option<PathBuf>,
}

pub async fn control(args: BatchArgs) -> Outcome {
    let (dir, cancel) = match &args.action {
        BatchAction::Status(dir) => (dir, false),
        BatchAction::Cancel(dir) => (dir, true),
    };
    let state = sheepdog::batch_api::BatchState::read(&dir.dir).map_err(Failure::usage)?;
    let file = dir.config.clone().or_else(|| state.and_then(|s| s.config));
    let overrides = Overrides {
        config: file,
        ..Overrides::default()
    };
    let config = Config::resolve(&overrides, &ProcessEnv).map_err(Failure::usage)?;
    let reports = sheepdog::batch_api::control(&config, &dir.dir, cancel)
        .await
        .map_err(|e| {
            let exit = e.exit();
            Failure::new(e, exit)
        })?;
    println!(
        "{:>4}  {:<36} {:<21} {:<12} {:>10} {:>10} {:>10}  written",
        "#", "batch", "endpoint", "status", "total", "completed", "failed"
    );
    let mut problems = false;
    for r in &reports {
        println!(
            "{:>4}  {:<36} {:<21} {:<12} {:>10} {:>10} {:>10}  {}",
            r.number,
            r.batch_id.as_deref().unwrap_or("(not created)"),
            r.endpoint,
            r.status,
            r.counts.total,
            r.counts.completed,
            r.counts.failed,
            if r.written { "yes" } else { "no" }
        );
        if let Some(problem) = &r.problem {
            eprintln!("sheepdog: batch {}: {problem}", r.number);
            problems = true;
        }
    }
    Ok(Exit::failed_if(problems))
}
