//! Reading a chat-completions request body: only what the mock needs, with OpenAI's 400s
//! for anything it cannot use.

use serde_json::{Map, Value};

use super::api::Extra;
use super::faults::ApiError;
use super::reply::Prompt;
use super::structured::{self, Shape};

/// A request reduced to what the mock needs (chat, or another endpoint: see [`super::api`]).
pub(crate) struct ChatRequest {
    /// Which endpoint it came to, and what that endpoint needs besides the prompt.
    pub extra: Extra,
    pub model: String,
    pub prompt: Prompt,
    pub stream: bool,
    pub include_usage: bool,
    /// The smaller of `max_tokens` and `max_completion_tokens`.
    pub cap: Option<u32>,
    /// `response_format`, `tools`, `tool_choice` and `n`.
    pub shape: Shape,
    /// The last message is a tool's result.
    pub ends_with_tool: bool,
    /// The messages' blocks for the prefix cache.
    pub prefix: Vec<u64>,
}

impl ChatRequest {
    pub fn parse(bytes: &[u8]) -> Result<ChatRequest, ApiError> {
        let mut value = body_object(bytes)?;
        let body = value.as_object_mut().ok_or_else(not_an_object)?;
        let model = take_model(body)?;
        let prompt = match body.get("messages") {
            Some(Value::Array(messages)) if !messages.is_empty() => Prompt::of(messages),
            Some(Value::Array(_)) => {
                return Err(ApiError::invalid_request(
                    "[] is too short - 'messages'",
                    Some("messages"),
                    "empty_array",
                ))
            }
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_request(
                    "Missing required parameter: 'messages'.",
                    Some("messages"),
                    "missing_required_parameter",
                ))
            }
            Some(_) => return Err(invalid_type("messages", "an array of messages")),
        };
        let stream = flag(body, "stream")?;
        let include_usage = match body.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(options)) => flag(options, "include_usage")?,
            Some(_) => return Err(invalid_type("stream_options", "an object")),
        };
        let cap = match (
            max_tokens(body, "max_tokens")?,
            max_tokens(body, "max_completion_tokens")?,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let shape = Shape::parse(body)?;
        Ok(ChatRequest {
            extra: Extra::Chat,
            model,
            prompt,
            stream,
            include_usage,
            cap,
            shape,
            ends_with_tool: structured::ends_with_tool(body),
            prefix: match body.get("messages") {
                Some(Value::Array(messages)) => super::prefix_cache::blocks(messages),
                _ => Vec::new(),
            },
        })
    }
}

/// The JSON body (OpenAI's 400 `invalid_json` when it is not JSON).
pub(super) fn body_object(bytes: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid_request(
            format!(
                "We could not parse the JSON body of your request ({e}). The API expects a \
                 JSON payload with Content-Type: application/json."
            ),
            None,
            "invalid_json",
        )
    })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(not_an_object())
    }
}

pub(super) fn not_an_object() -> ApiError {
    ApiError::invalid_request("The request body must be a JSON object.", None, "invalid_type")
}

/// The required `model`, taken out of the body.
pub(super) fn take_model(body: &mut Map<String, Value>) -> Result<String, ApiError> {
    match body.get_mut("model").map(Value::take) {
        Some(Value::String(model)) if !model.is_empty() => Ok(model),
        None | Some(Value::Null) => Err(ApiError::invalid_request(
            "you must provide a model parameter",
            Some("model"),
            "missing_required_parameter",
        )),
        Some(_) => Err(invalid_type("model", "a non-empty string")),
    }
}

pub(super) fn invalid_type(param: &'static str, expected: &str) -> ApiError {
    ApiError::invalid_request(
        format!("Invalid type for '{param}': expected {expected}."),
        Some(param),
        "invalid_type",
    )
}

/// An optional boolean field (absent or null = false).
pub(super) fn flag(object: &Map<String, Value>, name: &'static str) -> Result<bool, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid_type(name, "a boolean")),
    }
}

/// An optional token limit: an integer >= 1.
pub(super) fn max_tokens(object: &Map<String, Value>, name: &'static str) -> Result<Option<u32>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(0) => Err(ApiError::invalid_request(
                format!("Invalid '{name}': integer below minimum value. Expected a value >= 1, but got 0 instead."),
                Some(name),
                "integer_below_min_value",
            )),
            Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
            None => Err(invalid_type(name, "an integer")),
        },
    }
}
