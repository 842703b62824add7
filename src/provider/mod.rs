//! The client for the OpenAI protocol, shared by every provider: chat completions and the other
//! endpoints a Batch file may name ([`ApiEndpoint`]).
//!
//! One `reqwest` client with connection reuse; each call is one HTTP request with its own
//! timeout, classified into a [`RequestError`] on failure. Keys live in [`Secret`]s, whose
//! `Debug` never shows them, and are scrubbed from any error text a provider sends back.

mod account;
pub mod body;
mod buffers;
mod encoded;
pub mod endpoint;
mod error;
mod plain;
mod pool;
mod reply;
mod request;
pub mod retry_after;
mod stamp;
pub mod stream;
mod wire;

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::Value;

use account::post;
pub use account::{Endpoint, Secret};
pub use endpoint::ApiEndpoint;
pub use error::{classify_status, RequestError};
pub use reply::{parse_usage, Reply};
pub use stream::{StreamFault, StreamSettings};

use reply::completion_reply;

/// How long a new connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `User-Agent` of every request.
const USER_AGENT: &str = concat!("sheepdog/", env!("CARGO_PKG_VERSION"));

/// The HTTP client. Cheap to clone; clones share the connection pools and the body limit.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Requests to `http://` endpoints ([`plain`]); `None` when a proxy is set.
    plain: Option<plain::PlainClient>,
    /// Idle connections kept per host.
    pool: usize,
    /// `Some`: every chat request is streamed (SSE).
    stream: Option<StreamSettings>,
    /// `--max-response-size`, and the memory every answer in flight shares.
    body: body::BodyLimit,
    /// The run folder's count of requests sent, noted before each one.
    journal: Option<crate::output::journal::SentJournal>,
    /// Whether `--stream` was said to be ignored for an endpoint that never streams.
    unstreamed_said: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Long bodies of held prompts, encoded once (see [`encoded`]).
    encoded: std::sync::Arc<encoded::Encoded>,
}

impl Client {
    /// `pool` is the number of idle connections kept per host (the run's concurrency).
    pub fn new(pool: usize) -> Result<Client, RequestError> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool.max(1))
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(USER_AGENT)
            // A redirected POST would be sent again as a GET (and its answer taken for one):
            // a redirect is an error that names where the server pointed (see `redirect_error`).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RequestError::Other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            plain: plain::from_env(pool, false),
            pool,
            stream: None,
            body: body::BodyLimit::default(),
            journal: None,
            unstreamed_said: Default::default(),
            encoded: Default::default(),
        })
    }

    /// Notes every chat request in `journal` before sending it (see [`crate::output::journal`]).
    pub fn journal(mut self, journal: crate::output::journal::SentJournal) -> Client {
        self.journal = Some(journal);
        self
    }

    /// At most `bytes` per answer (`--max-response-size`); see [`body`].
    pub fn max_response_size(mut self, bytes: u64) -> Client {
        self.body = body::BodyLimit::new(bytes);
        self
    }

    /// Streams every chat request (`--stream`): see [`stream`]. Connections to plain-HTTP
    /// endpoints then note when their bytes arrived ([`stamp`]).
    pub fn streaming(mut self, settings: StreamSettings) -> Client {
        self.stream = Some(settings);
        self.plain = plain::from_env(self.pool, true);
        // Its bodies differ (`stream: true`): none kept by a client it was cloned from.
        self.encoded = Default::default();
        self
    }

    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Whether a request to `api` is streamed: `--stream` is on and the endpoint can stream
    /// (embeddings and moderations never are).
    pub fn streams(&self, api: ApiEndpoint) -> bool {
        self.stream.is_some() && api.streams()
    }

    /// The bytes of `body` sent to `api` with `model`: with what a streamed request needs
    /// (`stream: true`, and `stream_options.include_usage` where the endpoint takes it) when
    /// this client streams `api` (see [`request`]).
    pub fn encode(
        &self,
        api: ApiEndpoint,
        body: &serde_json::Map<String, Value>,
        model: &str,
    ) -> serde_json::Result<Bytes> {
        request::encode(body, model, request::StreamFields::of(api, self.streams(api)))
    }

    /// Sends one chat-completions request. `body` is the serialized JSON request.
    pub async fn chat(&self, endpoint: &Endpoint, body: Bytes, timeout: Duration) -> Result<Reply, RequestError> {
        self.send(endpoint, ApiEndpoint::Chat, body, timeout).await
    }

    /// Sends one request to `api`'s path of the provider. `body` is the serialized JSON
    /// request, made by [`Client::encode`].
    pub async fn send(
        &self,
        endpoint: &Endpoint,
        api: ApiEndpoint,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, RequestError> {
        if let Some(journal) = &self.journal {
            if journal.note().is_err() {
                // Not sent, and not an attempt: the journal stopped the run, which drops this
                // request with the others in flight (see `crate::output::journal`).
                return std::future::pending().await;
            }
        }
        if let Some(settings) = self.stream {
            if api.streams() {
                return stream::send(self, endpoint, api, body, timeout, settings).await;
            }
            if !self.unstreamed_said.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    endpoint = api.batch_url(),
                    "--stream is ignored for embeddings and moderations: they are sent without streaming"
                );
            }
        }
        // OpenAI's moderation answers carry no `usage`: their input is counted here.
        let counted = (api == ApiEndpoint::Moderations).then(|| body.clone());
        let answer = match (&self.plain, plain::url_for(endpoint, api)) {
            (Some(client), Some(target)) => plain::send(client, endpoint, target, body, timeout, &self.body).await?,
            _ => self.send_reqwest(endpoint, api, body, timeout).await?,
        };
        let plain::Answer {
            status,
            headers,
            bytes,
            meter: _meter,
            latency,
        } = answer;
        redirect_error(status, &headers, endpoint)?;
        let request_id = request_id(&headers, endpoint);
        if !(200..300).contains(&status) {
            return Err(status_error(status, &headers, &bytes, endpoint, request_id));
        }
        let mut reply = completion_reply(api, status, request_id, &bytes, latency, endpoint)?;
        reply.ratelimit = retry_after::RateLimitHeaders::from_headers(&headers);
        if let Some(request) = counted.filter(|_| !reply::has_usage(&reply.body)) {
            reply.usage = reply::counted_usage(api, &request);
        }
        Ok(reply)
    }

    /// One non-streamed request through reqwest (HTTPS, or with a proxy), read whole.
    async fn send_reqwest(
        &self,
        endpoint: &Endpoint,
        api: ApiEndpoint,
        body: Bytes,
        timeout: Duration,
    ) -> Result<plain::Answer, RequestError> {
        let Sent {
            response,
            url,
            status,
            headers,
            started,
        } = send_head(&self.http, endpoint, api, body, timeout, None).await?;
        // A redirect's body is not read (see `redirect_error`).
        if (300..400).contains(&status) {
            return Ok(plain::Answer {
                status,
                headers,
                bytes: Vec::new(),
                meter: self.body.meter(),
                latency: started.elapsed(),
            });
        }
        let (bytes, meter) = body::read(response, &self.body)
            .await
            .map_err(|e| e.unwrap_or_else(|e| transport_error(e, endpoint, &url, timeout)))?;
        Ok(plain::Answer {
            status,
            headers,
            bytes,
            meter,
            latency: started.elapsed(),
        })
    }

    /// `GET {base_url}/models`: the model ids the provider lists.
    pub async fn list_models(&self, endpoint: &Endpoint, timeout: Duration) -> Result<Vec<String>, RequestError> {
        let url = format!("{}/models", endpoint.base_url());
        let mut request = self.http.get(&url).timeout(timeout);
        if let Some(key) = endpoint.api_key() {
            request = request.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        redirect_error(status, &headers, endpoint)?;
        let (bytes, _meter) = body::read(response, &self.body)
            .await
            .map_err(|e| e.unwrap_or_else(|e| transport_error(e, endpoint, &url, timeout)))?;
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

/// A request sent through reqwest and its answer's head: the response (for its body), its
/// status, its headers (taken out of it), when it was sent, and the URL (for errors).
struct Sent<'a> {
    response: reqwest::Response,
    url: std::borrow::Cow<'a, str>,
    status: u16,
    headers: HeaderMap,
    started: Instant,
}

/// Sends `body` to `api` at `endpoint` through reqwest, with `accept` as its `Accept` when
/// given; the whole exchange, body included, must end within `timeout`.
async fn send_head<'a>(
    http: &reqwest::Client,
    endpoint: &'a Endpoint,
    api: ApiEndpoint,
    body: Bytes,
    timeout: Duration,
    accept: Option<&'static str>,
) -> Result<Sent<'a>, RequestError> {
    let (mut request, url) = post(http, endpoint, api);
    if let Some(accept) = accept {
        request = request.header(reqwest::header::ACCEPT, accept);
    }
    let started = Instant::now();
    let mut response = request
        .timeout(timeout)
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(e, endpoint, &url, timeout))?;
    let status = response.status().as_u16();
    // Taken, not copied: the body's length comes from the connection, not from them.
    let headers = std::mem::take(response.headers_mut());
    Ok(Sent {
        response,
        url,
        status,
        headers,
        started,
    })
}

/// A 2xx answer's bytes read as the client reads them: checked against `api`'s shape, its
/// usage and id read, the key scrubbed, the body kept as it came (the request path's
/// benchmarks use it; a request's answer goes through the same function).
pub fn read_answer(api: ApiEndpoint, bytes: &[u8], endpoint: &Endpoint) -> Result<Reply, RequestError> {
    completion_reply(api, 200, None, bytes, Duration::ZERO, endpoint)
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The provider's `x-request-id`, scrubbed of the key (it is written to results.jsonl).
fn request_id(headers: &HeaderMap, endpoint: &Endpoint) -> Option<String> {
    header_str(headers, "x-request-id").map(|id| endpoint.scrub(&id))
}

/// A 3xx answer: not followed (a POST sent again as a GET would be lost, and its answer
/// taken for a completion), but an error naming where the server pointed.
fn redirect_error(status: u16, headers: &HeaderMap, endpoint: &Endpoint) -> Result<(), RequestError> {
    if !(300..400).contains(&status) {
        return Ok(());
    }
    let location =
        header_str(headers, "location").map_or_else(|| "(no Location header)".to_string(), |l| endpoint.scrub(&l));
    Err(RequestError::Status {
        status,
        code: Some("redirect".into()),
        message: format!(
            "the server redirected the request to {location}; sheepdog does not follow redirects (a POST \
             would be lost): set base_url to the address it points to"
        ),
        retry_after: None,
        body: None,
        request_id: None,
    })
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
        .map(|c| endpoint.scrub(&c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string())));
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
    match endpoint.api_key() {
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
    fn secret_is_never_shown() {
        let key = Secret::new("sk-canary-123456");
        assert!(!format!("{key:?}").contains("canary"));
        assert_eq!(key.scrub("bad key sk-canary-123456 given"), "bad key [redacted] given");
    }

    #[test]
    fn an_endpoint_parses_its_urls_once_and_never_shows_its_key() {
        let endpoint = Endpoint::new("p", "http://127.0.0.1:9/v1", Some(Secret::new("sk-canary-123456")));
        assert!(!format!("{endpoint:?}").contains("canary"));
        for api in ApiEndpoint::ALL {
            let url = endpoint.url(api).expect("parsed");
            assert_eq!(url.as_str(), format!("http://127.0.0.1:9/v1{}", api.path()));
        }
        let (request, _) = post(&reqwest::Client::new(), &endpoint, ApiEndpoint::Chat);
        let request = request.build().expect("a request");
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer sk-canary-123456");
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        // A base URL that does not parse is kept as text: the request then says why it failed.
        let broken = Endpoint::new("p", "not a url", None);
        assert_eq!(broken.url(ApiEndpoint::Chat).unwrap_err(), "not a url/chat/completions");
    }

    #[test]
    fn a_key_shorter_than_8_characters_is_never_scrubbed_from_text() {
        let key = Secret::new("x");
        assert_eq!(key.scrub("The model does not exist"), "The model does not exist");
        let key = Secret::new("1234567");
        assert_eq!(key.scrub("id 1234567"), "id 1234567");
        let key = Secret::new("12345678");
        assert_eq!(key.scrub("id 12345678"), "id [redacted]");
    }
}
