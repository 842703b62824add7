//! `sheepdog run`: the bulk job, or its dry run.

use sheepdog::progress::ProgressMode;
use sheepdog::{report, RunOptions, RunStatus};

use super::{cost, ops, resolve, resume_command, say_notices, signals, Failure, Outcome, RunArgs};

pub async fn run(args: RunArgs) -> Outcome {
    let mut config = resolve(&args.overrides())?;
    cost::apply_prices(&mut config, args.target.prices.as_deref())?;
    super::budget::check(&config)?;
    sheepdog::threshold::validate(&args.thresholds, false, config.stream.is_some()).map_err(Failure::usage)?;
    say_notices(&config.notices, args.quiet);
    let resume = args.durable.resume.as_deref();
    let input = super::tables::run_input(&args.tables, &args.input, resume, args.dry_run, &mut config)?;
    if args.dry_run {
        let report = sheepdog::dry_run(&config, &input.path)?;
        print!(
            "{}",
            input.table.as_ref().map(super::tables::preview).unwrap_or_default()
        );
        print!("{}", sheepdog::job::dry_run::render(&config, &args.input, &report));
        return Ok(sheepdog::Exit::failed_if(report.rejected > 0));
    }
    if args.batch_api.batch_api {
        return super::batch::run(&args, &config).await;
    }

    let mut options = RunOptions::new(input.path.clone());
    options.progress = ProgressMode::detect(args.quiet);
    args.durable.options(&mut options);
    let metrics_server = ops::start_metrics(&args.metrics).await?;
    ops::check_pushgateway(&args.metrics)?;
    options.metrics = metrics_server
        .as_ref()
        .map(|server| server.metrics())
        .or_else(|| args.metrics.pushgateway.is_some().then(sheepdog::metrics::Metrics::new));
    let stop = signals::watch(config.run.drain_timeout)?;

    // A signal during the checks (an input that blocks, a slow resume scan) ends the run at
    // once: nothing was sent yet.
    let ready = tokio::select! {
        ready = sheepdog::job::preflight(&config, &options) => ready?,
        _ = stop.stop.cancelled() => {
            return Err(Failure::new("stopped before the first request; nothing was sent", sheepdog::Exit::Aborted));
        }
    };
    say_notices(&ready.notices, false);
    if let (Some(resumed), false) = (&ready.resumed, args.quiet) {
        eprintln!(
            "sheepdog: resuming {}: {} of {} lines already done{}",
            ready.out_dir.display(),
            resumed.done,
            ready.manifest.run_lines(ready.input.lines),
            match resumed.replaced {
                0 => String::new(),
                n => format!(", {n} failed or unfinished item(s) sent again"),
            }
        );
    }
    let out_dir = ready.out_dir.clone();
    let pusher = ops::start_push(&args.metrics, options.metrics.as_ref(), &out_dir, config.shard);
    let executed = sheepdog::job::execute(&config, &options, ready, stop.stop, stop.abandon).await;
    // The last push happens whatever the exit code: a failed or aborted run is worth seeing.
    if let Some(pusher) = pusher {
        if let Err(e) = pusher.finish().await {
            eprintln!("sheepdog: --pushgateway: the final push failed: {e}");
        }
    }
    let output = executed.map_err(|e| {
        let aborted = e.exit() == sheepdog::Exit::Aborted;
        let failure = Failure::from(e);
        if aborted {
            failure.with_hint(format!("once fixed, continue with: {}", resume_command(&out_dir)))
        } else {
            failure
        }
    })?;
    let mut output = output;
    let crossed = check_thresholds(&args.thresholds, &mut output)?;
    if !args.quiet {
        println!("{}", report::terminal::render(&output.summary));
        println!("Run folder: {}", output.out_dir.display());
    }
    if let RunStatus::Aborted(reason) = &output.status {
        eprintln!("sheepdog: stopped early: {reason}");
        // A budget reached needs a higher one: repeating the same would send nothing.
        let command = match &output.summary.budget {
            Some(budget) if budget.reached => {
                super::resume_command_with(&output.out_dir, Some(("--max-cost", "HIGHER")))
            }
            _ => resume_command(&output.out_dir),
        };
        eprintln!("sheepdog: to continue: {command}");
    }
    match output.status.exit() {
        sheepdog::Exit::Success if crossed => Ok(sheepdog::Exit::Failed),
        exit => Ok(exit),
    }
}

/// Checks `--threshold`s on the run's final figures, keeps the verdicts in `summary.json` and
/// `report.md`, and says each crossing on stderr. True when one was crossed.
fn check_thresholds(
    thresholds: &[sheepdog::threshold::Threshold],
    output: &mut sheepdog::RunOutput,
) -> Result<bool, Failure> {
    if thresholds.is_empty() {
        return Ok(false);
    }
    let figures = sheepdog::threshold::Figures::of_run(&output.summary);
    output.summary.thresholds = sheepdog::threshold::check(thresholds, &figures, "run");
    report::write_all(&output.out_dir, &output.summary).map_err(|e| {
        Failure::new(
            format!("{}: cannot write the reports: {e}", output.out_dir.display()),
            sheepdog::Exit::Aborted,
        )
    })?;
    let mut crossed = false;
    for check in output.summary.thresholds.iter().filter(|c| !c.passed) {
        eprintln!("sheepdog: threshold {}", check.message);
        crossed = true;
    }
    Ok(crossed)
}
