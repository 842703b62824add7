//! Arguments for running beyond one machine and in operations: sharding (`run`), metrics
//! (`run`, `bench`), logs (every command) and `sheepdog merge`, with what merge and the metrics
//! endpoint do at the edge.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use sheepdog::config::Overrides;
use sheepdog::merge::MergeOptions;
use sheepdog::metrics::{Metrics, MetricsServer};
use sheepdog::shard::{Shard, ShardLimits, ShardRequest};

use super::{Failure, Outcome};

/// Which part of the input a run handles.
#[derive(Debug, Args, Default)]
pub struct ShardArgs {
    /// Handle only shard I of N (0-based, e.g. 0/4): the lines whose id hashes to I. Each shard
    /// writes its own run folder; `sheepdog merge` combines them.
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Split the input into N shards and take the index from JOB_COMPLETION_INDEX (Kubernetes
    /// Indexed Jobs).
    #[arg(long, value_name = "N", env = "SHEEPDOG_SHARDS",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(sheepdog::shard::MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// In a sharded run: divide rpm, tpm and max_concurrency limits by N (so N shards sharing
    /// one key stay under its limits), or keep them full [default: divide].
    #[arg(long, value_name = "divide|full")]
    pub shard_limits: Option<ShardLimits>,
}

impl ShardArgs {
    pub fn apply(&self, o: &mut Overrides) {
        o.shard = match (self.shard, self.shards) {
            (Some(shard), _) => Some(ShardRequest::Fixed(shard)),
            (None, Some(count)) => Some(ShardRequest::FromEnv { count }),
            (None, None) => None,
        };
        o.shard_limits = self.shard_limits;
    }
}

/// The Prometheus endpoint of `run` and `bench`.
#[derive(Debug, Args, Default)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics while running, e.g. 127.0.0.1:9464
    /// (0.0.0.0:9464 in a container).
    #[arg(long, value_name = "ADDR", env = "SHEEPDOG_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Push the same metrics to this Prometheus Pushgateway during the run and once at the
    /// end (job="sheepdog", grouping labels run and shard), e.g. http://127.0.0.1:9091
    #[arg(long, value_name = "URL", env = "SHEEPDOG_PUSHGATEWAY")]
    pub pushgateway: Option<String>,
    /// How often to push with --pushgateway [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, requires = "pushgateway")]
    pub push_interval: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Structured logs on stderr (every command).
#[derive(Debug, Args, Default)]
pub struct LogArgs {
    /// Log format on stderr. Logs are off unless this or RUST_LOG is given; RUST_LOG picks
    /// what is logged (default info), e.g. RUST_LOG=sheepdog=debug.
    #[arg(long, value_name = "text|json", global = true, env = "SHEEPDOG_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

impl LogArgs {
    pub fn settings(&self) -> sheepdog::logging::LogSettings {
        sheepdog::logging::LogSettings {
            json: self.log_format == Some(LogFormat::Json),
            requested: self.log_format.is_some(),
        }
    }
}

/// `sheepdog merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run folders of the shards of one job (`sheepdog run --shard I/N`).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Folder for the merged results, errors, requests.csv and reports.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Merge even if shards are missing (the reports say which).
    #[arg(long)]
    pub partial: bool,
    /// Write results.jsonl and errors.jsonl in input-line order (16 bytes of memory per line).
    #[arg(long)]
    pub ordered: bool,
    /// No final table.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Starts the `/metrics` endpoint when `--metrics-addr` is given, and says where it is.
pub async fn start_metrics(args: &MetricsArgs) -> Result<Option<MetricsServer>, Failure> {
    let Some(addr) = args.metrics_addr else {
        return Ok(None);
    };
    let server = MetricsServer::start(Metrics::new(), addr)
        .await
        .map_err(|e| Failure::usage(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
    eprintln!("sheepdog: metrics at {}", server.url());
    Ok(Some(server))
}

/// A `--pushgateway` URL must be http(s); said before anything is sent.
pub fn check_pushgateway(args: &MetricsArgs) -> Result<(), Failure> {
    match &args.pushgateway {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            Err(Failure::usage("--pushgateway: expected an http:// or https:// URL"))
        }
        _ => Ok(()),
    }
}

/// Starts pushing `metrics` when `--pushgateway` is given, grouped by run folder and shard.
pub fn start_push(
    args: &MetricsArgs,
    metrics: Option<&Metrics>,
    out_dir: &std::path::Path,
    shard: Option<sheepdog::shard::Shard>,
) -> Option<sheepdog::metrics::Pusher> {
    let (url, metrics) = (args.pushgateway.as_deref()?, metrics?);
    let grouping = sheepdog::metrics::Grouping {
        run: out_dir.display().to_string(),
        shard: shard.map_or_else(|| "0/1".to_string(), |s| s.to_string()),
    };
    let interval = args.push_interval.unwrap_or(std::time::Duration::from_secs(10));
    Some(sheepdog::metrics::Pusher::start(
        metrics.clone(),
        url,
        &grouping,
        interval,
    ))
}

pub fn merge(args: MergeArgs) -> Outcome {
    let options = MergeOptions {
        dirs: args.dirs,
        out: args.out,
        partial: args.partial,
        ordered: args.ordered,
    };
    let output = sheepdog::merge::merge(&options)?;
    for line in sheepdog::merge::render::shard_lines(&output) {
        eprintln!("sheepdog: {line}");
    }
    if !args.quiet {
        println!("{}", sheepdog::report::terminal::render(&output.summary));
        println!("Merged folder: {}", output.out_dir.display());
    }
    Ok(output.status.exit())
}
