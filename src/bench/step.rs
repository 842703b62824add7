//! One step of a bench on the [engine](crate::engine): its source is the prompts, its pacer the
//! step's [`Load`] (closed loop for a concurrency, open loop for a rate), each request goes
//! through the same `Dispatcher::try_process` as `run` (retries and limits included), and every
//! finished request goes to the step's single owner, which keeps the figures, writes
//! `requests.csv` and feeds the metrics. A request a stop cut short before its first send is
//! not counted.

use std::ops::ControlFlow;
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
use crate::engine::Source;
use crate::input::WorkItem;
use crate::job::JobError;
use crate::load::{Load, Pacer, Ticket};
use crate::metrics::Metrics;
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
    /// Send nothing new; requests in flight get `drain_timeout` to finish.
    pub stop: &'a CancellationToken,
    /// Drop the requests in flight at once.
    pub abandon: &'a CancellationToken,
    pub drain_timeout: Duration,
}

/// A finished step: its figures, and the time it covers.
pub(crate) struct StepRun {
    pub collector: StepCollector,
    /// End of the warm-up → end of the last measured request.
    pub measured: Duration,
    /// Whether the step ran until its stop condition (not stopped early).
    pub complete: bool,
}

/// The prompts, sent in a cycle: a bench's source never runs dry.
impl Source for Prompts {
    type Work = WorkItem;

    async fn next_work(&mut self) -> Option<WorkItem> {
        Some(self.next())
    }
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
    let owner = Owner {
        collector,
        csv,
        times: (step, ctx.start, dispatch_started),
        stop: ctx.stop.clone(),
        metrics: ctx.dispatcher.metrics().cloned(),
    };
    let owner = tokio::spawn(owner.run(samples));

    let mut pacer = Pacer::precise(load, ctx.max_in_flight, start);
    let mut measured = 0u64;
    crate::engine::pump(prompts, &mut pacer, deadline, ctx.stop, |item, ticket| {
        let warmup = ticket.due < measure_from;
        measured += u64::from(!warmup);
        let request = Request {
            dispatcher: ctx.dispatcher.clone(),
            samples: samples_tx.clone(),
            abandon: ctx.abandon.clone(),
            warmup,
        };
        tokio::spawn(request.send(item, ticket));
        match ctx.stop_at {
            StopAt::Requests(n) if measured >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    })
    .await;
    // Every slot back means every request of the step has reported (or was dropped).
    pacer.drain_within(ctx.drain_timeout, ctx.stop, ctx.abandon).await;
    drop(samples_tx);
    let owned = owner.await.map_err(|source| JobError::Task {
        what: format!("the owner of bench step {step}"),
        source,
    })?;
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

/// One request's task.
struct Request {
    dispatcher: Arc<Dispatcher>,
    samples: mpsc::Sender<Sample>,
    abandon: CancellationToken,
    warmup: bool,
}

impl Request {
    /// Sends `item` and reports it; nothing when a stop came before its first request, or when
    /// the request is abandoned. The slot is freed once the owner has the sample.
    async fn send(self, item: WorkItem, ticket: Ticket) {
        let outcome = tokio::select! {
            outcome = self.dispatcher.try_process(item) => outcome.ok(),
            _ = self.abandon.cancelled() => None,
        };
        if let Some(outcome) = outcome {
            let sample = Sample {
                due: ticket.due,
                done: Instant::now(),
                warmup: self.warmup,
                outcome,
            };
            let _ = self.samples.send(sample).await;
        }
        drop(ticket.permit);
    }
}

/// The step's single owner: figures, `requests.csv` rows and metrics. `times`: the step number,
/// the bench's start and what `Attempt::sent_at` counts from.
struct Owner {
    collector: StepCollector,
    csv: RequestsCsv,
    times: (usize, Instant, Instant),
    stop: CancellationToken,
    metrics: Option<Metrics>,
}

struct Owned {
    collector: StepCollector,
    csv: RequestsCsv,
    /// When the last measured request ended.
    last_done: Option<Instant>,
    write_error: Option<WriteError>,
}

impl Owner {
    async fn run(self, mut samples: mpsc::Receiver<Sample>) -> Owned {
        let Owner {
            mut collector,
            mut csv,
            times: (step, start, dispatch_started),
            stop,
            metrics,
        } = self;
        let mut last_done: Option<Instant> = None;
        let mut write_error = None;
        while let Some(sample) = samples.recv().await {
            if write_error.is_none() {
                if let Err(e) = csv.write(&BenchRow::of(step, &sample, start, dispatch_started)) {
                    write_error = Some(e);
                    stop.cancel();
                }
            }
            if let Some(metrics) = &metrics {
                metrics.observe(&sample.outcome);
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
}
