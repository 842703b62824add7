//! Where a chat request waits before it is answered: a server-wide stall (for
//! coordinated-omission tests) and the server's own concurrency limit, beyond which requests
//! queue, as at a saturated inference server.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::MockConfig;

/// Shared by every handler.
pub(crate) struct Queue {
    slots: Option<Arc<Semaphore>>,
    stall_after: Option<u64>,
    stall_for: Duration,
    /// When the stall began (the first request numbered above `stall_after`).
    stall_started: OnceLock<Instant>,
}

/// A request's place among those being handled; dropping it lets the next queued one in.
pub(crate) struct Held {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Queue {
    pub fn new(config: &MockConfig) -> Queue {
        Queue {
            slots: config.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            stall_after: config.stall_after,
            stall_for: config.stall_for,
            stall_started: OnceLock::new(),
        }
    }

    /// Waits out a server-wide stall, then for a free slot. `number` is the request's 1-based
    /// arrival number.
    pub async fn enter(&self, number: u64) -> Held {
        if let Some(after) = self.stall_after {
            if number > after && !self.stall_for.is_zero() {
                let started = *self.stall_started.get_or_init(Instant::now);
                tokio::time::sleep_until(started + self.stall_for).await;
            }
        }
        let permit = match &self.slots {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(slots) => slots.clone().acquire_owned().await.ok(),
            None => None,
        };
        Held { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // On tokio's paused clock: the waits are exact, whatever the load on the machine.
    #[tokio::test(start_paused = true)]
    async fn requests_after_the_stall_point_wait_until_it_ends() {
        let stall = Duration::from_millis(300);
        let queue = Queue::new(&MockConfig {
            stall_after: Some(2),
            stall_for: stall,
            ..MockConfig::default()
        });
        let start = Instant::now();
        queue.enter(1).await;
        queue.enter(2).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "no stall before it begins");
        queue.enter(3).await;
        assert_eq!(start.elapsed(), stall, "request 3 waits the stall out");
        let after = Instant::now();
        queue.enter(4).await;
        assert_eq!(after.elapsed(), Duration::ZERO, "the stall is over");
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_max_concurrency_requests_queue() {
        let queue = Arc::new(Queue::new(&MockConfig {
            max_concurrency: Some(1),
            ..MockConfig::default()
        }));
        let first = queue.enter(1).await;
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.enter(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "second request queues behind the first");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("second request enters once the first is done")
            .expect("task");
    }
}
