//! The cache key of a request: SHA-256 of a canonical JSON text of (provider endpoint, model,
//! request body). Canonical: object keys sorted at every depth, no whitespace; fields that do not
//! change the answer are left out (`stream`, `stream_options`, `user`, `metadata`, `store`).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub type Key = [u8; 32];

const NOT_IN_KEY: [&str; 6] = ["model", "stream", "stream_options", "user", "metadata", "store"];

/// `endpoint`: the provider's configured base URL (or `mock`), not the address of a server
/// started for this run, so a key stays the same from one run to the next.
pub fn request_key(endpoint: &str, model: &str, body: &Map<String, Value>) -> Key {
    let mut text = String::with_capacity(256);
    text.push_str("sheepdog-cache-v1\n");
    text.push_str(endpoint);
    text.push('\n');
    text.push_str(model);
    text.push('\n');
    let mut fields: Vec<(&String, &Value)> = body.iter().filter(|(k, _)| !NOT_IN_KEY.contains(&k.as_str())).collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    text.push('{');
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        write_canonical(&mut text, &Value::String(k.clone()));
        text.push(':');
        write_canonical(&mut text, v);
    }
    text.push('}');
    Sha256::digest(text.as_bytes()).into()
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, &Value::String(k.clone()));
                out.push(':');
                write_canonical(out, v);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, v);
            }
            out.push(']');
        }
        // Scalars: serde_json's own compact form (a string cannot fail to serialize).
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn key_ignores_field_order_and_volatile_fields_but_not_content() {
        let a = body(json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 0, "max_tokens": 5}));
        let b = body(json!({"max_tokens": 5, "stream": true, "user": "u1", "temperature": 0,
                            "messages": [{"content": "hi", "role": "user"}]}));
        assert_eq!(request_key("mock", "m", &a), request_key("mock", "m", &b));
        let edited = body(json!({"messages": [{"role": "user", "content": "hi!"}], "temperature": 0, "max_tokens": 5}));
        assert_ne!(request_key("mock", "m", &a), request_key("mock", "m", &edited));
        assert_ne!(request_key("mock", "m", &a), request_key("mock", "m2", &a));
        assert_ne!(request_key("mock", "m", &a), request_key("https://x/v1", "m", &a));
        let hotter = body(json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 1, "max_tokens": 5}));
        assert_ne!(request_key("mock", "m", &a), request_key("mock", "m", &hotter));
    }
}
