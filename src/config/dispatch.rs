//! The dispatch settings of a run: run-wide limits, adaptive concurrency, circuit breaker,
//! error-rate guard, fallback classes and the per-item deadline.

use std::time::Duration;

use super::file::{BreakerEntry, RetryEntry, RouteEntry, RunEntry};
use super::{Overrides, MAX_ERROR_WINDOW};
use crate::record::ErrorClass;

/// Output tokens assumed for a request without `max_tokens` when a TPM limit applies.
pub const DEFAULT_EXPECTED_OUTPUT_TOKENS: u64 = 256;
pub const DEFAULT_ERROR_WINDOW: usize = 200;
/// The longest Retry-After honoured by default.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Same refusals in a row, before any success, that stop a target by default.
pub const DEFAULT_REFUSAL_LIMIT: u32 = 20;

/// After which failures an item moves on to the next target of its route, by default: every
/// retryable class once its retries are used up, a missing model, and a refused key or quota.
pub const DEFAULT_FALLBACK_ON: [ErrorClass; 13] = [
    ErrorClass::Connect,
    ErrorClass::Transport,
    ErrorClass::Timeout,
    ErrorClass::RateLimited,
    ErrorClass::Conflict,
    ErrorClass::ServerError,
    ErrorClass::InvalidResponse,
    ErrorClass::StreamInterrupted,
    ErrorClass::InvalidOutput,
    ErrorClass::ResponseTooLarge,
    ErrorClass::NotFound,
    ErrorClass::Auth,
    ErrorClass::InsufficientQuota,
];

/// When a target's circuit breaker opens, and for how long (see `dispatch::breaker`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Opens after this many failed requests in a row.
    pub consecutive_failures: u32,
    /// Opens when more than this share of the last `window` requests failed...
    pub failure_rate: f64,
    pub window: usize,
    /// ...once at least this many of them are known.
    pub min_requests: usize,
    /// How long it stays open before a probe.
    pub cooldown: Duration,
    /// A target that never answered is given up after this many failures in a row (0: never).
    pub give_up_after: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            consecutive_failures: 10,
            failure_rate: 0.5,
            window: 50,
            min_requests: 20,
            cooldown: Duration::from_secs(30),
            give_up_after: 8,
        }
    }
}

/// The error-rate guard that stops a run (see `dispatch::guard`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardPolicy {
    /// Largest tolerated share of failed items, 0..1.
    pub max_error_rate: f64,
    /// Over this many last finished items.
    pub window: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DispatchSettings {
    /// Run-wide requests per minute (over every target).
    pub rpm: Option<u32>,
    /// Run-wide tokens per minute.
    pub tpm: Option<u64>,
    /// The rate controller paces targets (`--no-adaptive` turns it off).
    pub adaptive: bool,
    pub breaker: BreakerPolicy,
    pub guard: Option<GuardPolicy>,
    pub fallback_on: Vec<ErrorClass>,
    /// Per item, retries and fallbacks included.
    pub deadline: Option<Duration>,
    pub expected_output_tokens: u64,
    /// A longer Retry-After is cut to this.
    pub max_retry_after: Duration,
    /// 0: off.
    pub refusal_limit: u32,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            rpm: None,
            tpm: None,
            adaptive: true,
            breaker: BreakerPolicy::default(),
            guard: None,
            fallback_on: DEFAULT_FALLBACK_ON.to_vec(),
            deadline: None,
            expected_output_tokens: DEFAULT_EXPECTED_OUTPUT_TOKENS,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            refusal_limit: DEFAULT_REFUSAL_LIMIT,
        }
    }
}

/// `(key, message)` of a bad setting; the caller adds the file name.
pub type SettingError = (String, String);

pub fn resolve(
    o: &Overrides,
    run: &RunEntry,
    retry: &RetryEntry,
    route: Option<&RouteEntry>,
    breaker: Option<&BreakerEntry>,
) -> Result<DispatchSettings, SettingError> {
    let mut settings = DispatchSettings {
        rpm: o.rpm.or(run.rpm),
        tpm: o.tpm.or(run.tpm),
        adaptive: o.adaptive.or(run.adaptive).unwrap_or(true),
        deadline: o.deadline.or(retry.deadline.map(|d| d.0)),
        expected_output_tokens: run.expected_output_tokens.unwrap_or(DEFAULT_EXPECTED_OUTPUT_TOKENS),
        max_retry_after: o
            .max_retry_after
            .or(retry.max_retry_after.map(|d| d.0))
            .unwrap_or(DEFAULT_MAX_RETRY_AFTER),
        refusal_limit: o.refusal_limit.or(retry.refusal_limit).unwrap_or(DEFAULT_REFUSAL_LIMIT),
        ..DispatchSettings::default()
    };
    let key = |flag: &str, file: &str, from_flag: bool| if from_flag { flag.to_string() } else { file.to_string() };
    if settings.max_retry_after.is_zero() {
        return Err((
            key(
                "--max-retry-after",
                "retry.max_retry_after",
                o.max_retry_after.is_some(),
            ),
            "must be longer than 0".into(),
        ));
    }
    if settings.rpm == Some(0) {
        return Err((
            key("--rpm", "run.rpm", o.rpm.is_some()),
            "must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    if settings.tpm == Some(0) {
        return Err((
            key("--tpm", "run.tpm", o.tpm.is_some()),
            "must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    if settings.deadline.is_some_and(|d| d.is_zero()) {
        return Err((
            key("--deadline", "retry.deadline", o.deadline.is_some()),
            "must be longer than 0".into(),
        ));
    }
    if let Some(rate) = o.max_error_rate.or(run.max_error_rate.map(|s| s.0)) {
        let window = o.error_window.or(run.error_window).unwrap_or(DEFAULT_ERROR_WINDOW);
        if window == 0 || window > MAX_ERROR_WINDOW {
            let from_flag = o.error_window.is_some();
            return Err((
                key("--error-window", "run.error_window", from_flag),
                format!("must be between 1 and {MAX_ERROR_WINDOW}"),
            ));
        }
        settings.guard = Some(GuardPolicy {
            max_error_rate: rate,
            window,
        });
    }
    if let Some(classes) = route.and_then(|r| r.fallback_on.as_ref()) {
        settings.fallback_on = Vec::new();
        for (i, name) in classes.iter().enumerate() {
            let class = parse_class(name).ok_or_else(|| {
                (
                    format!("route.fallback_on[{i}]"),
                    format!("{name:?} is not an error class: use one of {}", class_names()),
                )
            })?;
            settings.fallback_on.push(class);
        }
    }
    if let Some(b) = breaker {
        let p = &mut settings.breaker;
        p.consecutive_failures = b.consecutive_failures.unwrap_or(p.consecutive_failures);
        p.failure_rate = b.failure_rate.map(|s| s.0).unwrap_or(p.failure_rate);
        p.window = b.window.unwrap_or(p.window);
        p.min_requests = b.min_requests.unwrap_or(p.min_requests).min(p.window);
        p.cooldown = b.cooldown.map(|d| d.0).unwrap_or(p.cooldown);
        p.give_up_after = b.give_up_after.unwrap_or(p.give_up_after);
        if p.consecutive_failures == 0 {
            return Err(("breaker.consecutive_failures".into(), "must be at least 1".into()));
        }
        if p.window == 0 || p.window > MAX_ERROR_WINDOW {
            return Err((
                "breaker.window".into(),
                format!("must be between 1 and {MAX_ERROR_WINDOW}"),
            ));
        }
    }
    Ok(settings)
}

const CLASSES: [ErrorClass; 14] = [
    ErrorClass::Connect,
    ErrorClass::Transport,
    ErrorClass::Timeout,
    ErrorClass::RateLimited,
    ErrorClass::InsufficientQuota,
    ErrorClass::Auth,
    ErrorClass::NotFound,
    ErrorClass::BadRequest,
    ErrorClass::Conflict,
    ErrorClass::ServerError,
    ErrorClass::InvalidResponse,
    ErrorClass::StreamInterrupted,
    ErrorClass::InvalidOutput,
    ErrorClass::ResponseTooLarge,
];

fn parse_class(name: &str) -> Option<ErrorClass> {
    CLASSES.into_iter().find(|c| c.as_str() == name.trim())
}

fn class_names() -> String {
    CLASSES.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod class_tests {
    use super::*;

    #[test]
    fn response_too_large_can_be_named_and_falls_back_like_every_retryable_class() {
        assert_eq!(parse_class("response_too_large"), Some(ErrorClass::ResponseTooLarge));
        for class in CLASSES.into_iter().filter(|c| c.is_retryable()) {
            assert!(
                DEFAULT_FALLBACK_ON.contains(&class),
                "{class:?} is retried but does not fall back"
            );
        }
    }
}
