//! Request failures, classified by what the caller should do about them.

use std::time::Duration;

use super::StreamFault;
use crate::record::{ErrorClass, ErrorInfo};

/// Why one HTTP request to a provider failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("no complete answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("HTTP {status}{}: {message}", shown_code(*.status, .code.as_deref()))]
    Status {
        status: u16,
        /// The provider's error code (`rate_limit_exceeded`, `insufficient_quota`, ...).
        code: Option<String>,
        message: String,
        /// What `retry-after-ms` / `retry-after` asked for.
        retry_after: Option<Duration>,
        /// The provider's error body as JSON, when it sent JSON.
        body: Option<Box<serde_json::Value>>,
        request_id: Option<String>,
    },
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// A streamed answer that broke before its end: never a success, always retryable.
    #[error("stream interrupted ({kind}): {detail}")]
    Stream { kind: StreamFault, detail: String },
    #[error("request failed: {0}")]
    Other(String),
    /// The answer was larger than `--max-response-size` (see [`super::body`]).
    #[error(
        "response too large: {} bytes {} (--max-response-size is {limit} bytes)",
        .seen,
        if *.declared { "declared by Content-Length" } else { "received, and more was coming" }
    )]
    TooLarge { limit: u64, seen: u64, declared: bool },
    /// A complete answer that `--validate-json` refused (the validator's message).
    #[error("{0}")]
    InvalidOutput(String),
}

impl RequestError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RequestError::Connect { .. } => ErrorClass::Connect,
            RequestError::Timeout(_) => ErrorClass::Timeout,
            RequestError::InvalidResponse(_) => ErrorClass::InvalidResponse,
            RequestError::Stream { .. } => ErrorClass::StreamInterrupted,
            RequestError::Other(_) => ErrorClass::Transport,
            RequestError::TooLarge { .. } => ErrorClass::ResponseTooLarge,
            RequestError::InvalidOutput(_) => ErrorClass::InvalidOutput,
            RequestError::Status { status, code, .. } => classify_status(*status, code.as_deref()),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RequestError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The failure as recorded in outputs.
    pub fn info(&self) -> ErrorInfo {
        let (code, message) = match self {
            RequestError::Status { code, message, .. } => (code.clone(), message.clone()),
            RequestError::Stream { kind, .. } => (Some(kind.as_str().to_string()), self.to_string()),
            other => (None, other.to_string()),
        };
        ErrorInfo {
            class: self.class(),
            status: self.status(),
            message,
            code,
        }
    }
}

/// The provider's error code as shown after the status, unless it only repeats the status
/// (LiteLLM sends `"code": "400"`): `HTTP 400: ...`, never `HTTP 400 400: ...`.
fn shown_code(status: u16, code: Option<&str>) -> String {
    match code {
        Some(code) if code.trim() != status.to_string() && !code.trim().is_empty() => format!(" {code}"),
        _ => String::new(),
    }
}

impl RequestError {
    /// A refusal that names the model as unknown or invalid: a 404 `model_not_found`, or the
    /// 400 `Invalid model name` some gateways (LiteLLM) answer for a model they do not route.
    pub fn is_unknown_model(&self) -> bool {
        let RequestError::Status {
            status, code, message, ..
        } = self
        else {
            return false;
        };
        let code = code.as_deref().unwrap_or("").to_ascii_lowercase();
        let message = message.to_ascii_lowercase();
        let says_model = code.contains("model") || message.contains("model");
        let says_unknown = [
            "invalid",
            "not found",
            "not_found",
            "does not exist",
            "unknown",
            "no such",
            "not supported",
        ]
        .iter()
        .any(|word| code.contains(word) || message.contains(word));
        matches!(status, 400 | 404 | 422) && says_model && says_unknown
    }
}

/// Maps an HTTP status (and the provider's error code) to what it means for the caller.
/// Statuses without a meaning of their own are classed by range: any other 4xx is a bad
/// request (not retried), any other 5xx a server error (retried), and a status outside
/// 400..=599 (say 999) is an invalid response, never a bad request.
pub fn classify_status(status: u16, code: Option<&str>) -> ErrorClass {
    match status {
        429 if matches!(code, Some("insufficient_quota")) => ErrorClass::InsufficientQuota,
        429 => ErrorClass::RateLimited,
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        408 | 409 => ErrorClass::Conflict,
        400..=499 => ErrorClass::BadRequest,
        500..=599 => ErrorClass::ServerError,
        _ => ErrorClass::InvalidResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_as_design_says() {
        assert_eq!(
            classify_status(429, Some("rate_limit_exceeded")),
            ErrorClass::RateLimited
        );
        assert_eq!(
            classify_status(429, Some("insufficient_quota")),
            ErrorClass::InsufficientQuota
        );
        for status in [401, 403] {
            assert!(classify_status(status, None).is_fatal());
        }
        for status in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(classify_status(status, None).is_retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!classify_status(status, None).is_retryable(), "{status}");
        }
        assert!(!ErrorClass::InsufficientQuota.is_retryable());
    }

    #[test]
    fn unknown_statuses_are_classed_by_range() {
        assert_eq!(classify_status(418, None), ErrorClass::BadRequest);
        assert_eq!(classify_status(451, None), ErrorClass::BadRequest);
        assert_eq!(classify_status(599, None), ErrorClass::ServerError);
        assert!(classify_status(520, None).is_retryable());
        for status in [0, 199, 302, 600, 999] {
            let class = classify_status(status, None);
            assert_eq!(class, ErrorClass::InvalidResponse, "{status} is not a 400");
        }
    }

    fn status(status: u16, code: Option<&str>, message: &str) -> RequestError {
        RequestError::Status {
            status,
            code: code.map(str::to_string),
            message: message.into(),
            retry_after: None,
            body: None,
            request_id: None,
        }
    }

    #[test]
    fn the_status_is_shown_once() {
        let litellm = status(400, Some("400"), "Invalid model name passed in model=gpt-5-turbo");
        assert_eq!(
            litellm.to_string(),
            "HTTP 400: Invalid model name passed in model=gpt-5-turbo"
        );
        let openai = status(404, Some("model_not_found"), "The model does not exist");
        assert_eq!(openai.to_string(), "HTTP 404 model_not_found: The model does not exist");
    }

    #[test]
    fn invalid_model_refusals_are_recognized() {
        assert!(status(400, Some("400"), "Invalid model name passed in model=x").is_unknown_model());
        assert!(status(404, Some("model_not_found"), "The model `x` does not exist").is_unknown_model());
        assert!(!status(400, None, "messages must not be empty").is_unknown_model());
        assert!(!status(500, None, "invalid model state").is_unknown_model());
    }
}
