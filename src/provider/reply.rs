//! A 2xx answer read into a [`Reply`]: its body checked against the endpoint's shape, its
//! `usage` read the endpoint's way.

pub(super) mod fields;
mod scan;

use std::time::Duration;

use serde_json::Value;

use super::endpoint::ApiEndpoint;
use super::{retry_after, snippet, Endpoint, RequestError};
use crate::record::{JsonText, StreamTiming, Usage};

/// A 2xx answer of any endpoint.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    /// The answer as it came (after the key scrub), on one line.
    pub body: JsonText,
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

#[cfg(test)]
impl Reply {
    /// The body parsed, for tests that look inside it.
    pub fn body_value(&self) -> Value {
        serde_json::from_str(self.body.get()).expect("a reply's body is JSON")
    }
}

/// Reads `usage` (chat-completions shape, with `prompt_tokens_details.cached_tokens` when
/// present). See [`ApiEndpoint::parse_usage`] for the other endpoints.
pub fn parse_usage(body: &Value) -> Option<Usage> {
    fields::value_usage(ApiEndpoint::Chat, body)
}

/// Input tokens of a request counted with the tokenizer of its model, for an answer without
/// `usage` (moderations).
pub(super) fn counted_usage(api: ApiEndpoint, request: &[u8]) -> Usage {
    let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
    let model = request.get("model").and_then(Value::as_str).unwrap_or("");
    let (encoding, _) = crate::tokens::encoding_for_model(model);
    Usage {
        input_tokens: api.prompt_tokens(encoding, &request),
        ..Usage::default()
    }
}

/// A non-streamed answer's body: JSON of the endpoint's shape (a `chat.completion` with
/// `choices`, an embedding list with `data`, ...), else `InvalidResponse`. Only the fields
/// sheepdog uses are read; the body is kept as the bytes that came.
///
/// One pass of `serde_json` both checks the whole body as JSON (it is written to
/// `results.jsonl` as it came) and finds its top-level fields.
pub(super) fn completion_reply(
    api: ApiEndpoint,
    status: u16,
    request_id: Option<String>,
    bytes: &[u8],
    latency: Duration,
    endpoint: &Endpoint,
) -> Result<Reply, RequestError> {
    let not_json = |e: &dyn std::fmt::Display| {
        RequestError::InvalidResponse(format!(
            "HTTP {status} body is not JSON ({e}): {}",
            snippet(bytes, endpoint)
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|e| not_json(&e))?;
    // A key echoed in an answer (in its text, its id, anywhere) is never written out.
    let text = endpoint.scrub_cow(text);
    let head = fields::Head::checked(&text).map_err(|e| not_json(&e))?;
    if !head.has_array(api) {
        return Err(RequestError::InvalidResponse(format!(
            "HTTP {status} body has no \"{}\": {}",
            api.reply_array(),
            snippet(bytes, endpoint)
        )));
    }
    let usage = head.usage(api).unwrap_or_default();
    let request_id = request_id.or_else(|| head.id());
    // A pretty-printed answer would break results.jsonl's one line per item.
    let body: Box<str> = if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        fields::one_line(&text).into()
    } else {
        text.as_ref().into()
    };
    // The scrub above finds the key as it is written; one hidden behind JSON escapes
    // (`sk\u002d...`) only shows once the text is read. Such an answer is read whole and
    // scrubbed again (rare: only an answer with `\u` escapes, from a provider with a key).
    let body = if endpoint.api_key().is_some() && memchr::memmem::find(body.as_bytes(), b"\\u").is_some() {
        let value: Value = serde_json::from_str(&body).map_err(|e| not_json(&e))?;
        let scrubbed = super::scrub_value(value, endpoint).to_string();
        if scrubbed.contains("[redacted]") {
            scrubbed.into()
        } else {
            body
        }
    } else {
        body
    };
    Ok(Reply {
        status,
        request_id,
        body: JsonText::checked(body),
        usage,
        latency,
        ttft: None,
        stream: None,
        ratelimit: retry_after::RateLimitHeaders::default(),
    })
}

/// Whether an answer has a `usage` field (moderations' answers have none: their input is
/// counted instead).
pub(super) fn has_usage(body: &JsonText) -> bool {
    fields::Head::read(body.get()).usage.is_some()
}

#[cfg(test)]
mod tests;
