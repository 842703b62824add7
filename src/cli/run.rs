//! `sheepdog run`: the bulk job, or its dry run.

use sheepdog::progress::ProgressMode;
use sheepdog::{report, RunOptions, RunStatus};

use super::{cost, ops, resolve, resume_command, say_notices, signals, Failure, Outcome, RunArgs};

pub async fn run(args: RunArgs) -> Outcome {
    let mut config = resolve(&args.overrides())?;
    cost::apply_prices(&mut config, args.target.prices.as_deref())?;
    say_notices(&config.notices, args.quiet);
    if args.dry_run {
        let report = sheepdog::dry_run(&config, &args.input)?;
        print!("{}", sheepdog::job::dry_run::render(&config, &args.input, &report));
        return Ok(sheepdog::Exit::failed_if(report.rejected > 0));
    }

    let mut options = RunOptions::new(args.input.clone());
    options.progress = ProgressMode::detect(args.quiet);
    args.durable.apply(&mut options);
    let metrics_server = ops::start_metrics(&args.metrics).await?;
    ops::check_pushgateway(&args.metrics)?;
    options.metrics = metrics_server
        .as_ref()
        .map(|server| server.metrics())
        .or_else(|| args.metrics.pushgateway.is_some().then(sheepdog::metrics::Metrics::new));
    let stop = signals::watch(options.drain_timeout)?;

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
            ready.manifest.shard.map_or(ready.input.lines, |s| s.lines),
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
    if !args.quiet {
        println!("{}", report::terminal::render(&output.summary));
        println!("Run folder: {}", output.out_dir.display());
    }
    if let RunStatus::Aborted(reason) = &output.status {
        eprintln!("sheepdog: stopped early: {reason}");
        eprintln!("sheepdog: to continue: {}", resume_command(&output.out_dir));
    }
    Ok(output.status.exit())
}
