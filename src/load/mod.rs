//! Arrival schedules for `sheepdog bench`: when each request of a step may start.
//!
//! A step has one [`Load`]: a closed loop (N requests always in flight: the next starts when one
//! ends) or an open loop (requests start at a rate, evenly spaced or with Poisson arrivals,
//! whatever happens to earlier ones). A sweep is a list of loads run one after another.
//!
//! [`Pacer`] turns a load into [`Ticket`]s: each says when its request was *due* and holds one
//! of the in-flight slots. The bench's single worker loop asks the pacer for the next ticket, so
//! the modes differ only by their schedule, never by a copy of the loop.

mod schedule;
mod ticker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use schedule::Schedule;
pub use ticker::Ticker;

/// Open-loop requests in flight at once when not told otherwise: far beyond what a client
/// needs, but a bound, so a stalled server cannot make the client spawn without end.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;

/// The most requests a step may hold in flight (each is a task and a connection).
pub const MAX_IN_FLIGHT: usize = 100_000;

/// How requests arrive in one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Closed loop: `concurrency` requests always in flight.
    Closed { concurrency: usize },
    /// Open loop: `rate` requests per second, whatever happens to earlier ones.
    Open { rate: f64, arrivals: Arrivals },
}

/// How open-loop requests are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrivals {
    /// Exactly 1/rate apart.
    Even,
    /// Exponentially distributed gaps with mean 1/rate (a Poisson process), seeded.
    Poisson { seed: u64 },
}

impl Load {
    /// `concurrency 16`, `rate 10/s`, `rate 10/s poisson`.
    pub fn label(&self) -> String {
        match self {
            Load::Closed { concurrency } => format!("concurrency {concurrency}"),
            Load::Open { rate, arrivals } => {
                let poisson = match arrivals {
                    Arrivals::Even => "",
                    Arrivals::Poisson { .. } => " poisson",
                };
                format!("rate {}/s{poisson}", trim_float(*rate))
            }
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self, Load::Open { .. })
    }

    /// In-flight slots the step may use: the concurrency, or `max_in_flight` for an open loop.
    pub fn slots(&self, max_in_flight: usize) -> usize {
        match self {
            Load::Closed { concurrency } => *concurrency,
            Load::Open { .. } => max_in_flight,
        }
        .max(1)
    }
}

/// `10`, `2.5`: a rate without trailing zeros.
pub fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Parses `1,4,16,64`: concurrencies of a sweep (each at least 1).
pub fn parse_concurrencies(text: &str) -> Result<Vec<Load>, String> {
    list(text, "concurrency", |part| {
        let n: usize = part.parse().map_err(|_| format!("`{part}` is not a whole number"))?;
        if n == 0 {
            return Err("a concurrency must be at least 1".into());
        }
        if n > MAX_IN_FLIGHT {
            return Err(format!(
                "a concurrency of {n} is more than the {MAX_IN_FLIGHT} requests a step can hold open"
            ));
        }
        Ok(Load::Closed { concurrency: n })
    })
}

/// Parses `5,10,20.5`: request rates per second of a sweep (each above 0).
pub fn parse_rates(text: &str, arrivals: Arrivals) -> Result<Vec<Load>, String> {
    list(text, "rate", |part| {
        let rate: f64 = part
            .parse()
            .map_err(|_| format!("`{part}` is not a number of requests per second"))?;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("rate `{part}` must be above 0"));
        }
        Ok(Load::Open { rate, arrivals })
    })
}

fn list(text: &str, what: &str, one: impl Fn(&str) -> Result<Load, String>) -> Result<Vec<Load>, String> {
    let mut loads = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("empty {what} in `{text}`: write e.g. 1,4,16"));
        }
        loads.push(one(part)?);
    }
    Ok(loads)
}

/// The right to start one request: when it was due, and its in-flight slot (released on drop).
#[derive(Debug)]
pub struct Ticket {
    /// When the request should have started. Closed loop: when its slot became free.
    pub due: Instant,
    pub permit: OwnedSemaphorePermit,
}

/// When open-loop requests are released.
enum Release {
    /// Closed loop: no schedule.
    Closed,
    /// tokio's timer (millisecond ticks; follows a paused clock in tests).
    Timer(Schedule),
    /// The pacing thread of [`Ticker`] (see there).
    Thread(Ticker),
}

/// Hands out tickets for one step.
pub struct Pacer {
    release: Release,
    start: Instant,
    slots: Arc<Semaphore>,
    size: u32,
}

impl Pacer {
    /// A pacer for `load` whose schedule starts at `start`, released by tokio's timer.
    pub fn new(load: Load, max_in_flight: usize, start: Instant) -> Pacer {
        Pacer::with(load, max_in_flight, start, false)
    }

    /// Like [`Pacer::new`], but an open loop is released by a pacing thread (see [`Ticker`]),
    /// to within a fraction of a millisecond of its schedule. Not for a paused tokio clock.
    pub fn precise(load: Load, max_in_flight: usize, start: Instant) -> Pacer {
        Pacer::with(load, max_in_flight, start, true)
    }

    fn with(load: Load, max_in_flight: usize, start: Instant, precise: bool) -> Pacer {
        let size = u32::try_from(load.slots(max_in_flight)).unwrap_or(u32::MAX >> 3);
        let release = match load {
            Load::Closed { .. } => Release::Closed,
            Load::Open { rate, arrivals } if precise => {
                // Without a thread, the timer paces as before.
                match Ticker::start(Schedule::new(rate, arrivals), start.into_std()) {
                    Some(ticker) => Release::Thread(ticker),
                    None => Release::Timer(Schedule::new(rate, arrivals)),
                }
            }
            Load::Open { rate, arrivals } => Release::Timer(Schedule::new(rate, arrivals)),
        };
        Pacer {
            release,
            start,
            slots: Arc::new(Semaphore::new(size as usize)),
            size,
        }
    }

    /// Waits until the next request may start. `None` when `stop` is cancelled or the next
    /// request would be due at or after `deadline`.
    ///
    /// Closed loop: waits for a free slot; the request is due now. Open loop: waits until the
    /// scheduled time; if every slot is still taken then, it waits for one, and the request
    /// starts late (its lag shows it).
    pub async fn next(&mut self, deadline: Option<Instant>, stop: &CancellationToken) -> Option<Ticket> {
        if stop.is_cancelled() {
            return None;
        }
        let due = match &mut self.release {
            Release::Timer(schedule) => {
                let due = self.start + schedule.next_offset();
                if deadline.is_some_and(|d| due >= d) {
                    return None;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop.cancelled() => return None,
                }
                Some(due)
            }
            Release::Thread(ticker) => {
                let due = tokio::select! {
                    due = ticker.next() => Instant::from_std(due?),
                    _ = stop.cancelled() => return None,
                };
                if deadline.is_some_and(|d| due >= d) {
                    return None;
                }
                Some(due)
            }
            Release::Closed => None,
        };
        let permit = match due {
            // Open loop: the request is due before the deadline, so it goes, late if it must.
            Some(_) => tokio::select! {
                biased;
                permit = self.slots.clone().acquire_owned() => permit.ok()?,
                _ = stop.cancelled() => return None,
            },
            None => tokio::select! {
                biased;
                permit = self.slots.clone().acquire_owned() => permit.ok()?,
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)) => return None,
            },
        };
        let due = due.unwrap_or_else(Instant::now);
        if deadline.is_some_and(|d| due >= d) {
            return None;
        }
        Some(Ticket { due, permit })
    }

    /// How many tickets may be out at once.
    pub fn slots(&self) -> usize {
        self.size as usize
    }

    /// Waits until every ticket handed out has been dropped.
    pub async fn drain(&self) {
        let _ = self.slots.acquire_many(self.size).await;
    }

    /// Waits until every ticket handed out has been dropped, i.e. every request has reported.
    /// After a stop, requests in flight get `timeout` to finish; then (or as soon as `abandon`
    /// is cancelled) `abandon` is cancelled, their tasks drop them, and this waits for that.
    pub async fn drain_within(&self, timeout: Duration, stop: &CancellationToken, abandon: &CancellationToken) {
        if !stop.is_cancelled() {
            tokio::select! {
                _ = self.drain() => return,
                _ = stop.cancelled() => {}
            }
        }
        tokio::select! {
            _ = self.drain() => return,
            _ = tokio::time::sleep(timeout) => abandon.cancel(),
            _ = abandon.cancelled() => {}
        }
        self.drain().await;
    }
}

/// A deadline that never comes (about 30 years ahead, well inside `Instant`'s range).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests;
