//! One step of a bench on the [engine](crate::engine): its source is the prompts, its pacer the
//! step's [`Load`] (closed loop for a concurrency, open loop for a rate), each request goes
//! through the same `Dispatcher::try_process` as `run` (retries and limits included), and every
//! finished request goes to the step's single owner, which keeps the figures, writes
//! `requests.csv` and feeds the metrics. A request a stop cut short before its first send is
//! not counted.
//!
//! A closed loop runs as its slots ([`crate::engine::slots`]): one task per slot sends a
//! request and, as soon as it has reported, the next.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The bench's prompts, shared by its steps and a closed loop's slots; each draw takes the
/// next one in the sequence the seed gives.
#[derive(Clone)]
pub(crate) struct SharedPrompts(Arc<tokio::sync::Mutex<Prompts>>);

impl SharedPrompts {
    pub fn new(prompts: Prompts) -> SharedPrompts {
        SharedPrompts(Arc::new(tokio::sync::Mutex::new(prompts)))
    }

    /// The next prompt; a draw waits (without holding a runtime thread) for a file's prompt
    /// still being read.
    async fn draw(&self) -> Option<WorkItem> {
        self.0.lock().await.next().await
    }

    /// Why the prompts ended, if they have (a file that could not be read again).
    pub async fn failure(&self) -> Option<String> {
        self.0.lock().await.failure().map(str::to_string)
    }
}

/// The prompts, sent in a cycle: a bench's source runs dry only when its file fails.
impl Source for SharedPrompts {
    type Work = WorkItem;

    async fn next_work(&mut self) -> Option<WorkItem> {
        self.draw().await
    }
}

/// Runs step `step` (1-based) at `load`, writing its rows to `csv`. A failed write stops the
/// bench.
pub(crate) async fn run(
    ctx: &StepContext<'_>,
    step: usize,
    load: Load,
    prompts: &SharedPrompts,
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
    let request = Request {
        dispatcher: ctx.dispatcher.clone(),
        samples: samples_tx.clone(),
        abandon: ctx.abandon.clone(),
    };
    if load.is_open() {
        let mut measured = 0u64;
        crate::engine::pump(&mut prompts.clone(), &mut pacer, deadline, ctx.stop, |item, ticket| {
            let warmup = ticket.due < measure_from;
            measured += u64::from(!warmup);
            tokio::spawn(request.clone().send(item, ticket, warmup));
            match ctx.stop_at {
                StopAt::Requests(n) if measured >= n => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        })
        .await;
    } else {
        let count = Arc::new(Count {
            launched: AtomicU64::new(0),
            limit: match ctx.stop_at {
                StopAt::Requests(n) => Some(n),
                StopAt::Duration(_) => None,
            },
        });
        crate::engine::slots(&mut pacer, deadline, ctx.stop, |ticket| {
            let slot = Slot {
                request: request.clone(),
                prompts: prompts.clone(),
                count: count.clone(),
                measure_from,
                deadline,
                stop: ctx.stop.clone(),
            };
            slot.run(ticket)
        })
        .await;
    }
    drop(request);
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

/// One request's task (open loop), or what a closed loop's slot sends with.
#[derive(Clone)]
struct Request {
    dispatcher: Arc<Dispatcher>,
    samples: mpsc::Sender<Sample>,
    abandon: CancellationToken,
}

impl Request {
    /// Sends `item` and reports it; nothing when a stop came before its first request, or when
    /// the request is abandoned. The slot is freed once the owner has the sample.
    async fn send(self, item: WorkItem, ticket: Ticket, warmup: bool) {
        self.report(item, ticket.due, warmup).await;
        drop(ticket.permit);
    }

    /// Sends `item`, due at `due`, and hands its sample to the owner. False when there was
    /// nothing to report (abandoned, or stopped before the first send).
    async fn report(&self, item: WorkItem, due: Instant, warmup: bool) -> bool {
        let outcome = tokio::select! {
            outcome = self.dispatcher.try_process(item) => outcome.ok(),
            _ = self.abandon.cancelled() => None,
        };
        let Some(outcome) = outcome else {
            return false;
        };
        let sample = Sample {
            due,
            done: Instant::now(),
            warmup,
            outcome,
        };
        self.samples.send(sample).await.is_ok()
    }
}

/// How many measured requests a closed loop's slots have started, against `--requests`.
struct Count {
    launched: AtomicU64,
    limit: Option<u64>,
}

impl Count {
    /// Whether one more measured request may start (and counts it).
    fn take(&self) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        self.launched.fetch_add(1, Ordering::Relaxed) < limit
    }
}

/// One slot of a closed loop: its next request starts as soon as the last one reported, due
/// then, until the step's deadline, a stop, or the step's count of requests.
struct Slot {
    request: Request,
    prompts: SharedPrompts,
    count: Arc<Count>,
    measure_from: Instant,
    deadline: Option<Instant>,
    stop: CancellationToken,
}

impl Slot {
    async fn run(self, ticket: Ticket) {
        let mut due = ticket.due;
        loop {
            if self.stop.is_cancelled() || self.deadline.is_some_and(|d| due >= d) {
                break;
            }
            let warmup = due < self.measure_from;
            if !warmup && !self.count.take() {
                break;
            }
            let Some(item) = self.prompts.draw().await else {
                break;
            };
            if !self.request.report(item, due, warmup).await {
                break;
            }
            due = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_lets_exactly_its_limit_of_requests_start() {
        let count = Count {
            launched: AtomicU64::new(0),
            limit: Some(3),
        };
        let started = (0..10).filter(|_| count.take()).count();
        assert_eq!(started, 3);
        let unlimited = Count {
            launched: AtomicU64::new(0),
            limit: None,
        };
        assert!((0..10).all(|_| unlimited.take()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_drawing_at_once_take_each_limit_place_once() {
        let count = Arc::new(Count {
            launched: AtomicU64::new(0),
            limit: Some(500),
        });
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let count = count.clone();
                tokio::spawn(async move { (0..200).filter(|_| count.take()).count() })
            })
            .collect();
        let mut started = 0;
        for task in tasks {
            started += task.await.unwrap();
        }
        assert_eq!(started, 500);
    }
}
