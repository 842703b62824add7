//! One target's part of an item: waiting for its breaker and limits, sending, retrying with
//! backoff, and telling the breaker, the rate controller and the refusal gate what happened.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{backoff, limits, Admission, Dispatcher, Leave, Limits, RouteTarget};
use crate::provider::{ApiEndpoint, RequestError};
use crate::record::{Attempt, ErrorClass, ErrorInfo, Success};

/// A 429 costs the item no attempt while its target answered another request this recently.
const FREE_RATE_LIMIT_RETRIES_WITHIN: Duration = Duration::from_secs(60);

impl Dispatcher {
    /// Tries one target until it answers or gives up. Failures count against
    /// `retry.max_attempts`; a 429 does not while the target still answers other requests and
    /// no later target could take the item (only `--deadline` or a stop ends those waits).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn at_target(
        &self,
        target: &RouteTarget,
        model: &str,
        api: ApiEndpoint,
        bytes: &Bytes,
        (tokens, cost): (f64, Option<f64>),
        later_usable: bool,
        began: Instant,
        attempts: &mut Vec<Attempt>,
        last_error: &mut Option<ErrorInfo>,
    ) -> (Option<Success>, Leave) {
        let retry = &self.options.retry;
        let mut failures = 0;
        let mut number = 0;
        loop {
            number += 1;
            if self.stop.is_cancelled() {
                return (None, Leave::Done);
            }
            let probe = match self.admit(target, later_usable, began, last_error).await {
                Ok(probe) => probe,
                Err(leave) => return (None, leave),
            };
            let mut levels: Vec<Arc<Limits>> = self.options.run_limits.iter().cloned().collect();
            levels.extend(target.limits.iter().cloned());
            let admitted = async {
                target.refusals.admit().await;
                let slot = target.adaptive.acquire().await;
                let held = limits::acquire(&levels, tokens).await;
                (slot, held)
            };
            let waiting = Instant::now();
            let (slot, held) = tokio::select! {
                admitted = admitted => admitted,
                _ = self.stop.cancelled() => {
                    if probe { target.breaker.release_probe(); }
                    return (None, Leave::Done);
                }
            };
            // Given up while this request waited (its gate is then released): leave it.
            if target.is_dead() {
                drop((slot, held));
                return (None, Leave::Next);
            }
            let Ok(reservation) = self.reserve_budget(cost).await else {
                drop((slot, held));
                if probe {
                    target.breaker.release_probe();
                }
                return (None, Leave::Done);
            };
            let timeout = match self.options.settings.deadline {
                Some(deadline) => self.options.timeout.min(deadline.saturating_sub(began.elapsed())),
                None => self.options.timeout,
            };
            let concurrency_limit = Some(target.adaptive.limit());
            let sent = Instant::now();
            let sent_at = self.started.elapsed();
            let in_flight = self.options.metrics.as_ref().map(|m| {
                m.limiter_waited(&target.name, waiting.elapsed());
                m.in_flight(&target.name)
            });
            let result = self.client.send(&target.endpoint, api, bytes.clone(), timeout).await;
            drop((slot, in_flight));
            // `--validate-json`: a refused answer is an error, but its tokens were paid for.
            let (result, paid) = match (result, &self.options.output_check) {
                (Ok(reply), Some(check)) => match check.check(bytes, &reply.body) {
                    Ok(()) => (Ok(reply), None),
                    Err(message) => (Err(RequestError::InvalidOutput(message)), Some(reply.usage)),
                },
                (result, _) => (result, None),
            };
            tracing::trace!(
                target_name = %target.name, model, attempt = number, status = ?result.as_ref().map_or_else(|e| e.status(), |r| Some(r.status)),
                latency_ms = (self.started.elapsed() - sent_at).as_secs_f64() * 1e3, "request"
            );
            match result {
                Ok(reply) => {
                    let used = reply.usage.input_tokens + reply.usage.output_tokens;
                    held.settle(Some(used));
                    target.breaker.record(true, Instant::now());
                    target.refusals.answered();
                    target.adaptive.on_success(sent, &reply.ratelimit, used);
                    target.note_success();
                    let cost_usd = self.options.prices.get(model).map(|p| p.cost_usd(&reply.usage));
                    self.settle_budget(reservation, target, cost_usd);
                    attempts.push(Attempt {
                        target: target.name.clone(),
                        model: model.to_string(),
                        number,
                        sent_at,
                        latency: reply.latency,
                        ttft: reply.ttft,
                        stream: reply.stream,
                        status: Some(reply.status),
                        usage: Some(reply.usage),
                        cost_usd,
                        error: None,
                        concurrency_limit,
                    });
                    let success = Success {
                        target: target.name.clone(),
                        model: model.to_string(),
                        status: reply.status,
                        request_id: reply.request_id,
                        body: reply.body,
                        usage: reply.usage,
                        latency: reply.latency,
                        ttft: reply.ttft,
                        stream: reply.stream,
                        cost_usd,
                        cache_hit: None,
                    };
                    return (Some(success), Leave::Done);
                }
                Err(error) => {
                    held.settle(paid.map(|usage| usage.input_tokens + usage.output_tokens));
                    let paid_usd = paid.and_then(|usage| self.options.prices.get(model).map(|p| p.cost_usd(&usage)));
                    self.settle_budget(reservation, target, paid_usd);
                    let class = error.class();
                    let info = error.info();
                    attempts.push(Attempt {
                        target: target.name.clone(),
                        model: model.to_string(),
                        number,
                        sent_at,
                        latency: self.started.elapsed().saturating_sub(sent_at),
                        ttft: None,
                        stream: None,
                        status: error.status().or(paid.map(|_| 200)),
                        usage: paid,
                        cost_usd: paid_usd,
                        error: Some(info.clone()),
                        concurrency_limit,
                    });
                    *last_error = Some(info);
                    self.observe(target, &error, probe, sent);
                    if class.is_fatal() {
                        self.kill(target, &error);
                    }
                    let falls_back = self.options.settings.fallback_on.contains(&class);
                    let leave = if falls_back { Leave::Next } else { Leave::Done };
                    if !class.is_retryable() || class.is_fatal() {
                        return (None, leave);
                    }
                    // A 429 is the provider pacing us, not a fault of the item: it waits for
                    // free while the target answers others and nothing later could take it.
                    let free = class == ErrorClass::RateLimited
                        && !later_usable
                        && target.answered_within(FREE_RATE_LIMIT_RETRIES_WITHIN);
                    if !free {
                        failures += 1;
                    }
                    if failures >= retry.max_attempts || number >= class.max_tries() {
                        return (None, leave);
                    }
                    let asked = error.retry_after().map(|wait| self.cap_retry_after(target, wait));
                    let delay = backoff::delay(retry, failures.max(1), asked);
                    tracing::debug!(
                        target_name = %target.name, attempt = number, class = %class, status = ?error.status(),
                        delay_ms = delay.as_millis() as u64, free, "retrying"
                    );
                    if self.past_deadline(began, Instant::now() + delay) {
                        *last_error = Some(deadline_error(self.options.settings.deadline, last_error));
                        return (None, Leave::Done);
                    }
                    if asked.is_some() {
                        target.waits.retry_after(delay);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.cancelled() => return (None, Leave::Done),
                    }
                }
            }
        }
    }

    /// Waits for the target's breaker: `Ok(true)` when this request is its probe; `Err` when
    /// the item must leave (the target is dead, or open with a later target usable, or the
    /// deadline comes first, or the run stops).
    async fn admit(
        &self,
        target: &RouteTarget,
        later_usable: bool,
        began: Instant,
        last_error: &mut Option<ErrorInfo>,
    ) -> Result<bool, Leave> {
        loop {
            match target.breaker.admit(Instant::now()) {
                Admission::Go => return Ok(false),
                Admission::Probe => return Ok(true),
                Admission::Dead => return Err(Leave::Next),
                Admission::OpenUntil(_) if later_usable => return Err(Leave::Next),
                Admission::OpenUntil(until) => {
                    if self.past_deadline(began, until) {
                        *last_error = Some(deadline_error(self.options.settings.deadline, last_error));
                        return Err(Leave::Done);
                    }
                    let waiting = Instant::now();
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => target.waits.breaker(waiting.elapsed()),
                        _ = self.stop.cancelled() => return Err(Leave::Done),
                    }
                }
            }
        }
    }

    /// A Retry-After beyond `retry.max_retry_after` is cut to it (said once per target).
    fn cap_retry_after(&self, target: &RouteTarget, asked: Duration) -> Duration {
        let cap = self.options.settings.max_retry_after;
        if asked <= cap {
            return asked;
        }
        if target.waits.capped() {
            tracing::warn!(
                target_name = %target.name,
                asked_s = asked.as_secs_f64(),
                cap_s = cap.as_secs_f64(),
                "a Retry-After longer than retry.max_retry_after is cut to it"
            );
        }
        cap
    }

    /// Feeds a failure to the target's breaker, controller and refusal gate; gives the target
    /// up when its breaker says it is dead or every first request got the same refusal.
    pub(super) fn observe(&self, target: &RouteTarget, error: &RequestError, probe: bool, sent: Instant) {
        let now = Instant::now();
        match error.class() {
            ErrorClass::RateLimited => {
                target.refusals.answered();
                target.adaptive.on_rate_limited(sent);
                if probe {
                    target.breaker.release_probe();
                }
            }
            ErrorClass::Connect
            | ErrorClass::Transport
            | ErrorClass::Timeout
            | ErrorClass::ServerError
            | ErrorClass::Conflict
            | ErrorClass::InvalidResponse
            | ErrorClass::StreamInterrupted => {
                if matches!(error.class(), ErrorClass::Connect | ErrorClass::Timeout) {
                    target.refusals.inconclusive();
                } else {
                    target.refusals.answered();
                }
                let openings = target.breaker.openings();
                if target.breaker.record(false, now) {
                    self.give_up(target, error);
                } else if target.breaker.openings() > openings {
                    tracing::warn!(target_name = %target.name, class = %error.class(), "circuit breaker opened");
                }
            }
            ErrorClass::BadRequest | ErrorClass::NotFound => {
                if probe {
                    target.breaker.release_probe();
                }
                if let RequestError::Status {
                    status, code, message, ..
                } = error
                {
                    if let Some(count) = target.refusals.refused(*status, code.as_deref(), message) {
                        self.refused(target, count, error);
                    }
                }
            }
            // Any other answer (too large, invalid output, refused key...) is not the same
            // refusal: the gate opens.
            _ => {
                target.refusals.answered();
                if probe {
                    target.breaker.release_probe();
                }
            }
        }
    }

    /// Prompt tokens plus the output asked for, when a tokens-per-minute limit applies. While
    /// every token limit is idle (far from binding) a quarter of the body's bytes stands in for
    /// the prompt (cheap, and on the high side); under pressure the model's own tokenizer
    /// counts it. Either way the reservation is corrected from `usage` afterwards.
    pub(super) fn token_estimate(
        &self,
        target: &RouteTarget,
        model: &str,
        api: ApiEndpoint,
        body: &Map<String, Value>,
        body_bytes: usize,
    ) -> f64 {
        let mut levels = self.options.run_limits.iter().chain(&target.limits);
        if !levels.clone().any(|l| l.counts_tokens()) {
            return 0.0;
        }
        // Embeddings and moderations produce no output tokens.
        let output = if api.generates() {
            ["max_completion_tokens", "max_tokens", "max_output_tokens"]
                .iter()
                .find_map(|key| body.get(*key).and_then(Value::as_u64))
                .unwrap_or(self.options.settings.expected_output_tokens)
        } else {
            0
        };
        let now = Instant::now();
        let prompt = if levels.all(|l| l.tokens_idle(now)) {
            body_bytes as u64 / 4
        } else {
            api.prompt_tokens(crate::tokens::encoding_for_model(model).0, body)
        };
        // A line may ask for up to u64::MAX tokens: saturate rather than overflow.
        prompt.saturating_add(output) as f64
    }

    pub(super) fn past_deadline(&self, began: Instant, at: Instant) -> bool {
        self.options
            .settings
            .deadline
            .is_some_and(|deadline| at.duration_since(began) >= deadline)
    }
}

fn deadline_error(deadline: Option<Duration>, last: &Option<ErrorInfo>) -> ErrorInfo {
    let shown = deadline
        .map(|d| humantime::format_duration(d).to_string())
        .unwrap_or_default();
    let last = last
        .as_ref()
        .map(|e| format!(" (last error: {})", e.message))
        .unwrap_or_default();
    ErrorInfo {
        class: ErrorClass::Timeout,
        status: None,
        message: format!("deadline of {shown} for this item reached{last}"),
        code: Some("deadline_exceeded".into()),
    }
}
