//! Sends one item through its route: retries with backoff at each target, falls back to the
//! next target, and stops the whole run when every target refuses for good (bad key, no quota).

pub mod backoff;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::RetryPolicy;
use crate::input::WorkItem;
use crate::pricing::PriceTable;
use crate::provider::{Client, Endpoint, RequestError};
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Success};

/// One target of the route, ready to send to.
#[derive(Debug)]
pub struct RouteTarget {
    pub name: String,
    /// `None`: the item's own model is sent.
    pub model: Option<String>,
    /// Sent when neither the target nor the item names a model.
    pub default_model: Option<String>,
    pub endpoint: Endpoint,
    /// Where the key comes from, to say what to fix when it is refused.
    pub api_key_env: Option<String>,
    /// Set once the provider refused for good (401/403, no quota): no further request goes there.
    dead: AtomicBool,
}

impl RouteTarget {
    pub fn new(name: String, model: Option<String>, endpoint: Endpoint, api_key_env: Option<String>) -> Self {
        RouteTarget {
            name,
            model,
            default_model: None,
            endpoint,
            api_key_env,
            dead: AtomicBool::new(false),
        }
    }

    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed)
    }
}

/// Shared by every in-flight item of a run.
pub struct Dispatcher {
    client: Client,
    route: Vec<RouteTarget>,
    retry: RetryPolicy,
    timeout: Duration,
    prices: PriceTable,
    started: Instant,
    stop: CancellationToken,
    abort_reason: Mutex<Option<String>>,
}

impl Dispatcher {
    pub fn new(
        client: Client,
        route: Vec<RouteTarget>,
        retry: RetryPolicy,
        timeout: Duration,
        prices: PriceTable,
        stop: CancellationToken,
    ) -> Arc<Dispatcher> {
        Arc::new(Dispatcher {
            client,
            route,
            retry,
            timeout,
            prices,
            started: Instant::now(),
            stop,
            abort_reason: Mutex::new(None),
        })
    }

    pub fn route(&self) -> &[RouteTarget] {
        &self.route
    }

    /// Why the run was stopped by a fatal provider error, if it was.
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

    /// Sends the item until it succeeds, fails for good, or the route is exhausted.
    pub async fn process(&self, item: WorkItem) -> Outcome {
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_error: Option<ErrorInfo> = None;
        'route: for target in &self.route {
            if target.is_dead() {
                continue;
            }
            let Some(model) = Self::model_for(target, &item) else {
                last_error = Some(ErrorInfo {
                    class: ErrorClass::InvalidInput,
                    status: None,
                    message: format!(
                        "no model for target {:?}: give --model or \"model\" in the line",
                        target.name
                    ),
                    code: None,
                });
                continue;
            };
            let mut body = item.body.clone();
            body.insert("model".into(), model.into());
            let bytes = match serde_json::to_vec(&body) {
                Ok(bytes) => bytes,
                Err(e) => {
                    last_error = Some(invalid_input(format!("cannot encode request: {e}")));
                    break;
                }
            };
            for number in 1..=self.retry.max_attempts {
                if number > 1 && self.stop.is_cancelled() {
                    break 'route;
                }
                let sent_at = self.started.elapsed();
                let result = self.client.chat(&target.endpoint, bytes.clone(), self.timeout).await;
                match result {
                    Ok(reply) => {
                        let cost_usd = self.prices.get(model).map(|p| p.cost_usd(&reply.usage));
                        attempts.push(Attempt {
                            target: target.name.clone(),
                            model: model.to_string(),
                            number,
                            sent_at,
                            latency: reply.latency,
                            ttft: reply.ttft,
                            status: Some(reply.status),
                            usage: Some(reply.usage),
                            cost_usd,
                            error: None,
                            concurrency_limit: None,
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
                            cost_usd,
                        };
                        return self.outcome(item, attempts, Ok(success));
                    }
                    Err(error) => {
                        let info = error.info();
                        attempts.push(Attempt {
                            target: target.name.clone(),
                            model: model.to_string(),
                            number,
                            sent_at,
                            latency: self.started.elapsed().saturating_sub(sent_at),
                            ttft: None,
                            status: error.status(),
                            usage: None,
                            cost_usd: None,
                            error: Some(info.clone()),
                            concurrency_limit: None,
                        });
                        last_error = Some(info);
                        let class = error.class();
                        if class.is_fatal() {
                            self.kill(target, &error);
                            continue 'route;
                        }
                        if class == ErrorClass::NotFound {
                            continue 'route;
                        }
                        if !class.is_retryable() {
                            break 'route;
                        }
                        if number < self.retry.max_attempts {
                            let delay = backoff::delay(&self.retry, number, error.retry_after());
                            tokio::select! {
                                _ = tokio::time::sleep(delay) => {}
                                _ = self.stop.cancelled() => break 'route,
                            }
                        }
                    }
                }
            }
        }
        let error = last_error.unwrap_or_else(|| ErrorInfo {
            class: ErrorClass::Auth,
            status: None,
            message: "not sent: every target of the route was stopped by an earlier fatal error".into(),
            code: None,
        });
        self.outcome(item, attempts, Err(error))
    }

    fn outcome(&self, item: WorkItem, attempts: Vec<Attempt>, result: Result<Success, ErrorInfo>) -> Outcome {
        Outcome {
            id: item.id,
            line: item.line,
            metadata: item.metadata,
            attempts,
            result,
        }
    }

    /// Marks a target as refusing for good; stops the run when no target is left.
    fn kill(&self, target: &RouteTarget, error: &RequestError) {
        if target.dead.swap(true, Ordering::Relaxed) {
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
        if self.route.iter().all(RouteTarget::is_dead) {
            if let Ok(mut slot) = self.abort_reason.lock() {
                slot.get_or_insert(reason);
            }
            self.stop.cancel();
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
