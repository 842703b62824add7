//! Sends one item through its route. At each target a request first waits for every limit that
//! applies (run, provider, target; concurrency, RPM, TPM), the target's pause and adaptive
//! concurrency, and its circuit breaker; then it is retried with backoff, and the item falls
//! back to the next target when the target gives up. When every target refuses for good (bad
//! key, no quota), or too many items fail, the whole run stops.

pub mod adaptive;
pub mod backoff;
pub mod breaker;
pub mod guard;
pub mod limits;
pub mod rate;
mod target;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::dispatch::DispatchSettings;
use crate::config::RetryPolicy;
use crate::input::WorkItem;
use crate::pricing::PriceTable;
use crate::provider::{Client, RequestError};
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Success};

pub use breaker::Admission;
pub use limits::Limits;
pub use target::RouteTarget;

/// Everything a dispatcher needs besides the client and the route.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub prices: PriceTable,
    pub settings: DispatchSettings,
    /// Run-wide limits (`--rpm`, `--tpm`), if any.
    pub run_limits: Option<Arc<Limits>>,
    /// The run's concurrency: the ceiling of each target's adaptive concurrency.
    pub concurrency: usize,
    /// Requests in flight and limiter waits are reported here (`--metrics-addr`).
    pub metrics: Option<crate::metrics::Metrics>,
}

impl DispatchOptions {
    /// The options of a run as configured.
    pub fn from_config(config: &crate::config::Config) -> DispatchOptions {
        let settings = config.dispatch.clone();
        DispatchOptions {
            retry: config.retry,
            timeout: config.timeout,
            prices: config.prices.clone(),
            run_limits: Limits::new("run".into(), None, settings.rpm, settings.tpm),
            settings,
            concurrency: config.concurrency,
            metrics: None,
        }
    }
}

/// Shared by every in-flight item of a run.
pub struct Dispatcher {
    client: Client,
    route: Vec<RouteTarget>,
    options: DispatchOptions,
    guard: Option<guard::Guard>,
    started: Instant,
    stop: CancellationToken,
    abort_reason: Mutex<Option<String>>,
}

/// Why the attempts at one target ended.
enum Leave {
    /// Move on to the next target.
    Next,
    /// The item is finished (failed for good, or the run is stopping).
    Done,
}

impl Dispatcher {
    pub fn new(
        client: Client,
        route: Vec<RouteTarget>,
        options: DispatchOptions,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let mut route = route;
        for target in &mut route {
            let settings = &options.settings;
            target.configure(settings.breaker, options.concurrency, settings.adaptive);
        }
        Arc::new(Dispatcher {
            client,
            route,
            guard: options.settings.guard.map(guard::Guard::new),
            options,
            started: Instant::now(),
            stop,
            abort_reason: Mutex::new(None),
        })
    }

    /// The instant `Attempt::sent_at` offsets count from.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn route(&self) -> &[RouteTarget] {
        &self.route
    }

    /// The metrics this dispatcher reports to, if any.
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.options.metrics.as_ref()
    }

    /// Adds what only the dispatcher saw to a run's summary: breaker openings and AIMD
    /// slowdowns per target.
    pub fn annotate(&self, summary: &mut crate::stats::summary::Summary) {
        for target in &self.route {
            if let Some(row) = summary.targets.iter_mut().find(|row| row.name == target.name) {
                row.breaker_openings = target.breaker.openings();
                row.slowdowns = target.adaptive.decreases();
            }
        }
    }

    /// Why the run was stopped by the dispatcher (fatal provider error, error-rate guard).
    pub fn abort_reason(&self) -> Option<String> {
        self.abort_reason.lock().map(|r| r.clone()).unwrap_or(None)
    }

    /// The model an item is sent with at a target: the target's, else the line's own, else
    /// the target's default.
    pub fn model_for<'a>(target: &'a RouteTarget, item: &'a WorkItem) -> Option<&'a str> {
        target
            .model
            .as_deref()
            .or_else(|| item.model())
            .or(target.default_model.as_deref())
    }

    /// Sends the item until it succeeds, fails for good, or the route is exhausted. An item
    /// the run stopped before anything was sent ends as failed; see [`Dispatcher::try_process`].
    pub async fn process(&self, item: WorkItem) -> Outcome {
        match self.try_process(item).await {
            Ok(outcome) => outcome,
            Err(item) => {
                let error = invalid_input("not sent: the run stopped before this item's first request".into());
                Outcome {
                    id: item.id,
                    line: item.line,
                    metadata: item.metadata,
                    attempts: Vec::new(),
                    result: Err(error),
                }
            }
        }
    }

    /// Like [`Dispatcher::process`], but gives the item back untouched when the run stopped
    /// before its first request was sent, so it stays unsent (and a resume sends it).
    pub async fn try_process(&self, item: WorkItem) -> Result<Outcome, WorkItem> {
        let began = Instant::now();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_error: Option<ErrorInfo> = None;
        for (index, target) in self.route.iter().enumerate() {
            let Some(model) = Self::model_for(target, &item) else {
                last_error = Some(invalid_input(format!(
                    "no model for target {:?}: give --model or \"model\" in the line",
                    target.name
                )));
                continue;
            };
            let mut body = item.body.clone();
            body.insert("model".into(), model.into());
            self.client.prepare_body(&mut body);
            let body = Value::Object(body);
            let bytes = match serde_json::to_vec(&body) {
                Ok(bytes) => bytes,
                Err(e) => {
                    last_error = Some(invalid_input(format!("cannot encode request: {e}")));
                    break;
                }
            };
            let tokens = self.token_estimate(target, model, &body, bytes.len());
            let later_usable = self.route[index + 1..].iter().any(|t| !t.is_dead());
            let leave = self
                .at_target(
                    target,
                    model,
                    &bytes,
                    tokens,
                    later_usable,
                    began,
                    &mut attempts,
                    &mut last_error,
                )
                .await;
            if let Some(success) = leave.0 {
                return Ok(self.finish(item, attempts, Ok(success)));
            }
            if matches!(leave.1, Leave::Done) {
                break;
            }
        }
        if attempts.is_empty() && self.stop.is_cancelled() && last_error.is_none() {
            return Err(item);
        }
        let error = last_error.unwrap_or_else(|| ErrorInfo {
            class: ErrorClass::Auth,
            status: None,
            message: "not sent: every target of the route was stopped by an earlier fatal error".into(),
            code: None,
        });
        Ok(self.finish(item, attempts, Err(error)))
    }

    /// Tries one target until it answers or gives up.
    #[allow(clippy::too_many_arguments)]
    async fn at_target(
        &self,
        target: &RouteTarget,
        model: &str,
        bytes: &[u8],
        tokens: f64,
        later_usable: bool,
        began: Instant,
        attempts: &mut Vec<Attempt>,
        last_error: &mut Option<ErrorInfo>,
    ) -> (Option<Success>, Leave) {
        let retry = &self.options.retry;
        for number in 1..=retry.max_attempts {
            if self.stop.is_cancelled() {
                return (None, Leave::Done);
            }
            // The breaker: skip an open target when a later one can take the item, else wait.
            let probe = loop {
                match target.breaker.admit(Instant::now()) {
                    Admission::Go => break false,
                    Admission::Probe => break true,
                    Admission::Dead => return (None, Leave::Next),
                    Admission::OpenUntil(_) if later_usable => return (None, Leave::Next),
                    Admission::OpenUntil(until) => {
                        if self.past_deadline(began, until) {
                            *last_error = Some(deadline_error(self.options.settings.deadline, last_error));
                            return (None, Leave::Done);
                        }
                        tokio::select! {
                            _ = tokio::time::sleep_until(until) => {}
                            _ = self.stop.cancelled() => return (None, Leave::Done),
                        }
                    }
                }
            };
            let mut levels: Vec<Arc<Limits>> = self.options.run_limits.iter().cloned().collect();
            levels.extend(target.limits.iter().cloned());
            let admitted = async {
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
            let timeout = match self.options.settings.deadline {
                Some(deadline) => self.options.timeout.min(deadline.saturating_sub(began.elapsed())),
                None => self.options.timeout,
            };
            let concurrency_limit = Some(target.adaptive.limit());
            target.note_sent();
            let sent_at = self.started.elapsed();
            let in_flight = self.options.metrics.as_ref().map(|m| {
                m.limiter_waited(&target.name, waiting.elapsed());
                m.in_flight(&target.name)
            });
            let result = self.client.chat(&target.endpoint, bytes.to_vec(), timeout).await;
            drop((slot, in_flight));
            tracing::trace!(
                target_name = %target.name, model, attempt = number, status = ?result.as_ref().map_or_else(|e| e.status(), |r| Some(r.status)),
                latency_ms = (self.started.elapsed() - sent_at).as_secs_f64() * 1e3, "request"
            );
            match result {
                Ok(reply) => {
                    held.settle(Some(reply.usage.input_tokens + reply.usage.output_tokens));
                    target.breaker.record(true, Instant::now());
                    target.adaptive.on_success();
                    target.note_success();
                    if let Some(wait) = reply.ratelimit.exhausted_for() {
                        target.adaptive.pause_until(Instant::now() + wait);
                    }
                    let cost_usd = self.options.prices.get(model).map(|p| p.cost_usd(&reply.usage));
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
                    held.settle(None);
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
                        status: error.status(),
                        usage: None,
                        cost_usd: None,
                        error: Some(info.clone()),
                        concurrency_limit,
                    });
                    *last_error = Some(info);
                    self.observe(target, &error, probe);
                    if class.is_fatal() {
                        self.kill(target, &error);
                    }
                    let falls_back = self.options.settings.fallback_on.contains(&class);
                    if !class.is_retryable() || class.is_fatal() {
                        return (None, if falls_back { Leave::Next } else { Leave::Done });
                    }
                    if number == retry.max_attempts {
                        return (None, if falls_back { Leave::Next } else { Leave::Done });
                    }
                    let delay = backoff::delay(retry, number, error.retry_after());
                    tracing::debug!(
                        target_name = %target.name, attempt = number, class = %class, status = ?error.status(),
                        delay_ms = delay.as_millis() as u64, "retrying"
                    );
                    if self.past_deadline(began, Instant::now() + delay) {
                        *last_error = Some(deadline_error(self.options.settings.deadline, last_error));
                        return (None, Leave::Done);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.cancelled() => return (None, Leave::Done),
                    }
                }
            }
        }
        (None, Leave::Next)
    }

    /// Feeds a failure to the target's breaker and adaptive limits.
    fn observe(&self, target: &RouteTarget, error: &RequestError, probe: bool) {
        let now = Instant::now();
        match error.class() {
            ErrorClass::RateLimited => {
                target
                    .adaptive
                    .on_rate_limited(error.retry_after(), target.accepted_rate());
                if probe {
                    target.breaker.release_probe();
                }
            }
            ErrorClass::Connect
            | ErrorClass::Timeout
            | ErrorClass::ServerError
            | ErrorClass::Conflict
            | ErrorClass::InvalidResponse
            | ErrorClass::StreamInterrupted => {
                let openings = target.breaker.openings();
                target.breaker.record(false, now);
                if target.breaker.openings() > openings {
                    tracing::warn!(target_name = %target.name, class = %error.class(), "circuit breaker opened");
                }
            }
            _ if probe => target.breaker.release_probe(),
            _ => {}
        }
    }

    /// Prompt tokens plus the output asked for, when a tokens-per-minute limit applies. While
    /// every token limit is idle (far from binding) a quarter of the body's bytes stands in for
    /// the prompt (cheap, and on the high side); under pressure the model's own tokenizer
    /// counts it. Either way the reservation is corrected from `usage` afterwards.
    fn token_estimate(&self, target: &RouteTarget, model: &str, body: &Value, body_bytes: usize) -> f64 {
        let mut levels = self.options.run_limits.iter().chain(&target.limits);
        if !levels.clone().any(|l| l.counts_tokens()) {
            return 0.0;
        }
        let output = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|key| body.get(*key).and_then(Value::as_u64))
            .unwrap_or(self.options.settings.expected_output_tokens);
        let now = Instant::now();
        let prompt = if levels.all(|l| l.tokens_idle(now)) {
            body_bytes as u64 / 4
        } else {
            crate::tokens::estimate_prompt_tokens(model, body)
        };
        (prompt + output) as f64
    }

    fn past_deadline(&self, began: Instant, at: Instant) -> bool {
        self.options
            .settings
            .deadline
            .is_some_and(|deadline| at.duration_since(began) >= deadline)
    }

    fn finish(&self, item: WorkItem, attempts: Vec<Attempt>, result: Result<Success, ErrorInfo>) -> Outcome {
        if let Some(guard) = &self.guard {
            if let Some(reason) = guard.record(result.is_ok()) {
                self.abort(reason);
            }
        }
        Outcome {
            id: item.id,
            line: item.line,
            metadata: item.metadata,
            attempts,
            result,
        }
    }

    fn abort(&self, reason: String) {
        tracing::error!(reason = %reason, "stopping the run");
        if let Ok(mut slot) = self.abort_reason.lock() {
            slot.get_or_insert(reason);
        }
        self.stop.cancel();
    }

    /// Opens a target's breaker for good; stops the run when no target is left.
    fn kill(&self, target: &RouteTarget, error: &RequestError) {
        if !target.breaker.kill() {
            return;
        }
        let fix = match (error.class(), &target.api_key_env) {
            (ErrorClass::InsufficientQuota, _) => "add credit to the account or use another key".to_string(),
            (_, Some(env)) => format!("check the key in {env}"),
            (_, None) => "set api_key_env for this provider in the job file".to_string(),
        };
        let reason = format!(
            "provider {:?} (target {:?}) refused: {error}; {fix}",
            target.endpoint.provider, target.name
        );
        tracing::warn!(target_name = %target.name, reason = %reason, "target refused for good: its breaker stays open");
        if self.route.iter().all(RouteTarget::is_dead) {
            self.abort(reason);
        }
    }
}

fn invalid_input(message: String) -> ErrorInfo {
    ErrorInfo {
        class: ErrorClass::InvalidInput,
        status: None,
        message,
        code: None,
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
