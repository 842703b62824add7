//! One step of a bench: the single worker loop. It asks the [`Pacer`] for the next ticket
//! (closed and open loops differ only there), sends each request through the same
//! `Dispatcher::process` as `run` (retries and limits included), and hands every finished
//! request to the step's single owner, which keeps the figures and writes `requests.csv`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::prompts::Prompts;
use super::requests::BenchRow;
use super::spec::{Slo, StopAt};
use super::stats::{Sample, StepCollector, Window};
use crate::dispatch::Dispatcher;
use crate::job::JobError;
use crate::load::{Load, Pacer};
use crate::output::requests::RequestsCsv;
use crate::output::WriteError;
use crate::stats::TargetInfo;

/// What every step shares.
pub(crate) struct StepContext<'a> {
    pub dispatcher: &'a Arc<Dispatcher>,
    pub targets: &'a [TargetInfo],
    pub stop_at: StopAt,
    pub warmup: Duration,
    pub slo: Option<Slo>,
    pub max_in_flight: usize,
    /// The start of the bench: `requests.csv` times count from here.
    pub start: Instant,
    pub stop: &'a CancellationToken,
}

/// A finished step: its figures, and the time it covers.
pub(crate) struct StepRun {
    pub collector: StepCollector,
    /// End of the warm-up → end of the last measured request.
    pub measured: Duration,
    /// Whether the step ran until its stop condition (not stopped early).
    pub complete: bool,
}

/// Runs step `step` (1-based) at `load`, writing its rows to `csv`. A failed write stops the
/// bench.
pub(crate) async fn run(
    ctx: &StepContext<'_>,
    step: usize,
    load: Load,
    prompts: &mut Prompts,
    csv: RequestsCsv,
) -> Result<(StepRun, RequestsCsv), JobError> {
    let dispatch_started = ctx.dispatcher.started();
    let start = Instant::now();
    let measure_from = start + ctx.warmup;
    let deadline = match ctx.stop_at {
        StopAt::Duration(d) => Some(measure_from + d),
        StopAt::Requests(_) => None,
    };
    let window = deadline.map(|to| Window { from: measure_from, to });
    let collector = StepCollector::new(ctx.targets.to_vec(), &load, ctx.slo, dispatch_started, window);
    let (samples_tx, samples) = mpsc::channel::<Sample>(4096);
    let owner = tokio::spawn(own(
        samples,
        collector,
        csv,
        (step, ctx.start, dispatch_started),
        ctx.stop.clone(),
    ));

    let mut pacer = Pacer::new(load, ctx.max_in_flight, start);
    let mut measured = 0u64;
    while let Some(ticket) = pacer.next(deadline, ctx.stop).await {
        let warmup = ticket.due < measure_from;
        measured += u64::from(!warmup);
        let item = prompts.next();
        let dispatcher = ctx.dispatcher.clone();
        let samples = samples_tx.clone();
        tokio::spawn(async move {
            let outcome = dispatcher.process(item).await;
            if let Some(metrics) = dispatcher.metrics() {
                metrics.observe(&outcome);
            }
            let sample = Sample {
                due: ticket.due,
                done: Instant::now(),
                warmup,
                outcome,
            };
            let _ = samples.send(sample).await;
            drop(ticket.permit);
        });
        if matches!(ctx.stop_at, StopAt::Requests(n) if measured >= n) {
            break;
        }
    }
    // Every slot back means every request of the step has reported.
    pacer.drain().await;
    drop(samples_tx);
    let owned = owner
        .await
        .map_err(|e| JobError::Setup(format!("the owner of bench step {step} stopped: {e}")))?;
    if let Some(error) = owned.write_error {
        return Err(error.into());
    }
    let measured_for = owned
        .last_done
        .map_or(Duration::ZERO, |done| done.saturating_duration_since(measure_from));
    let run = StepRun {
        collector: owned.collector,
        measured: measured_for,
        complete: !ctx.stop.is_cancelled(),
    };
    Ok((run, owned.csv))
}

struct Owned {
    collector: StepCollector,
    csv: RequestsCsv,
    /// When the last measured request ended.
    last_done: Option<Instant>,
    write_error: Option<WriteError>,
}

/// The step's single owner: figures and `requests.csv` rows. `times`: the step number, the
/// bench's start and what `Attempt::sent_at` counts from.
async fn own(
    mut samples: mpsc::Receiver<Sample>,
    mut collector: StepCollector,
    mut csv: RequestsCsv,
    times: (usize, Instant, Instant),
    stop: CancellationToken,
) -> Owned {
    let (step, start, dispatch_started) = times;
    let mut last_done: Option<Instant> = None;
    let mut write_error = None;
    while let Some(sample) = samples.recv().await {
        if write_error.is_none() {
            if let Err(e) = csv.write(&BenchRow::of(step, &sample, start, dispatch_started)) {
                write_error = Some(e);
                stop.cancel();
            }
        }
        if !sample.warmup {
            last_done = Some(last_done.map_or(sample.done, |d| d.max(sample.done)));
        }
        collector.record(&sample);
    }
    if write_error.is_none() {
        write_error = csv.flush().err();
    }
    Owned {
        collector,
        csv,
        last_done,
        write_error,
    }
}
