//! The top-level fields of an answer already checked as JSON, found without a parser: strings
//! are jumped over with `memchr` to their closing quote, arrays and objects by counting their
//! brackets outside strings, so a field sheepdog does not use costs about a byte compare per
//! byte. `serde_json` skipping the same fields (`IgnoredAny`) looked at each byte of each
//! string through its escape table, a second full pass over every answer after the check.

use memchr::memchr2;

/// Calls `visit` with each top-level key of `json` (an object; anything else has no fields)
/// and the text of its value, in order. `None` when a key is written with an escape, which
/// only a JSON reader can compare (the caller reads such an answer with `serde_json`), or when
/// `json` is not the valid JSON it must be.
pub(super) fn fields<'a>(json: &'a str, mut visit: impl FnMut(&str, &'a str)) -> Option<()> {
    let bytes = json.as_bytes();
    let mut at = blank(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return Some(());
    }
    at += 1;
    loop {
        at = blank(bytes, at);
        match bytes.get(at)? {
            b'}' => return Some(()),
            b',' => {
                at += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let end = string_end(bytes, at)?;
        let key = json.get(at + 1..end - 1)?;
        if key.contains('\\') {
            return None;
        }
        at = blank(bytes, end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        let start = blank(bytes, at + 1);
        at = value_end(bytes, start)?;
        visit(key, json.get(start..at)?);
    }
}

/// The index after the whitespace from `at` on.
fn blank(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The index after the string whose opening quote is at `at`.
fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    let mut at = at + 1;
    loop {
        at += memchr2(b'"', b'\\', bytes.get(at..)?)?;
        if bytes[at] == b'"' {
            return Some(at + 1);
        }
        // A backslash and the character it escapes (`\"`, `\\`, the `u` of `\u0041`).
        at += 2;
    }
}

/// The index after the value that starts at `at`.
fn value_end(bytes: &[u8], at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => string_end(bytes, at),
        b'{' | b'[' => {
            let (mut depth, mut at) = (0usize, at);
            loop {
                match bytes.get(at)? {
                    b'"' => {
                        at = string_end(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        // A number, `true`, `false` or `null`: up to the next delimiter.
        _ => {
            let rest = bytes.get(at..)?;
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            (len > 0).then_some(at + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::super::fields::Head;

    /// The fields the scanner finds are those `serde_json` reads, whatever stands around them.
    #[test]
    fn the_fields_found_are_those_a_json_reader_finds() {
        let bodies = [
            r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"message":{"content":"a } ] \" \\"}}],"usage":{"prompt_tokens":3}}"#,
            r#"{ "id" : "x\"y\\" , "choices" : [ ] , "usage" : null , "n" : -1.5e3 }"#,
            "{\n  \"choices\": [\n    {\"text\": \"[{\"}\n  ],\n  \"usage\": {\"a\": [1, {\"b\": \"}\"}]}\n}",
            r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2},"id":7,"data":[],"output":[[]],"results":{}}"#,
            r#"{"\\":1,"a\"b":{"id":"inner"},"id":"outer","choices":"no"}"#,
            r#"{"us\u0061ge":{"prompt_tokens":9},"choices":[]}"#,
            r#"{"id":"\u00e9\ud83d\ude00","text":"żółw 🐢","choices":[true,false,null]}"#,
            r#"{"id":"a string longer than sixteen bytes with \" and \\ inside","choices":[{"t":"ends in a backslash, after sixteen bytes \\"}],"usage":{}}"#,
            r#"{}"#,
            r#"  {  }  "#,
            r#"[{"id":"in an array"}]"#,
            r#""a string""#,
            "42",
            "null",
        ];
        for body in bodies {
            assert_eq!(Head::read(body), Head::parsed(body), "{body}");
            // Found by the scanner itself, not by the reader it falls back to, but for the
            // bodies with an escaped key.
            let escaped_key = body.contains(r#""\\":"#) || body.contains(r#""us\u0061ge""#);
            assert_eq!(super::fields(body, |_, _| {}).is_some(), !escaped_key, "{body}");
        }
        assert_eq!(
            Head::read(r#"{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":2}}"#).usage,
            Some(r#"{"prompt_tokens":2}"#)
        );
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            "[a-z]{0,6}",
            "\\PC{0,8}",
            "[a-z\"\\\\{}]{10,60}",
            Just("\"}]\\".to_string())
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            text.clone().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            let key = prop_oneof![
                Just("id".to_string()),
                Just("usage".to_string()),
                Just("choices".to_string()),
                Just("data".to_string()),
                "\\PC{0,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                prop::collection::vec((key, inner), 0..6).prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_answer_compact_or_pretty_has_the_fields_a_json_reader_finds(value in any_value()) {
            let body = json!({"id": value, "x": value, "choices": [value], "usage": value});
            for text in [body.to_string(), serde_json::to_string_pretty(&body).unwrap(), value.to_string()] {
                prop_assert_eq!(Head::read(&text), Head::parsed(&text), "{}", text);
            }
        }
    }
}
