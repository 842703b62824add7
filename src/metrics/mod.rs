//! Prometheus metrics of a running `run` or `bench`, served at `/metrics` ([`MetricsServer`])
//! in the OpenMetrics text format.
//!
//! [`Metrics`] is a cheap handle (an `Arc`): the single owner of results feeds it every
//! finished item ([`Metrics::observe`]) and the dispatcher the requests in flight and the time
//! spent waiting for limits. Labels are target names from the job file, HTTP statuses and error
//! classes: nothing secret, and few distinct values.

mod format;
mod push;
mod server;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::record::Outcome;

pub use format::Format;
pub use push::{Grouping, PushError, Pusher};
pub use server::MetricsServer;

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    target: String,
    /// HTTP status, or "none" when no answer arrived (connect error, timeout).
    status: String,
    /// "ok", or the error class (`rate_limited`, `server_error`, ...).
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FallbackLabels {
    from: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemLabels {
    /// succeeded, failed, rejected or cached.
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    target: String,
    /// input, cached_input or output.
    kind: &'static str,
}

type FloatCounter = Counter<f64, AtomicU64>;
type Histograms = Family<TargetLabel, Histogram, fn() -> Histogram>;

/// 1 ms to about 65 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    in_flight: Family<TargetLabel, Gauge>,
    retries: Family<TargetLabel, Counter>,
    fallbacks: Family<FallbackLabels, Counter>,
    items: Family<ItemLabels, Counter>,
    latency: Histograms,
    ttft: Histograms,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<TargetLabel, FloatCounter>,
    limiter_wait: Family<TargetLabel, FloatCounter>,
    input_lines: Gauge,
}

/// The metrics of one process. Clones share the same values.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Two handles are equal when they share their values.
impl PartialEq for Metrics {
    fn eq(&self, other: &Metrics) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sheepdog");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests sent, by target, HTTP status (none: no answer) and class (ok or the error class)",
            requests.clone(),
        );
        let in_flight = Family::<TargetLabel, Gauge>::default();
        registry.register(
            "requests_in_flight",
            "Requests sent and not yet answered",
            in_flight.clone(),
        );
        let retries = Family::<TargetLabel, Counter>::default();
        registry.register(
            "retries",
            "Requests that were a retry at the same target",
            retries.clone(),
        );
        let fallbacks = Family::<FallbackLabels, Counter>::default();
        registry.register(
            "fallbacks",
            "Items that moved from one target of their route to the next",
            fallbacks.clone(),
        );
        let items = Family::<ItemLabels, Counter>::default();
        registry.register(
            "items",
            "Input items finished: succeeded, failed (for good), rejected (invalid line) or cached (answered from the response cache)",
            items.clone(),
        );
        let latency: Histograms = Family::new_with_constructor(latency_buckets);
        registry.register(
            "request_duration_seconds",
            "Latency of successful requests: sent to last byte",
            latency.clone(),
        );
        let ttft: Histograms = Family::new_with_constructor(latency_buckets);
        registry.register(
            "time_to_first_token_seconds",
            "Time to first token of successful streamed requests",
            ttft.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens reported by usage: input, cached_input, output",
            tokens.clone(),
        );
        let cost = Family::<TargetLabel, FloatCounter>::default();
        registry.register("cost_usd", "Cost of the priced requests, USD", cost.clone());
        let limiter_wait = Family::<TargetLabel, FloatCounter>::default();
        registry.register(
            "limiter_wait_seconds",
            "Time requests waited for the limits (concurrency, rpm, tpm, adaptive slowdown) before being sent",
            limiter_wait.clone(),
        );
        let input_lines = Gauge::default();
        registry.register(
            "input_lines",
            "Non-blank input lines of this run (of its shard when sharded)",
            input_lines.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                in_flight,
                retries,
                fallbacks,
                items,
                latency,
                ttft,
                tokens,
                cost,
                limiter_wait,
                input_lines,
            }),
        }
    }

    /// The exposition text (OpenMetrics), as served at `/metrics` to OpenMetrics scrapers.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }

    /// The exposition text in `format`.
    pub fn render_as(&self, format: Format) -> String {
        match format {
            Format::OpenMetrics => self.render(),
            Format::Classic => format::to_classic(&self.render()),
        }
    }

    /// Records a finished item: each of its requests, and its result.
    pub fn observe(&self, outcome: &Outcome) {
        let m = &self.inner;
        for attempt in &outcome.attempts {
            let target = TargetLabel {
                target: attempt.target.clone(),
            };
            let labels = RequestLabels {
                target: attempt.target.clone(),
                status: attempt.status.map_or_else(|| "none".to_string(), |s| s.to_string()),
                class: attempt.error.as_ref().map_or("ok", |e| e.class.as_str()).to_string(),
            };
            m.requests.get_or_create(&labels).inc();
            if attempt.number > 1 {
                m.retries.get_or_create(&target).inc();
            }
            if attempt.error.is_none() {
                m.latency.get_or_create(&target).observe(attempt.latency.as_secs_f64());
                if let Some(ttft) = attempt.ttft {
                    m.ttft.get_or_create(&target).observe(ttft.as_secs_f64());
                }
            }
            if let Some(usage) = attempt.usage {
                for (kind, n) in [
                    ("input", usage.input_tokens),
                    ("cached_input", usage.cached_input_tokens),
                    ("output", usage.output_tokens),
                ] {
                    m.tokens
                        .get_or_create(&TokenLabels {
                            target: attempt.target.clone(),
                            kind,
                        })
                        .inc_by(n);
                }
            }
            if let Some(cost) = attempt.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
                m.cost.get_or_create(&target).inc_by(cost);
            }
        }
        for pair in outcome.attempts.windows(2) {
            if pair[0].target != pair[1].target {
                let labels = FallbackLabels {
                    from: pair[0].target.clone(),
                    to: pair[1].target.clone(),
                };
                m.fallbacks.get_or_create(&labels).inc();
            }
        }
        let result = match &outcome.result {
            Ok(success) if success.cache_hit.is_some() => "cached",
            Ok(_) => "succeeded",
            Err(_) => "failed",
        };
        m.items.get_or_create(&ItemLabels { result }).inc();
    }

    /// Records an input line that was not sent.
    pub fn observe_rejected(&self) {
        self.inner.items.get_or_create(&ItemLabels { result: "rejected" }).inc();
    }

    /// One more request in flight at `target` until the guard is dropped.
    pub fn in_flight(&self, target: &str) -> InFlight {
        let gauge = self.inner.in_flight.get_or_create_owned(&TargetLabel {
            target: target.to_string(),
        });
        gauge.inc();
        InFlight { gauge }
    }

    /// A request to `target` waited `waited` for the limits before it was sent.
    pub fn limiter_waited(&self, target: &str, waited: Duration) {
        self.inner
            .limiter_wait
            .get_or_create(&TargetLabel {
                target: target.to_string(),
            })
            .inc_by(waited.as_secs_f64());
    }

    /// The run's (or shard's) number of input lines.
    pub fn set_input_lines(&self, lines: u64) {
        self.inner.input_lines.set(i64::try_from(lines).unwrap_or(i64::MAX));
    }
}

/// A request in flight; dropping it ends it.
#[derive(Debug)]
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

#[cfg(test)]
mod tests;
