//! The endpoints besides chat completions: legacy completions, embeddings, the Responses API
//! and moderations, shaped as OpenAI's API reference says. Each is read into the same
//! [`ChatRequest`] the chat flow uses (model, prompt fingerprint, stream flag, output cap), so
//! the key check, injected faults, rate limits, latency and the request log apply to every
//! endpoint alike; only the body of the answer differs.

mod embeddings;
mod legacy;
pub(crate) mod moderation;
pub(crate) mod responses;

use serde_json::{Map, Value};

use super::faults::ApiError;
use super::reply::{Fnv, Prompt, Reply};
use super::request::{self, ChatRequest};
use super::structured::Shape;
use crate::provider::ApiEndpoint;

/// What an endpoint needs besides the fields every request has.
pub(crate) enum Extra {
    Chat,
    /// One prompt per choice (`prompt` may be an array).
    Completions {
        prompts: Vec<Prompt>,
    },
    Embeddings {
        inputs: Vec<Prompt>,
        dimensions: usize,
        base64: bool,
    },
    Responses,
    Moderations {
        inputs: Vec<moderation::Input>,
    },
}

/// Reads a request body of `api`.
pub(crate) fn parse(api: ApiEndpoint, bytes: &[u8]) -> Result<ChatRequest, ApiError> {
    if api == ApiEndpoint::Chat {
        return ChatRequest::parse(bytes);
    }
    let mut value = request::body_object(bytes)?;
    let body = value.as_object_mut().ok_or_else(request::not_an_object)?;
    let model = match api {
        // The moderation model is optional.
        ApiEndpoint::Moderations if matches!(body.get("model"), None | Some(Value::Null)) => {
            moderation::DEFAULT_MODEL.to_string()
        }
        _ => request::take_model(body)?,
    };
    let plain = |extra: Extra, prompt: Prompt, stream: bool, include_usage: bool, cap: Option<u32>| ChatRequest {
        extra,
        model: model.clone(),
        prompt,
        stream,
        include_usage,
        cap,
        shape: Shape::plain(),
        ends_with_tool: false,
        // The prefix cache models chat messages only.
        prefix: Vec::new(),
    };
    let stream = request::flag(body, "stream")?;
    match api {
        ApiEndpoint::Completions => {
            let prompts = texts(body.get("prompt"), "prompt")?;
            if stream && prompts.len() > 1 {
                return Err(ApiError::invalid_request(
                    "The sheepdog mock streams one prompt per request.",
                    Some("prompt"),
                    "unsupported_value",
                ));
            }
            let include_usage = match body.get("stream_options") {
                None | Some(Value::Null) => false,
                Some(Value::Object(options)) => request::flag(options, "include_usage")?,
                Some(_) => return Err(request::invalid_type("stream_options", "an object")),
            };
            let cap = request::max_tokens(body, "max_tokens")?;
            let prompt = combined(&prompts);
            Ok(plain(
                Extra::Completions { prompts },
                prompt,
                stream,
                include_usage,
                cap,
            ))
        }
        ApiEndpoint::Embeddings => {
            let inputs = texts(body.get("input"), "input")?;
            let (dimensions, base64) = embeddings::options(body, &model)?;
            let prompt = combined(&inputs);
            let extra = Extra::Embeddings {
                inputs,
                dimensions,
                base64,
            };
            Ok(plain(extra, prompt, false, false, None))
        }
        ApiEndpoint::Responses => {
            let prompt = responses::prompt(body)?;
            let cap = request::max_tokens(body, "max_output_tokens")?;
            // A Responses stream always ends with its usage (`response.completed`).
            Ok(plain(Extra::Responses, prompt, stream, true, cap))
        }
        ApiEndpoint::Moderations => {
            let inputs = moderation::inputs(body.get("input"))?;
            let prompt = combined(&inputs.iter().map(|i| i.prompt).collect::<Vec<_>>());
            Ok(plain(Extra::Moderations { inputs }, prompt, false, false, None))
        }
        ApiEndpoint::Chat => ChatRequest::parse(bytes),
    }
}

/// The reply with the completion tokens of the whole answer: none for embeddings and
/// moderations, the sum over the prompts of a legacy completion. `length` is the configured
/// reply length of a prompt.
pub(crate) fn shape_reply(request: &ChatRequest, reply: Reply, length: impl Fn(&Prompt) -> Option<u32>) -> Reply {
    match &request.extra {
        Extra::Embeddings { .. } | Extra::Moderations { .. } => Reply {
            completion_tokens: 0,
            ..reply
        },
        Extra::Completions { prompts } if prompts.len() > 1 => Reply {
            completion_tokens: prompts
                .iter()
                .map(|p| Reply::new(*p, length(p), request.cap).completion_tokens)
                .sum(),
            ..reply
        },
        _ => reply,
    }
}

/// The id of answer `number`, in the endpoint's style.
pub(crate) fn answer_id(api: ApiEndpoint, number: u64) -> String {
    match api {
        ApiEndpoint::Chat => format!("chatcmpl-mock-{number}"),
        ApiEndpoint::Completions => format!("cmpl-mock-{number}"),
        ApiEndpoint::Embeddings => format!("emb-mock-{number}"),
        ApiEndpoint::Responses => format!("resp_mock_{number}"),
        ApiEndpoint::Moderations => format!("modr-mock-{number}"),
    }
}

/// The non-streamed answer of an endpoint other than chat.
pub(crate) fn body_json(
    request: &ChatRequest,
    reply: &Reply,
    id: &str,
    created: u64,
    length: impl Fn(&Prompt) -> Option<u32>,
) -> String {
    let body = match &request.extra {
        Extra::Chat => return super::reply::completion_json(reply, id, created, &request.model),
        Extra::Completions { prompts } => {
            let replies: Vec<Reply> = if prompts.len() > 1 {
                prompts.iter().map(|p| Reply::new(*p, length(p), request.cap)).collect()
            } else {
                vec![*reply]
            };
            legacy::completion(&replies, id, created, &request.model)
        }
        Extra::Embeddings {
            inputs,
            dimensions,
            base64,
        } => embeddings::body(&request.model, inputs, *dimensions, *base64, reply.prompt_tokens),
        Extra::Responses => responses::object(id, created, &request.model, reply, "completed"),
        Extra::Moderations { inputs } => moderation::body(id, &request.model, inputs),
    };
    // Serializing a `Value` cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// One prompt standing for several (their fingerprints and tokens together).
fn combined(prompts: &[Prompt]) -> Prompt {
    let mut hash = Fnv::new();
    let mut tokens: u64 = 0;
    for prompt in prompts {
        hash.write(&prompt.hash.to_le_bytes());
        tokens += u64::from(prompt.tokens);
    }
    Prompt {
        hash: hash.finish(),
        tokens: u32::try_from(tokens).unwrap_or(u32::MAX),
    }
}

/// The fingerprint and tokens of a text (a token per 4 characters, at least 1).
pub(crate) fn text_prompt(text: &str) -> Prompt {
    let mut hash = Fnv::new();
    hash.write(text.as_bytes());
    Prompt {
        hash: hash.finish(),
        tokens: u32::try_from((text.chars().count() as u64).div_ceil(4).max(1)).unwrap_or(u32::MAX),
    }
}

/// `prompt` or `input` of completions and embeddings: a string, an array of strings, an array
/// of token ids, or an array of token arrays; one [`Prompt`] for each text.
fn texts(value: Option<&Value>, param: &'static str) -> Result<Vec<Prompt>, ApiError> {
    let tokens = |ids: &[Value]| -> Result<Prompt, ApiError> {
        if ids.is_empty() || !ids.iter().all(|id| id.is_u64()) {
            return Err(request::invalid_type(param, "an array of token ids (integers)"));
        }
        let mut hash = Fnv::new();
        let _ = serde_json::to_writer(&mut hash, ids);
        Ok(Prompt {
            hash: hash.finish(),
            tokens: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        })
    };
    match value {
        Some(Value::String(text)) if text.is_empty() && param == "input" => Err(ApiError::invalid_request(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            Some("input"),
            "invalid_value",
        )),
        Some(Value::String(text)) => Ok(vec![text_prompt(text)]),
        Some(Value::Array(items)) if items.is_empty() => Err(ApiError::invalid_request(
            format!("[] is too short - '{param}'"),
            Some(param),
            "empty_array",
        )),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => Ok(vec![tokens(items)?]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text_prompt(text)),
                Value::Array(ids) => tokens(ids),
                _ => Err(request::invalid_type(
                    param,
                    "a string or an array of strings or token ids",
                )),
            })
            .collect(),
        None | Some(Value::Null) => Err(ApiError::invalid_request(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            "missing_required_parameter",
        )),
        Some(_) => Err(request::invalid_type(param, "a string or an array")),
    }
}

/// An optional string field.
fn string_field<'a>(body: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(request::invalid_type(name, "a string")),
    }
}
