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
    #[error("HTTP {status}{}: {message}", .code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
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
}

impl RequestError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RequestError::Connect { .. } => ErrorClass::Connect,
            RequestError::Timeout(_) => ErrorClass::Timeout,
            RequestError::InvalidResponse(_) => ErrorClass::InvalidResponse,
            RequestError::Stream { .. } => ErrorClass::StreamInterrupted,
            RequestError::Other(_) => ErrorClass::Connect,
            RequestError::TooLarge { .. } => ErrorClass::ResponseTooLarge,
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

/// Maps an HTTP status (and the provider's error code) to what it means for the caller.
pub fn classify_status(status: u16, code: Option<&str>) -> ErrorClass {
    match status {
        429 if matches!(code, Some("insufficient_quota")) => ErrorClass::InsufficientQuota,
        429 => ErrorClass::RateLimited,
        401 | 403 => ErrorClass::Auth,
        404 => ErrorClass::NotFound,
        408 | 409 => ErrorClass::Conflict,
        500..=599 => ErrorClass::ServerError,
        _ => ErrorClass::BadRequest,
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
}
