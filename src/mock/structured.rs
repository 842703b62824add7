//! Structured answers: `response_format` (json_object, json_schema), `tools` with `tool_choice`,
//! and `n` choices. What to answer is read from the request by [`Shape::parse`]; [`answer`]
//! builds the choices, deterministic in the messages like plain replies.

use serde_json::{json, Map, Value};

use super::faults::ApiError;
use super::reply::{mix, CompletionDetails, Prompt, PromptDetails, Reply, UsageBody};
use super::schema;

/// Most choices one request may ask for (OpenAI's limit).
const MAX_N: u64 = 128;

/// Characters per completion token of structured content (and per streamed piece of it).
const CHARS_PER_TOKEN: usize = 4;

/// What the request asks the answer to look like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub format: Format,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    pub n: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Format {
    Text,
    JsonObject,
    /// The schema of `response_format.json_schema.schema`.
    JsonSchema(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub name: String,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice {
    None,
    Auto,
    Required,
    Named(String),
}

impl Shape {
    /// One choice of prose (endpoints other than chat have no structured outputs here).
    pub fn plain() -> Shape {
        Shape {
            format: Format::Text,
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            n: 1,
        }
    }

    /// A request without any of these fields is plain: one choice of prose.
    pub fn is_plain(&self) -> bool {
        self.format == Format::Text && self.tools.is_empty() && self.n == 1
    }

    pub fn parse(body: &Map<String, Value>) -> Result<Shape, ApiError> {
        let format = match body.get("response_format") {
            None | Some(Value::Null) => Format::Text,
            Some(Value::Object(format)) => match format.get("type").and_then(Value::as_str) {
                Some("text") => Format::Text,
                Some("json_object") => Format::JsonObject,
                Some("json_schema") => match format.get("json_schema").and_then(|s| s.get("schema")) {
                    Some(schema @ (Value::Object(_) | Value::Bool(_))) => Format::JsonSchema(schema.clone()),
                    _ => {
                        return Err(invalid(
                            "Missing required parameter: 'response_format.json_schema.schema'.",
                            "response_format.json_schema",
                        ))
                    }
                },
                _ => {
                    return Err(invalid(
                        "Invalid value for 'response_format.type': expected one of 'text', 'json_object' or \
                         'json_schema'.",
                        "response_format.type",
                    ))
                }
            },
            Some(_) => {
                return Err(invalid(
                    "Invalid type for 'response_format': expected an object.",
                    "response_format",
                ))
            }
        };
        let tools = match body.get("tools") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(tools)) => tools.iter().map(tool).collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("Invalid type for 'tools': expected an array.", "tools")),
        };
        let tool_choice = match body.get("tool_choice") {
            None | Some(Value::Null) => ToolChoice::Auto,
            Some(Value::String(choice)) => match choice.as_str() {
                "none" => ToolChoice::None,
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                _ => {
                    return Err(invalid(
                        "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a function.",
                        "tool_choice",
                    ))
                }
            },
            Some(choice) => match choice.pointer("/function/name").and_then(Value::as_str) {
                Some(name) => ToolChoice::Named(name.to_owned()),
                None => {
                    return Err(invalid(
                        "Missing required parameter: 'tool_choice.function.name'.",
                        "tool_choice",
                    ))
                }
            },
        };
        if let ToolChoice::Named(name) = &tool_choice {
            if !tools.iter().any(|t| &t.name == name) {
                return Err(invalid(
                    format!("Invalid value for 'tool_choice': no function named '{name}' in 'tools'."),
                    "tool_choice",
                ));
            }
        }
        if tools.is_empty() && matches!(tool_choice, ToolChoice::Required | ToolChoice::Named(_)) {
            return Err(invalid(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                "tool_choice",
            ));
        }
        let n = match body.get("n") {
            None | Some(Value::Null) => 1,
            Some(value) => match value.as_u64() {
                Some(n @ 1..=MAX_N) => n as u32,
                _ => {
                    return Err(invalid(
                        format!("Invalid 'n': expected an integer from 1 to {MAX_N}."),
                        "n",
                    ))
                }
            },
        };
        Ok(Shape {
            format,
            tools,
            tool_choice,
            n,
        })
    }

    /// The tool to call, if this answer calls one: a named choice, else (with `required`, or
    /// with `auto` until the conversation holds a tool's result) one picked by the prompt.
    fn tool_to_call(&self, messages_end_with_tool: bool, seed: u64) -> Option<&Tool> {
        match &self.tool_choice {
            ToolChoice::None => None,
            ToolChoice::Named(name) => self.tools.iter().find(|t| &t.name == name),
            ToolChoice::Auto if messages_end_with_tool => None,
            ToolChoice::Auto | ToolChoice::Required => {
                if self.tools.is_empty() {
                    None
                } else {
                    self.tools.get((mix(seed) % self.tools.len() as u64) as usize)
                }
            }
        }
    }
}

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>, param: &'static str) -> ApiError {
    ApiError::invalid_request(message, Some(param), "invalid_value")
}

fn tool(value: &Value) -> Result<Tool, ApiError> {
    let function = value.get("function");
    let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
    match (value.get("type").and_then(Value::as_str), name) {
        (Some("function"), Some(name)) if !name.is_empty() => Ok(Tool {
            name: name.to_owned(),
            parameters: function
                .and_then(|f| f.get("parameters"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        }),
        _ => Err(invalid(
            "Invalid value for 'tools': each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}.",
            "tools",
        )),
    }
}

/// One choice of a structured answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Choice {
    /// The message text (`None` for a tool call).
    pub content: Option<String>,
    pub tool_call: Option<ToolCall>,
    pub finish_reason: &'static str,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// The answer's choices. `length` is the configured reply length, `cap` the request's
/// `max_tokens`: structured content longer than the cap is cut (and then no longer valid JSON,
/// as a real model's would be), with `finish_reason: length`.
pub(crate) fn answer(
    shape: &Shape,
    prompt: Prompt,
    ends_with_tool: bool,
    length: Option<u32>,
    cap: Option<u32>,
) -> Vec<Choice> {
    (0..shape.n)
        .map(|i| {
            // Choice 0 is the reply a plain request gets; the others vary with their index.
            let hash = if i == 0 {
                prompt.hash
            } else {
                mix(prompt.hash ^ u64::from(i))
            };
            let prompt = Prompt { hash, ..prompt };
            if let Some(tool) = shape.tool_to_call(ends_with_tool, hash) {
                let arguments = schema::instance(&tool.parameters, hash).to_string();
                let (arguments, tokens, finish) = cut(arguments, cap, "tool_calls");
                return Choice {
                    content: None,
                    tool_call: Some(ToolCall {
                        id: format!("call_mock_{:016x}", mix(hash ^ 0x7001)),
                        name: tool.name.clone(),
                        arguments,
                    }),
                    finish_reason: finish,
                    completion_tokens: tokens,
                };
            }
            let reply = Reply::new(prompt, length, cap);
            let content = match &shape.format {
                Format::Text => {
                    return Choice {
                        content: Some(reply.text()),
                        tool_call: None,
                        finish_reason: reply.finish_reason,
                        completion_tokens: reply.completion_tokens,
                    }
                }
                Format::JsonObject => json!({"answer": Reply::new(prompt, length, None).text()}).to_string(),
                Format::JsonSchema(schema) => schema::instance(schema, hash).to_string(),
            };
            let (content, tokens, finish) = cut(content, cap, "stop");
            Choice {
                content: Some(content),
                tool_call: None,
                finish_reason: finish,
                completion_tokens: tokens,
            }
        })
        .collect()
}

/// Structured text, its tokens, and the finish reason: cut at `cap` tokens when longer.
fn cut(text: String, cap: Option<u32>, finish: &'static str) -> (String, u32, &'static str) {
    let tokens = tokens_of(&text);
    match cap {
        Some(cap) if cap < tokens => {
            let text: String = text.chars().take(cap as usize * CHARS_PER_TOKEN).collect();
            (text, cap, "length")
        }
        _ => (text, tokens, finish),
    }
}

fn tokens_of(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(CHARS_PER_TOKEN).max(1)).unwrap_or(u32::MAX)
}

/// Structured text cut into streamed pieces, one per completion token.
pub(crate) fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(CHARS_PER_TOKEN).map(|c| c.iter().collect()).collect()
}

/// The `message` of a non-streamed choice.
pub(crate) fn message(choice: &Choice) -> Value {
    match &choice.tool_call {
        Some(call) => json!({
            "role": "assistant",
            "content": null,
            "refusal": null,
            "tool_calls": [{
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }],
        }),
        None => json!({"role": "assistant", "content": choice.content, "refusal": null}),
    }
}

/// Whether the conversation's last message is a tool's result (then `auto` answers in text).
pub(crate) fn ends_with_tool(body: &Map<String, Value>) -> bool {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        == Some("tool")
}

/// `usage` over every choice.
pub(crate) fn usage(choices: &[Choice], prompt_tokens: u32) -> UsageBody {
    let completion_tokens = choices
        .iter()
        .fold(0u32, |sum, c| sum.saturating_add(c.completion_tokens));
    UsageBody {
        prompt_tokens,
        completion_tokens,
        total_tokens: u64::from(prompt_tokens) + u64::from(completion_tokens),
        prompt_tokens_details: PromptDetails { cached_tokens: 0 },
        completion_tokens_details: CompletionDetails { reasoning_tokens: 0 },
    }
}

/// The non-streamed answer.
pub(crate) fn completion_json(choices: &[Choice], prompt_tokens: u32, id: &str, created: u64, model: &str) -> String {
    let rendered: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(index, choice)| {
            json!({
                "index": index,
                "message": message(choice),
                "logprobs": null,
                "finish_reason": choice.finish_reason,
            })
        })
        .collect();
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": rendered,
        "usage": usage(choices, prompt_tokens),
    })
    .to_string()
}

/// One streamed choice object (what goes inside `"choices":[...]`), and whether it carries
/// content (a token) rather than a role or a finish.
pub(crate) type StreamEvent = (String, bool);

/// The streamed choices in order: each choice's role chunk, its pieces, its finish chunk.
pub(crate) fn stream_events(choices: &[Choice]) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    for (index, choice) in choices.iter().enumerate() {
        let event = |delta: Value, finish: Option<&str>| {
            json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}).to_string()
        };
        match &choice.tool_call {
            Some(call) => {
                events.push((event(json!({"role": "assistant", "content": null}), None), false));
                events.push((
                    event(
                        json!({"tool_calls": [{"index": 0, "id": call.id, "type": "function",
                                                "function": {"name": call.name, "arguments": ""}}]}),
                        None,
                    ),
                    false,
                ));
                for piece in pieces(&call.arguments) {
                    let delta = json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                    events.push((event(delta, None), true));
                }
            }
            None => {
                events.push((event(json!({"role": "assistant", "content": ""}), None), false));
                for piece in pieces(choice.content.as_deref().unwrap_or("")) {
                    events.push((event(json!({"content": piece}), None), true));
                }
            }
        }
        events.push((event(json!({}), Some(choice.finish_reason)), false));
    }
    events
}
