//! Injected faults and OpenAI-shaped error responses.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Rounding slack allowed when checking that probabilities add up to at most 1.
pub(super) const SUM_SLACK: f64 = 1e-9;

/// Parses the CLI form `429=0.1,500=0.05` (status 100..=599, probability 0..=1 or a percentage
/// like `10%`, sum <= 1). An empty string means no faults. The error says which part is wrong.
pub fn parse_failures(s: &str) -> Result<Vec<(u16, f64)>, String> {
    let mut failures = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            if s.trim().is_empty() {
                continue;
            }
            return Err(format!(
                "empty entry in `{s}`: expected STATUS=PROBABILITY pairs separated by commas, \
                 e.g. 429=0.1,500=0.05"
            ));
        }
        let (status, probability) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not STATUS=PROBABILITY (e.g. 429=0.1)"))?;
        let (status, probability) = (status.trim(), probability.trim());
        let status: u16 = status
            .parse()
            .ok()
            .filter(|code| (100..=599).contains(code))
            .ok_or_else(|| format!("`{status}` in `{part}` is not an HTTP status (100..=599)"))?;
        let probability = parse_probability(probability, part)?;
        failures.push((status, probability));
    }
    validate_failures(&failures)?;
    Ok(failures)
}

/// `0.05` or `5%`, in 0..=1; `whole` names the entry in the message.
pub(super) fn parse_probability(text: &str, whole: &str) -> Result<f64, String> {
    let parsed = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.parse::<f64>(),
    };
    parsed
        .ok()
        .filter(|p| p.is_finite() && (0.0..=1.0).contains(p))
        .ok_or_else(|| format!("`{text}` in `{whole}` is not a probability (0..=1, or 0%..=100%)"))
}

/// Checks a fault list: statuses 100..=599 listed once, probabilities 0..=1 adding up to <= 1.
pub(crate) fn validate_failures(failures: &[(u16, f64)]) -> Result<(), String> {
    let mut sum = 0.0;
    for (i, &(status, probability)) in failures.iter().enumerate() {
        if !(100..=599).contains(&status) {
            return Err(format!("fault status {status} is not an HTTP status (100..=599)"));
        }
        if !(probability.is_finite() && (0.0..=1.0).contains(&probability)) {
            return Err(format!(
                "fault probability {probability} for status {status} is not in 0..=1"
            ));
        }
        if failures[..i].iter().any(|&(earlier, _)| earlier == status) {
            return Err(format!("fault status {status} is listed twice"));
        }
        sum += probability;
    }
    if sum > 1.0 + SUM_SLACK {
        return Err(format!("fault probabilities add up to {sum}, more than 1"));
    }
    Ok(())
}

/// Which status (if any) to inject, given a uniform draw `r` in [0, 1).
pub(crate) fn draw(failures: &[(u16, f64)], r: f64) -> Option<u16> {
    let mut upto = 0.0;
    for &(status, probability) in failures {
        upto += probability;
        if r < upto {
            return Some(status);
        }
    }
    None
}

/// An error answered in OpenAI's shape:
/// `{"error":{"message":..,"type":..,"param":..,"code":..}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    /// For 429s: sent as `retry-after` (whole seconds, rounded up) and `retry-after-ms`.
    pub retry_after: Option<Duration>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<Cow<'static, str>>, kind: &'static str) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// 400 for a request body that cannot be used.
    pub fn invalid_request(
        message: impl Into<Cow<'static, str>>,
        param: Option<&'static str>,
        code: &'static str,
    ) -> Self {
        let mut e = ApiError::new(StatusCode::BAD_REQUEST, message, "invalid_request_error").with_code(code);
        e.param = param;
        e
    }

    /// The body could not be read (too large, broken connection): axum's reason, in our shape.
    pub fn unreadable_body(status: StatusCode, reason: String) -> Self {
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request_too_large"
        } else {
            "unreadable_body"
        };
        ApiError::new(status, reason, "invalid_request_error").with_code(code)
    }

    /// 401. The message never contains the key that was sent, not even masked.
    pub fn invalid_key(missing: bool) -> Self {
        let message = if missing {
            "You didn't provide an API key. You need to provide your API key in an Authorization \
             header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        } else {
            "Incorrect API key provided. Check the key configured for this provider."
        };
        ApiError::new(StatusCode::UNAUTHORIZED, message, "invalid_request_error").with_code("invalid_api_key")
    }

    /// 404 for a model the server does not serve.
    pub fn model_not_found(model: &str) -> Self {
        let message = format!("The model `{model}` does not exist or you do not have access to it.");
        ApiError::new(StatusCode::NOT_FOUND, message, "invalid_request_error")
            .with_param("model")
            .with_code("model_not_found")
    }

    /// 404 for a path the server does not know.
    pub fn unknown_url(method: &str, path: &str) -> Self {
        let message = format!("Invalid URL ({method} {path})");
        ApiError::new(StatusCode::NOT_FOUND, message, "invalid_request_error").with_code("unknown_url")
    }

    /// 405 for a known path asked with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        let message = format!("Method {method} is not allowed for {path}.");
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, message, "invalid_request_error").with_code("method_not_allowed")
    }

    /// 429 `rate_limit_exceeded` asking the client to wait `wait`; `limit` is the RPM limit
    /// when a real one was hit (else the fault was injected).
    pub fn rate_limited(model: &str, limit: Option<u32>, wait: Duration) -> Self {
        let shown = humantime::format_duration(Duration::from_millis(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        ));
        let message = match limit {
            Some(limit) => format!(
                "Rate limit reached for {model} in organization org-mock on requests per min \
                 (RPM): Limit {limit}. Please try again in {shown}."
            ),
            None => format!(
                "Rate limit reached for {model} in organization org-mock on requests per min \
                 (RPM). Please try again in {shown}. (Injected by the sheepdog mock server.)"
            ),
        };
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message, "requests").with_code("rate_limit_exceeded");
        e.retry_after = Some(wait);
        e
    }

    /// An injected fault with `status`, worded like the provider's own error of that status.
    pub fn injected(status: u16, model: &str, retry_after: Duration) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match status {
            429 => ApiError::rate_limited(model, None, retry_after),
            500 => ApiError::new(
                code,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            ),
            502 => ApiError::new(code, "Bad gateway.", "server_error"),
            503 => ApiError::new(
                code,
                "The engine is currently overloaded, please try again later.",
                "server_error",
            ),
            504 => ApiError::new(code, "Gateway timeout.", "server_error"),
            529 => ApiError::new(code, "Overloaded.", "overloaded_error"),
            s if s >= 500 => ApiError::new(
                code,
                format!("The server had an error (HTTP {s}). Sorry about that!"),
                "server_error",
            ),
            s => {
                let reason = code.canonical_reason().unwrap_or("error");
                ApiError::new(
                    code,
                    format!("Injected fault: HTTP {s} {reason}."),
                    "invalid_request_error",
                )
            }
        }
    }
}

/// `retry-after` is whole seconds rounded up; `retry-after-ms` is exact (sub-ms rounded up).
pub(crate) fn retry_after_headers(wait: Duration) -> (u64, u64) {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let ms =
        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX) + u64::from(!wait.subsec_nanos().is_multiple_of(1_000_000));
    (secs, ms)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        };
        // Serializing strings cannot fail.
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            json,
        )
            .into_response();
        if let Some(wait) = self.retry_after {
            let (secs, ms) = retry_after_headers(wait);
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            headers.insert("retry-after-ms", HeaderValue::from(ms));
        }
        response
    }
}

/// Parses `--fail-model NAME=STATUS,...` (e.g. `gpt-4.1=404`): those models always fail.
pub fn parse_fail_models(s: &str) -> Result<Vec<(String, u16)>, String> {
    let mut models = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (model, status) = part
            .rsplit_once('=')
            .ok_or_else(|| format!("`{part}` is not MODEL=STATUS (e.g. gpt-4.1=404)"))?;
        let status: u16 = status
            .trim()
            .parse()
            .ok()
            .filter(|code| (400..=599).contains(code))
            .ok_or_else(|| {
                format!(
                    "`{}` in `{part}` is not an HTTP error status (400..=599)",
                    status.trim()
                )
            })?;
        models.push((model.trim().to_string(), status));
    }
    Ok(models)
}

impl ApiError {
    /// 429 `insufficient_quota`: the account has no credit left; retrying does not help.
    pub fn insufficient_quota() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
        )
        .with_code("insufficient_quota")
    }

    /// 429 for the tokens-per-minute limit, asking the client to wait `wait`.
    pub fn tokens_limited(model: &str, limit: u64, wait: Duration) -> Self {
        let shown = humantime::format_duration(Duration::from_millis(
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        ));
        let message = format!(
            "Rate limit reached for {model} in organization org-mock on tokens per min (TPM): Limit {limit}. \
             Please try again in {shown}."
        );
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, message, "tokens").with_code("rate_limit_exceeded");
        e.retry_after = Some(wait);
        e
    }

    /// The configured failure of a model listed in `fail_models`.
    pub fn failing_model(model: &str, status: u16) -> Self {
        if status == 404 {
            ApiError::model_not_found(model)
        } else {
            ApiError::injected(status, model, Duration::from_secs(1))
        }
    }
}

/// An OpenAI-style duration for `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`.
pub(crate) fn reset_text(wait: Duration) -> String {
    let ms = wait.as_millis();
    if ms < 1000 {
        format!("{}ms", ms.max(1))
    } else if ms < 60_000 {
        format!("{}s", (wait.as_secs_f64() * 1000.0).ceil() / 1000.0)
    } else {
        let secs = wait.as_secs();
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_failures_accepts_lists_and_percentages() {
        assert_eq!(parse_failures("429=0.1,500=0.05"), Ok(vec![(429, 0.1), (500, 0.05)]));
        assert_eq!(parse_failures(" 503 = 10% "), Ok(vec![(503, 0.1)]));
        assert_eq!(parse_failures("429=1"), Ok(vec![(429, 1.0)]));
        assert_eq!(parse_failures(""), Ok(vec![]));
    }

    #[test]
    fn parse_failures_names_the_wrong_part() {
        let err = |s: &str| parse_failures(s).unwrap_err();
        assert!(err("429").contains("`429` is not STATUS=PROBABILITY"), "{}", err("429"));
        assert!(err("abc=0.1").contains("`abc` in `abc=0.1` is not an HTTP status"));
        assert!(err("600=0.1").contains("`600` in `600=0.1` is not an HTTP status (100..=599)"));
        assert!(err("429=1.5").contains("`1.5` in `429=1.5` is not a probability"));
        assert!(err("429=x").contains("`x` in `429=x` is not a probability"));
        assert!(err("429=NaN").contains("is not a probability"));
        assert!(
            err("429=0.6,500=0.6").contains("add up to 1.2"),
            "{}",
            err("429=0.6,500=0.6")
        );
        assert!(err("429=0.1,429=0.2").contains("429 is listed twice"));
        assert!(err("429=0.1,,500=0.1").contains("empty entry"));
    }

    #[test]
    fn draw_picks_by_cumulative_probability() {
        let failures = [(429, 0.25), (500, 0.25)];
        assert_eq!(draw(&failures, 0.0), Some(429));
        assert_eq!(draw(&failures, 0.3), Some(500));
        assert_eq!(draw(&failures, 0.5), None);
        assert_eq!(draw(&[], 0.0), None);
    }

    #[test]
    fn retry_after_rounds_seconds_up_and_keeps_ms() {
        assert_eq!(retry_after_headers(Duration::from_secs(1)), (1, 1000));
        assert_eq!(retry_after_headers(Duration::from_millis(1500)), (2, 1500));
        assert_eq!(retry_after_headers(Duration::from_micros(2500)), (1, 3));
        assert_eq!(retry_after_headers(Duration::ZERO), (0, 0));
    }
}
