//! `sheepdog mock`: the built-in server, until Ctrl-C.

use std::net::{IpAddr, SocketAddr};

use sheepdog::{Exit, MockConfig, MockServer};

use std::time::Duration;

use clap::Args;
use sheepdog::config::MAX_CONCURRENCY;
use sheepdog::mock::{parse_fail_models, parse_failures, parse_stream_faults, Latency};

use super::{count, parse_duration, Failure, Outcome};

pub async fn serve(args: MockArgs) -> Outcome {
    let config = MockConfig::try_from(&args).map_err(Failure::usage)?;
    let addr = SocketAddr::new(args.host, args.port);
    let server = MockServer::start(config, addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "sheepdog mock: serving {} (stats at http://{}/mock/stats; Ctrl-C to stop)",
        server.base_url(),
        server.addr()
    );
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(Exit::Success)
}

/// A probability, 0 to 1.
fn parse_probability(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && (0.0..=1.0).contains(p))
        .ok_or_else(|| "must be a probability between 0 and 1, e.g. 0.01".to_string())
}

/// A standard deviation of output tokens, 0 to [`MAX_OUTPUT_TOKENS_STD`].
fn parse_tokens_std(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.0..=MAX_OUTPUT_TOKENS_STD).contains(s))
        .ok_or_else(|| format!("must be a number of tokens between 0 and {MAX_OUTPUT_TOKENS_STD}"))
}

/// `mock --output-tokens-std` at most.
const MAX_OUTPUT_TOKENS_STD: f64 = 1_000_000.0;

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
    /// Standard deviation of --ttft (normal distribution).
    #[arg(long, value_parser = parse_duration, requires = "ttft")]
    pub ttft_std: Option<Duration>,
    /// Streamed answers: delay between tokens.
    #[arg(long, value_parser = parse_duration)]
    pub itl: Option<Duration>,
    /// Standard deviation of --itl (normal distribution).
    #[arg(long, value_parser = parse_duration, requires = "itl")]
    pub itl_std: Option<Duration>,
    /// Tokens per answer [default: 16 to 64, derived from the prompt].
    #[arg(long)]
    pub output_tokens: Option<u32>,
    /// Standard deviation of --output-tokens (normal distribution, drawn per prompt).
    #[arg(long, requires = "output_tokens", value_parser = parse_tokens_std)]
    pub output_tokens_std: Option<f64>,
    /// Handle at most this many requests at once; more wait in a queue (saturation).
    #[arg(long, value_parser = count(1, MAX_CONCURRENCY))]
    pub max_concurrency: Option<usize>,
    /// Stop the whole server once this many requests arrived (with --stall-for).
    #[arg(long, requires = "stall_for")]
    pub stall_after: Option<u64>,
    /// How long the server-wide stall of --stall-after lasts.
    #[arg(long, value_parser = parse_duration, requires = "stall_after")]
    pub stall_for: Option<Duration>,
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
    /// Answer at most this many requests per minute per key; more get 429 with the exact wait.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rpm: Option<u32>,
    /// Answer at most this many tokens (prompt + completion) per minute per key.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tpm: Option<u64>,
    /// Let --rpm / --tpm allowance accumulate at most this long's worth (providers enforce
    /// per-minute limits over shorter windows: 1s is like them) [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    pub burst: Option<Duration>,
    /// A request limit that changes during the run: TIME=RPM,... e.g. 0s=1200,20s=300
    /// (instead of --rpm).
    #[arg(long, conflicts_with = "rpm")]
    pub rpm_schedule: Option<String>,
    /// Models that always fail: MODEL=STATUS,... e.g. gpt-4.1=404
    #[arg(long)]
    pub fail_model: Option<String>,
    /// After this many answers, every request gets 429 insufficient_quota.
    #[arg(long)]
    pub quota: Option<u64>,
    /// Probability that a request is never answered (the client's timeout ends it).
    #[arg(long, value_parser = parse_probability)]
    pub hang: Option<f64>,
    /// Leave out the x-ratelimit-* headers that --rpm / --tpm otherwise send.
    #[arg(long)]
    pub no_ratelimit_headers: bool,
    /// Streamed answers that break: KIND=PROBABILITY,... with kinds truncate (ends without
    /// [DONE]), disconnect (connection dropped), stall (silent for --stream-stall), malformed
    /// (a non-JSON chunk), error (an error event), e.g. truncate=0.02,stall=0.01
    #[arg(long)]
    pub stream_fault: Option<String>,
    /// How long a stall stream fault sends nothing [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    pub stream_stall: Option<Duration>,
    /// Seed of fault injection and latency sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Batch API: from creation to completed [default: 5s].
    #[arg(long, value_parser = parse_duration)]
    pub batch_duration: Option<Duration>,
    /// Batch API: share of lines that fail (a 500 in the error file), e.g. 0.05.
    #[arg(long, value_parser = parse_probability)]
    pub batch_fail_share: Option<f64>,
    /// Batch API: these batches (1-based, in creation order) expire half-way, e.g. 1,3.
    #[arg(long, value_name = "N,...", value_parser = sheepdog::mock::parse_batch_numbers)]
    pub batch_expire: Option<Vec<u64>>,
    /// Batch API: these batches (1-based, in creation order) fail validation, e.g. 2.
    #[arg(long, value_name = "N,...", value_parser = sheepdog::mock::parse_batch_numbers)]
    pub batch_failed: Option<Vec<u64>>,
    /// Batch API: the first N polls of each batch get 429 with --retry-after.
    #[arg(long, value_name = "N")]
    pub batch_poll_429: Option<u32>,
}

/// A fixed delay, or a normal distribution when a standard deviation is given.
fn latency(mean: Duration, std: Option<Duration>) -> Latency {
    match std {
        Some(std) => Latency::Normal { mean, std },
        None => Latency::Fixed(mean),
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
            config.ttft = latency(ttft, args.ttft_std);
        }
        if let Some(itl) = args.itl {
            config.itl = latency(itl, args.itl_std);
        }
        config.output_tokens = args.output_tokens.or(config.output_tokens);
        config.output_tokens_std = args.output_tokens_std.unwrap_or(config.output_tokens_std);
        config.max_concurrency = args.max_concurrency;
        config.stall_after = args.stall_after;
        config.stall_for = args.stall_for.unwrap_or(config.stall_for);
        config.stream_stall = args.stream_stall.unwrap_or(config.stream_stall);
        if let Some(fail) = &args.fail {
            config.failures = parse_failures(fail).map_err(|e| format!("--fail: {e}"))?;
        }
        if let Some(retry_after) = args.retry_after {
            config.retry_after = retry_after;
        }
        if let Some(fault) = &args.stream_fault {
            config.stream_faults = parse_stream_faults(fault).map_err(|e| format!("--stream-fault: {e}"))?;
        }
        config.rpm = args.rpm;
        config.tpm = args.tpm;
        if let Some(burst) = args.burst {
            if burst.is_zero() {
                return Err("--burst: must be longer than 0".into());
            }
            config.burst = burst;
        }
        if let Some(schedule) = &args.rpm_schedule {
            config.rpm_schedule =
                sheepdog::mock::parse_rpm_schedule(schedule).map_err(|e| format!("--rpm-schedule: {e}"))?;
        }
        if let Some(models) = &args.fail_model {
            config.fail_models = parse_fail_models(models).map_err(|e| format!("--fail-model: {e}"))?;
        }
        config.quota = args.quota;
        config.hang = args.hang.unwrap_or(0.0);
        config.ratelimit_headers = !args.no_ratelimit_headers;
        config.require_key = args.require_key.clone();
        config.models = args.models.clone();
        config.seed = args.seed;
        if let Some(duration) = args.batch_duration {
            config.batch.duration = duration;
        }
        config.batch.fail_share = args.batch_fail_share.unwrap_or(0.0);
        config.batch.expire = args.batch_expire.clone().unwrap_or_default();
        config.batch.fail = args.batch_failed.clone().unwrap_or_default();
        config.batch.poll_429 = args.batch_poll_429.unwrap_or(0);
        config.validate()?;
        Ok(config)
    }
}
