//! Throughput and errors over time, in a bounded number of buckets.
//!
//! Each request is counted in the bucket of the moment it ended (`sent_at + latency`, from the
//! start of the run). Buckets start [`FIRST_BUCKET_MS`] wide; when a request lands beyond
//! [`MAX_BUCKETS`] buckets, neighbours are merged in pairs and the width doubles, so memory stays
//! flat however long the run is (an hour: 282 buckets of 12.8 s).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::Attempt;

/// Width of the first buckets, in milliseconds.
pub const FIRST_BUCKET_MS: u64 = 100;
/// Never more buckets than this.
pub const MAX_BUCKETS: usize = 300;

/// Requests per time bucket, one column per measure. Bucket `i` covers
/// `[i * bucket_ms, (i + 1) * bucket_ms)` ms after the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Width of every bucket, in milliseconds: 100 × 2^k.
    pub bucket_ms: u64,
    /// Requests that ended with an answer, per bucket.
    pub ok: Vec<u64>,
    /// Requests that ended with an error (retried later or not), per bucket.
    pub failed: Vec<u64>,
    /// Output tokens of the answers that ended in each bucket.
    pub output_tokens: Vec<u64>,
    /// Highest effective concurrency limit of a request sent in each bucket; empty when no
    /// request carried one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub max_concurrency_limit: Vec<Option<u32>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            bucket_ms: FIRST_BUCKET_MS,
            ok: Vec::new(),
            failed: Vec::new(),
            output_tokens: Vec::new(),
            max_concurrency_limit: Vec::new(),
        }
    }
}

impl Timeline {
    /// Counts one request.
    pub fn record(&mut self, attempt: &Attempt) {
        let ended = attempt.sent_at.saturating_add(attempt.latency);
        let index = self.index_of(ended);
        match &attempt.error {
            None => self.ok[index] += 1,
            Some(_) => self.failed[index] += 1,
        }
        if let Some(usage) = attempt.usage {
            self.output_tokens[index] += usage.output_tokens;
        }
        if let Some(limit) = attempt.concurrency_limit {
            let index = self.index_of(attempt.sent_at);
            if self.max_concurrency_limit.len() < self.ok.len() {
                self.max_concurrency_limit.resize(self.ok.len(), None);
            }
            let slot = &mut self.max_concurrency_limit[index];
            *slot = Some(slot.map_or(limit, |m| m.max(limit)));
        }
    }

    /// The bucket holding `at`, widening the buckets (and growing the columns) as needed.
    fn index_of(&mut self, at: Duration) -> usize {
        let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        while ms / self.bucket_ms >= MAX_BUCKETS as u64 {
            self.widen();
        }
        let index = (ms / self.bucket_ms) as usize;
        if self.ok.len() <= index {
            self.ok.resize(index + 1, 0);
            self.failed.resize(index + 1, 0);
            self.output_tokens.resize(index + 1, 0);
            if !self.max_concurrency_limit.is_empty() {
                self.max_concurrency_limit.resize(index + 1, None);
            }
        }
        index
    }

    /// Doubles the bucket width, merging neighbours in pairs.
    fn widen(&mut self) {
        fn pairs<T: Copy>(column: &[T], merge: impl Fn(T, T) -> T) -> Vec<T> {
            column
                .chunks(2)
                .filter_map(|pair| pair.iter().copied().reduce(&merge))
                .collect()
        }
        self.ok = pairs(&self.ok, |a, b| a + b);
        self.failed = pairs(&self.failed, |a, b| a + b);
        self.output_tokens = pairs(&self.output_tokens, |a, b| a + b);
        self.max_concurrency_limit = pairs(&self.max_concurrency_limit, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        });
        self.bucket_ms = self.bucket_ms.saturating_mul(2);
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.ok.len()
    }

    /// Whether no request was recorded.
    pub fn is_empty(&self) -> bool {
        self.ok.is_empty()
    }

    /// Start of bucket `index`, in seconds from the start of the run.
    pub fn start_s(&self, index: usize) -> f64 {
        index as f64 * self.bucket_ms as f64 / 1000.0
    }

    /// Bucket width in seconds.
    pub fn width_s(&self) -> f64 {
        self.bucket_ms as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, ErrorInfo, Usage};

    fn attempt(sent_ms: u64, latency_ms: u64, ok: bool, limit: Option<u32>) -> Attempt {
        Attempt {
            target: "t".into(),
            model: "m".into(),
            number: 1,
            sent_at: Duration::from_millis(sent_ms),
            latency: Duration::from_millis(latency_ms),
            ttft: None,
            stream: None,
            status: Some(if ok { 200 } else { 503 }),
            usage: ok.then_some(Usage {
                input_tokens: 10,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 7,
            }),
            cost_usd: None,
            error: (!ok).then(|| ErrorInfo {
                class: ErrorClass::ServerError,
                status: Some(503),
                message: "x".into(),
                code: None,
            }),
            concurrency_limit: limit,
        }
    }

    #[test]
    fn requests_land_in_the_bucket_they_ended_in() {
        let mut t = Timeline::default();
        t.record(&attempt(0, 50, true, None));
        t.record(&attempt(50, 100, true, None));
        t.record(&attempt(120, 100, false, None));
        assert_eq!(t.bucket_ms, 100);
        assert_eq!(t.len(), 3);
        assert_eq!((t.ok[0], t.failed[0]), (1, 0));
        assert_eq!((t.ok[1], t.failed[1], t.output_tokens[1]), (1, 0, 7));
        assert_eq!((t.ok[2], t.failed[2], t.output_tokens[2]), (0, 1, 0));
    }

    #[test]
    fn long_runs_widen_buckets_and_keep_every_count() {
        let mut t = Timeline::default();
        // One request ending every second for two hours.
        for s in 0..7200u64 {
            t.record(&attempt(s * 1000, 10, s % 10 != 0, Some((s % 50) as u32)));
        }
        assert!(t.len() <= MAX_BUCKETS, "{}", t.len());
        assert_eq!(t.bucket_ms, 25_600);
        assert_eq!(t.failed.len(), t.len());
        assert_eq!(t.max_concurrency_limit.len(), t.len());
        let ok: u64 = t.ok.iter().sum();
        let failed: u64 = t.failed.iter().sum();
        assert_eq!((ok, failed), (6480, 720));
        assert_eq!(t.max_concurrency_limit.iter().flatten().max(), Some(&49));
    }

    #[test]
    fn concurrency_limit_keeps_the_bucket_maximum_by_send_time() {
        let mut t = Timeline::default();
        t.record(&attempt(10, 500, true, Some(8)));
        t.record(&attempt(20, 5, true, Some(4)));
        t.record(&attempt(30, 5, true, None));
        assert_eq!(t.max_concurrency_limit[0], Some(8));
        assert_eq!(t.max_concurrency_limit[5], None);
        let untracked = {
            let mut t = Timeline::default();
            t.record(&attempt(10, 5, true, None));
            t
        };
        assert!(untracked.max_concurrency_limit.is_empty());
    }

    #[test]
    fn absurd_times_do_not_grow_memory() {
        let mut t = Timeline::default();
        t.record(&attempt(0, 1, true, None));
        t.record(&Attempt {
            latency: Duration::MAX,
            ..attempt(0, 1, true, None)
        });
        assert!(t.len() <= MAX_BUCKETS);
        assert_eq!(t.ok.iter().sum::<u64>(), 2);
    }
}
