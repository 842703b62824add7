//! The rows of a bench's `requests.csv`: one per request (retries inside it), warm-up requests
//! included and marked, columns derived from [`BenchRow`]. Written by the one requests writer,
//! [`crate::output::requests::RequestsCsv`].

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::stats::Sample;
use crate::record::ErrorClass;

/// One request of a bench. Times are in ms from the start of the bench.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    pub step: usize,
    pub id: String,
    /// Started during the step's warm-up: not in the figures.
    pub warmup: bool,
    /// When the request was due (open loop: scheduled).
    pub due_ms: f64,
    /// When its first attempt was sent.
    pub sent_ms: f64,
    /// due → sent.
    pub lag_ms: f64,
    /// due → end, retries included.
    pub e2e_from_due_ms: f64,
    /// sent → last byte, of the final attempt.
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub itl_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub output_tokens: Option<u64>,
    /// The server sent no usage: output tokens counted with the tokenizer.
    pub output_tokens_estimated: bool,
    pub attempts: usize,
    pub status: Option<u16>,
    /// Empty when the request succeeded.
    pub error_class: Option<ErrorClass>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl BenchRow {
    /// The row of `sample`; `start`: the bench's start, `dispatch_started`: what
    /// `Attempt::sent_at` counts from.
    pub(crate) fn of(step: usize, sample: &Sample, start: Instant, dispatch_started: Instant) -> BenchRow {
        let outcome = &sample.outcome;
        let since = |at: Instant| ms(at.saturating_duration_since(start));
        let sent = outcome
            .attempts
            .first()
            .map_or(sample.done, |a| dispatch_started + a.sent_at);
        let last = outcome.attempts.last();
        let success = outcome.result.as_ref().ok();
        let timing = success.and_then(|s| s.stream);
        BenchRow {
            step,
            id: outcome.id.clone(),
            warmup: sample.warmup,
            due_ms: since(sample.due),
            sent_ms: since(sent),
            lag_ms: ms(sent.saturating_duration_since(sample.due)),
            e2e_from_due_ms: ms(sample.done.saturating_duration_since(sample.due)),
            latency_ms: last.map_or(0.0, |a| ms(a.latency)),
            ttft_ms: success.and_then(|s| s.ttft).map(ms),
            itl_ms: timing.and_then(|t| t.itl).map(ms),
            tpot_ms: timing.and_then(|t| t.tpot).map(ms),
            output_tokens: success.map(|s| s.usage.output_tokens),
            output_tokens_estimated: timing.is_some_and(|t| t.output_tokens_estimated),
            attempts: outcome.attempts.len(),
            status: last.and_then(|a| a.status),
            error_class: outcome.result.as_ref().err().map(|e| e.class),
        }
    }
}
