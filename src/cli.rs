//! Command-line types (clap derive). The only module that knows clap: arguments are turned
//! into library types (`config::Overrides`, `mock::MockConfig`) here and nowhere else.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use sheepdog::config::Overrides;
use sheepdog::mock::{parse_failures, parse_stream_fault, Latency, MockConfig};

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send every prompt of a JSONL file once and write results, errors and reports.
    Run(RunArgs),
    /// Send one tiny request per target of the route: reachable? key accepted? model exists?
    Check(ConfigArgs),
    /// List the configured targets and the prices in effect.
    Models(ConfigArgs),
    /// Serve the built-in OpenAI-compatible mock server (latency and fault injection).
    Mock(MockArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Job file (TOML): providers, targets, route, retry, prices.
    #[arg(long, short = 'c', env = "SHEEPDOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model (or target name from the job file) to use instead of the route.
    #[arg(long, short = 'm', env = "SHEEPDOG_MODEL")]
    pub model: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input file: one request per line (OpenAI Batch API lines or {"id","prompt"|"messages"}).
    pub input: PathBuf,
    #[command(flatten)]
    pub target: ConfigArgs,
    /// Requests in flight at once [default: 16].
    #[arg(long, env = "SHEEPDOG_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Per-request timeout, e.g. 30s, 2m [default: 60s].
    #[arg(long, env = "SHEEPDOG_TIMEOUT", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Tries per target for retryable failures (429, 5xx, timeouts) [default: 3].
    #[arg(long, env = "SHEEPDOG_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// Run folder [default: reports/<input name>-<UTC time>].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// No progress display and no final table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Validate the config and every line, estimate input tokens, send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Fixed delay before each answer, e.g. 50ms.
    #[arg(long, value_parser = parse_duration, conflicts_with = "latency_mean")]
    pub latency: Option<Duration>,
    /// Mean of a normally distributed delay (with --latency-std).
    #[arg(long, value_parser = parse_duration)]
    pub latency_mean: Option<Duration>,
    /// Standard deviation of the delay.
    #[arg(long, value_parser = parse_duration, requires = "latency_mean")]
    pub latency_std: Option<Duration>,
    /// Streamed answers: delay before the first token.
    #[arg(long, value_parser = parse_duration)]
    pub ttft: Option<Duration>,
    /// Streamed answers: delay between tokens.
    #[arg(long, value_parser = parse_duration)]
    pub itl: Option<Duration>,
    /// Tokens per answer [default: 16 to 64, derived from the prompt].
    #[arg(long)]
    pub output_tokens: Option<u32>,
    /// Inject errors: STATUS=PROBABILITY,... e.g. 429=0.1,500=0.05
    #[arg(long)]
    pub fail: Option<String>,
    /// What injected 429s ask the client to wait (retry-after and retry-after-ms headers).
    #[arg(long, value_parser = parse_duration)]
    pub retry_after: Option<Duration>,
    /// Require this bearer key (others get 401).
    #[arg(long, env = "SHEEPDOG_MOCK_KEY", hide_env_values = true)]
    pub require_key: Option<String>,
    /// Only these models exist (others get 404 model_not_found), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Answer at most this many requests per minute; more get 429 with the exact wait.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Streamed answers that break: truncate=PROBABILITY (the stream ends without [DONE]).
    #[arg(long)]
    pub stream_fault: Option<String>,
    /// Seed of fault injection and latency sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}; write e.g. 250ms, 30s, 5m"))
}

impl RunArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.target.config.clone(),
            model: self.target.model.clone(),
            concurrency: self.concurrency,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            out: self.out.clone(),
        }
    }
}

impl ConfigArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            model: self.model.clone(),
            ..Overrides::default()
        }
    }
}

impl TryFrom<&MockArgs> for MockConfig {
    type Error = String;

    fn try_from(args: &MockArgs) -> Result<MockConfig, String> {
        let mut config = MockConfig::default();
        if let Some(latency) = args.latency {
            config.latency = Latency::Fixed(latency);
        }
        if let Some(mean) = args.latency_mean {
            config.latency = Latency::Normal {
                mean,
                std: args.latency_std.unwrap_or_default(),
            };
        }
        if let Some(ttft) = args.ttft {
            config.ttft = Latency::Fixed(ttft);
        }
        if let Some(itl) = args.itl {
            config.itl = Latency::Fixed(itl);
        }
        config.output_tokens = args.output_tokens.or(config.output_tokens);
        if let Some(fail) = &args.fail {
            config.failures = parse_failures(fail).map_err(|e| format!("--fail: {e}"))?;
        }
        if let Some(retry_after) = args.retry_after {
            config.retry_after = retry_after;
        }
        if let Some(fault) = &args.stream_fault {
            config.stream_truncate = parse_stream_fault(fault).map_err(|e| format!("--stream-fault: {e}"))?;
        }
        config.rpm = args.rpm;
        config.require_key = args.require_key.clone();
        config.models = args.models.clone();
        config.seed = args.seed;
        Ok(config)
    }
}
