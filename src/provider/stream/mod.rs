//! Streamed answers of chat completions, legacy completions and the Responses API: the request
//! asks for `stream: true` (with `stream_options.include_usage` where the endpoint takes it),
//! the Server-Sent Events are decoded by `sse-stream` as they arrive, and the time of every
//! token-carrying chunk is noted.
//!
//! A chat or completions stream counts as complete only when `[DONE]` arrived and a choice had
//! a `finish_reason`; a Responses stream when `response.completed` (or `response.incomplete`)
//! arrived (see [`responses`]).
//! Anything else is a [`RequestError::Stream`] with its [`StreamFault`] (class
//! `stream_interrupted`, retryable): the body ended early (`truncated`), the connection broke
//! (`disconnect`), no byte came for the idle timeout (`stall`), a chunk was not JSON
//! (`malformed`), or the server sent an error mid-stream (`error_event`). Partial text is never
//! returned as an answer.

mod assemble;
mod chunk;
mod collect;
mod open;
mod repeat;
mod responses;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt as _;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sse_stream::SseByteStream;

pub use assemble::{Assembler, Pushed};
pub use chunk::ChunkView;
pub use collect::TokenTimes;
pub use responses::ResponsesAssembler;

use collect::Collect;

use super::body::BodyMeter;
use super::retry_after::RateLimitHeaders;
use super::{
    completion_reply, header_str, redirect_error, request_id, status_error, ApiEndpoint, Endpoint, Reply, RequestError,
};
use crate::record::{StreamTiming, Usage};

/// `--stream-idle-timeout` when not given.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait, after `[DONE]`, for the body to end so the connection can be reused.
const DRAIN_GRACE: Duration = Duration::from_millis(50);

/// How streamed requests are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    /// A stream that sends no byte for this long is broken (`stall`).
    pub idle_timeout: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// How a stream broke. Recorded as the error's `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamFault {
    /// The body ended before `[DONE]`, or `[DONE]` came without a `finish_reason`.
    Truncated,
    /// The connection broke in the middle of the body.
    Disconnect,
    /// No byte arrived for the idle timeout.
    Stall,
    /// A chunk was not valid JSON (or not UTF-8, or not SSE).
    Malformed,
    /// The server sent an error event in the middle of the stream.
    ErrorEvent,
}

impl StreamFault {
    pub const ALL: [StreamFault; 5] = [
        StreamFault::Truncated,
        StreamFault::Disconnect,
        StreamFault::Stall,
        StreamFault::Malformed,
        StreamFault::ErrorEvent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StreamFault::Truncated => "truncated",
            StreamFault::Disconnect => "disconnect",
            StreamFault::Stall => "stall",
            StreamFault::Malformed => "malformed",
            StreamFault::ErrorEvent => "error_event",
        }
    }
}

impl std::fmt::Display for StreamFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why reading the body stopped, before SSE decoding.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("no data")]
    Idle,
    #[error("{0:?}")]
    Transport(open::Broken),
    /// Past `--max-response-size` (the whole stream, so any single line too).
    #[error(transparent)]
    TooLarge(RequestError),
}

fn broken(kind: StreamFault, detail: impl Into<String>) -> RequestError {
    RequestError::Stream {
        kind,
        detail: detail.into(),
    }
}

/// Sends one streamed request to `api` and reads it to its end.
pub(super) async fn send(
    client: &super::Client,
    endpoint: &Endpoint,
    api: ApiEndpoint,
    body: Bytes,
    timeout: Duration,
    settings: StreamSettings,
) -> Result<Reply, RequestError> {
    let limit = &client.body;
    // Shared with the request, not copied: it is kept only to count tokens if the server sends
    // no usage.
    let opened = open::open(
        &client.http,
        client.plain.as_ref(),
        endpoint,
        api,
        body.clone(),
        timeout,
    )
    .await?;
    let open::Opened {
        status,
        headers,
        length,
        body: mut chunks,
        started,
    } = opened;
    redirect_error(status, &headers, endpoint)?;
    let request_id = request_id(&headers, endpoint);
    let is_sse = header_str(&headers, CONTENT_TYPE.as_str())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    if !(200..300).contains(&status) || !is_sse {
        // An error, or a server that ignored `stream: true` and answered in one piece.
        limit.check_declared(length)?;
        let mut meter = limit.meter();
        let mut parts = Vec::new();
        // When the body's last byte came; a body without any, when it ended.
        let mut last = None;
        while let Some(chunk) = chunks.chunk().await {
            let (chunk, arrived) = chunk.map_err(|broken| match broken {
                open::Broken::TimedOut => RequestError::Timeout(timeout),
                open::Broken::Transport(detail) => RequestError::Other(endpoint.scrub(&detail)),
            })?;
            meter.add(chunk.len()).await?;
            parts.push(chunk);
            last = Some(arrived);
        }
        let bytes = super::body::concat(parts);
        if !(200..300).contains(&status) {
            return Err(status_error(status, &headers, &bytes, endpoint, request_id));
        }
        let latency = last.unwrap_or_else(Instant::now).saturating_duration_since(started);
        let mut reply = completion_reply(api, status, request_id, &bytes, latency, endpoint)?;
        reply.ratelimit = RateLimitHeaders::from_headers(&headers);
        return Ok(reply);
    }

    let idle = settings.idle_timeout;
    limit.check_declared(length)?;
    // When the latest chunk arrived, after `started`: an event is stamped with the arrival of
    // the chunk that completed it (the SSE decoder hands out what it holds before it reads on).
    let arrived = Arc::new(AtomicU64::new(0));
    let state = (chunks, limit.stream_meter(), Arc::clone(&arrived));
    let bytes = futures::stream::unfold(
        Some(state),
        move |state: Option<(open::Chunks, BodyMeter, Arc<AtomicU64>)>| async move {
            let (mut stream, mut meter, arrived) = state?;
            match tokio::time::timeout(idle, stream.chunk()).await {
                Ok(Some(Ok((bytes, at)))) => match meter.add(bytes.len()).await {
                    Ok(()) => {
                        let after = at.saturating_duration_since(started).as_nanos();
                        arrived.store(u64::try_from(after).unwrap_or(u64::MAX), Ordering::Relaxed);
                        Some((Ok(bytes), Some((stream, meter, arrived))))
                    }
                    Err(e) => Some((Err(BodyError::TooLarge(e)), None)),
                },
                Ok(Some(Err(e))) => Some((Err(BodyError::Transport(e)), None)),
                Ok(None) => None,
                Err(_) => Some((Err(BodyError::Idle), None)),
            }
        },
    );
    let mut events = Box::pin(SseByteStream::new(bytes));
    let mut answer = match api {
        ApiEndpoint::Responses => Collect::Responses(ResponsesAssembler::new()),
        _ => Collect::Choices(Box::default()),
    };
    let mut ttft = None;
    // Whether an event had JSON escapes, behind which a key echoed back could hide from the
    // scrub of each event's text (see the end).
    let mut escapes = false;
    let mut latency = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| body_failure(e, endpoint, timeout, idle))?;
        let at = Duration::from_nanos(arrived.load(Ordering::Relaxed));
        let Some(data) = event.data.as_deref().map(str::trim) else {
            continue;
        };
        // A key echoed in the stream (content, id, error text) never reaches the answer.
        let data = &*endpoint.scrub_cow(data);
        escapes |= data.contains("\\u");
        if event.event.as_deref() == Some("error") {
            return Err(error_event(data, endpoint));
        }
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            latency = Some(at);
            break;
        }
        let tokens = match &mut answer {
            // The usual chunk is matched against the last or read in place; an odd one, as a `Value`.
            Collect::Choices(answer) => match answer.push_data(data, at) {
                Pushed::Tokens(tokens) => tokens,
                Pushed::Error => return Err(error_event(data, endpoint)),
                Pushed::Odd => {
                    let chunk = parse_chunk(data, endpoint)?;
                    if chunk.get("error").is_some_and(|e| !e.is_null()) {
                        return Err(error_event(data, endpoint));
                    }
                    answer.push(&chunk, at)
                }
            },
            Collect::Responses(answer) => {
                let chunk = parse_chunk(data, endpoint)?;
                let tokens = answer
                    .push(&chunk, at)
                    .map_err(|detail| broken(StreamFault::ErrorEvent, endpoint.scrub(&detail)))?;
                if answer.finished() {
                    latency = Some(at);
                    break;
                }
                tokens
            }
        };
        if tokens && ttft.is_none() {
            ttft = Some(at);
        }
    }
    let Some(latency) = latency else {
        let end = match api {
            ApiEndpoint::Responses => "response.completed",
            _ => "[DONE]",
        };
        return Err(broken(
            StreamFault::Truncated,
            format!(
                "the stream ended before {end}, after {} content chunks",
                answer.content_chunks()
            ),
        ));
    };
    let body_json = match &answer {
        Collect::Choices(choices) if !choices.finished() => {
            return Err(broken(
                StreamFault::Truncated,
                "[DONE] arrived but no choice had a finish_reason",
            ));
        }
        Collect::Choices(choices) => choices.completion(),
        Collect::Responses(responses) => {
            let response = responses.response();
            if api.check_reply(&response).is_err() {
                return Err(broken(
                    StreamFault::Malformed,
                    "response.completed carried no response object with \"output\"",
                ));
            }
            response
        }
    };
    // Let the body end, so that the connection goes back to the pool.
    let _ = tokio::time::timeout(DRAIN_GRACE, events.next()).await;

    let (usage, estimated) = match api.parse_usage(&body_json) {
        Some(usage) => (usage, false),
        None => (estimate_usage(api, &body, &answer), true),
    };
    // A key written with escapes (`sk\u002d...`) reads as the key once assembled.
    let body_json = if escapes {
        super::scrub_value(body_json, endpoint)
    } else {
        body_json
    };
    let request_id = request_id.or_else(|| body_json.get("id").and_then(Value::as_str).map(str::to_string));
    Ok(Reply {
        status,
        request_id,
        body: crate::record::raw_body(&body_json),
        usage,
        latency,
        ttft,
        stream: Some(timing(&answer, usage.output_tokens, ttft, latency, estimated)),
        ratelimit: RateLimitHeaders::from_headers(&headers),
    })
}

/// ITL and TPOT as DESIGN.md defines them; `None` with fewer than 2 output tokens.
pub fn timing(
    answer: &impl TokenTimes,
    output_tokens: u64,
    ttft: Option<Duration>,
    latency: Duration,
    estimated: bool,
) -> StreamTiming {
    let gaps = output_tokens
        .checked_sub(1)
        .filter(|&g| g > 0)
        .map(|g| u32::try_from(g).unwrap_or(u32::MAX));
    StreamTiming {
        itl: gaps.and_then(|g| answer.token_times().map(|(first, last)| last.saturating_sub(first) / g)),
        tpot: gaps.and_then(|g| ttft.map(|t| latency.saturating_sub(t) / g)),
        content_chunks: answer.content_chunks(),
        output_tokens_estimated: estimated,
    }
}

/// Token counts made with the tokenizer, for a server that sent no `usage`.
fn estimate_usage(api: ApiEndpoint, request: &[u8], answer: &Collect) -> Usage {
    let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let model = request.get("model").and_then(Value::as_str).unwrap_or("");
    let (encoding, _) = crate::tokens::encoding_for_model(model);
    Usage {
        input_tokens: api.prompt_tokens(encoding, &request),
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        output_tokens: crate::tokens::count_text(encoding, &answer.generated_text()),
    }
}

fn body_failure(error: sse_stream::Error, endpoint: &Endpoint, timeout: Duration, idle: Duration) -> RequestError {
    match error {
        sse_stream::Error::Body(inner) => match inner.downcast::<BodyError>() {
            Ok(body) => match *body {
                BodyError::Idle => broken(
                    StreamFault::Stall,
                    format!(
                        "no data for {} (--stream-idle-timeout)",
                        humantime::format_duration(idle)
                    ),
                ),
                BodyError::TooLarge(e) => e,
                BodyError::Transport(open::Broken::TimedOut) => RequestError::Timeout(timeout),
                BodyError::Transport(open::Broken::Transport(detail)) => {
                    broken(StreamFault::Disconnect, endpoint.scrub(&detail))
                }
            },
            Err(other) => broken(StreamFault::Disconnect, endpoint.scrub(&other.to_string())),
        },
        other => broken(
            StreamFault::Malformed,
            format!("not a valid event stream: {}", endpoint.scrub(&other.to_string())),
        ),
    }
}

/// One event's JSON, or a `malformed` stream fault.
fn parse_chunk(data: &str, endpoint: &Endpoint) -> Result<Value, RequestError> {
    serde_json::from_str(data).map_err(|e| {
        broken(
            StreamFault::Malformed,
            format!("a chunk is not JSON ({e}): {}", endpoint.scrub(&cut(data))),
        )
    })
}

/// An error sent inside the stream (`event: error`, or a chunk with an `error` object).
fn error_event(data: &str, endpoint: &Endpoint) -> RequestError {
    let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let error = value.get("error").unwrap_or(&value);
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| cut(data));
    let code = error
        .get("code")
        .filter(|c| !c.is_null())
        .or_else(|| error.get("type"))
        .and_then(Value::as_str);
    let detail = match code {
        Some(code) => format!("{code}: {message}"),
        None => message,
    };
    broken(StreamFault::ErrorEvent, endpoint.scrub(&detail))
}

/// The error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// At most 200 characters of a chunk, for messages.
fn cut(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
