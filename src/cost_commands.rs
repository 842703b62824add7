//! `sheepdog estimate`, `sheepdog compare` and `sheepdog report`: their arguments (clap) and what
//! they do. Kept apart from `cli.rs` and `main.rs`, which the other commands share; like them,
//! this is the edge: arguments become library types here, and results become exit codes.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use sheepdog::compare;
use sheepdog::config::{Config, Overrides, ProcessEnv};
use sheepdog::estimate::{self, EstimateOptions, ModelSpec, OutputTokens};
use sheepdog::pricing::currency::Money;
use sheepdog::pricing::PriceTable;
use sheepdog::report;

const EXIT_USAGE: u8 = 2;

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
    #[arg(long, conflicts_with = "from_run")]
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

/// Adds the prices of `--prices FILE` to the configuration's table (job file prices stay);
/// says what is wrong and returns the exit code when the file cannot be used.
pub fn apply_prices(config: &mut Config, file: Option<&Path>) -> Result<(), u8> {
    add_prices(config, file).map_err(|message| {
        eprintln!("sheepdog: {message}");
        EXIT_USAGE
    })
}

fn add_prices(config: &mut Config, file: Option<&Path>) -> Result<(), String> {
    if let Some(file) = file {
        let table = PriceTable::load_file(file).map_err(|e| format!("--prices {e}"))?;
        config.prices.extend_under_overrides(table);
    }
    Ok(())
}

pub fn estimate(args: EstimateArgs) -> u8 {
    match try_estimate(&args) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(message) => {
            eprintln!("sheepdog: {message}");
            EXIT_USAGE
        }
    }
}

fn try_estimate(args: &EstimateArgs) -> Result<String, String> {
    let overrides = Overrides {
        config: args.config.clone(),
        ..Overrides::default()
    };
    let mut config = Config::resolve(&overrides, &ProcessEnv).map_err(|e| e.to_string())?;
    add_prices(&mut config, args.prices.as_deref())?;
    let money = Money::new(args.currency.as_deref(), args.fx)?;
    let output = match (&args.output_tokens, &args.from_run) {
        (Some(n), _) => OutputTokens::Fixed(*n),
        (None, Some(dir)) => {
            OutputTokens::Measured(estimate::measured::measure(dir).map_err(|e| format!("--from-run {e}"))?)
        }
        (None, None) => OutputTokens::MaxTokens,
    };
    let options = EstimateOptions {
        input: args.input.clone(),
        models: model_specs(&config, args.models.as_deref()),
        output,
        cache_hit_rate: args.cache_hit_rate,
        per_month: args.per_month,
        money,
        threads: estimate::default_threads(),
    };
    let estimate = estimate::estimate(&options, &config.prices).map_err(|e| e.to_string())?;
    let format = match args.format {
        TableFormat::Text => estimate::render::Format::Text,
        TableFormat::Md => estimate::render::Format::Markdown,
        TableFormat::Json => estimate::render::Format::Json,
    };
    Ok(estimate::render::render(&estimate, format))
}

/// `--models` names (a target of the job file, or a model), else the job file's route.
fn model_specs(config: &Config, names: Option<&[String]>) -> Option<Vec<ModelSpec>> {
    let target_spec = |index: usize| {
        let target = &config.targets[index];
        let provider = config.provider_of(target);
        target.model.as_ref().map(|model| ModelSpec {
            label: target.name.clone(),
            model: model.clone(),
            provider: Some(provider.name.clone()),
            billing: provider.billing.clone(),
        })
    };
    match names {
        Some(names) => Some(
            names
                .iter()
                .filter(|n| !n.trim().is_empty())
                .map(|name| {
                    let configured = config.source.is_some();
                    config
                        .targets
                        .iter()
                        .position(|t| configured && &t.name == name)
                        .and_then(target_spec)
                        .unwrap_or_else(|| ModelSpec::model(name.trim()))
                })
                .collect(),
        ),
        None if config.source.is_some() => {
            let specs: Vec<ModelSpec> = config.route.iter().filter_map(|&t| target_spec(t)).collect();
            (!specs.is_empty()).then_some(specs)
        }
        None => None,
    }
}

pub fn compare(args: CompareArgs) -> u8 {
    let mut runs = Vec::new();
    for dir in &args.runs {
        match compare::load(dir) {
            Ok(run) => runs.push(run),
            Err(e) => {
                eprintln!("sheepdog: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let format = match args.format {
        TableFormat::Text => compare::render::Format::Text,
        TableFormat::Md => compare::render::Format::Markdown,
        TableFormat::Json => compare::render::Format::Json,
    };
    print!("{}", compare::render::render(&compare::compare(&runs), format));
    0
}

pub fn report(args: ReportArgs) -> u8 {
    let bytes = match render_report(&args.dir, args.format) {
        Ok(bytes) => bytes,
        Err(message) => {
            eprintln!("sheepdog: {message}");
            return EXIT_USAGE;
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &bytes).map_err(|e| format!("{}: cannot write: {e}", path.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| format!("cannot write to standard output: {e}"))
        }
    };
    match written {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("sheepdog: {message}");
            EXIT_ABORTED
        }
    }
}

const EXIT_ABORTED: u8 = 3;

fn render_report(dir: &Path, format: ReportFormat) -> Result<Vec<u8>, String> {
    if format == ReportFormat::Csv {
        let (bytes, source) = report::csv::render_from_dir(dir).map_err(|e| e.to_string())?;
        if source == report::csv::CsvSource::ResultFiles {
            eprintln!(
                "sheepdog: {} has no {}: one row per item (its final request) rebuilt from the result files",
                dir.display(),
                report::csv::REQUESTS_FILE
            );
        }
        return Ok(bytes);
    }
    if let Some(bench) = bench_summary(dir)? {
        return Ok(match format {
            ReportFormat::Md => sheepdog::bench::markdown::render(&bench).into_bytes(),
            ReportFormat::Html => sheepdog::bench::html::render(&bench).into_bytes(),
            ReportFormat::Text => sheepdog::bench::terminal::render(&bench).into_bytes(),
            ReportFormat::Json | ReportFormat::Csv => {
                let mut json = serde_json::to_vec_pretty(&bench).map_err(|e| e.to_string())?;
                json.push(b'\n');
                json
            }
        });
    }
    let (summary, rebuilt) = report::rebuild::load_or_rebuild(dir).map_err(|e| e.to_string())?;
    if rebuilt {
        eprintln!(
            "sheepdog: {} has no {}: the report is rebuilt from {} and {} (the run did not finish)",
            dir.display(),
            report::SUMMARY_FILE,
            report::csv::REQUESTS_FILE,
            sheepdog::output::ERRORS_FILE
        );
    }
    Ok(match format {
        ReportFormat::Md => report::markdown::render(&summary).into_bytes(),
        ReportFormat::Html => report::html::render(&summary).into_bytes(),
        ReportFormat::Json => report::json::render(&summary).map_err(|e| e.to_string())?,
        ReportFormat::Text => report::terminal::render(&summary).into_bytes(),
        ReportFormat::Csv => Vec::new(),
    })
}

/// Where a price was loaded from, for `sheepdog models`.
pub fn origin_of(config: &Config, price: &sheepdog::pricing::Price) -> String {
    if price.is_builtin() {
        "built-in table".to_string()
    } else if config
        .source
        .as_ref()
        .is_some_and(|s| s.display().to_string() == price.origin)
    {
        format!("job file {}", price.origin)
    } else if price.origin.is_empty() {
        "job config".to_string()
    } else {
        format!("--prices {}", price.origin)
    }
}

/// Every price in effect, grouped by where it was loaded from (built-in table first).
pub fn prices_in_effect(config: &Config) -> String {
    use std::fmt::Write as _;
    let mut groups: Vec<(String, Vec<(&str, &sheepdog::pricing::Price)>)> = Vec::new();
    for (model, price) in config.prices.iter() {
        let origin = origin_of(config, price);
        match groups.iter_mut().find(|g| g.0 == origin) {
            Some(group) => group.1.push((model, price)),
            None => groups.push((origin, vec![(model, price)])),
        }
    }
    groups.sort_by_key(|g| !g.0.starts_with("built-in"));
    let number = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut out = String::from("\nPrices in effect (USD per 1M tokens)\n");
    for (origin, prices) in groups {
        let _ = writeln!(out, "\nfrom the {origin}:");
        let _ = writeln!(
            out,
            "  {:<32} {:>8} {:>8} {:>8} {:>10} {:>10}  source (date)",
            "model", "input", "cached", "output", "batch in", "batch out"
        );
        for (model, p) in prices {
            let date = if p.date.is_empty() {
                String::new()
            } else {
                format!(" ({})", p.date)
            };
            let _ = writeln!(
                out,
                "  {model:<32} {:>8} {:>8} {:>8} {:>10} {:>10}  {}{date}",
                p.input,
                p.cached_input.unwrap_or(p.input),
                p.output,
                number(p.batch_input),
                number(p.batch_output),
                p.source
            );
        }
    }
    out
}

/// The folder's summary when it is a bench's (`"kind": "bench"`).
fn bench_summary(dir: &Path) -> Result<Option<sheepdog::bench::BenchSummary>, String> {
    let path = dir.join(report::SUMMARY_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string));
    if kind.as_deref() != Some("bench") {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: not a sheepdog bench summary: {e}", path.display()))
}
