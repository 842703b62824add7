//! `sheepdog bench`: its arguments, turned into the library's [`BenchSpec`] and config
//! overrides, and the run of the sweep with its step-by-step progress on stderr.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args};

use sheepdog::bench::{BenchEvent, BenchSpec, FindMax, PromptSource, SearchBy, StopAt};
use sheepdog::config::Overrides;
use sheepdog::load::{parse_concurrencies, parse_rates, Arrivals, Load, DEFAULT_MAX_IN_FLIGHT};
use sheepdog::threshold::Threshold;

use super::{cost, ops, parse_duration, resolve, say_notices, signals, ConfigArgs, Failure, Outcome};

/// `--max-in-flight` at most (each is a task and a socket).
const MAX_IN_FLIGHT: usize = 1_000_000;

/// How long each step sends when neither --duration nor --requests is given.
const DEFAULT_STEP: Duration = Duration::from_secs(30);
/// A --find-max probe: short, so a search of about ten probes ends in about two minutes.
const DEFAULT_PROBE: Duration = Duration::from_secs(5);
const DEFAULT_PROBE_WARMUP: Duration = Duration::from_secs(2);

/// `--by`: what `--find-max` varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Rate,
    Concurrency,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("load").required(true).args(["concurrency", "rate", "find_max"]).multiple(true)))]
pub struct BenchArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Prompts: a JSONL file in the formats `run` reads, or ShareGPT conversations (a JSON
    /// array or JSONL of {"conversations": [{"from": "human"|"gpt", "value"}]}: the first human
    /// turn is the prompt, its answer's length max_tokens), sent in a cycle.
    #[arg(long, conflicts_with = "synthetic")]
    pub input: Option<PathBuf>,
    /// Generated prompts of about `in` tokens, max_tokens set to `out`; each a number, or drawn
    /// per request: normal:MEAN:STD, uniform:MIN:MAX. prefix=N,prefix-share=0.8 starts that
    /// share of requests with the same N-token prefix (added to `in`) [default: in=512,out=128].
    #[arg(long, value_name = "in=N,out=N[,prefix=N,prefix-share=S]")]
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
    /// The endpoint to load: chat, completions, embeddings or responses (moderations too)
    /// [default: chat]. Synthetic prompts are shaped for it; embeddings are never streamed.
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<sheepdog::provider::ApiEndpoint>,
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
    /// Search the highest load at which --goodput of requests meet every --slo objective: a
    /// doubling ramp, then a bisection to --precision, each probe a short step. --rate R or
    /// --concurrency N gives the first probe [default: 1].
    #[arg(long, requires = "slo")]
    pub find_max: bool,
    /// With --find-max: what to vary, the arrival rate (open loop) or the requests in flight
    /// [default: rate, or concurrency when --concurrency is given].
    #[arg(long, value_enum, requires = "find_max")]
    pub by: Option<By>,
    /// With --find-max: share of measured requests that must meet every objective [default: 95%].
    #[arg(long, value_parser = super::parse_share, requires = "find_max")]
    pub goodput: Option<f64>,
    /// With --find-max: stop when the failed and passed loads are this close [default: 10%].
    #[arg(long, value_parser = super::parse_share, requires = "find_max")]
    pub precision: Option<f64>,
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
    /// On Ctrl-C or SIGTERM, wait this long for requests in flight [default: 30s; job file:
    /// run.drain_timeout].
    #[arg(long, value_name = "DUR", env = "SHEEPDOG_DRAIN_TIMEOUT", value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Run folder [default: reports/bench-<UTC time>].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// No progress lines and no final table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    pub metrics: super::MetricsArgs,
    #[command(flatten)]
    pub budget: super::budget::BudgetArgs,
}

impl BenchArgs {
    pub fn overrides(&self) -> Overrides {
        let mut overrides = Overrides {
            config: self.target.config.clone(),
            model: self.target.model.clone(),
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            out: self.out.clone(),
            stream: Some(!self.no_stream),
            stream_idle_timeout: self.stream_idle_timeout,
            drain_timeout: self.drain_timeout,
            ..Overrides::default()
        };
        self.budget.apply(&mut overrides);
        overrides
    }

    /// The bench plan; the message names the flag that is wrong.
    pub fn spec(&self) -> Result<BenchSpec, String> {
        let mut steps = match (&self.concurrency, &self.rate) {
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
        let find_max = self.find_max.then(|| self.find_max(&steps)).transpose()?;
        if find_max.is_some() {
            steps.clear();
        }
        let (default_step, default_warmup) = match find_max {
            Some(_) => (DEFAULT_PROBE, DEFAULT_PROBE_WARMUP),
            None => (DEFAULT_STEP, Duration::ZERO),
        };
        let stop_at = match self.requests {
            Some(n) => StopAt::Requests(n),
            None => StopAt::Duration(self.duration.unwrap_or(default_step)),
        };
        let slo = match &self.slo {
            Some(text) => Some(text.parse().map_err(|e| format!("--slo: {e}"))?),
            None => None,
        };
        let spec = BenchSpec {
            prompts,
            steps,
            stop_at,
            warmup: self.warmup.unwrap_or(default_warmup),
            slo,
            max_in_flight: self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            seed: self.seed,
            metrics: None,
            thresholds: self.thresholds.clone(),
            abort_on_fail: self.abort_on_fail,
            find_max,
            endpoint: self.endpoint.unwrap_or_default(),
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

impl BenchArgs {
    /// The `--find-max` search: by what, from where (the first --rate or --concurrency value).
    fn find_max(&self, steps: &[Load]) -> Result<FindMax, String> {
        let by = match (self.by, steps.first()) {
            (Some(By::Rate), Some(Load::Closed { .. })) => {
                return Err("--by rate searches arrival rates: give --rate R as the start, not --concurrency".into())
            }
            (Some(By::Concurrency), Some(Load::Open { .. })) => {
                return Err(
                    "--by concurrency searches requests in flight: give --concurrency N as the start, not --rate"
                        .into(),
                )
            }
            (Some(By::Concurrency), _) | (None, Some(Load::Closed { .. })) => SearchBy::Concurrency,
            _ => SearchBy::Rate,
        };
        let start = match steps.first() {
            Some(Load::Open { rate, .. }) => *rate,
            Some(Load::Closed { concurrency }) => *concurrency as f64,
            None => 1.0,
        };
        Ok(FindMax {
            by,
            goodput: self.goodput.unwrap_or(FindMax::DEFAULT_GOODPUT),
            precision: self.precision.unwrap_or(FindMax::DEFAULT_PRECISION),
            start,
            ceiling: FindMax::default_ceiling(by),
            arrivals: if self.poisson {
                Arrivals::Poisson { seed: self.seed }
            } else {
                Arrivals::Even
            },
        })
    }
}

pub async fn bench(args: BenchArgs) -> Outcome {
    let mut config = resolve(&args.overrides())?;
    cost::apply_prices(&mut config, args.target.prices.as_deref())?;
    super::budget::check(&config)?;
    let mut spec = args.spec().map_err(Failure::usage)?;
    let metrics_server = ops::start_metrics(&args.metrics).await?;
    spec.metrics = metrics_server.as_ref().map(|server| server.metrics());
    say_notices(&config.notices, args.quiet);
    let stop = signals::watch(config.run.drain_timeout)?;
    let quiet = args.quiet;
    let mut observe = |event: BenchEvent<'_>| {
        if quiet {
            return;
        }
        match event {
            BenchEvent::StepStarted {
                step,
                of: Some(of),
                load,
            } => {
                eprintln!("sheepdog: step {step}/{of}: {}", load.label())
            }
            BenchEvent::StepStarted { step, of: None, load } => {
                eprintln!("sheepdog: probe {step}: {}", load.label())
            }
            BenchEvent::StepFinished(report) => eprintln!(
                "sheepdog: step {}: {} requests, {:.1} req/s, {} failed{}{}",
                report.step,
                report.requests,
                report.achieved_rps,
                report.failed,
                report.slo.as_ref().map_or(String::new(), |slo| format!(
                    ", {:.1}% met every objective",
                    slo.met_all * 100.0
                )),
                report
                    .saturated
                    .as_ref()
                    .map_or(String::new(), |why| format!(", {why}")),
            ),
        }
    };
    let output = sheepdog::run_bench(&config, &spec, &stop, &mut observe).await?;
    if !args.quiet {
        println!("{}", sheepdog::bench::terminal::render(&output.summary));
        println!("Run folder: {}", output.out_dir.display());
    }
    if let Some(found) = &output.summary.find_max {
        println!("{}", found.answer);
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
