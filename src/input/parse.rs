//! Parsing of one input line in either format.

use serde_json::{Map, Value};

use super::WorkItem;
use crate::record::Rejected;

/// Which of the two input formats a line used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// OpenAI Batch API request line.
    Batch,
    /// `{"id", "prompt" | "messages", ...}`.
    Short,
}

const CHAT_PATHS: [&str; 2] = ["/v1/chat/completions", "/chat/completions"];

/// Parses one line (without caring about repeated ids, which the reader checks).
pub fn parse_line(bytes: &[u8], line: u64) -> Result<WorkItem, Rejected> {
    let reject = |id: Option<String>, reason: String| Rejected { id, line, reason };
    let text = std::str::from_utf8(bytes).map_err(|e| reject(None, format!("not valid UTF-8 ({e})")))?;
    // A byte-order mark (files saved by some Windows editors) is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value = serde_json::from_str(text.trim()).map_err(|e| reject(None, format!("not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(reject(None, "not a JSON object".into()));
    };
    let is_batch = object.contains_key("body") || object.contains_key("custom_id") || object.contains_key("url");
    if is_batch {
        let id = take_id(&mut object, "custom_id", line).map_err(|r| reject(None, r))?;
        let fail = |reason: String| reject(Some(id.clone()), reason);
        if let Some(method) = object.get("method") {
            if method.as_str().map(|m| !m.eq_ignore_ascii_case("POST")).unwrap_or(true) {
                return Err(fail(format!(
                    "batch line has method {method}; only \"POST\" is supported"
                )));
            }
        }
        if let Some(url) = object.get("url") {
            if !url.as_str().map(|u| CHAT_PATHS.contains(&u)).unwrap_or(false) {
                return Err(fail(format!(
                    "batch line has url {url}; only \"/v1/chat/completions\" is supported"
                )));
            }
        }
        let body = match object.remove("body") {
            Some(Value::Object(body)) => body,
            Some(_) => return Err(fail("batch line's \"body\" is not a JSON object".into())),
            None => return Err(fail("batch line has no \"body\"".into())),
        };
        check_messages(&body).map_err(fail)?;
        return Ok(WorkItem {
            id,
            line,
            format: LineFormat::Batch,
            body,
            metadata: None,
        });
    }

    let id = take_id(&mut object, "id", line).map_err(|r| reject(None, r))?;
    let fail = |reason: String| reject(Some(id.clone()), reason);
    let metadata = object.remove("metadata");
    match object.remove("prompt") {
        Some(_) if object.contains_key("messages") => {
            return Err(fail("has both \"prompt\" and \"messages\"; give one".into()));
        }
        Some(Value::String(prompt)) => {
            let message = serde_json::json!({"role": "user", "content": prompt});
            object.insert("messages".into(), Value::Array(vec![message]));
        }
        Some(_) => return Err(fail("\"prompt\" is not a string".into())),
        None => {}
    }
    if !object.contains_key("messages") {
        return Err(fail("has neither \"prompt\" nor \"messages\"".into()));
    }
    check_messages(&object).map_err(fail)?;
    Ok(WorkItem {
        id,
        line,
        format: LineFormat::Short,
        body: object,
        metadata,
    })
}

/// Takes the id field out of the object; a missing id becomes `line-<n>`.
fn take_id(object: &mut Map<String, Value>, key: &str, line: u64) -> Result<String, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(format!("line-{line}")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("\"{key}\" must be a non-empty string, not {other}")),
    }
}

fn check_messages(body: &Map<String, Value>) -> Result<(), String> {
    let messages = match body.get("messages") {
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
        if !object.get("role").map(Value::is_string).unwrap_or(false) {
            return Err(format!("messages[{i}] has no \"role\""));
        }
    }
    if let Some(model) = body.get("model") {
        if !model.is_string() {
            return Err("\"model\" is not a string".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> WorkItem {
        match parse_line(line.as_bytes(), 7) {
            Ok(item) => item,
            Err(r) => panic!("rejected: {}", r.reason),
        }
    }

    fn bad(line: &str) -> String {
        match parse_line(line.as_bytes(), 7) {
            Ok(item) => panic!("accepted: {item:?}"),
            Err(r) => {
                assert_eq!(r.line, 7);
                r.reason
            }
        }
    }

    #[test]
    fn batch_line_keeps_body_and_custom_id() {
        let item = ok(
            r#"{"custom_id":"a1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"max_tokens":5}}"#,
        );
        assert_eq!(item.id, "a1");
        assert_eq!(item.format, LineFormat::Batch);
        assert_eq!(item.model(), Some("gpt-4.1"));
        assert_eq!(item.body["max_tokens"], 5);
    }

    #[test]
    fn short_prompt_becomes_a_user_message_and_metadata_is_kept_apart() {
        let item = ok(r#"{"id":"x","prompt":"hello","temperature":0.2,"metadata":{"k":1}}"#);
        assert_eq!(item.format, LineFormat::Short);
        assert_eq!(item.body["messages"][0]["content"], "hello");
        assert_eq!(item.body["messages"][0]["role"], "user");
        assert_eq!(item.body["temperature"], 0.2);
        assert!(!item.body.contains_key("metadata"));
        assert!(!item.body.contains_key("id"));
        assert_eq!(item.metadata, Some(serde_json::json!({"k": 1})));
    }

    #[test]
    fn missing_id_becomes_line_number_and_numeric_id_is_text() {
        assert_eq!(ok(r#"{"prompt":"p"}"#).id, "line-7");
        assert_eq!(ok(r#"{"id":42,"prompt":"p"}"#).id, "42");
    }

    #[test]
    fn bad_lines_say_why() {
        assert!(bad("{not json").contains("not valid JSON"));
        assert!(bad("[1,2]").contains("not a JSON object"));
        assert!(bad(r#"{"id":"a"}"#).contains("neither \"prompt\" nor \"messages\""));
        assert!(bad(r#"{"id":"a","messages":[]}"#).contains("empty"));
        assert!(bad(r#"{"id":"a","prompt":"x","messages":[{"role":"user","content":"y"}]}"#).contains("both"));
        assert!(bad(r#"{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"messages":[{"role":"user","content":"y"}]}}"#).contains("url"));
        assert!(bad(r#"{"custom_id":"a","method":"GET","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"y"}]}}"#).contains("method"));
        assert!(bad(r#"{"custom_id":"a","body":{"prompt":"x"}}"#).contains("no \"messages\""));
        assert!(bad(r#"{"id":"a","messages":[{"content":"y"}]}"#).contains("role"));
        assert!(bad(r#"{"id":"a","prompt":"x","model":5}"#).contains("model"));
    }

    #[test]
    fn invalid_utf8_is_rejected_not_panicking() {
        let reason = parse_line(b"{\"id\":\"\xff\xfe\",\"prompt\":\"p\"}", 3)
            .err()
            .map(|r| r.reason);
        assert!(reason.unwrap_or_default().contains("UTF-8"));
    }
}
