//! Parsing of one input line in either format.

use serde_json::{Map, Value};

use super::WorkItem;
use crate::json_map;
use crate::provider::ApiEndpoint;
use crate::record::Rejected;

/// Which of the two input formats a line used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// OpenAI Batch API request line.
    Batch,
    /// `{"id", "prompt" | "messages", ...}`.
    Short,
}

/// Parses one line (without caring about repeated ids, which the reader checks); a short line
/// is a chat request.
pub fn parse_line(bytes: &[u8], line: u64) -> Result<WorkItem, Rejected> {
    parse_line_for(bytes, line, ApiEndpoint::Chat)
}

/// Parses one line; a short line is a request to `short` (`--endpoint`).
pub fn parse_line_for(bytes: &[u8], line: u64, short: ApiEndpoint) -> Result<WorkItem, Rejected> {
    let reject = |id: Option<String>, reason: String| Rejected { id, line, reason };
    let text = std::str::from_utf8(bytes).map_err(|e| reject(None, format!("not valid UTF-8 ({e})")))?;
    // A byte-order mark (files saved by some Windows editors) is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let value: Value = serde_json::from_str(text.trim()).map_err(|e| reject(None, format!("not valid JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(reject(None, "not a JSON object".into()));
    };
    let is_batch =
        json_map::has(&object, "body") || json_map::has(&object, "custom_id") || json_map::has(&object, "url");
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
        let endpoint = match object.get("url") {
            None => ApiEndpoint::Chat,
            Some(url) => url.as_str().and_then(ApiEndpoint::from_batch_url).ok_or_else(|| {
                let known: Vec<&str> = ApiEndpoint::ALL.iter().map(|e| e.batch_url()).collect();
                fail(format!("batch line has url {url}; sheepdog sends {}", known.join(", ")))
            })?,
        };
        let body = match object.remove("body") {
            Some(Value::Object(body)) => body,
            Some(_) => return Err(fail("batch line's \"body\" is not a JSON object".into())),
            None => return Err(fail("batch line has no \"body\"".into())),
        };
        endpoint.check_body(&body).map_err(fail)?;
        return Ok(WorkItem {
            id,
            line,
            format: LineFormat::Batch,
            endpoint,
            body: body.into(),
            metadata: None,
        });
    }

    let id = take_id(&mut object, "id", line).map_err(|r| reject(None, r))?;
    let fail = |reason: String| reject(Some(id.clone()), reason);
    let metadata = json_map::remove(&mut object, "metadata");
    short_body(&mut object, short).map_err(fail)?;
    short.check_body(&object).map_err(fail)?;
    Ok(WorkItem {
        id,
        line,
        format: LineFormat::Short,
        endpoint: short,
        body: object.into(),
        metadata,
    })
}

/// Turns a short line's text field into what `endpoint` takes: `prompt` becomes a user message
/// for chat and `input` for embeddings, moderations and responses (which also take
/// `messages` as their input); completions keep `prompt`.
fn short_body(object: &mut Map<String, Value>, endpoint: ApiEndpoint) -> Result<(), String> {
    let given: Vec<&str> = ["prompt", "messages", "input"]
        .into_iter()
        .filter(|key| json_map::has(object, key))
        .collect();
    if given.len() > 1 {
        return Err(format!("has both \"{}\" and \"{}\"; give one", given[0], given[1]));
    }
    let other_endpoints = "give --endpoint (or [run] endpoint) for lines that are not chat";
    match (endpoint, given.first().copied()) {
        (_, None) if endpoint == ApiEndpoint::Chat => Err("has neither \"prompt\" nor \"messages\"".into()),
        (_, None) => Err(format!(
            "has no \"{}\" (nor \"prompt\") for {}",
            endpoint.input_field(),
            endpoint.batch_url()
        )),
        (ApiEndpoint::Chat, Some("prompt")) => match object.remove("prompt") {
            Some(Value::String(prompt)) => {
                let message = serde_json::json!({"role": "user", "content": prompt});
                object.insert("messages".into(), Value::Array(vec![message]));
                Ok(())
            }
            _ => Err("\"prompt\" is not a string".into()),
        },
        (ApiEndpoint::Chat, Some("input")) => Err(format!(
            "has \"input\", which chat requests do not take: {other_endpoints}"
        )),
        (ApiEndpoint::Completions, Some(field @ ("messages" | "input"))) => Err(format!(
            "has \"{field}\", but a /v1/completions request takes \"prompt\""
        )),
        (ApiEndpoint::Embeddings | ApiEndpoint::Moderations, Some("messages")) => Err(format!(
            "has \"messages\", but a {} request takes \"input\"",
            endpoint.batch_url()
        )),
        (
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations | ApiEndpoint::Responses,
            Some(field @ ("prompt" | "messages")),
        ) => {
            if let Some(text) = object.remove(field) {
                object.insert("input".into(), text);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Takes the id field out of the object; a missing id becomes `line-<n>`.
fn take_id(object: &mut Map<String, Value>, key: &str, line: u64) -> Result<String, String> {
    match json_map::remove(object, key) {
        None | Some(Value::Null) => Ok(format!("line-{line}")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("\"{key}\" must be a non-empty string, not {other}")),
    }
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
        assert!(bad(r#"{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"messages":[{"role":"user","content":"y"}]}}"#).contains("no \"input\""));
        assert!(
            bad(r#"{"custom_id":"a","method":"POST","url":"/v1/images/generations","body":{"prompt":"y"}}"#)
                .contains("url")
        );
        assert!(bad(r#"{"custom_id":"a","method":"GET","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"y"}]}}"#).contains("method"));
        assert!(bad(r#"{"custom_id":"a","body":{"prompt":"x"}}"#).contains("no \"messages\""));
        assert!(bad(r#"{"id":"a","messages":[{"content":"y"}]}"#).contains("role"));
        assert!(bad(r#"{"id":"a","prompt":"x","model":5}"#).contains("model"));
    }

    #[test]
    fn batch_lines_of_every_endpoint_keep_their_endpoint_and_body() {
        let lines = [
            (
                r#"{"custom_id":"c","method":"POST","url":"/v1/completions","body":{"model":"m","prompt":"hi"}}"#,
                ApiEndpoint::Completions,
            ),
            (
                r#"{"custom_id":"e","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":["a","b"]}}"#,
                ApiEndpoint::Embeddings,
            ),
            (
                r#"{"custom_id":"r","method":"POST","url":"/v1/responses","body":{"model":"m","input":"hi"}}"#,
                ApiEndpoint::Responses,
            ),
            (
                r#"{"custom_id":"m","method":"POST","url":"/v1/moderations","body":{"input":"hi"}}"#,
                ApiEndpoint::Moderations,
            ),
            (
                r#"{"custom_id":"x","method":"POST","url":"/chat/completions","body":{"messages":[{"role":"user","content":"y"}]}}"#,
                ApiEndpoint::Chat,
            ),
        ];
        for (line, endpoint) in lines {
            let item = ok(line);
            assert_eq!((item.endpoint, item.format), (endpoint, LineFormat::Batch), "{line}");
            assert!(item.body.contains_key(endpoint.input_field()), "{line}");
        }
    }

    fn short(line: &str, endpoint: ApiEndpoint) -> Result<WorkItem, String> {
        parse_line_for(line.as_bytes(), 3, endpoint).map_err(|r| r.reason)
    }

    #[test]
    fn short_lines_take_the_endpoint_given_and_its_text_field() {
        let item = short(
            r#"{"id":"a","input":["x","y"],"dimensions":8}"#,
            ApiEndpoint::Embeddings,
        )
        .unwrap();
        assert_eq!(item.endpoint, ApiEndpoint::Embeddings);
        assert_eq!(item.body["input"], serde_json::json!(["x", "y"]));
        assert_eq!(item.body["dimensions"], 8);
        let item = short(r#"{"id":"a","prompt":"x"}"#, ApiEndpoint::Moderations).unwrap();
        assert_eq!(item.body["input"], "x");
        assert!(!item.body.contains_key("prompt"));
        let item = short(r#"{"id":"a","prompt":"x"}"#, ApiEndpoint::Completions).unwrap();
        assert_eq!(item.body["prompt"], "x");
        let item = short(
            r#"{"id":"a","messages":[{"role":"user","content":"x"}]}"#,
            ApiEndpoint::Responses,
        )
        .unwrap();
        assert_eq!(item.body["input"][0]["content"], "x");

        let reason = short(r#"{"id":"a","input":"x"}"#, ApiEndpoint::Chat).unwrap_err();
        assert!(reason.contains("--endpoint"), "{reason}");
        let reason = short(
            r#"{"id":"a","messages":[{"role":"user","content":"x"}]}"#,
            ApiEndpoint::Embeddings,
        )
        .unwrap_err();
        assert!(reason.contains("takes \"input\""), "{reason}");
        let reason = short(r#"{"id":"a","input":"x","prompt":"y"}"#, ApiEndpoint::Embeddings).unwrap_err();
        assert!(reason.contains("both"), "{reason}");
        let reason = short(r#"{"id":"a","text":"x"}"#, ApiEndpoint::Embeddings).unwrap_err();
        assert!(reason.contains("no \"input\""), "{reason}");
    }

    #[test]
    fn invalid_utf8_is_rejected_not_panicking() {
        let reason = parse_line(b"{\"id\":\"\xff\xfe\",\"prompt\":\"p\"}", 3)
            .err()
            .map(|r| r.reason);
        assert!(reason.unwrap_or_default().contains("UTF-8"));
    }
}
