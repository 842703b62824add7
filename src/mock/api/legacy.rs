//! `POST /v1/completions` (legacy): `choices[].text`, one choice per prompt.

use serde_json::{json, Value};

use super::super::reply::Reply;

/// The `text_completion` object of one or more prompts' replies.
pub(super) fn completion(replies: &[Reply], id: &str, created: u64, model: &str) -> Value {
    let choices: Vec<Value> = replies
        .iter()
        .enumerate()
        .map(|(index, reply)| {
            json!({"text": reply.text(), "index": index, "logprobs": null, "finish_reason": reply.finish_reason})
        })
        .collect();
    let prompt_tokens: u64 = replies.iter().map(|r| u64::from(r.prompt_tokens)).sum();
    let completion_tokens: u64 = replies.iter().map(|r| u64::from(r.completion_tokens)).sum();
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}
