//! `POST /v1/responses`: a `response` object with one `message` output item, and its stream of
//! typed events (`response.created` ... `response.output_text.delta` ... `response.completed`).

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::super::faults::ApiError;
use super::super::reply::{Prompt, Reply};
use super::request;

/// The prompt of `input` (a string, or a list of message items) and `instructions`.
pub(super) fn prompt(body: &Map<String, Value>) -> Result<Prompt, ApiError> {
    let mut messages = Vec::new();
    if let Some(instructions) = super::string_field(body, "instructions")? {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match body.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) if !items.is_empty() => {
            if !items.iter().all(Value::is_object) {
                return Err(request::invalid_type("input", "a string or an array of input items"));
            }
            messages.extend(items.iter().cloned());
        }
        Some(Value::Array(_)) => {
            return Err(ApiError::invalid_request(
                "[] is too short - 'input'",
                Some("input"),
                "empty_array",
            ))
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid_request(
                "Missing required parameter: 'input'.",
                Some("input"),
                "missing_required_parameter",
            ))
        }
        Some(_) => return Err(request::invalid_type("input", "a string or an array")),
    }
    Ok(Prompt::of(&messages))
}

/// The id of the output message of response `id`.
fn message_id(id: &str) -> String {
    format!("msg_{}", id.trim_start_matches("resp_"))
}

/// The `response` object. `status` is `completed` (or `incomplete` when the reply was cut by
/// `max_output_tokens`), or `in_progress` for the first stream events (no output, no usage).
pub(crate) fn object(id: &str, created: u64, model: &str, reply: &Reply, status: &str) -> Value {
    let done = status != "in_progress";
    let cut = done && reply.finish_reason == "length";
    let status = if cut { "incomplete" } else { status };
    let output = if done {
        json!([{
            "type": "message",
            "id": message_id(id),
            "status": status,
            "role": "assistant",
            "content": [{"type": "output_text", "text": reply.text(), "annotations": [], "logprobs": []}],
        }])
    } else {
        json!([])
    };
    let usage = done.then(|| {
        json!({
            "input_tokens": reply.prompt_tokens,
            // The official SDK's `ResponseUsage` requires `cache_write_tokens`.
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": reply.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u64::from(reply.prompt_tokens) + u64::from(reply.completion_tokens),
        })
    });
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": if cut { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": {},
    })
}

/// What the stream of one response needs to render its events.
pub(crate) struct Events {
    id: String,
    message_id: String,
    created: u64,
    model: String,
    reply: Reply,
    sequence: u64,
}

impl Events {
    pub fn new(id: &str, created: u64, model: &str, reply: Reply) -> Events {
        Events {
            id: id.to_string(),
            message_id: message_id(id),
            created,
            model: model.to_string(),
            reply,
            sequence: 0,
        }
    }

    /// Appends one event: `event: <type>` and its data with `type` and `sequence_number`.
    fn push(&mut self, out: &mut String, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        let _ = write!(out, "event: {kind}\ndata: {data}\n\n");
    }

    fn part(&self, text: &str) -> Value {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    }

    /// `response.created`, `response.in_progress`, the output item and its content part.
    pub fn opening(&mut self, out: &mut String) {
        let response = object(&self.id, self.created, &self.model, &self.reply, "in_progress");
        self.push(out, "response.created", json!({ "response": response }));
        self.push(out, "response.in_progress", json!({ "response": response }));
        let item = json!({"type": "message", "id": self.message_id, "status": "in_progress",
                          "role": "assistant", "content": []});
        self.push(
            out,
            "response.output_item.added",
            json!({"output_index": 0, "item": item}),
        );
        let part = self.part("");
        let data = json!({"item_id": self.message_id, "output_index": 0, "content_index": 0, "part": part});
        self.push(out, "response.content_part.added", data);
    }

    /// One `response.output_text.delta`.
    pub fn delta(&mut self, out: &mut String, delta: &str) {
        let data = json!({"item_id": self.message_id, "output_index": 0, "content_index": 0,
                          "delta": delta, "logprobs": []});
        self.push(out, "response.output_text.delta", data);
    }

    /// The text, content part and output item done.
    pub fn closing(&mut self, out: &mut String) {
        let text = self.reply.text();
        let data = json!({"item_id": self.message_id, "output_index": 0, "content_index": 0,
                          "text": text, "logprobs": []});
        self.push(out, "response.output_text.done", data);
        let part = self.part(&text);
        let data = json!({"item_id": self.message_id, "output_index": 0, "content_index": 0, "part": part});
        self.push(out, "response.content_part.done", data);
        let done = object(&self.id, self.created, &self.model, &self.reply, "completed");
        let item = done["output"][0].clone();
        self.push(
            out,
            "response.output_item.done",
            json!({"output_index": 0, "item": item}),
        );
    }

    /// `response.completed` (or `response.incomplete`) with the whole response and its usage.
    pub fn completed(&mut self, out: &mut String) {
        let response = object(&self.id, self.created, &self.model, &self.reply, "completed");
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.push(out, kind, json!({ "response": response }));
    }

    /// The `error` event of an injected stream fault.
    pub fn error(&mut self, out: &mut String) {
        let data = json!({"code": "server_error", "param": null,
            "message": "The server had an error while processing your request. Sorry about that! (Injected by the sheepdog mock server.)"});
        self.push(out, "error", data);
    }
}
