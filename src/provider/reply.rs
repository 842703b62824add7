//! A 2xx answer read into a [`Reply`]: its body checked against the endpoint's shape, its
//! `usage` read the endpoint's way.

use std::time::Duration;

use serde_json::Value;

use super::endpoint::ApiEndpoint;
use super::{retry_after, snippet, Endpoint, RequestError};
use crate::record::{StreamTiming, Usage};

/// A 2xx answer of any endpoint.
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

/// Reads `usage` (chat-completions shape, with `prompt_tokens_details.cached_tokens` when
/// present). See [`ApiEndpoint::parse_usage`] for the other endpoints.
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
    // Cache writes: Anthropic-style `cache_creation_input_tokens` (LiteLLM's proxy passes it
    // on), or a `prompt_tokens_details` count of them.
    let details = usage.get("prompt_tokens_details");
    let written = usage
        .get("cache_creation_input_tokens")
        .or_else(|| details.and_then(|d| d.get("cache_creation_tokens").or_else(|| d.get("cache_write_tokens"))))
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(input - cached);
    Some(Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: written,
        output_tokens: output,
    })
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
/// `choices`, an embedding list with `data`, ...), else `InvalidResponse`.
pub(super) fn completion_reply(
    api: ApiEndpoint,
    status: u16,
    request_id: Option<String>,
    bytes: &[u8],
    latency: Duration,
    endpoint: &Endpoint,
) -> Result<Reply, RequestError> {
    // A key echoed in an answer (in its text, its id, anywhere) is never written out.
    let bytes = &*endpoint.scrub_bytes(bytes);
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        RequestError::InvalidResponse(format!(
            "HTTP {status} body is not JSON ({e}): {}",
            snippet(bytes, endpoint)
        ))
    })?;
    if let Err(missing) = api.check_reply(&body) {
        return Err(RequestError::InvalidResponse(format!(
            "HTTP {status} body {missing}: {}",
            snippet(bytes, endpoint)
        )));
    }
    let usage = api.parse_usage(&body).unwrap_or_default();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Secret;

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
                cache_write_tokens: 0,
                output_tokens: 20
            })
        );
        assert_eq!(parse_usage(&serde_json::json!({})), None);
    }

    fn endpoint() -> Endpoint {
        Endpoint::new("p", "http://127.0.0.1:1/v1", Some(Secret::new("sk-echoed-0123456789")))
    }

    #[test]
    fn a_key_echoed_in_a_2xx_body_is_scrubbed_before_parsing() {
        let body =
            br#"{"id":"sk-echoed-0123456789","choices":[{"message":{"content":"your key is sk-echoed-0123456789"}}]}"#;
        let reply = completion_reply(ApiEndpoint::Chat, 200, None, body, Duration::ZERO, &endpoint()).unwrap();
        assert!(!reply.body.to_string().contains("sk-echoed"), "{}", reply.body);
        assert_eq!(reply.request_id.as_deref(), Some("[redacted]"));
    }

    #[test]
    fn each_endpoint_checks_its_own_shape_and_reads_its_own_usage() {
        let embeddings = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],
            "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        let reply = completion_reply(
            ApiEndpoint::Embeddings,
            200,
            None,
            embeddings,
            Duration::ZERO,
            &endpoint(),
        )
        .unwrap();
        assert_eq!((reply.usage.input_tokens, reply.usage.output_tokens), (8, 0));
        let error =
            completion_reply(ApiEndpoint::Chat, 200, None, embeddings, Duration::ZERO, &endpoint()).unwrap_err();
        assert!(error.to_string().contains("no \"choices\""), "{error}");

        let responses = br#"{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":30,
            "input_tokens_details":{"cached_tokens":10},"output_tokens":5,"total_tokens":35}}"#;
        let reply = completion_reply(
            ApiEndpoint::Responses,
            200,
            None,
            responses,
            Duration::ZERO,
            &endpoint(),
        )
        .unwrap();
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 30,
                cached_input_tokens: 10,
                cache_write_tokens: 0,
                output_tokens: 5
            }
        );
        assert_eq!(reply.request_id.as_deref(), Some("resp_1"));
        let error = completion_reply(
            ApiEndpoint::Moderations,
            200,
            None,
            responses,
            Duration::ZERO,
            &endpoint(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("no \"results\""), "{error}");
    }
}
