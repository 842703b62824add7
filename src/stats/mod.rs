//! Statistics: the one collector that owns them.
//!
//! Workers send [`Outcome`]s over a channel; a single owner feeds them to a [`Collector`],
//! which keeps counters and an HdrHistogram per metric (microseconds), so memory does not grow
//! with the number of items. [`Collector::finish`] turns them into the report data, [`Summary`].

mod dispatch;
mod finish;
mod histogram;
pub mod summary;
pub mod timeline;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hdrhistogram::Histogram;

use crate::record::{Attempt, ErrorClass, Outcome, Rejected};
pub use dispatch::{BudgetReport, DispatchReport, TargetDispatch};
pub use histogram::{
    decode_histogram, encode_histogram, new_histogram, percentiles, record_duration, record_us, HistogramCodecError,
    SIGNIFICANT_FIGURES,
};
use summary::{
    CacheStats, Cost, ErrorCount, ErrorScope, Histograms, JobInfo, Summary, TargetHistogram, TargetSummary, Tokens,
    Totals, SCHEMA_VERSION,
};
use timeline::Timeline;

/// A target as configured: what the reports call it and what it runs.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    pub name: String,
    pub provider: String,
    pub model: String,
}

/// Cheap counters for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveCounts {
    /// Input lines dealt with: items finished (succeeded or failed) plus rejected lines.
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rejected: u64,
    /// HTTP requests sent, all attempts included.
    pub requests: u64,
    /// Cost of the priced requests so far (unpriced ones are not in it).
    pub cost_usd: f64,
}

/// Counters and latency histogram of one target.
#[derive(Debug)]
struct TargetStats {
    info: TargetInfo,
    requests: u64,
    succeeded: u64,
    failed_requests: u64,
    failed_items: u64,
    retries: u64,
    fallbacks_in: u64,
    fallbacks_out: u64,
    latency: Histogram<u64>,
    tokens: Tokens,
    cost_usd: f64,
    /// A request with usage had no price: the target's cost is unknown.
    unpriced: bool,
}

impl TargetStats {
    fn new(info: TargetInfo) -> Self {
        TargetStats {
            info,
            requests: 0,
            succeeded: 0,
            failed_requests: 0,
            failed_items: 0,
            retries: 0,
            fallbacks_in: 0,
            fallbacks_out: 0,
            latency: new_histogram(),
            tokens: Tokens::default(),
            cost_usd: 0.0,
            unpriced: false,
        }
    }
}

/// Aggregates every finished item and rejected line of a run.
#[derive(Debug)]
pub struct Collector {
    targets: Vec<TargetStats>,
    by_name: HashMap<String, usize>,
    latency: Histogram<u64>,
    ttft: Histogram<u64>,
    itl: Histogram<u64>,
    tpot: Histogram<u64>,
    /// Succeeded streamed items whose token counts were made with the tokenizer (no `usage`).
    output_tokens_estimated: u64,
    succeeded: u64,
    failed: u64,
    rejected: u64,
    requests: u64,
    retries: u64,
    fallbacks: u64,
    tokens: Tokens,
    cost_usd: f64,
    unpriced_requests: u64,
    unpriced_models: BTreeSet<String>,
    errors: BTreeMap<(ErrorScope, ErrorClass, Option<u16>), u64>,
    /// `attempts_per_item[k]`: items that took `k + 1` attempts.
    attempts_per_item: Vec<u64>,
    timeline: Timeline,
    cache: CacheStats,
    /// Items answered through a provider's Batch API: their latency is the batch's timeline
    /// (created → ended), kept apart from live latencies.
    batch_latency: Histogram<u64>,
    /// Set while [`Collector::record_batch`] records.
    batch_item: bool,
}

impl Collector {
    /// A collector reporting `targets` in this order (a repeated name is kept once).
    pub fn new(targets: Vec<TargetInfo>) -> Self {
        let mut collector = Collector {
            targets: Vec::with_capacity(targets.len()),
            by_name: HashMap::new(),
            latency: new_histogram(),
            ttft: new_histogram(),
            itl: new_histogram(),
            tpot: new_histogram(),
            output_tokens_estimated: 0,
            succeeded: 0,
            failed: 0,
            rejected: 0,
            requests: 0,
            retries: 0,
            fallbacks: 0,
            tokens: Tokens::default(),
            cost_usd: 0.0,
            unpriced_requests: 0,
            unpriced_models: BTreeSet::new(),
            errors: BTreeMap::new(),
            attempts_per_item: Vec::new(),
            timeline: Timeline::default(),
            cache: CacheStats::default(),
            batch_latency: new_histogram(),
            batch_item: false,
        };
        for info in targets {
            if !collector.by_name.contains_key(&info.name) {
                collector.push_target(info);
            }
        }
        collector
    }

    fn push_target(&mut self, info: TargetInfo) -> usize {
        let index = self.targets.len();
        self.by_name.insert(info.name.clone(), index);
        self.targets.push(TargetStats::new(info));
        index
    }

    /// The target named `name`, appended (with an unknown provider) if `new` was not told of it.
    fn target(&mut self, name: &str, model: &str) -> &mut TargetStats {
        let index = match self.by_name.get(name) {
            Some(&index) => index,
            None => self.push_target(TargetInfo {
                name: name.to_string(),
                provider: String::new(),
                model: model.to_string(),
            }),
        };
        &mut self.targets[index]
    }

    /// Records a finished item (succeeded or failed for good).
    pub fn record(&mut self, outcome: &Outcome) {
        for attempt in &outcome.attempts {
            self.record_attempt(attempt);
        }
        self.retries += u64::from(outcome.retries());
        self.fallbacks += u64::from(outcome.fallbacks());
        for pair in outcome.attempts.windows(2) {
            if pair[0].target != pair[1].target {
                self.target(&pair[0].target, &pair[0].model).fallbacks_out += 1;
                self.target(&pair[1].target, &pair[1].model).fallbacks_in += 1;
            }
        }
        if let Some(k) = outcome.attempts.len().checked_sub(1) {
            if self.attempts_per_item.len() <= k {
                self.attempts_per_item.resize(k + 1, 0);
            }
            self.attempts_per_item[k] += 1;
        }
        match &outcome.result {
            Ok(success) if success.cache_hit.is_some() => {
                // No request was sent: counted apart, not in latency, tokens or cost.
                self.succeeded += 1;
                self.cache.hits += 1;
                self.cache.saved_usd += success.cache_hit.and_then(|h| h.saved_usd).unwrap_or(0.0);
            }
            Ok(success) => {
                self.succeeded += 1;
                if self.batch_item {
                    record_duration(&mut self.batch_latency, success.latency);
                } else {
                    record_duration(&mut self.latency, success.latency);
                }
                if let Some(ttft) = success.ttft {
                    record_duration(&mut self.ttft, ttft);
                }
                if let Some(timing) = &success.stream {
                    if let Some(itl) = timing.itl {
                        record_duration(&mut self.itl, itl);
                    }
                    if let Some(tpot) = timing.tpot {
                        record_duration(&mut self.tpot, tpot);
                    }
                    self.output_tokens_estimated += u64::from(timing.output_tokens_estimated);
                }
                self.target(&success.target, &success.model).succeeded += 1;
            }
            Err(error) => {
                self.failed += 1;
                *self
                    .errors
                    .entry((ErrorScope::Items, error.class, error.status))
                    .or_insert(0) += 1;
                if let Some(last) = outcome.attempts.last() {
                    self.target(&last.target, &last.model).failed_items += 1;
                }
            }
        }
    }

    /// Records an item answered through a provider's Batch API: counted like any item, its
    /// latency (the batch's timeline) in `batch_latency_ms`, not in the live latencies.
    pub fn record_batch(&mut self, outcome: &Outcome) {
        self.batch_item = true;
        self.record(outcome);
        self.batch_item = false;
    }

    /// The requests of an item whose error line a resume replaced (the item is sent again
    /// and counted by its new line): they were sent, and maybe billed, so they count.
    pub fn record_requests(&mut self, outcome: &Outcome) {
        for attempt in &outcome.attempts {
            self.record_attempt(attempt);
        }
    }

    /// Requests sent whose answers were never recorded (see [`crate::output::journal`]).
    pub fn record_lost(&mut self, requests: u64) {
        if requests == 0 {
            return;
        }
        self.requests += requests;
        *self
            .errors
            .entry((ErrorScope::Attempts, crate::record::ErrorClass::Lost, None))
            .or_insert(0) += requests;
    }

    fn record_attempt(&mut self, attempt: &Attempt) {
        self.requests += 1;
        self.timeline.record(attempt);
        if let Some(error) = &attempt.error {
            let status = error.status.or(attempt.status);
            *self
                .errors
                .entry((ErrorScope::Attempts, error.class, status))
                .or_insert(0) += 1;
        }
        // A NaN or infinite price is as good as no price.
        let cost = attempt.cost_usd.filter(|c| c.is_finite());
        if let Some(usage) = attempt.usage {
            add_tokens(&mut self.tokens, usage);
            match cost {
                Some(c) => self.cost_usd += c,
                None => {
                    self.unpriced_requests += 1;
                    if !self.unpriced_models.contains(&attempt.model) {
                        self.unpriced_models.insert(attempt.model.clone());
                    }
                }
            }
        }

        let batch_item = self.batch_item;
        let target = self.target(&attempt.target, &attempt.model);
        target.requests += 1;
        if attempt.number > 1 {
            target.retries += 1;
        }
        match &attempt.error {
            Some(_) => target.failed_requests += 1,
            None if batch_item => {}
            None => record_duration(&mut target.latency, attempt.latency),
        }
        if let Some(usage) = attempt.usage {
            add_tokens(&mut target.tokens, usage);
            match cost {
                Some(c) => target.cost_usd += c,
                None => target.unpriced = true,
            }
        }
    }

    /// Records an input line that was not sent (counted as a final `invalid_input` failure).
    pub fn record_rejected(&mut self, _rejected: &Rejected) {
        self.rejected += 1;
        *self
            .errors
            .entry((ErrorScope::Items, ErrorClass::InvalidInput, None))
            .or_insert(0) += 1;
    }

    /// What each target's priced requests cost so far, in USD (a resumed job's budget starts
    /// from it).
    pub fn cost_by_target(&self) -> Vec<(String, f64)> {
        self.targets.iter().map(|t| (t.info.name.clone(), t.cost_usd)).collect()
    }

    /// Counters for a progress bar; cheap.
    pub fn live(&self) -> LiveCounts {
        LiveCounts {
            done: self.succeeded + self.failed + self.rejected,
            succeeded: self.succeeded,
            failed: self.failed,
            rejected: self.rejected,
            requests: self.requests,
            cost_usd: self.cost_usd,
        }
    }

    /// The report data. `lines`: non-blank input lines read; `unsent`: valid items never sent
    /// because the run stopped early. No dispatcher figures: see [`Collector::finish_with`].
    pub fn finish(&self, job: JobInfo, lines: u64, unsent: u64) -> Summary {
        self.finish_with(job, lines, unsent, &DispatchReport::default())
    }

    /// The end-to-end latency histogram (µs) of succeeded items, for exporters and merging.
    pub fn latency_histogram(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// The TTFT histogram (µs) of succeeded streamed items.
    pub fn ttft_histogram(&self) -> &Histogram<u64> {
        &self.ttft
    }

    /// The inter-token latency histogram (µs) of succeeded streamed items.
    pub fn itl_histogram(&self) -> &Histogram<u64> {
        &self.itl
    }

    /// The time-per-output-token histogram (µs) of succeeded streamed items.
    pub fn tpot_histogram(&self) -> &Histogram<u64> {
        &self.tpot
    }
}

fn add_tokens(tokens: &mut Tokens, usage: crate::record::Usage) {
    tokens.input += usage.input_tokens;
    tokens.cached_input += usage.cached_input_tokens;
    tokens.output += usage.output_tokens;
}

/// Serializing into a `Vec` cannot fail for an in-memory histogram of `u64` counts; should it
/// ever, the summary carries no histogram rather than no summary.
fn encode_or_empty(h: &Histogram<u64>) -> String {
    encode_histogram(h).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;
