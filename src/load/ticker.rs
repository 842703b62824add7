//! Precise open-loop release: a thread of its own sleeps to each scheduled instant and hands it
//! to the runtime.
//!
//! tokio's timer fires on whole milliseconds, and only when a worker thread gets round to it:
//! under load a request left up to several milliseconds after its scheduled time. The pacing
//! thread sleeps with the operating system's timer (tens of microseconds late at most on an
//! idle core), spins the last few microseconds, and sends the instant to the bench's loop,
//! which wakes at once. A thread per open-loop step; it ends when the step drops its
//! [`Ticker`].

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Schedule;

/// The last stretch before a deadline is spun (yielding the core), not slept: a sleep may
/// end later than asked by the kernel's timer slack (50 µs by default).
const SPIN: Duration = Duration::from_micros(60);

/// The longest single sleep: how soon the thread notices that its step is over.
const SLICE: Duration = Duration::from_millis(20);

/// Scheduled instants sent ahead of the loop at most; beyond, the thread waits. The loop falls
/// behind only when every in-flight slot is taken, and the instants it then finds waiting are
/// the ones it is late for.
const AHEAD: usize = 1024;

/// The receiving end: the scheduled instants, each sent when it comes.
pub struct Ticker {
    due: mpsc::Receiver<Instant>,
}

impl Ticker {
    /// Starts the pacing thread for `schedule`, whose offsets count from `start`. `None` when
    /// the thread cannot be started (the caller then paces with tokio's timer).
    pub fn start(schedule: Schedule, start: Instant) -> Option<Ticker> {
        let (tx, due) = mpsc::channel(AHEAD);
        std::thread::Builder::new()
            .name("sheepdog-pacer".into())
            .spawn(move || release(schedule, start, &tx))
            .ok()?;
        Some(Ticker { due })
    }

    /// The next scheduled instant, once it has come; `None` if the thread has ended.
    pub async fn next(&mut self) -> Option<Instant> {
        self.due.recv().await
    }
}

/// Sends each scheduled instant when it comes, until the receiver is dropped.
fn release(mut schedule: Schedule, start: Instant, tx: &mpsc::Sender<Instant>) {
    loop {
        let Some(due) = start.checked_add(schedule.next_offset()) else {
            return;
        };
        if !wait_until(due, tx) || tx.blocking_send(due).is_err() {
            return;
        }
    }
}

/// Sleeps, then spins, until `due`; `false` when the receiver went away meanwhile.
fn wait_until(due: Instant, tx: &mpsc::Sender<Instant>) -> bool {
    loop {
        if tx.is_closed() {
            return false;
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        if left > SPIN {
            std::thread::sleep((left - SPIN).min(SLICE));
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Arrivals;

    #[tokio::test]
    async fn instants_come_in_order_and_not_before_they_are_due() {
        let start = Instant::now();
        let mut ticker = Ticker::start(Schedule::new(500.0, Arrivals::Even), start).unwrap();
        let mut previous = None;
        for k in 0..20u32 {
            let due = ticker.next().await.unwrap();
            assert_eq!(due, start + Duration::from_millis(2) * k);
            assert!(Instant::now() >= due, "instant {k} came early");
            assert!(previous.is_none_or(|p| p < due));
            previous = Some(due);
        }
    }

    #[tokio::test]
    async fn the_thread_ends_when_the_ticker_is_dropped() {
        let (tx, mut rx) = mpsc::channel(AHEAD);
        let thread = std::thread::spawn(move || {
            release(Schedule::new(0.01, Arrivals::Even), Instant::now(), &tx);
        });
        assert!(rx.recv().await.is_some());
        // The thread now sleeps towards the second instant, 100 s away; it must notice the
        // drop within a slice (the bound is generous for a loaded machine).
        drop(rx);
        let joined = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::task::spawn_blocking(move || thread.join()),
        )
        .await
        .expect("the pacing thread did not end");
        assert!(joined.unwrap().is_ok());
    }
}
