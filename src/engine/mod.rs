//! The one run engine of `sheepdog run` and `sheepdog bench`: a source of work, a
//! [`Pacer`](crate::load::Pacer), the dispatcher, and a sink.
//!
//! - **Source** ([`Source`]): what to send next. `run` reads its input file (skipping lines
//!   already done, passing rejected lines straight to its owner); `bench` cycles its prompts.
//! - **Pacer**: when the next request may start. A closed loop (a free slot; `run`, and bench
//!   concurrency steps) or an open loop (a schedule; bench rate steps).
//! - **Dispatcher**: one request through its route, built by [`setup`] the same way for both.
//! - **Sink**: the single owner that receives every outcome: the run's owner (result files,
//!   collector, progress, metrics) or a bench step's owner (figures, requests.csv, metrics).
//!
//! Two loops start requests, and [`Pacer::drain_within`](crate::load::Pacer::drain_within)
//! then waits for the requests in flight:
//! - [`pump`] (open loops: a bench's rate steps): a ticket from the pacer, the next piece of
//!   work from the source, and the launch of its request's task;
//! - [`slots`] (closed loops: `run`, a bench's concurrency steps): one task per slot, which
//!   takes its next piece of work as soon as its last one is done. Handing each freed slot back
//!   to one loop that then spawned the next request woke that loop's thread for every request
//!   and made each wait for it and then for a runtime thread: at 1,024 streams 3.5 ms median
//!   per request, and for `run` at `--concurrency 64` 17% more CPU per item.

mod prepare;
pub mod setup;

use std::future::Future;
use std::ops::ControlFlow;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::{Pacer, Ticket};

pub use prepare::{check_keys, prepare, Prepared};
pub use setup::{dispatcher, targets_of, Setup};

/// Why the engine could not be set up. Exit code 2, like every setup failure.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A provider of the route has no key.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The HTTP client could not be built.
    #[error("{0}")]
    Client(String),
    /// The built-in mock server could not start.
    #[error("cannot start the built-in mock server on 127.0.0.1: {0}")]
    MockServer(std::io::Error),
}

/// How a run or a bench is stopped: `stop` sends nothing new and lets requests in flight finish
/// (up to the drain timeout); `abandon` drops them at once. Ctrl-C and SIGTERM cancel them
/// (first and second signal) the same way for both commands.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub stop: CancellationToken,
    pub abandon: CancellationToken,
}

/// Where the work of a run comes from.
pub trait Source {
    type Work: Send + 'static;

    /// The next piece of work; `None` when there is none left (or the source failed: it keeps
    /// why, for its owner to ask). A source that may wait (a pipe that sends nothing) must
    /// watch the stop token itself: the run must not hang on it.
    fn next_work(&mut self) -> impl Future<Output = Option<Self::Work>> + Send;
}

/// Sends work from `source` as the `pacer` allows, until the source runs dry, `stop` is
/// cancelled, the pacer's `deadline` comes, or `launch` says to break. `launch` starts the
/// request (a task of its own) and owns the ticket: dropping it frees the slot.
pub async fn pump<S: Source>(
    source: &mut S,
    pacer: &mut Pacer,
    deadline: Option<Instant>,
    stop: &CancellationToken,
    mut launch: impl FnMut(S::Work, Ticket) -> ControlFlow<()>,
) {
    while let Some(ticket) = pacer.next(deadline, stop).await {
        let Some(work) = source.next_work().await else { break };
        if launch(work, ticket).is_break() {
            break;
        }
    }
}

/// Starts a closed loop: takes every slot's ticket from `pacer` (at once, unless `stop` or
/// `deadline` comes first) and spawns `slot` with each. A slot task holds its ticket until it
/// ends, so [`Pacer::drain_within`](crate::load::Pacer::drain_within) waits for all of them.
pub async fn slots<F, Fut>(pacer: &mut Pacer, deadline: Option<Instant>, stop: &CancellationToken, mut slot: F)
where
    F: FnMut(Ticket) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for _ in 0..pacer.slots() {
        let Some(ticket) = pacer.next(deadline, stop).await else {
            break;
        };
        tokio::spawn(slot(ticket));
    }
}

#[cfg(test)]
mod tests;
