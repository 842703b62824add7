//! `bench --input` of a ShareGPT-style file: a JSON array of conversations, or one per line
//! (JSONL), each `{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}`
//! (also `role`/`content` turns, and `messages` instead of `conversations` in a JSON array).
//! The first human turn is the prompt; the answer after it, counted with the model's
//! tokenizer, is its `max_tokens`, so the bench asks for answers as long as real ones.
//!
//! A file that is not JSON, or a conversation that is not shaped like one, is refused (exit 2)
//! naming the file and the line (or, in a JSON array, the record). Conversations without a
//! human turn followed by an answer are skipped, as load testers do with ShareGPT's dataset.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::input::{LineFormat, WorkItem};
use crate::job::JobError;
use crate::tokens::{count_text, encoding_for_model, Encoding};

/// The conversations of a ShareGPT file that make a request, and how many were skipped.
pub(crate) struct Loaded {
    pub items: Vec<WorkItem>,
    pub skipped: u64,
}

/// Whether `path` holds ShareGPT conversations: a JSON array, or JSONL whose first line has
/// `conversations` (other JSONL is the input format of `run`).
pub(crate) fn detect(path: &Path) -> Result<bool, JobError> {
    let file = std::fs::File::open(path).map_err(|e| setup(path, &format!("cannot read: {e}")))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| setup(path, &format!("cannot read: {e}")))?;
        let trimmed = line.trim_start_matches('\u{feff}').trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('[') {
            return Ok(true);
        }
        let first: Option<Value> = serde_json::from_str(trimmed).ok();
        return Ok(first.is_some_and(|v| v.get("conversations").is_some()));
    }
    Ok(false)
}

/// Reads every conversation of the file; `model` picks the tokenizer of the answers.
pub(crate) fn load(path: &Path, model: &str) -> Result<Loaded, JobError> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| setup(path, &format!("cannot read: {e}")))?;
    let encoding = encoding_for_model(model).0;
    let mut loaded = Loaded {
        items: Vec::new(),
        skipped: 0,
    };
    let text = text.trim_start_matches('\u{feff}');
    if text.trim_start().starts_with('[') {
        let records: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            setup(
                path,
                &format!("line {}: not a JSON array of conversations: {e}", e.line()),
            )
        })?;
        for (i, record) in records.iter().enumerate() {
            let n = i as u64 + 1;
            let item = request(record, n, encoding, true).map_err(|m| setup(path, &format!("record {n}: {m}")))?;
            push(&mut loaded, item);
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let record: Value =
                serde_json::from_str(line).map_err(|e| setup(path, &format!("line {n}: not valid JSON: {e}")))?;
            let item = request(&record, n, encoding, false).map_err(|m| setup(path, &format!("line {n}: {m}")))?;
            push(&mut loaded, item);
        }
    }
    if loaded.items.is_empty() {
        return Err(setup(
            path,
            &format!(
                "no conversation with a human turn followed by an answer ({} skipped)",
                loaded.skipped
            ),
        ));
    }
    Ok(loaded)
}

fn push(loaded: &mut Loaded, item: Option<WorkItem>) {
    match item {
        Some(item) => loaded.items.push(item),
        None => loaded.skipped += 1,
    }
}

fn setup(path: &Path, message: &str) -> JobError {
    JobError::Bench(format!("{}: {message}", path.display()))
}

/// The request of one conversation (`None`: no human turn with an answer after it); `Err`
/// when it is not shaped like a conversation.
fn request(record: &Value, n: u64, encoding: Encoding, array: bool) -> Result<Option<WorkItem>, String> {
    let Value::Object(record) = record else {
        return Err("expected an object with \"conversations\"".into());
    };
    let turns = match (record.get("conversations"), record.get("messages")) {
        (Some(Value::Array(turns)), _) => turns,
        (None, Some(Value::Array(turns))) if array => turns,
        (Some(_), _) => return Err("\"conversations\" must be an array of turns".into()),
        _ => return Err("has no \"conversations\" array".into()),
    };
    let mut parsed = Vec::with_capacity(turns.len());
    for (t, turn) in turns.iter().enumerate() {
        parsed.push(turn_of(turn).map_err(|m| format!("turn {}: {m}", t + 1))?);
    }
    let Some(human) = parsed
        .iter()
        .position(|(role, text)| *role == Role::Human && !text.trim().is_empty())
    else {
        return Ok(None);
    };
    // The reference answer: the next human or answer turn must be an answer.
    let Some((Role::Answer, answer)) = parsed[human + 1..].iter().find(|(role, _)| *role != Role::Other) else {
        return Ok(None);
    };
    let max_tokens = count_text(encoding, answer).max(1);
    let mut body = Map::new();
    body.insert("messages".into(), json!([{"role": "user", "content": parsed[human].1}]));
    body.insert("max_tokens".into(), json!(max_tokens));
    let id = match record.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => format!("sharegpt-{n}"),
    };
    Ok(Some(WorkItem {
        id,
        line: n,
        format: LineFormat::Short,
        endpoint: crate::provider::ApiEndpoint::Chat,
        body: body.into(),
        metadata: None,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Human,
    Answer,
    /// System prompts and anything else: not the prompt, not the answer.
    Other,
}

/// A turn's role and text: `{"from", "value"}` or `{"role", "content"}`.
fn turn_of(turn: &Value) -> Result<(Role, String), String> {
    let Value::Object(turn) = turn else {
        return Err("expected an object with \"from\" and \"value\" (or \"role\" and \"content\")".into());
    };
    let who = match (turn.get("from"), turn.get("role")) {
        (Some(Value::String(who)), _) | (None, Some(Value::String(who))) => who.to_ascii_lowercase(),
        _ => return Err("has no \"from\" (or \"role\") string".into()),
    };
    let text = match (turn.get("value"), turn.get("content")) {
        (Some(Value::String(text)), _) | (None, Some(Value::String(text))) => text.clone(),
        (None, Some(Value::Array(parts))) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return Err("has no \"value\" (or \"content\") text".into()),
    };
    let role = match who.as_str() {
        "human" | "user" => Role::Human,
        "gpt" | "assistant" | "chatgpt" | "bard" | "bing" | "model" => Role::Answer,
        _ => Role::Other,
    };
    Ok((role, text))
}

#[cfg(test)]
mod tests;
