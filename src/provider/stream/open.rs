//! A streamed request sent and its answer's head read, on sheepdog's own exchange for a
//! plain-HTTP endpoint (see [`crate::provider::plain`]) or on reqwest; either way the body
//! comes as one stream of chunks, whose failures say whether the request's time ran out.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::super::plain::{self, PlainClient};
use super::super::stamp::RxClock;
use super::super::wire;
use super::super::{ApiEndpoint, Endpoint, RequestError};
use super::error_chain;

/// Why the body stopped before its end.
#[derive(Debug)]
pub(super) enum Broken {
    /// The request's timeout passed.
    TimedOut,
    /// The connection failed; the chain of causes.
    Transport(String),
}

/// A body's chunks as they arrive.
pub(super) enum Chunks {
    Reqwest(reqwest::Response),
    /// On sheepdog's own exchange: the body, when the request's time runs out, and the
    /// connection's clock of arrivals (when the kernel stamps them).
    Plain {
        body: wire::body::Body,
        deadline: tokio::time::Instant,
        clock: Option<RxClock>,
    },
}

impl Chunks {
    /// The next chunk and when it arrived; `None` at the body's end.
    pub async fn chunk(&mut self) -> Option<Result<(Bytes, Instant), Broken>> {
        let clock = match self {
            Chunks::Plain { clock, .. } => clock.clone(),
            Chunks::Reqwest(_) => None,
        };
        let chunk = self.next().await?;
        Some(chunk.map(|bytes| (bytes, RxClock::arrival(clock.as_ref(), Instant::now()))))
    }

    async fn next(&mut self) -> Option<Result<Bytes, Broken>> {
        match self {
            Chunks::Reqwest(response) => match response.chunk().await {
                Ok(chunk) => chunk.map(Ok),
                Err(e) if e.is_timeout() => Some(Err(Broken::TimedOut)),
                Err(e) => Some(Err(Broken::Transport(error_chain(&e)))),
            },
            Chunks::Plain { body, deadline, .. } => match tokio::time::timeout_at(*deadline, body.next()).await {
                Err(_) => Some(Err(Broken::TimedOut)),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some(Err(Broken::Transport(error_chain(&e)))),
                Ok(Some(Ok(bytes))) => Some(Ok(bytes)),
            },
        }
    }
}

/// A streamed answer as it starts.
pub(super) struct Opened {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body's declared length, if any.
    pub length: Option<u64>,
    pub body: Chunks,
    /// When the request was sent.
    pub started: Instant,
}

/// Sends `body` to `api` at `endpoint` asking for an event stream; the whole exchange, body
/// included, must end within `timeout`.
pub(super) async fn open(
    http: &reqwest::Client,
    plain: Option<&PlainClient>,
    endpoint: &Endpoint,
    api: ApiEndpoint,
    body: Bytes,
    timeout: Duration,
) -> Result<Opened, RequestError> {
    match (plain, plain::url_for(endpoint, api)) {
        (Some(client), Some(target)) => open_plain(client, endpoint, target, body, timeout).await,
        _ => open_reqwest(http, endpoint, api, body, timeout).await,
    }
}

async fn open_reqwest(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    api: ApiEndpoint,
    body: Bytes,
    timeout: Duration,
) -> Result<Opened, RequestError> {
    let super::super::Sent {
        response,
        status,
        headers,
        started,
        ..
    } = super::super::send_head(http, endpoint, api, body, timeout, Some("text/event-stream")).await?;
    let length = response.content_length();
    let body = Chunks::Reqwest(response);
    Ok(Opened {
        status,
        headers,
        length,
        body,
        started,
    })
}

async fn open_plain(
    client: &PlainClient,
    endpoint: &Endpoint,
    target: &plain::Target,
    body: Bytes,
    timeout: Duration,
) -> Result<Opened, RequestError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + timeout);
    let opened = tokio::time::timeout_at(deadline, target.open(client, endpoint, body, timeout))
        .await
        .map_err(|_| RequestError::Timeout(timeout))??;
    let clock = opened.body.clock();
    let body = Chunks::Plain {
        body: opened.body,
        deadline,
        clock,
    };
    Ok(Opened {
        status: opened.status,
        headers: opened.headers,
        length: opened.length,
        body,
        started,
    })
}
