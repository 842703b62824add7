//! The API endpoints a Batch file may name, and what differs between them: the path a request
//! is sent to, what its body must hold, whether it can stream, how its `usage` reads, and
//! whether it is billed for output tokens.
//!
//! One [`ApiEndpoint`] travels with every work item; the live path (dispatch) and the
//! provider's Batch API both use it, so a line is shaped, sent, counted and priced the same way
//! whichever way it goes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::record::Usage;
use crate::tokens::{count_text, AsMessages, Encoding, Fields};

/// The model OpenAI moderates with when a request names none.
pub const DEFAULT_MODERATION_MODEL: &str = "omni-moderation-latest";

/// Which OpenAI endpoint a request goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiEndpoint {
    /// `/v1/chat/completions`: `messages` in, `choices[].message` out.
    #[default]
    Chat,
    /// `/v1/completions` (legacy): `prompt` in, `choices[].text` out.
    Completions,
    /// `/v1/embeddings`: `input` in, `data[].embedding` out; input tokens only.
    Embeddings,
    /// `/v1/responses`: `input` in, `output[]` items out, `input_tokens`/`output_tokens` usage.
    Responses,
    /// `/v1/moderations`: `input` in, `results[]` out; input tokens only (OpenAI does not bill it).
    Moderations,
}

impl ApiEndpoint {
    pub const ALL: [ApiEndpoint; 5] = [
        ApiEndpoint::Chat,
        ApiEndpoint::Completions,
        ApiEndpoint::Embeddings,
        ApiEndpoint::Responses,
        ApiEndpoint::Moderations,
    ];

    /// The short name used by `--endpoint`, reports and `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            ApiEndpoint::Chat => "chat",
            ApiEndpoint::Completions => "completions",
            ApiEndpoint::Embeddings => "embeddings",
            ApiEndpoint::Responses => "responses",
            ApiEndpoint::Moderations => "moderations",
        }
    }

    /// The path after a provider's base URL (which ends in `/v1`), e.g. `/embeddings`.
    pub fn path(self) -> &'static str {
        match self {
            ApiEndpoint::Chat => "/chat/completions",
            ApiEndpoint::Completions => "/completions",
            ApiEndpoint::Embeddings => "/embeddings",
            ApiEndpoint::Responses => "/responses",
            ApiEndpoint::Moderations => "/moderations",
        }
    }

    /// The `url` of a Batch API line, e.g. `/v1/embeddings`.
    pub fn batch_url(self) -> &'static str {
        match self {
            ApiEndpoint::Chat => "/v1/chat/completions",
            ApiEndpoint::Completions => "/v1/completions",
            ApiEndpoint::Embeddings => "/v1/embeddings",
            ApiEndpoint::Responses => "/v1/responses",
            ApiEndpoint::Moderations => "/v1/moderations",
        }
    }

    /// The endpoint of a Batch line's `url`: `/v1/embeddings` or `/embeddings`.
    pub fn from_batch_url(url: &str) -> Option<ApiEndpoint> {
        let path = url.strip_prefix("/v1").unwrap_or(url);
        ApiEndpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// Whether it can answer as a Server-Sent Events stream (`--stream`).
    pub fn streams(self) -> bool {
        matches!(
            self,
            ApiEndpoint::Chat | ApiEndpoint::Completions | ApiEndpoint::Responses
        )
    }

    /// Whether it generates text (and bills output tokens). Embeddings and moderations have
    /// input tokens only.
    pub fn generates(self) -> bool {
        self.streams()
    }

    /// The body field that holds the request's text: `messages`, `prompt` or `input`.
    pub fn input_field(self) -> &'static str {
        match self {
            ApiEndpoint::Chat => "messages",
            ApiEndpoint::Completions => "prompt",
            ApiEndpoint::Embeddings | ApiEndpoint::Responses | ApiEndpoint::Moderations => "input",
        }
    }

    /// Whether a target's `model` fits this endpoint, so that it replaces the model a line
    /// names: an embedding model (its name has `embed`) on embeddings, a moderation model
    /// (`moderation`) on moderations, any other model on chat, completions and responses.
    /// A line of a mixed file keeps its own model on an endpoint the target's model does not
    /// fit (a chat target does not turn an embedding line into a chat request).
    pub fn fits_model(self, model: &str) -> bool {
        // Twice per request: no lowercase copy, no substring searcher set up.
        let names = |part: &str| {
            model
                .as_bytes()
                .windows(part.len())
                .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
        };
        let embedding = names("embed");
        let moderation = names("moderation");
        match self {
            ApiEndpoint::Embeddings => embedding,
            ApiEndpoint::Moderations => moderation,
            _ => !embedding && !moderation,
        }
    }

    /// The model a request to this endpoint is sent with: the target's when it fits (see
    /// [`ApiEndpoint::fits_model`]), else the line's own, else (moderations)
    /// OpenAI's default moderation model, else the target's anyway, else the target's default.
    pub fn model_for<'a>(
        self,
        target: Option<&'a str>,
        line: Option<&'a str>,
        default: Option<&'a str>,
    ) -> Option<&'a str> {
        let moderation = (self == ApiEndpoint::Moderations).then_some(DEFAULT_MODERATION_MODEL);
        target
            .filter(|m| self.fits_model(m))
            .or(line)
            .or(moderation)
            .or(target)
            .or(default)
    }

    /// Whether a request body has what this endpoint needs; the reason when it does not.
    pub fn check_body(self, body: &Map<String, Value>) -> Result<(), String> {
        if let Some(model) = crate::json_map::get(body, "model") {
            if !model.is_string() {
                return Err("\"model\" is not a string".into());
            }
        }
        match self {
            ApiEndpoint::Chat => check_messages(body),
            ApiEndpoint::Completions => match body.get("prompt") {
                Some(Value::String(_)) => Ok(()),
                Some(Value::Array(items)) if !items.is_empty() => Ok(()),
                Some(Value::Array(_)) => Err("\"prompt\" is empty".into()),
                Some(_) => Err("\"prompt\" is not a string or an array".into()),
                None => Err("has no \"prompt\" (a /v1/completions request needs one)".into()),
            },
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations | ApiEndpoint::Responses => match body.get("input") {
                Some(Value::String(text)) if text.is_empty() && self == ApiEndpoint::Embeddings => {
                    Err("\"input\" is an empty string".into())
                }
                Some(Value::String(_)) => Ok(()),
                Some(Value::Array(items)) if !items.is_empty() => Ok(()),
                Some(Value::Array(_)) => Err("\"input\" is empty".into()),
                Some(_) => Err("\"input\" is not a string or an array".into()),
                None => Err(format!("has no \"input\" (a {} request needs one)", self.batch_url())),
            },
        }
    }

    /// The array an answer of this endpoint holds: `choices`, `data`, `output` or `results`.
    pub fn reply_array(self) -> &'static str {
        match self {
            ApiEndpoint::Chat | ApiEndpoint::Completions => "choices",
            ApiEndpoint::Embeddings => "data",
            ApiEndpoint::Responses => "output",
            ApiEndpoint::Moderations => "results",
        }
    }

    /// Whether a 2xx body is an answer of this endpoint; the reason when it is not.
    pub fn check_reply(self, body: &Value) -> Result<(), String> {
        let key = self.reply_array();
        if body.get(key).is_some_and(Value::is_array) {
            Ok(())
        } else {
            Err(format!("has no \"{key}\""))
        }
    }

    /// A request body of this endpoint with `text` as its prompt, asking for `max_tokens` of
    /// output where the endpoint generates (`sheepdog bench`'s synthetic prompts).
    pub fn synthetic_body(self, text: &str, max_tokens: u32) -> Map<String, Value> {
        let mut body = Map::new();
        match self {
            ApiEndpoint::Chat => {
                body.insert(
                    "messages".into(),
                    serde_json::json!([{"role": "user", "content": text}]),
                );
                body.insert("max_tokens".into(), max_tokens.into());
            }
            ApiEndpoint::Completions => {
                body.insert("prompt".into(), text.into());
                body.insert("max_tokens".into(), max_tokens.into());
            }
            ApiEndpoint::Responses => {
                body.insert("input".into(), text.into());
                body.insert("max_output_tokens".into(), max_tokens.into());
            }
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations => {
                body.insert("input".into(), text.into());
            }
        }
        body
    }

    /// Reads an answer's `usage` in this endpoint's shape.
    pub fn parse_usage(self, body: &Value) -> Option<Usage> {
        super::reply::fields::value_usage(self, body)
    }

    /// Prompt tokens of a request body, counted with `encoding`: the chat framing for
    /// messages, the bare text for `prompt` and `input` (a token array counts its length).
    pub fn prompt_tokens<B: Fields + ?Sized>(self, encoding: Encoding, body: &B) -> u64 {
        match self {
            ApiEndpoint::Chat => crate::tokens::prompt_tokens(encoding, body),
            ApiEndpoint::Completions => texts_tokens(encoding, body.field("prompt")),
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations => texts_tokens(encoding, body.field("input")),
            ApiEndpoint::Responses => {
                let instructions = body
                    .field("instructions")
                    .and_then(Value::as_str)
                    .map_or(0, |text| count_text(encoding, text));
                let input = match body.field("input") {
                    Some(items @ Value::Array(_)) => crate::tokens::prompt_tokens(encoding, &AsMessages(items)),
                    other => texts_tokens(encoding, other),
                };
                instructions + input
            }
        }
    }
}

impl std::fmt::Display for ApiEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `--endpoint` and `[run] endpoint`: a short name (`embeddings`), a path (`/v1/embeddings`)
/// or `chat/completions`.
impl std::str::FromStr for ApiEndpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let path = if text.starts_with('/') {
            text.to_string()
        } else {
            format!("/{text}")
        };
        ApiEndpoint::ALL
            .into_iter()
            .find(|e| e.name() == text || ApiEndpoint::from_batch_url(&path) == Some(*e))
            .ok_or_else(|| {
                format!("unknown endpoint {text:?}: give chat, completions, embeddings, responses or moderations")
            })
    }
}

/// Tokens of a `prompt` or `input`: a string, an array of strings, an array of token ids, or
/// an array of token arrays. Anything else (image parts of a moderation input) counts 0.
fn texts_tokens(encoding: Encoding, value: Option<&Value>) -> u64 {
    match value {
        Some(Value::String(text)) => count_text(encoding, text),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => items.len() as u64,
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(part) => part
                    .get("text")
                    .and_then(Value::as_str)
                    .map_or(0, |text| count_text(encoding, text)),
                other => texts_tokens(encoding, Some(other)),
            })
            .sum(),
        _ => 0,
    }
}

/// A chat body's `messages`: a non-empty array of objects with a `role`.
fn check_messages(body: &Map<String, Value>) -> Result<(), String> {
    let messages = match crate::json_map::get(body, "messages") {
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err("\"messages\" is not an array".into()),
        None => return Err("has no \"messages\"".into()),
    };
    if messages.is_empty() {
        return Err("\"messages\" is empty".into());
    }
    for (i, message) in messages.iter().enumerate() {
        let Some(object) = message.as_object() else {
            return Err(format!("messages[{i}] is not an object"));
        };
        if !crate::json_map::get(object, "role").is_some_and(Value::is_string) {
            return Err(format!("messages[{i}] has no \"role\""));
        }
    }
    Ok(())
}

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod tests;
