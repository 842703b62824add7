//! A request body as it goes on the wire: the work item's fields as they are, with the target's
//! model and, for a streamed request, `stream: true` and `stream_options.include_usage: true`.
//!
//! The body is written straight from the item's map into one buffer sized for it, so a prompt
//! is copied once per target (into the bytes sent), not cloned into a new map and then
//! serialized; the bytes are shared by every attempt at that target. Keys keep the line's order;
//! a key the line lacks is added at the end (`model`, then `stream`, then `stream_options`).
//! The bytes are those `serde_json` writes, but a string with nothing to escape is copied whole
//! rather than looked at byte by byte.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::ApiEndpoint;
use crate::json_text::write_str;

/// What a streamed request adds to its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFields {
    /// Not streamed: the line's own `stream` and `stream_options` go as they are.
    None,
    /// `stream: true` (Responses, which sends its usage in the last event anyway).
    Stream,
    /// `stream: true` and `stream_options.include_usage: true` (chat and completions).
    StreamWithUsage,
}

impl StreamFields {
    /// What a request to `api` adds when it is streamed.
    pub fn of(api: ApiEndpoint, streamed: bool) -> StreamFields {
        match api {
            _ if !streamed => StreamFields::None,
            ApiEndpoint::Chat | ApiEndpoint::Completions => StreamFields::StreamWithUsage,
            ApiEndpoint::Responses => StreamFields::Stream,
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations => StreamFields::None,
        }
    }
}

/// The serialized request body of `body` sent with `model`.
pub fn encode(body: &Map<String, Value>, model: &str, stream: StreamFields) -> serde_json::Result<Bytes> {
    let mut out = super::buffers::take(size_hint(body) + model.len() + 96);
    let streamed = stream != StreamFields::None;
    let usage = stream == StreamFields::StreamWithUsage;
    let mut fields = Fields::open(&mut out);
    // Noted on the way: a lookup by key hashes it (SipHash), twice per request.
    let (mut has_model, mut has_stream) = (false, false);
    for (key, value) in body {
        let out = fields.key(key)?;
        match key.as_str() {
            "model" => {
                has_model = true;
                write_str(out, model)?
            }
            "stream" => {
                has_stream = true;
                match streamed {
                    true => out.extend_from_slice(b"true"),
                    false => write_value(out, value)?,
                }
            }
            "stream_options" if usage => with_usage(out, value)?,
            _ => write_value(out, value)?,
        }
    }
    if !has_model {
        write_str(fields.key("model")?, model)?;
    }
    if streamed && !has_stream {
        fields.key("stream")?.extend_from_slice(b"true");
    }
    if usage && !body.contains_key("stream_options") {
        with_usage(fields.key("stream_options")?, &Value::Null)?;
    }
    fields.close();
    Ok(super::buffers::freeze(out))
}

/// An object being written: `{`, then `"key":` before each value, then `}`.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Fields<'a> {
    fn open(out: &'a mut Vec<u8>) -> Fields<'a> {
        out.push(b'{');
        Fields { out, first: true }
    }

    /// Writes the key (and the comma before it); the value goes into the buffer returned.
    fn key(&mut self, key: &str) -> serde_json::Result<&mut Vec<u8>> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        write_str(self.out, key)?;
        self.out.push(b':');
        Ok(self.out)
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// `stream_options` with `include_usage: true`; the line's other options are kept (an option
/// that is not an object is replaced).
fn with_usage(out: &mut Vec<u8>, options: &Value) -> serde_json::Result<()> {
    let options = options.as_object();
    let mut fields = Fields::open(out);
    for (key, value) in options.into_iter().flatten() {
        let out = fields.key(key)?;
        if key == "include_usage" {
            out.extend_from_slice(b"true");
        } else {
            write_value(out, value)?;
        }
    }
    if !options.is_some_and(|o| o.contains_key("include_usage")) {
        fields.key("include_usage")?.extend_from_slice(b"true");
    }
    fields.close();
    Ok(())
}

/// Writes `value` as compact JSON, the very bytes `serde_json` writes. A string with nothing to
/// escape (a prompt, usually) is copied whole: `serde_json` looks at every byte on its own as
/// it writes, which was the largest cost of sending a long prompt.
fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::String(text) => write_str(out, text)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            let mut object = Fields::open(out);
            for (key, item) in fields {
                write_value(object.key(key)?, item)?;
            }
            object.close();
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => serde_json::to_writer(&mut *out, value)?,
    }
    Ok(())
}

/// About the serialized size of `body` (its strings, keys and a few bytes per value), so the
/// buffer is allocated once instead of doubling through a long prompt.
fn size_hint(body: &Map<String, Value>) -> usize {
    fn value(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len() + 2,
            Value::Array(items) => items.iter().map(value).sum::<usize>() + items.len() + 2,
            Value::Object(fields) => object(fields),
            _ => 8,
        }
    }
    fn object(fields: &Map<String, Value>) -> usize {
        fields.iter().map(|(k, v)| k.len() + 4 + value(v)).sum::<usize>() + 2
    }
    object(body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What the dispatcher sent before bodies were written from the item: a copy of the map,
    /// the model set, the stream fields inserted, then serialized.
    fn copied(body: &Value, model: &str, stream: StreamFields) -> Vec<u8> {
        let mut body = body.as_object().cloned().unwrap_or_default();
        body.insert("model".into(), model.into());
        if stream != StreamFields::None {
            body.insert("stream".into(), Value::Bool(true));
        }
        if stream == StreamFields::StreamWithUsage {
            match body.get_mut("stream_options") {
                Some(Value::Object(options)) => {
                    options.insert("include_usage".into(), Value::Bool(true));
                }
                _ => {
                    body.insert("stream_options".into(), json!({"include_usage": true}));
                }
            }
        }
        serde_json::to_vec(&body).unwrap()
    }

    #[test]
    fn bytes_are_those_of_the_copied_and_edited_map() {
        let bodies = [
            json!({"messages": [{"role": "user", "content": "hi \"there\"\n"}], "max_tokens": 5}),
            json!({"model": "line-model", "messages": [], "temperature": 0.25}),
            json!({"stream": false, "model": "m", "stream_options": {"other": 1}, "n": 2}),
            json!({"stream_options": {"include_usage": false, "x": [1, 2]}, "prompt": "p"}),
            json!({"stream_options": "odd", "input": ["a", "b"], "stream": "yes"}),
            json!({}),
        ];
        let kinds = [StreamFields::None, StreamFields::Stream, StreamFields::StreamWithUsage];
        for body in &bodies {
            for stream in kinds {
                let map = body.as_object().unwrap();
                let bytes = encode(map, "gpt-4.1-mini", stream).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&bytes),
                    String::from_utf8_lossy(&copied(body, "gpt-4.1-mini", stream)),
                    "{body} {stream:?}"
                );
            }
        }
    }

    #[test]
    fn a_streamed_chat_body_asks_for_usage_and_keeps_other_options() {
        let body = json!({"stream": false, "stream_options": {"other": 1}, "messages": []});
        let bytes = encode(
            body.as_object().unwrap(),
            "m",
            StreamFields::of(ApiEndpoint::Chat, true),
        )
        .unwrap();
        let sent: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(sent["stream"], true);
        assert_eq!(sent["model"], "m");
        assert_eq!(sent["stream_options"], json!({"other": 1, "include_usage": true}));
    }

    #[test]
    fn only_generating_endpoints_stream() {
        assert_eq!(StreamFields::of(ApiEndpoint::Chat, false), StreamFields::None);
        assert_eq!(
            StreamFields::of(ApiEndpoint::Completions, true),
            StreamFields::StreamWithUsage
        );
        assert_eq!(StreamFields::of(ApiEndpoint::Responses, true), StreamFields::Stream);
        assert_eq!(StreamFields::of(ApiEndpoint::Embeddings, true), StreamFields::None);
        assert_eq!(StreamFields::of(ApiEndpoint::Moderations, true), StreamFields::None);
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let values = [
            json!(null),
            json!([true, false, 0, -1, 1.5, 1e300, u64::MAX, i64::MIN, 0.1]),
            json!("plain text"),
            json!("quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} del \u{7f}"),
            json!("unicode: żółw 🐢 \u{2028} /slash/"),
            json!("exactly8"),
            json!("seven\n7"),
            json!({"nested": {"a": [1, {"b": "c\"d"}], "": ""}, "z": [], "y": {}}),
        ];
        for value in &values {
            let mut out = Vec::new();
            write_value(&mut out, value).unwrap();
            assert_eq!(String::from_utf8_lossy(&out), value.to_string(), "{value}");
        }
    }

    #[test]
    fn a_long_prompt_is_written_into_one_buffer_of_about_its_size() {
        let prompt = "word ".repeat(80_000);
        let body = json!({"messages": [{"role": "user", "content": prompt}]});
        let map = body.as_object().unwrap();
        let hint = size_hint(map);
        let bytes = encode(map, "m", StreamFields::StreamWithUsage).unwrap();
        assert!(
            hint >= prompt.len() && hint + 96 >= bytes.len(),
            "hint {hint}, sent {}",
            bytes.len()
        );
    }
}
