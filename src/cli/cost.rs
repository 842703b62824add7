//! `sheepdog estimate`, `sheepdog compare` and `sheepdog report`: their arguments, turned into
//! library calls, and the prices flag every command that prices shares.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use sheepdog::compare;
use sheepdog::config::{Config, Overrides, ProcessEnv};
use sheepdog::estimate::{self, EstimateOptions, OutputTokens};
use sheepdog::folder_report;
use sheepdog::pricing::currency::Money;
use sheepdog::pricing::PriceTable;
use sheepdog::report::TableFormat as LibTableFormat;
use sheepdog::Exit;

use super::{Failure, Outcome};

/// `estimate --output-tokens` at most: no model answers with more in one request.
const MAX_OUTPUT_TOKENS: u64 = 10_000_000;

#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Input file: one request per line (OpenAI Batch API lines or {"id","prompt"|"messages"}).
    pub input: PathBuf,
    /// Models or target names (from --config) to price every line on, comma-separated
    /// [default: the job file's route, else the model each line names].
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Job file: its targets, prices and providers' billing rates.
    #[arg(long, short = 'c', env = "SHEEPDOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Price file: LiteLLM's model_prices_and_context_window.json, or [prices."model"] TOML.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Output tokens per request [default: each line's max_tokens].
    #[arg(long, conflicts_with = "from_run", value_parser = clap::value_parser!(u64).range(0..=MAX_OUTPUT_TOKENS))]
    pub output_tokens: Option<u64>,
    /// Output tokens per request as measured in an earlier run folder.
    #[arg(long)]
    pub from_run: Option<PathBuf>,
    /// Share of input tokens served from the prompt cache, 0 to 1 (e.g. 0.3).
    #[arg(long, default_value_t = 0.0)]
    pub cache_hit_rate: f64,
    /// Also show the cost of this many requests a month.
    #[arg(long)]
    pub per_month: Option<u64>,
    /// Where short lines ({"id","prompt"|"messages"|"input"}) go: chat, completions,
    /// embeddings, responses or moderations [default: chat, or the job file's run.endpoint].
    #[arg(long, value_name = "ENDPOINT")]
    pub endpoint: Option<sheepdog::provider::ApiEndpoint>,
    /// Currency of the amounts, e.g. CNY (with --fx) [default: USD].
    #[arg(long)]
    pub currency: Option<String>,
    /// Units of --currency per 1 USD, e.g. 7.1.
    #[arg(long)]
    pub fx: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Text,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Run folders written by `sheepdog run`, over the same prompts; the first is the baseline
    /// of the output token ratio.
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder.
    pub dir: PathBuf,
    /// md, html, json (summary.json), csv (requests.csv) or text (the end-of-run table).
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Html,
    Json,
    Csv,
    Text,
}

impl From<TableFormat> for LibTableFormat {
    fn from(format: TableFormat) -> Self {
        match format {
            TableFormat::Text => LibTableFormat::Text,
            TableFormat::Md => LibTableFormat::Markdown,
            TableFormat::Json => LibTableFormat::Json,
        }
    }
}

impl From<ReportFormat> for folder_report::Format {
    fn from(format: ReportFormat) -> Self {
        match format {
            ReportFormat::Md => folder_report::Format::Md,
            ReportFormat::Html => folder_report::Format::Html,
            ReportFormat::Json => folder_report::Format::Json,
            ReportFormat::Csv => folder_report::Format::Csv,
            ReportFormat::Text => folder_report::Format::Text,
        }
    }
}

/// Adds the prices of `--prices FILE` to the configuration's table (job file prices stay).
pub fn apply_prices(config: &mut Config, file: Option<&Path>) -> Result<(), Failure> {
    if let Some(file) = file {
        let (table, described) =
            PriceTable::load_file_described(file).map_err(|e| Failure::usage(format!("--prices {e}")))?;
        config.prices.extend_under_overrides(table);
        config.notices.extend(described.map(|d| format!("--prices {d}")));
    }
    // A target without a price is said once, with the names it may have meant.
    for &t in &config.route {
        if let Some(model) = config.targets[t].model.as_deref() {
            if config.prices.get(model).is_none() {
                let hint = config.prices.missing_hint(model);
                config.notices.push(format!("{hint}: its cost is not counted"));
            }
        }
    }
    Ok(())
}

pub fn estimate(args: EstimateArgs) -> Outcome {
    let overrides = Overrides {
        config: args.config.clone(),
        ..Overrides::default()
    };
    let mut config = Config::resolve(&overrides, &ProcessEnv).map_err(Failure::usage)?;
    apply_prices(&mut config, args.prices.as_deref())?;
    let money = Money::new(args.currency.as_deref(), args.fx).map_err(Failure::usage)?;
    let output = match (&args.output_tokens, &args.from_run) {
        (Some(n), _) => OutputTokens::Fixed(*n),
        (None, Some(dir)) => OutputTokens::Measured(
            estimate::measured::measure(dir).map_err(|e| Failure::usage(format!("--from-run {e}")))?,
        ),
        (None, None) => OutputTokens::MaxTokens,
    };
    let options = EstimateOptions {
        input: args.input.clone(),
        models: estimate::model_specs(&config, args.models.as_deref()),
        output,
        cache_hit_rate: args.cache_hit_rate,
        per_month: args.per_month,
        money,
        threads: estimate::default_threads(),
        endpoint: args.endpoint.unwrap_or(config.endpoint),
    };
    let estimate = estimate::estimate(&options, &config.prices).map_err(Failure::usage)?;
    print!("{}", estimate::render::render(&estimate, args.format.into()));
    Ok(Exit::Success)
}

pub fn compare(args: CompareArgs) -> Outcome {
    let benches = args.runs.iter().filter(|dir| compare::bench::is_bench(dir)).count();
    if benches > 0 {
        if benches < args.runs.len() {
            return Err(Failure::usage(
                "compare either bench folders or run folders, not both".to_string(),
            ));
        }
        let runs = args
            .runs
            .iter()
            .map(|dir| compare::bench::load(dir).map_err(Failure::usage))
            .collect::<Result<Vec<_>, _>>()?;
        let comparison = compare::bench::compare(&runs);
        print!("{}", compare::bench_render::render(&comparison, args.format.into()));
        return Ok(Exit::Success);
    }
    let runs = args
        .runs
        .iter()
        .map(|dir| compare::load(dir).map_err(Failure::usage))
        .collect::<Result<Vec<_>, _>>()?;
    print!(
        "{}",
        compare::render::render(&compare::compare(&runs), args.format.into())
    );
    Ok(Exit::Success)
}

pub fn report(args: ReportArgs) -> Outcome {
    let rendered = folder_report::render(&args.dir, args.format.into()).map_err(Failure::usage)?;
    for note in &rendered.notes {
        eprintln!("sheepdog: {note}");
    }
    match &args.out {
        Some(path) => std::fs::write(path, &rendered.bytes)
            .map_err(|e| Failure::new(format!("{}: cannot write: {e}", path.display()), Exit::Aborted))?,
        None => std::io::stdout()
            .write_all(&rendered.bytes)
            .map_err(|e| Failure::new(format!("cannot write to standard output: {e}"), Exit::Aborted))?,
    }
    Ok(Exit::Success)
}
