//! Sends one item through its route. At each target a request first waits for every limit that
//! applies (run, provider, target; concurrency, RPM, TPM), the target's pause and adaptive
//! concurrency, and its circuit breaker; then it is retried with backoff, and the item falls
//! back to the next target when the target gives up. When every target refuses for good (bad
//! key, no quota), or too many items fail, the whole run stops.

pub mod adaptive;
mod attempt;
pub mod backoff;
pub mod breaker;
pub mod budget;
mod give_up;
pub mod guard;
pub mod limits;
pub mod rate;
pub mod refusal;
mod target;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::dispatch::DispatchSettings;
use crate::config::RetryPolicy;
use crate::input::WorkItem;
use crate::pricing::PriceTable;
use crate::provider::Client;
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Success};
use crate::stats::summary::{LearnedChange, TargetPacing};
use crate::stats::{DispatchReport, TargetDispatch};

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
    /// `--validate-json`: answers that fail it are `invalid_output` errors.
    pub output_check: Option<Arc<crate::validate::OutputCheck>>,
    /// `--max-cost`: consulted before each request.
    pub budget: Option<Arc<budget::Budget>>,
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
            output_check: config.output_check.clone(),
            budget: budget::Budget::from_config(config),
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
    abort_reason: Mutex<Option<Abort>>,
}

/// Why the dispatcher stopped the run.
enum Abort {
    Reason(String),
    /// The budget was reached: said with what was spent when the run ended.
    Budget,
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
            target.configure(
                settings.breaker,
                options.concurrency,
                settings.adaptive,
                settings.refusal_limit,
            );
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

    /// What only the dispatcher saw, for the run's summary: breaker openings, what the rate
    /// controller decided and what requests waited for, per target.
    pub fn report(&self) -> DispatchReport {
        let targets = self
            .route
            .iter()
            .map(|target| {
                let control = target.adaptive.report();
                let (retry_after, breaker, capped) = target.waits.totals();
                TargetDispatch {
                    name: target.name.clone(),
                    breaker_openings: target.breaker.openings(),
                    slowdowns: control.slowdowns,
                    pacing: TargetPacing {
                        rate_limited_at_limit: control.at_limit_429s,
                        rate_limited_noise: control.noise_429s,
                        learned_rpm: control.learned_rpm,
                        learned_changes: control
                            .changes
                            .iter()
                            .map(|&(at_s, rpm, why)| LearnedChange {
                                at_s,
                                rpm,
                                why: why.to_string(),
                            })
                            .collect(),
                        learned_wait_s: control.paced_wait.as_secs_f64(),
                        retry_after_wait_s: retry_after.as_secs_f64(),
                        breaker_wait_s: breaker.as_secs_f64(),
                        retry_after_capped: capped,
                        max_retry_after_s: (capped > 0).then_some(self.options.settings.max_retry_after.as_secs_f64()),
                    },
                }
            })
            .collect();
        DispatchReport {
            targets,
            budget: self.budget_report(),
        }
    }

    /// Why the run was stopped by the dispatcher (fatal provider error, error-rate guard,
    /// budget reached).
    pub fn abort_reason(&self) -> Option<String> {
        let slot = self.abort_reason.lock().ok()?;
        match slot.as_ref()? {
            Abort::Reason(reason) => Some(reason.clone()),
            Abort::Budget => self.options.budget.as_ref().map(|b| b.reason()),
        }
    }

    /// The run's budget (`--max-cost`), if any.
    pub fn budget(&self) -> Option<&Arc<budget::Budget>> {
        self.options.budget.as_ref()
    }

    /// The budget's figures, when the run has one (`--max-cost`).
    pub fn budget_report(&self) -> Option<budget::BudgetReport> {
        self.options.budget.as_ref().map(|b| b.report())
    }

    /// The model an item is sent with at a target: the target's when it fits the item's
    /// endpoint, else the line's own (see [`crate::provider::ApiEndpoint::model_for`]).
    pub fn model_for<'a>(target: &'a RouteTarget, item: &'a WorkItem) -> Option<&'a str> {
        item.endpoint
            .model_for(target.model.as_deref(), item.model(), target.default_model.as_deref())
    }

    /// Sends the item until it succeeds, fails for good, or the route is exhausted. Gives the
    /// item back untouched when the run stopped before its first request was sent, so it stays
    /// unsent (and a resume sends it).
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
            let bytes = match self.client.encode_shared(item.endpoint, &item.body, model) {
                Ok(bytes) => bytes,
                Err(e) => {
                    last_error = Some(invalid_input(format!("cannot encode request: {e}")));
                    break;
                }
            };
            let tokens = self.token_estimate(target, model, item.endpoint, &item.body, bytes.len());
            let cost = match self.cost_estimate(target, model, &item.body) {
                Ok(cost) => cost,
                Err(message) => {
                    last_error = Some(invalid_input(message));
                    continue;
                }
            };
            let later_usable = self.route[index + 1..].iter().any(|t| !t.is_dead());
            let leave = self
                .at_target(
                    target,
                    model,
                    item.endpoint,
                    &bytes,
                    (tokens, cost),
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
        let error = last_error.unwrap_or_else(|| self.route_given_up());
        Ok(self.finish(item, attempts, Err(error)))
    }

    /// The error of an item no target could take: every target was given up earlier. Its class
    /// is what killed the first target (a refused key, a dead endpoint, refused requests...);
    /// the message names each target's.
    fn route_given_up(&self) -> ErrorInfo {
        let killed: Vec<String> = self
            .route
            .iter()
            .filter_map(|t| t.given_up_for().map(|class| format!("{} ({class})", t.name)))
            .collect();
        ErrorInfo {
            class: self
                .route
                .iter()
                .find_map(RouteTarget::given_up_for)
                .unwrap_or(ErrorClass::Auth),
            status: None,
            message: format!(
                "not sent: every target of the route was given up earlier: {}",
                if killed.is_empty() {
                    "(no reason kept)".to_string()
                } else {
                    killed.join(", ")
                }
            ),
            code: None,
        }
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
        self.stop_for(Abort::Reason(reason));
    }

    fn stop_for(&self, why: Abort) {
        if let Ok(mut slot) = self.abort_reason.lock() {
            slot.get_or_insert(why);
        }
        self.stop.cancel();
    }
}

/// A URL without any credentials in it (`user:password@` removed).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string().trim_end_matches('/').to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => "(base URL not shown)".to_string(),
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

#[cfg(test)]
mod given_up_tests;
