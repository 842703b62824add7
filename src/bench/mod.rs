//! `sheepdog bench`: drives an endpoint at a fixed concurrency or arrival rate, one step of a
//! sweep after another, and reports latency (e2e, TTFT, ITL, TPOT, and in open loop from the
//! scheduled send time), throughput, errors and SLO goodput.
//!
//! Requests go through the same `Dispatcher::process` as `run` (retries, limits, fallbacks),
//! streamed by default. Each step runs the single worker loop of [`step`] with its own
//! [`Load`]; its samples go to one owner, which keeps the figures and writes `requests.csv`.
//! After each step `summary.json` ([`BenchSummary`]), `report.md` and `report.html` are
//! rewritten, so a long sweep that is stopped still leaves the steps it finished.

pub mod html;
pub mod markdown;
mod plan;
mod prompts;
pub mod requests;
pub mod saturation;
pub mod search;
pub mod spec;
mod stats;
mod step;
pub mod summary;
pub mod terminal;

use std::path::PathBuf;
use std::time::SystemTime;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dispatch::{DispatchOptions, Dispatcher};
use crate::job::{prepare, JobError, RunStatus};
use crate::load::Load;
use crate::output::WriteError;
use crate::provider::Client;
use crate::report::{write_atomic, MARKDOWN_FILE, SUMMARY_FILE};
use crate::stats::summary::JobInfo;
use crate::stats::TargetInfo;
use crate::threshold;

pub use prompts::PromptInfo;
pub use search::{FindMax, FindMaxReport, SearchBy};
pub use spec::{BenchSpec, PromptSource, Slo, SloMetric, SloSpec, StopAt, Synthetic};
pub use summary::{BenchInfo, BenchSummary, FolderKind, StepReport, BENCH_SCHEMA_VERSION};

/// The tokenizer that sizes synthetic prompts when the route names no model.
const FALLBACK_TOKENIZER_MODEL: &str = "gpt-4.1-mini";

/// What a bench reports while it runs (the binary prints it; the library never does).
#[derive(Debug)]
pub enum BenchEvent<'a> {
    /// `of`: the steps planned, unknown for a `--find-max` search.
    StepStarted {
        step: usize,
        of: Option<usize>,
        load: &'a Load,
    },
    StepFinished(&'a StepReport),
}

#[derive(Debug, Clone)]
pub struct BenchOutput {
    pub summary: BenchSummary,
    pub out_dir: PathBuf,
    pub status: RunStatus,
}

/// Runs every step of `spec` (or until `stop`), writing the run folder as it goes.
pub async fn run_bench(
    config: &Config,
    spec: &BenchSpec,
    stop: CancellationToken,
    observe: &mut (dyn FnMut(BenchEvent<'_>) + Send),
) -> Result<BenchOutput, JobError> {
    spec.validate(config.stream.is_some()).map_err(JobError::Setup)?;
    let prepared = prepare(config).await?;
    let primary = &prepared.route[0];
    let primary_model = primary.model.clone().or_else(|| primary.default_model.clone());
    let tokenizer_model = primary_model
        .clone()
        .unwrap_or_else(|| FALLBACK_TOKENIZER_MODEL.to_string());
    let (mut prompts, prompt_info) = prompts::Prompts::load(&spec.prompts, &tokenizer_model, spec.seed)?;
    if primary_model.is_none() && prompts.first_model().is_none() {
        return Err(JobError::Setup(
            "no model: give --model, targets in a job file, or \"model\" in the input lines".into(),
        ));
    }
    let out_dir = out_dir(config)?;
    let mut csv = requests::RequestsCsv::create(&out_dir)?;
    let targets: Vec<TargetInfo> = prepared
        .route
        .iter()
        .map(|t| TargetInfo {
            name: t.name.clone(),
            provider: t.endpoint.provider.clone(),
            model: t.model.clone().unwrap_or_else(|| "(per line)".into()),
        })
        .collect();
    let slots = match spec.find_max {
        Some(FindMax {
            by: SearchBy::Concurrency,
            ceiling,
            ..
        }) => ceiling as usize,
        Some(_) => spec.max_in_flight,
        None => spec
            .steps
            .iter()
            .map(|l| l.slots(spec.max_in_flight))
            .max()
            .unwrap_or(1),
    }
    .max(1);
    let mut client = Client::new(slots)
        .map_err(|e| JobError::Setup(e.to_string()))?
        .max_response_size(config.max_response_size);
    if let Some(settings) = config.stream {
        client = client.streaming(settings);
    }
    let mut options = DispatchOptions::from_config(config);
    options.concurrency = slots;
    options.metrics = spec.metrics.clone();
    let dispatcher = Dispatcher::new(client, prepared.route, options, stop.clone());

    let started_at = SystemTime::now();
    let start = Instant::now();
    let mut info = BenchInfo {
        prompts: spec.prompts.label(),
        prompt_tokens: prompt_info.input_tokens,
        target: targets[0].name.clone(),
        model: primary_model.unwrap_or_else(|| targets[0].model.clone()),
        streamed: config.stream.is_some(),
        stop: spec.stop_at.label(),
        warmup_s: spec.warmup.as_secs_f64(),
        slo: spec.slo.as_ref().map(SloSpec::from),
        out_dir: out_dir.display().to_string(),
        started_at: rfc3339(started_at),
        finished_at: rfc3339(started_at),
        duration_s: 0.0,
        aborted: None,
        stopped_early: None,
        config: config.echo(),
    };
    let mut summary = BenchSummary {
        schema_version: BENCH_SCHEMA_VERSION,
        kind: FolderKind::Bench,
        sheepdog_version: env!("CARGO_PKG_VERSION").to_string(),
        bench: info.clone(),
        steps: Vec::new(),
        thresholds: Vec::new(),
        find_max: None,
    };
    let ctx = step::StepContext {
        dispatcher: &dispatcher,
        targets: &targets,
        stop_at: spec.stop_at,
        warmup: spec.warmup,
        slo: spec.slo,
        max_in_flight: spec.max_in_flight,
        start,
        stop: &stop,
    };
    let mut failure = None;
    let mut plan = plan::Plan::new(spec);
    let timed = matches!(spec.stop_at, StopAt::Duration(_)).then(|| spec.warmup.as_secs_f64());
    while let Some(load) = plan.next() {
        if stop.is_cancelled() {
            break;
        }
        let number = summary.steps.len() + 1;
        observe(BenchEvent::StepStarted {
            step: number,
            of: plan.planned(),
            load: &load,
        });
        let step_started = SystemTime::now();
        let (run, returned) = match step::run(&ctx, number, load, &mut prompts, csv).await {
            Ok(done) => done,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        csv = returned;
        let job = JobInfo {
            input: format!("bench step {number}: {}", load.label()),
            out_dir: out_dir.display().to_string(),
            started_at: rfc3339(step_started),
            finished_at: rfc3339(SystemTime::now()),
            duration_s: run.measured.as_secs_f64(),
            aborted: None,
            parts: 1,
            config: serde_json::Value::Null,
        };
        let mut report = run.collector.finish(number, &load, run.measured, run.complete, job);
        if let Some(note) = plan.record(&mut report, &summary.steps, timed) {
            info.stopped_early = Some(note);
        }
        observe(BenchEvent::StepFinished(&report));
        let checks = threshold::check(&spec.thresholds, &report.figures(), &step_scope(&report));
        let crossed = checks.iter().any(|c| !c.passed);
        summary.thresholds.extend(checks);
        summary.steps.push(report);
        if crossed && spec.abort_on_fail {
            info.stopped_early = Some(format!(
                "a threshold was crossed at step {number} (--abort-on-fail): no further step run"
            ));
        }
        if let plan::Plan::Search(search) = &plan {
            summary.find_max = Some(search.report());
        }
        info.finished_at = rfc3339(SystemTime::now());
        info.duration_s = start.elapsed().as_secs_f64();
        summary.bench = info.clone();
        write_reports(&out_dir, &summary)?;
        if crossed && spec.abort_on_fail {
            break;
        }
    }
    if let Some(mock) = prepared.mock {
        mock.shutdown().await;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let aborted = stop
        .is_cancelled()
        .then(|| dispatcher.abort_reason().unwrap_or_else(|| "interrupted".to_string()));
    info.aborted = aborted.clone();
    info.finished_at = rfc3339(SystemTime::now());
    info.duration_s = start.elapsed().as_secs_f64();
    summary.bench = info;
    write_reports(&out_dir, &summary)?;
    let failed: u64 = summary.steps.iter().map(|s| s.failed).sum();
    let status = match aborted {
        Some(reason) => RunStatus::Aborted(reason),
        None if failed > 0 || summary.crossed().next().is_some() => RunStatus::SomeFailed,
        None => RunStatus::AllSucceeded,
    };
    Ok(BenchOutput {
        summary,
        out_dir,
        status,
    })
}

/// Where a step's threshold checks were made: `step 3 (rate 20/s)`.
fn step_scope(report: &StepReport) -> String {
    format!("step {} ({})", report.step, report.load.label)
}

fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// `summary.json`, `report.md` and `report.html`, each written atomically.
fn write_reports(dir: &std::path::Path, summary: &BenchSummary) -> Result<(), JobError> {
    let fail = |source: std::io::Error| {
        JobError::Write(WriteError {
            path: dir.to_path_buf(),
            source,
        })
    };
    let mut json = serde_json::to_vec_pretty(summary).map_err(|e| fail(std::io::Error::other(e)))?;
    json.push(b'\n');
    write_atomic(dir, SUMMARY_FILE, &json).map_err(fail)?;
    write_atomic(dir, MARKDOWN_FILE, markdown::render(summary).as_bytes()).map_err(fail)?;
    let html = html::render(summary);
    write_atomic(dir, crate::report::HTML_FILE, html.as_bytes()).map_err(fail)
}

/// The run folder: `--out`, or `reports/bench-<UTC timestamp>/`. A folder that already holds a
/// summary is refused, so one bench never overwrites another.
fn out_dir(config: &Config) -> Result<PathBuf, JobError> {
    let dir = match &config.out {
        Some(dir) => dir.clone(),
        None => crate::output::fresh_run_dir("bench"),
    };
    if dir.join(SUMMARY_FILE).exists() {
        return Err(JobError::Setup(format!(
            "{}: already holds the summary of a run; choose another --out",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| JobError::Setup(format!("{}: cannot create the run folder: {e}", dir.display())))?;
    Ok(dir)
}
