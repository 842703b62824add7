//! The sheepdog binary: parse the command line, build the configuration, call the library,
//! print what the user needs, and map the result to an exit code.

mod cli;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ConfigArgs, MockArgs, RunArgs};
use sheepdog::config::{Config, ProcessEnv};
use sheepdog::progress::ProgressMode;
use sheepdog::{report, MockConfig, MockServer, RunOptions};

const EXIT_USAGE: u8 = 2;
const EXIT_ABORTED: u8 = 3;

fn main() -> ExitCode {
    load_dotenv();
    let cli = Cli::parse();
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
            Command::Mock(args) => mock(args).await,
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
    let config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if !args.quiet {
        for notice in &config.notices {
            eprintln!("sheepdog: {notice}");
        }
    }
    if args.dry_run {
        return dry_run(&config, &args);
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

    let options = RunOptions {
        input: args.input.clone(),
        progress: ProgressMode::detect(args.quiet),
    };
    match sheepdog::run_job(&config, &options, stop).await {
        Ok(output) => {
            if !args.quiet {
                println!("{}", report::terminal::render(&output.summary));
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
    let config = match resolve(&args.overrides()) {
        Ok(config) => config,
        Err(code) => return code,
    };
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
                    "${} / ${} / ${} per 1M (in / cached / out), {} {}",
                    p.input,
                    p.cached_input.unwrap_or(p.input),
                    p.output,
                    p.source,
                    p.date
                )
            })
            .unwrap_or_else(|| "no price".into());
        println!("  {} = {} on {}: {}", target.name, model, provider.name, price);
    }
    println!("\nPrices in effect (USD per 1M tokens: input / cached input / output):");
    for (model, p) in config.prices.iter() {
        println!(
            "  {model:<28} {:>8} {:>8} {:>8}  {} ({})",
            p.input,
            p.cached_input.unwrap_or(p.input),
            p.output,
            p.source,
            p.date
        );
    }
    0
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
