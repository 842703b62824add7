//! The client for the OpenAI chat-completions protocol, shared by every provider.
//!
//! One `reqwest` client with connection reuse; each call is one HTTP request with its own
//! timeout, classified into a [`RequestError`] on failure. Keys live in [`Secret`]s, whose
//! `Debug` never shows them, and are scrubbed from any error text a provider sends back.

mod error;
pub mod retry_after;
pub mod stream;

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

pub use error::{classify_status, RequestError};
pub use stream::{StreamFault, StreamSettings};

use crate::record::{StreamTiming, Usage};

/// An API key. Never printed, serialized or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        crate::logging::redact(&key);
        Secret(key)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text`.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "[redacted]")
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where one provider is reached and with which key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub provider: String,
    /// Base URL without trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<Secret>,
}

impl Endpoint {
    fn scrub(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }
}

/// A 2xx chat completion.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Value,
    pub usage: Usage,
    /// Request sent to last byte received.
    pub latency: Duration,
    /// Request sent to first content chunk (streamed requests only).
    pub ttft: Option<Duration>,
    /// Token timing (streamed requests only).
    pub stream: Option<StreamTiming>,
    /// What the provider's `x-ratelimit-*` headers said is left.
    pub ratelimit: retry_after::RateLimitHeaders,
}

/// The HTTP client. Cheap to clone; clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `Some`: every chat request is streamed (SSE).
    stream: Option<StreamSettings>,
}

impl Client {
    /// `pool` is the number of idle connections kept per host (the run's concurrency).
    pub fn new(pool: usize) -> Result<Client, RequestError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool.max(1))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .user_agent(concat!("sheepdog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RequestError::Other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, stream: None })
    }

    /// Streams every chat request (`--stream`): see [`stream`].
    pub fn streaming(mut self, settings: StreamSettings) -> Client {
        self.stream = Some(settings);
        self
    }

    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Adds what a streamed request needs to a request body (`stream: true` and
    /// `stream_options.include_usage`); leaves it alone when not streaming.
    pub fn prepare_body(&self, body: &mut serde_json::Map<String, Value>) {
        if self.stream.is_some() {
            stream::prepare_body(body);
        }
    }

    /// Sends one chat-completions request. `body` is the serialized JSON request.
    pub async fn chat(&self, endpoint: &Endpoint, body: Vec<u8>, timeout: Duration) -> Result<Reply, RequestError> {
        if let Some(settings) = self.stream {
            return stream::chat(&self.http, endpoint, body, timeout, settings).await;
        }
        let url = format!("{}/chat/completions", endpoint.base_url);
        let mut request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body);
        if let Some(key) = &endpoint.api_key {
            request = request.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
        let latency = started.elapsed();
        let request_id = header_str(&headers, "x-request-id");

        if !(200..300).contains(&status) {
            return Err(status_error(status, &headers, &bytes, endpoint, request_id));
        }
        let mut reply = completion_reply(status, request_id, &bytes, latency, endpoint)?;
        reply.ratelimit = retry_after::RateLimitHeaders::from_headers(&headers);
        Ok(reply)
    }

    /// `GET {base_url}/models`: the model ids the provider lists.
    pub async fn list_models(&self, endpoint: &Endpoint, timeout: Duration) -> Result<Vec<String>, RequestError> {
        let url = format!("{}/models", endpoint.base_url);
        let mut request = self.http.get(&url).timeout(timeout);
        if let Some(key) = &endpoint.api_key {
            request = request.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &headers, &bytes, endpoint, None));
        }
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| RequestError::InvalidResponse(format!("model list is not JSON: {e}")))?;
        let ids = body
            .get("data")
            .and_then(Value::as_array)
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ids)
    }
}

/// Reads `usage` (OpenAI shape, with `prompt_tokens_details.cached_tokens` when present).
pub fn parse_usage(body: &Value) -> Option<Usage> {
    let usage = body.get("usage")?;
    let input = usage.get("prompt_tokens")?.as_u64()?;
    let output = usage.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0);
    let cached = usage
        .get("prompt_tokens_details")
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(input);
    Some(Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        output_tokens: output,
    })
}

/// A non-streamed answer's body: a `chat.completion` with `choices`, else `InvalidResponse`.
fn completion_reply(
    status: u16,
    request_id: Option<String>,
    bytes: &[u8],
    latency: Duration,
    endpoint: &Endpoint,
) -> Result<Reply, RequestError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        RequestError::InvalidResponse(format!(
            "HTTP {status} body is not JSON ({e}): {}",
            snippet(bytes, endpoint)
        ))
    })?;
    if !body.get("choices").map(Value::is_array).unwrap_or(false) {
        return Err(RequestError::InvalidResponse(format!(
            "HTTP {status} body has no \"choices\": {}",
            snippet(bytes, endpoint)
        )));
    }
    let usage = parse_usage(&body).unwrap_or_default();
    let request_id = request_id.or_else(|| body.get("id").and_then(Value::as_str).map(str::to_string));
    Ok(Reply {
        status,
        request_id,
        body,
        usage,
        latency,
        ttft: None,
        stream: None,
        ratelimit: retry_after::RateLimitHeaders::default(),
    })
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn transport_error(error: reqwest::Error, endpoint: &Endpoint, url: &str, timeout: Duration) -> RequestError {
    if error.is_timeout() {
        return RequestError::Timeout(timeout);
    }
    // The chain of causes says what went wrong (refused, DNS, TLS) without the request itself.
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    let detail = endpoint.scrub(&detail);
    if error.is_connect() {
        RequestError::Connect {
            url: url.to_string(),
            detail,
        }
    } else {
        RequestError::Other(detail)
    }
}

fn status_error(
    status: u16,
    headers: &HeaderMap,
    bytes: &[u8],
    endpoint: &Endpoint,
    request_id: Option<String>,
) -> RequestError {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    let error = body.as_ref().and_then(|b| b.get("error"));
    let code = error
        .and_then(|e| e.get("code").filter(|c| !c.is_null()).or_else(|| e.get("type")))
        .map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()));
    let message = error
        .and_then(|e| e.get("message").and_then(Value::as_str).map(|m| endpoint.scrub(m)))
        .unwrap_or_else(|| snippet(bytes, endpoint));
    let body = body.map(|b| Box::new(scrub_value(b, endpoint)));
    RequestError::Status {
        status,
        code,
        message,
        retry_after: retry_after::from_headers(headers, std::time::SystemTime::now()),
        body,
        request_id,
    }
}

/// The start of a body as text, with the key removed: for messages about odd answers.
fn snippet(bytes: &[u8], endpoint: &Endpoint) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
    let text = if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        text.trim().to_string()
    };
    endpoint.scrub(&text)
}

fn scrub_value(value: Value, endpoint: &Endpoint) -> Value {
    match &endpoint.api_key {
        Some(key) if value.to_string().contains(key.expose()) => {
            serde_json::from_str(&key.scrub(&value.to_string())).unwrap_or(Value::Null)
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_reads_cached_tokens() {
        let body = serde_json::json!({"usage": {"prompt_tokens": 100, "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 64}}});
        let usage = parse_usage(&body);
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 100,
                cached_input_tokens: 64,
                output_tokens: 20
            })
        );
        assert_eq!(parse_usage(&serde_json::json!({})), None);
    }

    #[test]
    fn secret_is_never_shown() {
        let key = Secret::new("sk-canary-123456");
        assert!(!format!("{key:?}").contains("canary"));
        assert_eq!(key.scrub("bad key sk-canary-123456 given"), "bad key [redacted] given");
    }
}
