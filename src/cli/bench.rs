//! `sheepdog bench`: its arguments, turned into the library's [`BenchSpec`] and config
//! overrides, and the run of the sweep with its step-by-step progress on stderr.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use sheepdog::bench::{BenchEvent, BenchSpec, PromptSource, StopAt};
use sheepdog::config::Overrides;
use sheepdog::load::{parse_concurrencies, parse_rates, Arrivals, DEFAULT_MAX_IN_FLIGHT};
use sheepdog::threshold::Threshold;

use super::{cost, ops, parse_duration, resolve, say_notices, signals, ConfigArgs, Failure, Outcome};

/// `--max-in-flight` at most (each is a task and a socket).
const MAX_IN_FLIGHT: usize = 1_000_000;

/// How long each step sends when neither --duration nor --requests is given.
const DEFAULT_STEP: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("load").required(true).args(["concurrency", "rate"])))]
pub struct BenchArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Prompts: a JSONL file in the formats `run` reads, sent in a cycle.
    #[arg(long, conflicts_with = "synthetic")]
    pub input: Option<PathBuf>,
    /// Generated prompts of about this many tokens, max_tokens set to out [default: in=512,out=128].
    #[arg(long, value_name = "in=N,out=N")]
    pub synthetic: Option<String>,
    /// Closed loop: N requests always in flight. A list runs a sweep, one step each: 1,4,16,64
    #[arg(long, value_name = "N[,N...]")]
    pub concurrency: Option<String>,
    /// Open loop: R requests started per second, however the server keeps up. A list runs a
    /// sweep: 5,10,20,40
    #[arg(long, value_name = "R[,R...]")]
    pub rate: Option<String>,
    /// With --rate: Poisson arrivals (random gaps of mean 1/R, seeded by --seed), not even spacing.
    #[arg(long, requires = "rate")]
    pub poisson: bool,
    /// Seed of Poisson arrivals and synthetic prompts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How long each step sends requests, after its warm-up [default: 30s].
    #[arg(long, value_parser = parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Requests per step (after its warm-up), instead of --duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Warm-up at the start of each step; its requests are left out of the figures [default: 0s].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Objectives for goodput (requests/s meeting all): ttft=500ms,itl=50ms,tpot=60ms,e2e=5s
    #[arg(long, value_name = "METRIC=DUR,...")]
    pub slo: Option<String>,
    /// Pass/fail criterion checked on every step; a crossed one makes the bench exit 1. Repeat
    /// it: 'p99(ttft)<500ms' (p50, p90, p95, p99, p99.9, max of ttft, itl, tpot, e2e),
    /// 'error_rate<1%', 'rps>100', 'goodput>=95%' (share meeting --slo), 'goodput_rps>10'.
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub thresholds: Vec<Threshold>,
    /// Stop the sweep at the first step that crosses a --threshold.
    #[arg(long, requires = "thresholds")]
    pub abort_on_fail: bool,
    /// Open loop: at most this many requests in flight; beyond it sends wait, and their
    /// scheduling lag shows it [default: 10000].
    #[arg(long, value_parser = super::count(1, MAX_IN_FLIGHT))]
    pub max_in_flight: Option<usize>,
    /// Plain requests instead of streamed ones (no TTFT, ITL or TPOT).
    #[arg(long)]
    pub no_stream: bool,
    /// A stream that sends nothing for this long is broken (and retried) [default: 30s].
    #[arg(long, value_parser = parse_duration)]
    pub stream_idle_timeout: Option<Duration>,
    /// Per-request timeout, e.g. 30s, 2m [default: 60s].
    #[arg(long, env = "SHEEPDOG_TIMEOUT", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Tries per target for retryable failures [default: 3].
    #[arg(long, env = "SHEEPDOG_MAX_ATTEMPTS", value_parser = super::attempts())]
    pub max_attempts: Option<u32>,
    /// Run folder [default: reports/bench-<UTC time>].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// No progress lines and no final table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub metrics: super::MetricsArgs,
}

impl BenchArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.target.config.clone(),
            model: self.target.model.clone(),
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            out: self.out.clone(),
            stream: Some(!self.no_stream),
            stream_idle_timeout: self.stream_idle_timeout,
            ..Overrides::default()
        }
    }

    /// The bench plan; the message names the flag that is wrong.
    pub fn spec(&self) -> Result<BenchSpec, String> {
        let steps = match (&self.concurrency, &self.rate) {
            (Some(list), _) => parse_concurrencies(list).map_err(|e| format!("--concurrency: {e}"))?,
            (None, Some(list)) => {
                let arrivals = if self.poisson {
                    Arrivals::Poisson { seed: self.seed }
                } else {
                    Arrivals::Even
                };
                parse_rates(list, arrivals).map_err(|e| format!("--rate: {e}"))?
            }
            (None, None) => Vec::new(),
        };
        let prompts = match (&self.input, &self.synthetic) {
            (Some(path), _) => PromptSource::File(path.clone()),
            (None, Some(text)) => PromptSource::Synthetic(text.parse().map_err(|e| format!("--synthetic: {e}"))?),
            (None, None) => PromptSource::Synthetic(Default::default()),
        };
        let stop_at = match self.requests {
            Some(n) => StopAt::Requests(n),
            None => StopAt::Duration(self.duration.unwrap_or(DEFAULT_STEP)),
        };
        let slo = match &self.slo {
            Some(text) => Some(text.parse().map_err(|e| format!("--slo: {e}"))?),
            None => None,
        };
        let spec = BenchSpec {
            prompts,
            steps,
            stop_at,
            warmup: self.warmup.unwrap_or_default(),
            slo,
            max_in_flight: self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            seed: self.seed,
            metrics: None,
            thresholds: self.thresholds.clone(),
            abort_on_fail: self.abort_on_fail,
        };
        spec.validate(!self.no_stream)?;
        Ok(spec)
    }
}

/// `--threshold EXPR`, for clap: a bad one is a usage error naming the flag.
pub fn parse_threshold(text: &str) -> Result<Threshold, String> {
    text.parse()
        .map_err(|e: sheepdog::threshold::ThresholdError| e.to_string())
}

pub async fn bench(args: BenchArgs) -> Outcome {
    let mut config = resolve(&args.overrides())?;
    cost::apply_prices(&mut config, args.target.prices.as_deref())?;
    let mut spec = args.spec().map_err(Failure::usage)?;
    let metrics_server = ops::start_metrics(&args.metrics).await?;
    spec.metrics = metrics_server.as_ref().map(|server| server.metrics());
    say_notices(&config.notices, args.quiet);
    let stop = signals::watch(sheepdog::job::DEFAULT_DRAIN_TIMEOUT)?;
    let quiet = args.quiet;
    let mut observe = |event: BenchEvent<'_>| {
        if quiet {
            return;
        }
        match event {
            BenchEvent::StepStarted { step, of, load } => {
                eprintln!("sheepdog: step {step}/{of}: {}", load.label())
            }
            BenchEvent::StepFinished(report) => eprintln!(
                "sheepdog: step {}: {} requests, {:.1} req/s, {} failed",
                report.step, report.requests, report.achieved_rps, report.failed
            ),
        }
    };
    let output = sheepdog::run_bench(&config, &spec, stop.stop, &mut observe).await?;
    if !args.quiet {
        println!("{}", sheepdog::bench::terminal::render(&output.summary));
        println!("Run folder: {}", output.out_dir.display());
    }
    for check in output.summary.crossed() {
        eprintln!("sheepdog: threshold {}", check.message);
    }
    if let Some(reason) = &output.summary.bench.stopped_early {
        eprintln!("sheepdog: sweep stopped early: {reason}");
    }
    if let sheepdog::RunStatus::Aborted(reason) = &output.status {
        eprintln!("sheepdog: stopped early: {reason}");
    }
    Ok(output.status.exit())
}
