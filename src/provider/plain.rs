//! Requests to plain-HTTP endpoints (`http://` base URLs: a local vLLM or gateway,
//! a server on the LAN, the built-in mock) on sheepdog's own HTTP/1.1 exchange
//! ([`super::wire`]), whole answers and streamed ones (`stream::open`) alike.
//!
//! Why: reqwest wraps every request in its redirect and retry layers and parses the request's
//! URL twice more on the way (about 20% of the client's instructions per short request), and
//! hyper's client runs each connection as a task of its own (see [`super::wire`]). Here the
//! URL parsed once per endpoint and the prebuilt `Authorization` value go straight into the
//! request's head, on a pool of the same size and with the same connect timeout, no delay and
//! user agent as reqwest's. A streaming client's connections note when the bytes they read
//! arrived ([`super::stamp`]). HTTPS (TLS,
//! HTTP/2 by ALPN), and every request when a proxy is set in the environment (`HTTP_PROXY`, `ALL_PROXY`, lower or upper case: reqwest honours them) stay
//! on reqwest. The errors are the same classes: a failed connection is `connect`, no complete
//! answer within the timeout `timeout`, anything else `transport`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::header::{HeaderMap, HeaderValue};

use super::body::{BodyLimit, BodyMeter};
use super::pool::{Failure, Pool};
use super::stamp::Connector;
use super::wire::{self, Wire};
use super::{ApiEndpoint, Endpoint, RequestError};

/// The client of plain-HTTP endpoints: its pool of connections.
pub(super) type PlainClient = Pool<Wire>;

/// What came back: status, headers, the body read whole (and its meter, which holds its
/// memory share while the caller parses it), and the time from send to the body's last byte.
pub(super) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub meter: BodyMeter,
    pub latency: Duration,
}

/// The variables reqwest reads a proxy for `http://` URLs from.
const PROXY_VARIABLES: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// A client for plain-HTTP endpoints, or `None` when `env` names a proxy for them (then every
/// request goes through reqwest, which uses it). With `stamp`, its connections note when the
/// bytes they read arrived (for streams: see [`super::stamp`]).
pub(super) fn client(pool: usize, stamp: bool, env: impl Fn(&str) -> Option<String>) -> Option<PlainClient> {
    if PROXY_VARIABLES
        .iter()
        .any(|name| env(name).is_some_and(|v| !v.trim().is_empty()))
    {
        return None;
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(super::CONNECT_TIMEOUT));
    Some(Pool::new(
        Connector::new(connector, stamp),
        pool,
        super::pool::MAX_IDLE_TIME,
    ))
}

/// [`client`] with this process's environment.
pub(super) fn from_env(pool: usize, stamp: bool) -> Option<PlainClient> {
    client(pool, stamp, |name| std::env::var(name).ok())
}

/// Where a plain-HTTP request to one endpoint goes, made once per endpoint with its URL: the
/// URI a connection goes to, the path and the `Host` value of the request's head. Built per
/// request, they were a tenth of the request path's instructions (the URI parsed from text,
/// the `Host` value formatted by hyper-util).
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The URL, for error messages.
    pub url: reqwest::Url,
    /// The URL whole, where a connection goes.
    uri: hyper::Uri,
    /// `http://host:port`: the requests that may share a connection.
    key: Arc<str>,
    /// The path (and query), as the request line names it.
    path: String,
    /// `host[:port]`, the port left out when it is the scheme's own (as hyper-util writes it).
    host: HeaderValue,
}

impl Target {
    /// The target of an `http://` URL; `None` for any other scheme.
    pub(super) fn new(url: &reqwest::Url) -> Option<Target> {
        if url.scheme() != "http" {
            return None;
        }
        let uri: hyper::Uri = url.as_str().parse().ok()?;
        let path = uri.path_and_query()?.as_str().to_string();
        let key = format!("http://{}", uri.authority()?).into();
        let host = uri.host()?;
        let host = match url.port() {
            Some(port) => HeaderValue::try_from(format!("{host}:{port}")).ok()?,
            None => HeaderValue::from_str(host).ok()?,
        };
        Some(Target {
            url: url.clone(),
            uri,
            key,
            path,
            host,
        })
    }

    /// Sends `body` to this target asking for an event stream, and reads the answer's head.
    pub(super) async fn open(
        &self,
        client: &PlainClient,
        endpoint: &Endpoint,
        body: Bytes,
        timeout: Duration,
    ) -> Result<wire::Opened, RequestError> {
        let head = self.head(endpoint, "text/event-stream", body.len());
        wire::open(client, &self.key, &self.uri, &head, &body)
            .await
            .map_err(|broken| self.broken(broken, endpoint, timeout))
    }

    /// A broken exchange with this target as a [`RequestError`].
    fn broken(&self, broken: wire::Broken, endpoint: &Endpoint, timeout: Duration) -> RequestError {
        match broken {
            wire::Broken::Failure(failure) => self.failed(failure, endpoint, timeout),
            wire::Broken::Limit(error) => error,
        }
    }

    /// A failed exchange with this target as a [`RequestError`] (see [`failed`]).
    fn failed(&self, failure: Failure, endpoint: &Endpoint, timeout: Duration) -> RequestError {
        match failure {
            Failure::Connect(e) => failed(&*e, true, endpoint, &self.url, timeout),
            Failure::Exchange(e) => failed(&*e, false, endpoint, &self.url, timeout),
        }
    }

    /// The head of a POST of `length` bytes to this target, with the headers every request of
    /// sheepdog's carries (those reqwest sends) and `accept` as its `Accept`.
    fn head(&self, endpoint: &Endpoint, accept: &str, length: usize) -> Vec<u8> {
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(b"POST ");
        head.extend_from_slice(self.path.as_bytes());
        head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        head.extend_from_slice(self.host.as_bytes());
        head.extend_from_slice(b"\r\ncontent-type: application/json\r\naccept: ");
        head.extend_from_slice(accept.as_bytes());
        head.extend_from_slice(b"\r\nuser-agent: ");
        head.extend_from_slice(super::USER_AGENT.as_bytes());
        if let Some(value) = &endpoint.authorization {
            head.extend_from_slice(b"\r\nauthorization: ");
            head.extend_from_slice(value.as_bytes());
        }
        head.extend_from_slice(b"\r\ncontent-length: ");
        head.extend_from_slice(itoa::Buffer::new().format(length).as_bytes());
        head.extend_from_slice(b"\r\n\r\n");
        head
    }
}

/// Where a request to `api` at `endpoint` goes when it can go on the plain client: not for
/// `https://`, nor for a key no header can hold (reqwest says why it refuses those).
pub(super) fn url_for(endpoint: &Endpoint, api: ApiEndpoint) -> Option<&Target> {
    let target = endpoint.plain_target(api)?;
    let usable_key = endpoint.authorization.is_some() || endpoint.api_key().is_none();
    usable_key.then_some(target)
}

/// Sends `body` to `target` and reads the answer whole, within `timeout` and `limit`.
pub(super) async fn send(
    client: &PlainClient,
    endpoint: &Endpoint,
    target: &Target,
    body: Bytes,
    timeout: Duration,
    limit: &BodyLimit,
) -> Result<Answer, RequestError> {
    let head = target.head(endpoint, "*/*", body.len());
    let started = Instant::now();
    let exchange = wire::exchange(client, &target.key, &target.uri, &head, &body, limit);
    let reply = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| RequestError::Timeout(timeout))?
        .map_err(|broken| target.broken(broken, endpoint, timeout))?;
    Ok(Answer {
        status: reply.status,
        headers: reply.headers,
        bytes: reply.bytes,
        meter: reply.meter,
        latency: started.elapsed(),
    })
}

/// A failed exchange as a [`RequestError`]: a connection that did not open within the connect
/// timeout is a timeout (as reqwest reports it), a failed connection `connect`, anything else
/// `transport`.
pub(super) fn failed(
    error: &(dyn std::error::Error + 'static),
    connect: bool,
    endpoint: &Endpoint,
    url: &reqwest::Url,
    timeout: Duration,
) -> RequestError {
    if timed_out(error) {
        RequestError::Timeout(timeout)
    } else {
        request_error(error, connect, endpoint, url)
    }
}

/// Whether `error` or one of its causes is an I/O time-out.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A failed exchange, with the chain of its causes (refused, reset, ...) and never the key.
fn request_error(
    error: &dyn std::error::Error,
    connect: bool,
    endpoint: &Endpoint,
    url: &reqwest::Url,
) -> RequestError {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    let detail = endpoint.scrub(&detail);
    if connect {
        RequestError::Connect {
            url: endpoint.scrub(url.as_str()),
            detail,
        }
    } else {
        RequestError::Other(detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Secret;

    #[test]
    fn a_proxy_in_the_environment_keeps_every_request_on_reqwest() {
        assert!(client(4, false, |_| None).is_some());
        for name in PROXY_VARIABLES {
            let env = |asked: &str| (asked == name).then(|| "http://proxy.internal:3128".to_string());
            assert!(client(4, false, env).is_none(), "{name}");
        }
        let blank = |_: &str| Some("  ".to_string());
        assert!(client(4, false, blank).is_some(), "an empty variable names no proxy");
    }

    #[test]
    fn a_target_holds_the_uri_and_the_host_value_hyper_util_would_write() {
        let target = |url: &str| Target::new(&reqwest::Url::parse(url).unwrap());
        let local = target("http://127.0.0.1:8080/v1/chat/completions").unwrap();
        assert_eq!(local.host, "127.0.0.1:8080");
        assert_eq!(local.uri, "http://127.0.0.1:8080/v1/chat/completions");
        assert_eq!(local.path, "/v1/chat/completions");
        assert_eq!(&*local.key, "http://127.0.0.1:8080");
        assert_eq!(
            target("http://gateway.internal:80/v1/embeddings").unwrap().host,
            "gateway.internal"
        );
        assert_eq!(target("http://[::1]:9/v1/chat/completions").unwrap().host, "[::1]:9");
        assert!(target("https://api.example.com/v1/chat/completions").is_none());

        let endpoint = Endpoint::new("p", "http://127.0.0.1:9/v1", Some(Secret::new("sk-test")));
        let target = url_for(&endpoint, ApiEndpoint::Chat).unwrap();
        let head = String::from_utf8(target.head(&endpoint, "*/*", 2)).unwrap();
        let expected = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:9\r\ncontent-type: application/json\r\n\
             accept: */*\r\nuser-agent: {}\r\nauthorization: Bearer sk-test\r\ncontent-length: 2\r\n\r\n",
            crate::provider::USER_AGENT
        );
        assert_eq!(head, expected);
        let keyless = Endpoint::new("p", "http://127.0.0.1:9/v1", None);
        let target = url_for(&keyless, ApiEndpoint::Embeddings).unwrap();
        let head = String::from_utf8(target.head(&keyless, "text/event-stream", 10)).unwrap();
        assert!(head.starts_with("POST /v1/embeddings HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("\r\naccept: text/event-stream\r\n"), "{head}");
        assert!(!head.contains("authorization"), "{head}");
    }

    #[test]
    fn an_io_time_out_anywhere_in_the_causes_is_a_time_out() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let late = Wrapper(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(timed_out(&late));
        let refused = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(!timed_out(&refused));
    }

    #[test]
    fn only_plain_http_urls_with_a_usable_key_go_on_the_plain_client() {
        let plain = Endpoint::new("p", "http://127.0.0.1:9/v1", Some(Secret::new("sk-test")));
        assert!(url_for(&plain, ApiEndpoint::Chat).is_some());
        let tls = Endpoint::new("p", "https://api.example.com/v1", Some(Secret::new("sk-test")));
        assert!(url_for(&tls, ApiEndpoint::Chat).is_none());
        let keyless = Endpoint::new("p", "http://127.0.0.1:9/v1", None);
        assert!(url_for(&keyless, ApiEndpoint::Chat).is_some());
        let unusable = Endpoint::new("p", "http://127.0.0.1:9/v1", Some(Secret::new("sk-\nnewline")));
        assert!(
            url_for(&unusable, ApiEndpoint::Chat).is_none(),
            "reqwest refuses it and says why"
        );
    }
}
