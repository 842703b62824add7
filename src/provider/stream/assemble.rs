//! Puts the chunks of a streamed answer back together into the `chat.completion` (or, for
//! the legacy `/v1/completions`, `text_completion`) object the same request would have got
//! without streaming, and notes when tokens arrived.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::chunk::ChunkView;
use super::repeat::{Into, Repeat};

/// Top-level fields copied from the chunks into the completion, when the server sent them.
const KEPT_FIELDS: &[&str] = &["id", "created", "model", "service_tier", "system_fingerprint"];

/// One choice as it is being assembled.
#[derive(Debug, Default)]
struct Choice {
    role: Option<String>,
    content: String,
    /// `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter).
    reasoning: String,
    refusal: Option<String>,
    tool_calls: BTreeMap<u64, ToolCall>,
    finish_reason: Option<Value>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<Value>,
    kind: Option<Value>,
    name: String,
    arguments: String,
}

/// The state of one streamed answer.
#[derive(Debug, Default)]
pub struct Assembler {
    /// The [`KEPT_FIELDS`], by position: the first value each one was sent with.
    fields: [Option<Value>; KEPT_FIELDS.len()],
    choices: BTreeMap<u64, Choice>,
    usage: Option<Value>,
    first_token: Option<Duration>,
    last_token: Option<Duration>,
    content_chunks: u32,
    /// The chunks are `text_completion`s (legacy completions: `choices[].text`).
    legacy: bool,
    /// The last plain token chunk read in full, which the next ones are checked against.
    repeat: Option<Repeat>,
}

/// What [`Assembler::push_data`] made of one chunk's text.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// A chunk, taken; whether it carried tokens.
    Tokens(bool),
    /// A chunk carrying a server error instead of an answer.
    Error,
    /// Text that does not fit [`ChunkView`]: read it as a `Value` and [`Assembler::push`] it.
    Odd,
}

impl Assembler {
    pub fn new() -> Self {
        Assembler::default()
    }

    /// Takes one `chat.completion.chunk` that arrived `at` after the request was sent.
    /// Returns whether it carried tokens (content, reasoning, refusal or tool-call text); a
    /// role-only chunk with empty content does not.
    pub fn push(&mut self, chunk: &Value, at: Duration) -> bool {
        for (slot, &name) in self.fields.iter_mut().zip(KEPT_FIELDS) {
            if slot.is_none() {
                *slot = chunk.get(name).filter(|v| !v.is_null()).cloned();
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        self.legacy |= chunk.get("object").and_then(Value::as_str) == Some("text_completion");
        let mut tokens = false;
        for choice in chunk.get("choices").and_then(Value::as_array).into_iter().flatten() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let slot = self.choices.entry(index).or_default();
            if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
                slot.finish_reason = Some(reason.clone());
            }
            // A legacy completion chunk carries its text in the choice itself.
            if choice.get("text").is_some() {
                self.legacy = true;
                tokens |= append(&mut slot.content, choice.get("text"));
            }
            let Some(delta) = choice.get("delta") else { continue };
            if let Some(role) = delta.get("role").and_then(Value::as_str) {
                slot.role = Some(role.to_string());
            }
            tokens |= append(&mut slot.content, delta.get("content"));
            tokens |= append(&mut slot.reasoning, delta.get("reasoning_content"));
            tokens |= append(&mut slot.reasoning, delta.get("reasoning"));
            if let Some(refusal) = delta.get("refusal").and_then(Value::as_str) {
                tokens |= !refusal.is_empty();
                slot.refusal.get_or_insert_with(String::new).push_str(refusal);
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                let number = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                let entry = slot.tool_calls.entry(number).or_default();
                if let Some(id) = call.get("id").filter(|v| !v.is_null()) {
                    entry.id = Some(id.clone());
                }
                if let Some(kind) = call.get("type").filter(|v| !v.is_null()) {
                    entry.kind = Some(kind.clone());
                }
                let function = call.get("function");
                tokens |= append(&mut entry.name, function.and_then(|f| f.get("name")));
                tokens |= append(&mut entry.arguments, function.and_then(|f| f.get("arguments")));
            }
        }
        self.note_tokens(tokens, at);
        tokens
    }

    /// Takes one chunk's JSON text. A token chunk with the same bytes as the last one read in
    /// full but for its token takes two compares (see [`Repeat`]); any other is read in place.
    pub fn push_data(&mut self, data: &str, at: Duration) -> Pushed {
        if let Some(repeat) = &self.repeat {
            if let Some(token) = repeat.token(data) {
                let slot = self.choices.entry(repeat.choice).or_default();
                let to = match repeat.into {
                    Into::Content => &mut slot.content,
                    Into::Reasoning => &mut slot.reasoning,
                };
                let tokens = append_str(to, Some(token));
                self.note_tokens(tokens, at);
                return Pushed::Tokens(tokens);
            }
        }
        let Some(chunk) = ChunkView::parse(data) else {
            return Pushed::Odd;
        };
        if chunk.is_error() {
            return Pushed::Error;
        }
        let tokens = self.push_view(&chunk, at);
        // A chunk that makes no pattern leaves the last one: it still means what it meant.
        if let Some(repeat) = Repeat::of(data, &chunk) {
            self.repeat = Some(repeat);
        }
        Pushed::Tokens(tokens)
    }

    /// Takes one chunk read in place (see [`ChunkView`]); the same as [`Assembler::push`] of
    /// the chunk as a `Value`, without building one.
    pub fn push_view(&mut self, chunk: &ChunkView<'_>, at: Duration) -> bool {
        // Once each field is known this is five checks, not five map lookups per chunk.
        for (slot, &name) in self.fields.iter_mut().zip(KEPT_FIELDS) {
            if slot.is_none() {
                *slot = chunk.field(name);
            }
        }
        if let Some(usage) = chunk.usage.as_ref().filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        self.legacy |= chunk.object.as_deref() == Some("text_completion");
        let mut tokens = false;
        for choice in chunk.choices.iter().flatten() {
            let slot = self.choices.entry(choice.index.unwrap_or(0)).or_default();
            if let Some(reason) = &choice.finish_reason {
                slot.finish_reason = Some(reason.clone());
            }
            if let Some(text) = &choice.text {
                self.legacy = true;
                tokens |= append_str(&mut slot.content, text.as_deref());
            }
            let Some(delta) = &choice.delta else { continue };
            if let Some(role) = &delta.role {
                slot.role = Some(role.to_string());
            }
            tokens |= append_str(&mut slot.content, delta.content.as_deref());
            tokens |= append_str(&mut slot.reasoning, delta.reasoning_content.as_deref());
            tokens |= append_str(&mut slot.reasoning, delta.reasoning.as_deref());
            if let Some(refusal) = &delta.refusal {
                tokens |= !refusal.is_empty();
                slot.refusal.get_or_insert_with(String::new).push_str(refusal);
            }
            for call in delta.tool_calls.iter().flatten() {
                let entry = slot.tool_calls.entry(call.index.unwrap_or(0)).or_default();
                if let Some(id) = &call.id {
                    entry.id = Some(id.clone());
                }
                if let Some(kind) = &call.kind {
                    entry.kind = Some(kind.clone());
                }
                let function = call.function.as_ref();
                tokens |= append_str(&mut entry.name, function.and_then(|f| f.name.as_deref()));
                tokens |= append_str(&mut entry.arguments, function.and_then(|f| f.arguments.as_deref()));
            }
        }
        self.note_tokens(tokens, at);
        tokens
    }

    /// Counts a chunk that carried tokens, `at` after the request was sent.
    fn note_tokens(&mut self, tokens: bool, at: Duration) {
        if tokens {
            self.content_chunks += 1;
            self.first_token.get_or_insert(at);
            self.last_token = Some(at);
        }
    }

    /// Whether any choice said why it stopped.
    pub fn finished(&self) -> bool {
        self.choices.values().any(|c| c.finish_reason.is_some())
    }

    /// The `usage` object the server sent (with `stream_options.include_usage`), if any.
    pub fn usage(&self) -> Option<&Value> {
        self.usage.as_ref()
    }

    /// When the first and the last token-carrying chunk arrived.
    pub fn token_times(&self) -> Option<(Duration, Duration)> {
        Some((self.first_token?, self.last_token?))
    }

    pub fn content_chunks(&self) -> u32 {
        self.content_chunks
    }

    /// All generated text (content, reasoning, refusals, tool calls), for counting tokens when
    /// the server reported none.
    pub fn generated_text(&self) -> String {
        let mut text = String::new();
        for choice in self.choices.values() {
            text.push_str(&choice.reasoning);
            text.push_str(&choice.content);
            text.push_str(choice.refusal.as_deref().unwrap_or(""));
            for call in choice.tool_calls.values() {
                text.push_str(&call.name);
                text.push_str(&call.arguments);
            }
        }
        text
    }

    /// The answer as a non-streamed `chat.completion` body. `usage` is the server's, or null
    /// when it sent none.
    pub fn completion(&self) -> Value {
        // The order of a non-streamed answer: id, object, created, model, ...
        let mut body = Map::new();
        let object = if self.legacy {
            "text_completion"
        } else {
            "chat.completion"
        };
        for name in ["id", "object", "created", "model", "system_fingerprint", "service_tier"] {
            let value = match name {
                "object" => Some(json!(object)),
                _ => KEPT_FIELDS
                    .iter()
                    .position(|&kept| kept == name)
                    .and_then(|at| self.fields[at].clone()),
            };
            if let Some(value) = value {
                body.insert(name.to_string(), value);
            }
        }
        let choices: Vec<Value> = if self.legacy {
            self.choices
                .iter()
                .map(|(&index, c)| {
                    json!({"text": c.content, "index": index, "logprobs": null,
                           "finish_reason": c.finish_reason.clone().unwrap_or(Value::Null)})
                })
                .collect()
        } else {
            self.choices.iter().map(|(&index, c)| choice_json(index, c)).collect()
        };
        body.insert("choices".into(), Value::Array(choices));
        body.insert("usage".into(), self.usage.clone().unwrap_or(Value::Null));
        Value::Object(body)
    }
}

/// Appends a string delta; says whether it was non-empty.
fn append(to: &mut String, value: Option<&Value>) -> bool {
    append_str(to, value.and_then(Value::as_str))
}

/// Appends a string delta; says whether it was non-empty.
fn append_str(to: &mut String, text: Option<&str>) -> bool {
    match text {
        Some(text) if !text.is_empty() => {
            to.push_str(text);
            true
        }
        _ => false,
    }
}

fn choice_json(index: u64, c: &Choice) -> Value {
    let mut message = Map::new();
    message.insert("role".into(), json!(c.role.as_deref().unwrap_or("assistant")));
    let content = if c.content.is_empty() && (!c.tool_calls.is_empty() || c.refusal.is_some()) {
        Value::Null
    } else {
        json!(c.content)
    };
    message.insert("content".into(), content);
    if !c.reasoning.is_empty() {
        message.insert("reasoning_content".into(), json!(c.reasoning));
    }
    if let Some(refusal) = &c.refusal {
        message.insert("refusal".into(), json!(refusal));
    }
    if !c.tool_calls.is_empty() {
        let calls: Vec<Value> = c
            .tool_calls
            .values()
            .map(|t| {
                json!({
                    "id": t.id.clone().unwrap_or(Value::Null),
                    "type": t.kind.clone().unwrap_or_else(|| json!("function")),
                    "function": {"name": t.name, "arguments": t.arguments},
                })
            })
            .collect();
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({
        "index": index,
        "message": message,
        "logprobs": null,
        "finish_reason": c.finish_reason.clone().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
