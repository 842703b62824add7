//! `sheepdog bench`: drives an endpoint at a fixed concurrency or arrival rate, one step of a
//! sweep after another, and reports latency (e2e, TTFT, ITL, TPOT, and in open loop from the
//! scheduled send time), throughput, errors and SLO goodput.
//!
//! Requests go through the same [engine](crate::engine) as `run`: one setup of the dispatcher
//! (retries, limits, fallbacks), streamed by default; each step pumps the prompts through a
//! pacer for its own [`Load`], and its samples go to one owner, which keeps the figures, writes
//! `requests.csv` and feeds the metrics. Ctrl-C and SIGTERM stop it like a run.
//! After each step `summary.json` ([`BenchSummary`]), `report.md` and `report.html` are
//! rewritten, so a long sweep that is stopped still leaves the steps it finished.

pub mod html;
mod lines;
pub mod markdown;
mod plan;
mod prompts;
pub mod requests;
pub mod saturation;
pub mod search;
mod sharegpt;
pub mod spec;
mod stats;
mod step;
pub mod summary;
pub mod synthetic;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::time::Instant;

use crate::config::Config;
use crate::engine::{prepare, Setup, Stop};
use crate::job::{JobError, RunStatus};
use crate::load::Load;
use crate::output::requests::RequestsCsv;
use crate::output::WriteError;
use crate::report::{write_atomic, MARKDOWN_FILE, SUMMARY_FILE};
use crate::stats::summary::JobInfo;
use crate::stats::TargetInfo;
use crate::threshold;

use prompts::PromptSize;
pub use search::{FindMax, FindMaxReport, SearchBy};
pub use spec::{BenchSpec, Length, PromptSource, Slo, SloMetric, SloSpec, StopAt, Synthetic};
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
    stop: &Stop,
    observe: &mut (dyn FnMut(BenchEvent<'_>) + Send),
) -> Result<BenchOutput, JobError> {
    spec.validate(config.stream.is_some()).map_err(JobError::Bench)?;
    let prepared = prepare(config).await?;
    let targets = crate::engine::targets_of(&prepared.route);
    let (prompts, loaded) = load_prompts(config, spec, &prepared.route)?;
    let out_dir = out_dir(config)?;
    let csv = RequestsCsv::create(&out_dir)?;
    let setup = Setup {
        slots: slots(spec),
        metrics: spec.metrics.clone(),
        journal: None,
    };
    let dispatcher = crate::engine::dispatcher(config, prepared.route, setup, &stop.stop)?;
    let start = Instant::now();
    let ctx = step::StepContext {
        dispatcher: &dispatcher,
        targets: &targets,
        stop_at: spec.stop_at,
        warmup: spec.warmup,
        slo: spec.slo,
        max_in_flight: spec.max_in_flight,
        start,
        stop: &stop.stop,
        abandon: &stop.abandon,
        drain_timeout: config.run.drain_timeout,
    };
    let prompt_size = loaded.prompt_size.clone();
    let mut bench = Bench {
        summary: BenchSummary::new(loaded.into_info(config, &targets, &out_dir)),
        out_dir,
        start,
        prompt_size,
    };
    let swept = bench.sweep(&ctx, spec, prompts, csv, observe).await;
    if let Some(mock) = prepared.mock {
        mock.shutdown().await;
    }
    swept?;
    let aborted = stop
        .stop
        .is_cancelled()
        .then(|| dispatcher.abort_reason().unwrap_or_else(|| "interrupted".to_string()));
    bench.summary.bench.budget = dispatcher.budget_report();
    bench.finish(aborted)
}

/// In-flight slots of the client and the dispatcher: the most any step may use.
fn slots(spec: &BenchSpec) -> usize {
    match spec.find_max {
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
    .max(1)
}

/// What the bench sends, as its summary says before the first step.
struct Loaded {
    prompts: String,
    prompt_size: PromptSize,
    model: Option<String>,
    streamed: bool,
    stop: String,
    warmup_s: f64,
    slo: Option<SloSpec>,
}

fn load_prompts(
    config: &Config,
    spec: &BenchSpec,
    route: &[crate::dispatch::RouteTarget],
) -> Result<(prompts::Prompts, Loaded), JobError> {
    let primary = &route[0];
    let primary_model = primary.model.clone().or_else(|| primary.default_model.clone());
    let tokenizer_model = primary_model
        .clone()
        .unwrap_or_else(|| FALLBACK_TOKENIZER_MODEL.to_string());
    let (prompts, prompt_size) = prompts::Prompts::load(&spec.prompts, &tokenizer_model, spec.seed, spec.endpoint)?;
    if primary_model.is_none() && prompts.first_model().is_none() {
        return Err(JobError::Bench(
            "no model: give --model, targets in a job file, or \"model\" in the input lines".into(),
        ));
    }
    let loaded = Loaded {
        prompts: spec.prompts.label(),
        prompt_size,
        model: primary_model,
        streamed: config.stream.is_some(),
        stop: spec.stop_at.label(),
        warmup_s: spec.warmup.as_secs_f64(),
        slo: spec.slo.as_ref().map(SloSpec::from),
    };
    Ok((prompts, loaded))
}

impl Loaded {
    fn into_info(self, config: &Config, targets: &[TargetInfo], out_dir: &Path) -> BenchInfo {
        let started_at = rfc3339(SystemTime::now());
        BenchInfo {
            prompts: self.prompts,
            prompt_tokens: 0,
            target: targets[0].name.clone(),
            model: self.model.unwrap_or_else(|| targets[0].model.clone()),
            streamed: self.streamed,
            stop: self.stop,
            warmup_s: self.warmup_s,
            slo: self.slo,
            out_dir: out_dir.display().to_string(),
            started_at: started_at.clone(),
            finished_at: started_at,
            duration_s: 0.0,
            aborted: None,
            stopped_early: None,
            budget: None,
            config: config.echo(),
        }
    }
}

impl BenchSummary {
    fn new(bench: BenchInfo) -> BenchSummary {
        BenchSummary {
            schema_version: BENCH_SCHEMA_VERSION,
            kind: FolderKind::Bench,
            sheepdog_version: env!("CARGO_PKG_VERSION").to_string(),
            bench,
            steps: Vec::new(),
            thresholds: Vec::new(),
            find_max: None,
        }
    }
}

/// A bench under way: its folder and its summary so far.
struct Bench {
    out_dir: PathBuf,
    summary: BenchSummary,
    start: Instant,
    /// The report's prompt size when no request was answered.
    prompt_size: PromptSize,
}

impl Bench {
    /// Runs the planned steps (or the search) until the plan ends, a stop, or a crossed
    /// threshold with `--abort-on-fail`; the reports are rewritten after each step.
    async fn sweep(
        &mut self,
        ctx: &step::StepContext<'_>,
        spec: &BenchSpec,
        prompts: prompts::Prompts,
        mut csv: RequestsCsv,
        observe: &mut (dyn FnMut(BenchEvent<'_>) + Send),
    ) -> Result<(), JobError> {
        let prompts = step::SharedPrompts::new(prompts);
        let mut plan = plan::Plan::new(spec);
        let timed = matches!(spec.stop_at, StopAt::Duration(_)).then(|| spec.warmup.as_secs_f64());
        while let Some(load) = plan.next() {
            if ctx.stop.is_cancelled() {
                break;
            }
            let number = self.summary.steps.len() + 1;
            observe(BenchEvent::StepStarted {
                step: number,
                of: plan.planned(),
                load: &load,
            });
            let step_started = SystemTime::now();
            let (run, returned) = step::run(ctx, number, load, &prompts, csv).await?;
            csv = returned;
            let job = step_job(number, &load, &self.out_dir, step_started, run.measured);
            let mut report = run.collector.finish(number, &load, run.measured, run.complete, job);
            if let Some(note) = plan.record(&mut report, &self.summary.steps, timed) {
                self.summary.bench.stopped_early = Some(note);
            }
            observe(BenchEvent::StepFinished(&report));
            self.summary.bench.budget = ctx.dispatcher.budget_report();
            let crossed = self.add_step(spec, report, &plan)?;
            // A prompt file that can no longer be read ends the bench, after the step it cut
            // short is kept in the reports with the reason.
            if let Some(failure) = prompts.failure().await {
                self.summary.bench.stopped_early = Some(format!("the prompts ended: {failure}"));
                self.stamp();
                write_reports(&self.out_dir, &self.summary)?;
                return Err(JobError::Bench(failure));
            }
            if crossed && spec.abort_on_fail {
                break;
            }
        }
        Ok(())
    }

    /// Adds a finished step and its threshold checks, and rewrites the reports. True when a
    /// threshold was crossed.
    fn add_step(&mut self, spec: &BenchSpec, report: StepReport, plan: &plan::Plan) -> Result<bool, JobError> {
        let number = report.step;
        let checks = threshold::check(&spec.thresholds, &report.figures(), &step_scope(&report));
        let crossed = checks.iter().any(|c| !c.passed);
        self.summary.thresholds.extend(checks);
        self.summary.steps.push(report);
        if crossed && spec.abort_on_fail {
            self.summary.bench.stopped_early = Some(format!(
                "a threshold was crossed at step {number} (--abort-on-fail): no further step run"
            ));
        }
        if let plan::Plan::Search(search) = plan {
            self.summary.find_max = Some(search.report());
        }
        self.stamp();
        write_reports(&self.out_dir, &self.summary)?;
        Ok(crossed)
    }

    fn stamp(&mut self) {
        self.summary.bench.finished_at = rfc3339(SystemTime::now());
        self.summary.bench.duration_s = self.start.elapsed().as_secs_f64();
        self.summary.bench.prompt_tokens = prompt_tokens(&self.summary.steps, &self.prompt_size);
    }

    /// The final reports, and how the bench ended.
    fn finish(mut self, aborted: Option<String>) -> Result<BenchOutput, JobError> {
        self.summary.bench.aborted = aborted.clone();
        self.stamp();
        write_reports(&self.out_dir, &self.summary)?;
        let failed: u64 = self.summary.steps.iter().map(|s| s.failed).sum();
        let status = match aborted {
            Some(reason) => RunStatus::Aborted(reason),
            None if failed > 0 || self.summary.crossed().next().is_some() => RunStatus::SomeFailed,
            None => RunStatus::AllSucceeded,
        };
        Ok(BenchOutput {
            summary: self.summary,
            out_dir: self.out_dir,
            status,
        })
    }
}

/// Prompt tokens per answered measured request, as the answers' `usage` counted them (the
/// tokenizer's count where an answer had none); the tokenizer's count of the first prompt when
/// no request was answered.
fn prompt_tokens(steps: &[StepReport], size: &PromptSize) -> u64 {
    let (input, answered) = steps.iter().fold((0u64, 0u64), |(input, answered), step| {
        let summary = &step.summary;
        (
            input.saturating_add(summary.tokens.input),
            answered + summary.totals.succeeded,
        )
    });
    match answered {
        0 => size.count(),
        answered => (input as f64 / answered as f64).round() as u64,
    }
}

/// What a step's own summary says of it as a job.
fn step_job(number: usize, load: &Load, out_dir: &Path, started: SystemTime, measured: std::time::Duration) -> JobInfo {
    JobInfo {
        input: format!("bench step {number}: {}", load.label()),
        out_dir: out_dir.display().to_string(),
        started_at: rfc3339(started),
        finished_at: rfc3339(SystemTime::now()),
        duration_s: measured.as_secs_f64(),
        aborted: None,
        parts: 1,
        config: serde_json::Value::Null,
    }
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
        return Err(JobError::RunFolder(format!(
            "{}: already holds the summary of a run; choose another --out",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| JobError::RunFolder(format!("{}: cannot create the run folder: {e}", dir.display())))?;
    Ok(dir)
}
