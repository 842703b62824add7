//! The sheepdog binary: parse the command line, build the configuration, call the library,
//! print what the user needs, and map the result to an exit code.

mod cli;
mod cost_commands;
mod ops_commands;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use cli::{BenchArgs, Cli, Command, ConfigArgs, MockArgs, RunArgs};
use sheepdog::config::{Config, ProcessEnv};
use sheepdog::progress::ProgressMode;
use sheepdog::{report, MockConfig, MockServer, RunOptions};

pub(crate) const EXIT_USAGE: u8 = 2;
const EXIT_ABORTED: u8 = 3;

/// mimalloc instead of glibc's malloc: a run allocates and frees small buffers on every worker
/// thread, and glibc's arena locks showed up as the largest cost in `perf` (see README,
/// Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    load_dotenv();
    let cli = Cli::parse();
    if let Err(e) = sheepdog::logging::init(cli.log.settings(), std::env::var("RUST_LOG").ok().as_deref()) {
        eprintln!("sheepdog: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sheepdog: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ABORTED);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Check(args) => check(args).await,
            Command::Models(args) => models(args),
            Command::Bench(args) => bench(args).await,
            Command::Mock(args) => mock(args).await,
            Command::Estimate(args) => cost_commands::estimate(args),
            Command::Compare(args) => cost_commands::compare(args),
            Command::Report(args) => cost_commands::report(args),
            Command::Merge(args) => ops_commands::merge(args),
        }
    });
    ExitCode::from(code)
}

/// Keys may live in `.env` in the working directory; a missing file is fine, a broken one is said.
fn load_dotenv() {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => eprintln!("sheepdog: warning: .env: {e}"),
    }
}

fn resolve(overrides: &sheepdog::config::Overrides) -> Result<Config, u8> {
    Config::resolve(overrides, &ProcessEnv).map_err(|e| {
        eprintln!("sheepdog: {e}");
        EXIT_USAGE
    })
}

async fn run(args: RunArgs) -> u8 {
    let mut config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(code) = cost_commands::apply_prices(&mut config, args.target.prices.as_deref()) {
        return code;
    }
    if !args.quiet {
        for notice in &config.notices {
            eprintln!("sheepdog: {notice}");
        }
    }
    if args.dry_run {
        return dry_run(&config, &args);
    }

    let mut options = RunOptions::new(args.input.clone());
    options.progress = ProgressMode::detect(args.quiet);
    args.durable.apply(&mut options);
    let metrics_server = match ops_commands::start_metrics(&args.metrics).await {
        Ok(server) => server,
        Err(code) => return code,
    };
    options.metrics = metrics_server.as_ref().map(|server| server.metrics());
    let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
    let signals = match sheepdog::job::signals::StopSignals::listen() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("sheepdog: cannot listen for Ctrl-C / SIGTERM: {e}");
            return EXIT_ABORTED;
        }
    };
    tokio::spawn(on_stop_signals(
        signals,
        stop.clone(),
        abandon.clone(),
        options.drain_timeout,
    ));

    let ready = match sheepdog::job::preflight(&config, &options).await {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("sheepdog: {e}");
            return e.exit_code() as u8;
        }
    };
    for notice in &ready.notices {
        eprintln!("sheepdog: {notice}");
    }
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
    match sheepdog::job::execute(&config, &options, ready, stop, abandon).await {
        Ok(output) => {
            if !args.quiet {
                println!("{}", report::terminal::render(&output.summary));
                println!("Run folder: {}", output.out_dir.display());
            }
            if let sheepdog::RunStatus::Aborted(reason) = &output.status {
                eprintln!("sheepdog: stopped early: {reason}");
                eprintln!("sheepdog: to continue: {}", cli::resume_command(&output.out_dir));
            }
            output.status.exit_code() as u8
        }
        Err(e) => {
            eprintln!("sheepdog: {e}");
            if e.exit_code() == i32::from(EXIT_ABORTED) {
                eprintln!("sheepdog: once fixed, continue with: {}", cli::resume_command(&out_dir));
            }
            e.exit_code() as u8
        }
    }
}

/// First Ctrl-C / SIGTERM: stop dispatching and drain. Second: drop requests in flight and
/// finish at once (the results already written stay valid, so the folder can be resumed).
async fn on_stop_signals(
    mut signals: sheepdog::job::signals::StopSignals,
    stop: CancellationToken,
    abandon: CancellationToken,
    drain: std::time::Duration,
) {
    let Some(what) = signals.next().await else { return };
    eprintln!(
        "sheepdog: {what}: sending nothing new; waiting up to {} for requests in flight (Ctrl-C again to quit at once)",
        humantime::format_duration(drain)
    );
    stop.cancel();
    if signals.next().await.is_some() {
        eprintln!("sheepdog: quitting now; the run folder can be resumed");
        abandon.cancel();
        // Writing what is already answered takes milliseconds; never hang on it.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        std::process::exit(i32::from(EXIT_ABORTED));
    }
}

fn dry_run(config: &Config, args: &RunArgs) -> u8 {
    let report = match sheepdog::dry_run(config, &args.input) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("sheepdog: {e}");
            return e.exit_code() as u8;
        }
    };
    let route: Vec<&str> = config.route.iter().map(|&t| config.targets[t].name.as_str()).collect();
    println!("Dry run of {} (nothing sent)", args.input.display());
    println!("  route:              {}", route.join(" -> "));
    println!("  lines:              {}", report.lines);
    println!("  valid items:        {}", report.items);
    println!("  invalid lines:      {}", report.rejected);
    let approx = if report.approximate {
        " (approximate: not the model's own tokenizer)"
    } else {
        ""
    };
    println!("  input tokens (est): {}{approx}", report.input_tokens);
    for (model, (items, tokens)) in &report.per_model {
        let cost = config
            .prices
            .get(model)
            .map(|p| {
                let usage = sheepdog::record::Usage {
                    input_tokens: *tokens,
                    ..Default::default()
                };
                format!("${:.4} input at list price", p.cost_usd(&usage))
            })
            .unwrap_or_else(|| "no price".into());
        println!("    {model}: {items} items, {tokens} tokens, {cost}");
    }
    for rejected in &report.rejected_shown {
        println!("  line {}: {}", rejected.line, rejected.reason);
    }
    if report.rejected > report.rejected_shown.len() as u64 {
        println!(
            "  ... and {} more invalid lines",
            report.rejected - report.rejected_shown.len() as u64
        );
    }
    u8::from(report.rejected > 0)
}

async fn check(args: ConfigArgs) -> u8 {
    let config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    for notice in &config.notices {
        eprintln!("sheepdog: {notice}");
    }
    match sheepdog::check(&config).await {
        Ok(rows) => {
            print!("{}", sheepdog::check::render(&rows));
            u8::from(rows.iter().any(|r| !r.ok))
        }
        Err(e) => {
            eprintln!("sheepdog: {e}");
            e.exit_code() as u8
        }
    }
}

fn models(args: ConfigArgs) -> u8 {
    let mut config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(code) = cost_commands::apply_prices(&mut config, args.prices.as_deref()) {
        return code;
    }
    let route: Vec<usize> = config.route.clone();
    println!("Targets (route order):");
    for &t in &route {
        let target = &config.targets[t];
        let provider = config.provider_of(target);
        let model = target.model.as_deref().unwrap_or("(per line)");
        let price = target
            .model
            .as_deref()
            .and_then(|m| config.prices.get(m))
            .map(|p| {
                format!(
                    "${} / ${} / ${} per 1M (in / cached / out), {} {} [{}]",
                    p.input,
                    p.cached_input.unwrap_or(p.input),
                    p.output,
                    p.source,
                    p.date,
                    cost_commands::origin_of(&config, p)
                )
            })
            .unwrap_or_else(|| "no price".into());
        println!("  {} = {} on {}: {}", target.name, model, provider.name, price);
    }
    print!("{}", cost_commands::prices_in_effect(&config));
    0
}

async fn bench(args: BenchArgs) -> u8 {
    let mut config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(code) = cost_commands::apply_prices(&mut config, args.target.prices.as_deref()) {
        return code;
    }
    let mut spec = match args.spec() {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("sheepdog: {e}");
            return EXIT_USAGE;
        }
    };
    let metrics_server = match ops_commands::start_metrics(&args.metrics).await {
        Ok(server) => server,
        Err(code) => return code,
    };
    spec.metrics = metrics_server.as_ref().map(|server| server.metrics());
    if !args.quiet {
        for notice in &config.notices {
            eprintln!("sheepdog: {notice}");
        }
    }
    let stop = CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("sheepdog: interrupted: finishing requests in flight (Ctrl-C again to quit at once)");
            on_signal.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_ABORTED));
            }
        }
    });
    let quiet = args.quiet;
    let mut observe = |event: sheepdog::bench::BenchEvent<'_>| {
        if quiet {
            return;
        }
        match event {
            sheepdog::bench::BenchEvent::StepStarted { step, of, load } => {
                eprintln!("sheepdog: step {step}/{of}: {}", load.label())
            }
            sheepdog::bench::BenchEvent::StepFinished(report) => eprintln!(
                "sheepdog: step {}: {} requests, {:.1} req/s, {} failed",
                report.step, report.requests, report.achieved_rps, report.failed
            ),
        }
    };
    match sheepdog::run_bench(&config, &spec, stop, &mut observe).await {
        Ok(output) => {
            if !args.quiet {
                println!("{}", sheepdog::bench::terminal::render(&output.summary));
                println!("Run folder: {}", output.out_dir.display());
            }
            if let sheepdog::RunStatus::Aborted(reason) = &output.status {
                eprintln!("sheepdog: stopped early: {reason}");
            }
            output.status.exit_code() as u8
        }
        Err(e) => {
            eprintln!("sheepdog: {e}");
            e.exit_code() as u8
        }
    }
}

async fn mock(args: MockArgs) -> u8 {
    let config = match MockConfig::try_from(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sheepdog: {e}");
            return EXIT_USAGE;
        }
    };
    let addr = SocketAddr::new(args.host, args.port);
    let server = match MockServer::start(config, addr).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("sheepdog: cannot listen on {addr}: {e}");
            return EXIT_USAGE;
        }
    };
    eprintln!(
        "sheepdog mock: serving {} (stats at http://{}/mock/stats; Ctrl-C to stop)",
        server.base_url(),
        server.addr()
    );
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    0
}
