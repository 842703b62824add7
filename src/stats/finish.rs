//! [`Collector::finish_with`]: the collector's counters and histograms turned into the report
//! data, [`Summary`].

use super::*;

impl Collector {
    /// [`Collector::finish`], with what the dispatcher saw of each target (`dispatch`).
    ///
    /// An item that failed without any request (every target's breaker open) counts as
    /// attempted and failed, but in no row of `attempts_per_item`.
    pub fn finish_with(&self, job: JobInfo, lines: u64, unsent: u64, dispatch: &DispatchReport) -> Summary {
        let attempted = self.succeeded + self.failed;
        let duration = job.duration_s;
        let per_second = |n: u64| {
            if duration.is_finite() && duration > 0.0 {
                n as f64 / duration
            } else {
                0.0
            }
        };
        let totals = Totals {
            lines,
            rejected: self.rejected,
            attempted,
            succeeded: self.succeeded,
            failed: self.failed,
            unsent,
            requests: self.requests,
            retries: self.retries,
            fallbacks: self.fallbacks,
            success_rate: if attempted == 0 {
                0.0
            } else {
                self.succeeded as f64 / attempted as f64
            },
            items_per_s: per_second(attempted),
            requests_per_s: per_second(self.requests),
        };
        let targets = self
            .targets
            .iter()
            .map(|t| {
                let seen = dispatch.target(&t.info.name).cloned().unwrap_or_default();
                TargetSummary {
                    name: t.info.name.clone(),
                    provider: t.info.provider.clone(),
                    model: t.info.model.clone(),
                    requests: t.requests,
                    succeeded: t.succeeded,
                    failed_requests: t.failed_requests,
                    failed_items: t.failed_items,
                    retries: t.retries,
                    latency_ms: percentiles(&t.latency),
                    tokens: t.tokens.clone(),
                    cost_usd: (!t.unpriced).then_some(t.cost_usd),
                    fallbacks_in: t.fallbacks_in,
                    fallbacks_out: t.fallbacks_out,
                    breaker_openings: seen.breaker_openings,
                    slowdowns: seen.slowdowns,
                    pacing: seen.pacing,
                }
            })
            .collect();
        Summary {
            schema_version: SCHEMA_VERSION,
            sheepdog_version: env!("CARGO_PKG_VERSION").to_string(),
            job,
            totals,
            latency_ms: percentiles(&self.latency),
            ttft_ms: (!self.ttft.is_empty()).then(|| percentiles(&self.ttft)),
            itl_ms: (!self.itl.is_empty()).then(|| percentiles(&self.itl)),
            tpot_ms: (!self.tpot.is_empty()).then(|| percentiles(&self.tpot)),
            output_tokens_estimated: self.output_tokens_estimated,
            thresholds: Vec::new(),
            budget: dispatch.budget.clone(),
            tokens: self.tokens.clone(),
            cost: Cost {
                total_usd: self.cost_usd,
                unpriced_requests: self.unpriced_requests,
                unpriced_models: self.unpriced_models.iter().cloned().collect(),
            },
            targets,
            errors: self.error_rows(),
            attempts_per_item: self.attempts_per_item.clone(),
            histograms: Histograms {
                latency_us: encode_or_empty(&self.latency),
                ttft_us: (!self.ttft.is_empty()).then(|| encode_or_empty(&self.ttft)),
                itl_us: (!self.itl.is_empty()).then(|| encode_or_empty(&self.itl)),
                tpot_us: (!self.tpot.is_empty()).then(|| encode_or_empty(&self.tpot)),
                targets: self
                    .targets
                    .iter()
                    .filter(|t| !t.latency.is_empty())
                    .map(|t| TargetHistogram {
                        target: t.info.name.clone(),
                        latency_us: encode_or_empty(&t.latency),
                    })
                    .collect(),
            },
            timeline: self.timeline.clone(),
            cache: self.cache.clone(),
            batch_latency_ms: (!self.batch_latency.is_empty()).then(|| percentiles(&self.batch_latency)),
            batch_api: None,
        }
    }

    /// Error rows: attempts scope first, then items; within a scope, most frequent first,
    /// then by class and status.
    pub(super) fn error_rows(&self) -> Vec<ErrorCount> {
        let mut rows: Vec<ErrorCount> = self
            .errors
            .iter()
            .map(|(&(scope, class, status), &count)| ErrorCount {
                scope,
                class,
                status,
                count,
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.scope, std::cmp::Reverse(a.count), a.class, a.status).cmp(&(
                b.scope,
                std::cmp::Reverse(b.count),
                b.class,
                b.status,
            ))
        });
        rows
    }
}
