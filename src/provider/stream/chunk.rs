//! A `chat.completion.chunk` (or legacy `text_completion` chunk) read in place: only the fields
//! the [`Assembler`](super::Assembler) uses, borrowed from the event's text, with no tree of
//! `Value`s built per chunk. A chunk whose fields have unexpected types does not fit this view;
//! the stream then reads that chunk as a `Value` instead, so odd servers keep working.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A string borrowed from the chunk's text when it has no escapes, else owned.
#[derive(Debug)]
pub struct Text<'a>(Cow<'a, str>);

impl<'a> Text<'a> {
    /// The string as it stands in the chunk's text, when it had no escapes.
    pub fn borrowed(&self) -> Option<&'a str> {
        match self.0 {
            Cow::Borrowed(text) => Some(text),
            Cow::Owned(_) => None,
        }
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Borrowing;
        impl<'de> Visitor<'de> for Borrowing {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Borrowing)
    }
}

/// One chunk of a chat or legacy completions stream. Absent and `null` fields are both `None`
/// (as the `Value` path treats them), except a choice's `text`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChunkView<'a> {
    #[serde(borrow)]
    pub id: Option<Text<'a>>,
    pub created: Option<u64>,
    #[serde(borrow)]
    pub model: Option<Text<'a>>,
    #[serde(borrow)]
    pub service_tier: Option<Text<'a>>,
    #[serde(borrow)]
    pub system_fingerprint: Option<Text<'a>>,
    #[serde(borrow)]
    pub object: Option<Text<'a>>,
    /// Sent once, at the end.
    pub usage: Option<Value>,
    pub error: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    pub choices: Option<Vec<ChoiceView<'a>>>,
}

impl<'a> ChunkView<'a> {
    /// Reads `data` (one event's JSON); `None` when it does not fit the view.
    pub fn parse(data: &'a str) -> Option<ChunkView<'a>> {
        serde_json::from_str(data).ok()
    }

    /// A top-level field the assembled completion copies, as a `Value`, when it was sent.
    pub fn field(&self, name: &str) -> Option<Value> {
        let text = match name {
            "created" => return self.created.map(Value::from),
            "id" => &self.id,
            "model" => &self.model,
            "service_tier" => &self.service_tier,
            "system_fingerprint" => &self.system_fingerprint,
            _ => return None,
        };
        text.as_deref().map(|text| Value::String(text.to_owned()))
    }

    /// Whether the chunk carries a server error instead of an answer.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChoiceView<'a> {
    pub index: Option<u64>,
    pub finish_reason: Option<Value>,
    /// Legacy completions carry their text in the choice; `Some(None)` is a `null` text, which
    /// still marks the stream as legacy.
    #[serde(deserialize_with = "present")]
    pub text: Option<Option<String>>,
    #[serde(borrow)]
    pub delta: Option<DeltaView<'a>>,
}

/// A field that was sent, `null` or not.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeltaView<'a> {
    #[serde(borrow)]
    pub role: Option<Text<'a>>,
    #[serde(borrow)]
    pub content: Option<Text<'a>>,
    #[serde(borrow)]
    pub reasoning_content: Option<Text<'a>>,
    #[serde(borrow)]
    pub reasoning: Option<Text<'a>>,
    #[serde(borrow)]
    pub refusal: Option<Text<'a>>,
    #[serde(borrow)]
    pub tool_calls: Option<Vec<ToolCallView<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ToolCallView<'a> {
    pub index: Option<u64>,
    pub id: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    #[serde(borrow)]
    pub function: Option<FunctionView<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FunctionView<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub arguments: Option<Text<'a>>,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::ChunkView;
    use crate::provider::stream::{Assembler, Pushed};

    /// Chunks of every shape the assembler knows, escapes and `null`s included.
    const CHUNKS: &[&str] = &[
        r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","system_fingerprint":null,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"He said \"hi\"\n"}}]}"#,
        r#"{"id":"c1","choices":[{"delta":{"content":"caf\u00e9 "}}]}"#,
        r#"{"id":"c1","choices":[{"index":1,"delta":{"reasoning_content":"think","reasoning":" more"}}]}"#,
        r#"{"id":"c1","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":"{\"a\":"}}]}}]}"#,
        r#"{"id":"c1","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"id":"c1","choices":[{"index":2,"delta":{"refusal":"no"}}]}"#,
        r#"{"id":"c1","choices":[{"index":2,"delta":{"refusal":""}}]}"#,
        r#"{"id":"c1","choices":null,"service_tier":"default"}"#,
        r#"{"id":"c1","choices":[{"index":0,"delta":null,"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}"#,
    ];

    const LEGACY: &[&str] = &[
        r#"{"id":"l1","object":"text_completion","created":3,"model":"m","choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"l1","choices":[{"text":" upon \"a\"","index":0}]}"#,
        r#"{"id":"l1","choices":[{"text":null,"index":0,"finish_reason":"length"}]}"#,
    ];

    /// Token chunks of one shape, between which the assembler only compares bytes, with the
    /// ones that look the same but are not (escapes, a quote that opens a key of its own).
    const REPEATED: &[&str] = &[
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"One"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" two"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" \"3\"\n"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" four","role":"tool"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" five"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"hm"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":" so"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" six"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" seven"},"finish_reason":"stop"}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":" eight"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"r1","object":"chat.completion.chunk","created":7,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}}"#,
    ];

    /// The same chunks through `push` (as `Value`s), `push_view` and `push_data` (their text)
    /// give the same answer.
    fn same_answer(chunks: &[&str]) {
        let (mut by_value, mut by_view, mut by_data) = (Assembler::new(), Assembler::new(), Assembler::new());
        for (n, chunk) in chunks.iter().enumerate() {
            let at = Duration::from_millis(n as u64);
            let value: Value = serde_json::from_str(chunk).unwrap();
            let view = ChunkView::parse(chunk).unwrap_or_else(|| panic!("chunk {n} does not fit the view"));
            let tokens = by_value.push(&value, at);
            assert_eq!(tokens, by_view.push_view(&view, at), "chunk {n}");
            assert_eq!(Pushed::Tokens(tokens), by_data.push_data(chunk, at), "chunk {n}");
        }
        for other in [&by_view, &by_data] {
            assert_eq!(by_value.completion(), other.completion());
            assert_eq!(by_value.token_times(), other.token_times());
            assert_eq!(by_value.content_chunks(), other.content_chunks());
            assert_eq!(by_value.usage(), other.usage());
            assert_eq!(by_value.finished(), other.finished());
            assert_eq!(by_value.generated_text(), other.generated_text());
        }
    }

    #[test]
    fn repeated_token_chunks_assemble_what_reading_each_in_full_does() {
        same_answer(REPEATED);
        let mut a = Assembler::new();
        for chunk in REPEATED {
            a.push_data(chunk, Duration::ZERO);
        }
        let message = &a.completion()["choices"][0]["message"];
        assert_eq!(message["content"], "One two \"3\"\n four five six seven eight");
        assert_eq!(message["role"], "tool");
        assert_eq!(message["reasoning_content"], "hm so");
    }

    #[test]
    fn the_view_assembles_what_the_value_path_assembles() {
        same_answer(CHUNKS);
        same_answer(LEGACY);
        let answer = {
            let mut a = Assembler::new();
            for chunk in CHUNKS {
                a.push_view(&ChunkView::parse(chunk).unwrap(), Duration::ZERO);
            }
            a.completion()
        };
        assert_eq!(answer["choices"][0]["message"]["content"], "He said \"hi\"\ncafé ");
        assert_eq!(
            answer["choices"][1]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(answer["usage"]["total_tokens"], 9);
        assert_eq!(answer["service_tier"], "default");
    }

    #[test]
    fn odd_chunks_do_not_fit_the_view_and_errors_are_seen() {
        // Left to the `Value` path, which ignores what it cannot use.
        for odd in [
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":{"0":{}}}"#,
            r#"{"choices":[{"index":"0"}]}"#,
            r#"not json"#,
        ] {
            assert!(ChunkView::parse(odd).is_none(), "{odd}");
        }
        assert!(ChunkView::parse(r#"{"error":{"message":"boom"}}"#).unwrap().is_error());
        assert!(!ChunkView::parse(r#"{"error":null,"choices":[]}"#).unwrap().is_error());
    }
}
