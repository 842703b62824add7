//! What happened to one work item: every attempt with its timing, and the final result.
//!
//! Workers produce an [`Outcome`] per item and send it to the single owner that writes results
//! and aggregates statistics. Nothing here does I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a request (or an input line) failed, counted by variant, never by message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// TCP/TLS connection could not be made.
    Connect,
    /// The exchange broke after the connection was made (reset, HTTP protocol error, a body
    /// that could not be read), or the request could not be sent at all.
    Transport,
    /// No complete answer within the per-request timeout.
    Timeout,
    /// HTTP 429 that is not a quota problem.
    RateLimited,
    /// HTTP 429 with `insufficient_quota`: the account has no credit left.
    InsufficientQuota,
    /// HTTP 401 or 403: key missing, wrong or not allowed.
    Auth,
    /// HTTP 404: usually an unknown model.
    NotFound,
    /// HTTP 400, 422 and other 4xx: the request itself is bad.
    BadRequest,
    /// HTTP 408 / 409: transient conflicts the provider asks to retry.
    Conflict,
    /// HTTP 5xx (and 529).
    ServerError,
    /// A 2xx whose body is not a chat completion.
    InvalidResponse,
    /// A stream that ended early, broke, or stalled.
    StreamInterrupted,
    /// An answer that `--validate-json` refused: not JSON, or not valid against the schema.
    InvalidOutput,
    /// An input line that was never sent.
    InvalidInput,
    /// An answer larger than `--max-response-size`: retried once, then the item fails.
    ResponseTooLarge,
    /// A request that was sent but whose answer was never recorded: the run was killed, the
    /// disk was full, or a stop dropped it. Counted from `requests.sent` by the resume.
    Lost,
}

impl ErrorClass {
    /// Stable snake_case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Transport => "transport",
            ErrorClass::Timeout => "timeout",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::InsufficientQuota => "insufficient_quota",
            ErrorClass::Auth => "auth",
            ErrorClass::NotFound => "not_found",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::Conflict => "conflict",
            ErrorClass::ServerError => "server_error",
            ErrorClass::InvalidResponse => "invalid_response",
            ErrorClass::StreamInterrupted => "stream_interrupted",
            ErrorClass::InvalidOutput => "invalid_output",
            ErrorClass::InvalidInput => "invalid_input",
            ErrorClass::ResponseTooLarge => "response_too_large",
            ErrorClass::Lost => "lost",
        }
    }

    /// Whether another try of the same request at the same target may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Connect
                | ErrorClass::Transport
                | ErrorClass::Timeout
                | ErrorClass::RateLimited
                | ErrorClass::Conflict
                | ErrorClass::ServerError
                | ErrorClass::StreamInterrupted
                | ErrorClass::ResponseTooLarge
                | ErrorClass::InvalidOutput
        )
    }

    /// Tries of one request at one target this class allows, whatever `retry.max_attempts`
    /// says: an oversized answer is tried once more (a server may have glitched), not again
    /// and again at the size limit's cost.
    pub fn max_tries(self) -> u32 {
        match self {
            ErrorClass::ResponseTooLarge => 2,
            _ => u32::MAX,
        }
    }

    /// Whether this error means the provider will refuse every further request
    /// (bad key, no quota): the run must stop instead of burning through the file.
    pub fn is_fatal(self) -> bool {
        matches!(self, ErrorClass::Auth | ErrorClass::InsufficientQuota)
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure as recorded in outputs: its class, HTTP status if any, and a human message
/// (with secrets already removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub class: ErrorClass,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub message: String,
    /// The provider's own error code (`invalid_api_key`, `model_not_found`, ...), if it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Token counts of one response, from the provider's `usage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    /// Part of `input_tokens` served from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Part of `input_tokens` written to the provider's prompt cache (Anthropic's
    /// `cache_creation_input_tokens`), charged at the cache-write price.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Token timing of a streamed answer (see DESIGN.md's metric definitions).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamTiming {
    /// Inter-token latency: (last token time − first token time) / (output tokens − 1).
    /// `None` with fewer than 2 output tokens.
    pub itl: Option<Duration>,
    /// Time per output token: (e2e − TTFT) / (output tokens − 1). `None` with fewer than 2.
    pub tpot: Option<Duration>,
    /// Chunks that carried content (or reasoning, refusal or tool-call text).
    pub content_chunks: u32,
    /// The server sent no `usage`: the token counts were made with the tokenizer.
    pub output_tokens_estimated: bool,
}

/// One HTTP request sent for an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// Target name (as in the config's `[[targets]]`).
    pub target: String,
    pub model: String,
    /// 1-based number of this try at this target.
    pub number: u32,
    /// When the request was sent, as an offset from the start of the run.
    pub sent_at: Duration,
    /// Request sent to last byte of the answer (or to the failure).
    pub latency: Duration,
    /// Request sent to first content chunk, for streamed requests.
    pub ttft: Option<Duration>,
    /// Token timing, for streamed requests that succeeded.
    pub stream: Option<StreamTiming>,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    /// `None` when this attempt succeeded.
    pub error: Option<ErrorInfo>,
    /// The target's effective concurrency limit when this request was sent (it shrinks after
    /// 429s and grows back), for the report's limit-over-time chart. `None` when not tracked.
    pub concurrency_limit: Option<u32>,
}

/// The answer that ended an item successfully.
#[derive(Debug, Clone)]
pub struct Success {
    pub target: String,
    pub model: String,
    pub status: u16,
    /// The provider's request id (`x-request-id` header or body `id`).
    pub request_id: Option<String>,
    /// The provider's response body as it came (on one line: see `provider::reply`), written
    /// to `results.jsonl` without being parsed and serialized again.
    pub body: JsonText,
    pub usage: Usage,
    pub latency: Duration,
    pub ttft: Option<Duration>,
    /// Token timing, for streamed answers.
    pub stream: Option<StreamTiming>,
    /// `None` when no price is known for the model: never reported as 0.
    pub cost_usd: Option<f64>,
    /// Set when the answer came from the local response cache (`--cache`): no request was sent,
    /// `cost_usd` is 0 and `latency` is not a measurement.
    pub cache_hit: Option<CacheHit>,
}

/// A body held as a `Value` (a streamed answer put together, a Batch API output line) as the
/// JSON text a [`Success`] keeps.
pub fn raw_body(value: &serde_json::Value) -> JsonText {
    JsonText(value.to_string().into_boxed_str())
}

/// JSON text known to be valid, kept as it came: an answer's body on its way to
/// `results.jsonl`.
///
/// Not serde_json's `RawValue`: a `Box<RawValue>` is only made by parsing the text again,
/// and an answer is already read once, for its fields, which is the check
/// (`provider::reply`). Written through serde (a line in the `openai` format, the cache) it
/// is checked again then.
#[derive(Clone, PartialEq, Eq)]
pub struct JsonText(Box<str>);

impl JsonText {
    /// `text`, which the caller has just read whole as JSON.
    pub(crate) fn checked(text: Box<str>) -> JsonText {
        JsonText(text)
    }

    /// `null`.
    pub fn null() -> JsonText {
        JsonText("null".into())
    }

    pub fn get(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Ok(JsonText(raw.get().into()))
    }
}

/// An answer served from the response cache instead of a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheHit {
    /// What the request would have cost at today's price (`None` when the model has no price).
    pub saved_usd: Option<f64>,
}

/// What finally happened to one item.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The item's id (`custom_id` of a batch line, `id` of a short line, or `line-<n>`).
    pub id: String,
    /// 1-based line number in the input file.
    pub line: u64,
    /// Short form `metadata` of the line, echoed in the result.
    pub metadata: Option<serde_json::Value>,
    pub attempts: Vec<Attempt>,
    pub result: Result<Success, ErrorInfo>,
}

impl Outcome {
    /// Tries after the first at the same target (moves to another target are fallbacks).
    pub fn retries(&self) -> u32 {
        self.attempts.iter().filter(|a| a.number > 1).count() as u32
    }

    /// How many times the item moved to another target of its route.
    pub fn fallbacks(&self) -> u32 {
        self.attempts
            .windows(2)
            .filter(|pair| pair[0].target != pair[1].target)
            .count() as u32
    }

    /// Sum of the cost of every attempt that reported usage. `None` if one had no price.
    pub fn cost_usd(&self) -> Option<f64> {
        let mut total = 0.0;
        for attempt in self.attempts.iter().filter(|a| a.usage.is_some()) {
            total += attempt.cost_usd?;
        }
        Some(total)
    }
}

/// An input line that was not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The id the line carried, when it could be read.
    pub id: Option<String>,
    pub line: u64,
    pub reason: String,
}
