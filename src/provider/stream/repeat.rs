//! What a stream repeats from chunk to chunk. A provider's token chunks are the same bytes but
//! for the one string that carries the token:
//!
//! ```text
//! {"id":"chatcmpl-7","object":"chat.completion.chunk",…,"choices":[{"index":0,"delta":{"content":"·"},…}]}
//! ```
//!
//! Once a chunk of that shape has been read in full, the next one is checked against its bytes
//! around the token (two compares) instead of being parsed again: a chunk whose bytes match,
//! and whose middle is a JSON string with nothing to unescape, means exactly what the first one
//! meant with another token. Anything else (another shape, escapes, a quote in the middle) is
//! read in full, and may become the next pattern. The pattern is only taken from a chunk whose
//! other fields change nothing when they are seen again (no role, finish reason, usage, refusal
//! or tool call), so skipping them is exact.

use super::chunk::ChunkView;

/// Which text of a choice the token goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Into {
    Content,
    /// `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter).
    Reasoning,
}

/// The bytes before and after a token chunk's one changing string.
#[derive(Debug)]
pub(super) struct Repeat {
    /// Up to and with the string's opening quote.
    prefix: Box<str>,
    /// From the string's closing quote.
    suffix: Box<str>,
    pub(super) choice: u64,
    pub(super) into: Into,
}

impl Repeat {
    /// The pattern of `chunk`, read from `data`, when it is a plain token chunk: one choice,
    /// whose delta has one text field, sent without escapes.
    pub(super) fn of(data: &str, chunk: &ChunkView<'_>) -> Option<Repeat> {
        if chunk.is_error() || chunk.usage.is_some() {
            return None;
        }
        let [choice] = chunk.choices.as_deref()? else {
            return None;
        };
        let delta = choice.delta.as_ref()?;
        if choice.finish_reason.is_some()
            || choice.text.is_some()
            || delta.role.is_some()
            || delta.refusal.is_some()
            || delta.tool_calls.is_some()
        {
            return None;
        }
        let (text, into) = match (&delta.content, &delta.reasoning_content, &delta.reasoning) {
            (Some(text), None, None) => (text, Into::Content),
            (None, Some(text), None) | (None, None, Some(text)) => (text, Into::Reasoning),
            _ => return None,
        };
        // Where the string sits in `data`: it was read in place, so it points into it.
        let text = text.borrowed()?;
        let start = (text.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        let end = start.checked_add(text.len())?;
        Some(Repeat {
            prefix: data.get(..start)?.into(),
            suffix: data.get(end..)?.into(),
            choice: choice.index.unwrap_or(0),
            into,
        })
    }

    /// The token of `data` when it is the pattern's chunk with another token in the string.
    pub(super) fn token<'a>(&self, data: &'a str) -> Option<&'a str> {
        let middle = data.strip_prefix(&*self.prefix)?.strip_suffix(&*self.suffix)?;
        // A quote would end the string early (and could open a key), a backslash needs
        // unescaping, a control character is not JSON: all are read in full.
        middle
            .bytes()
            .all(|b| b >= 0x20 && b != b'"' && b != b'\\')
            .then_some(middle)
    }
}

#[cfg(test)]
mod tests {
    use super::{Into, Repeat};
    use crate::provider::stream::ChunkView;

    fn pattern(data: &str) -> Option<Repeat> {
        Repeat::of(data, &ChunkView::parse(data).unwrap())
    }

    const TOKEN: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

    #[test]
    fn a_token_chunk_matches_the_same_bytes_with_another_token() {
        let repeat = pattern(TOKEN).unwrap();
        assert_eq!((repeat.choice, repeat.into), (0, Into::Content));
        assert_eq!(repeat.token(TOKEN), Some("Hi"));
        assert_eq!(
            repeat.token(&TOKEN.replace("\"Hi\"", "\" there, café\"")),
            Some(" there, café")
        );
        assert_eq!(repeat.token(&TOKEN.replace("\"Hi\"", "\"\"")), Some(""));
        let reasoning = r#"{"choices":[{"index":2,"delta":{"content":null,"reasoning_content":"hm"}}]}"#;
        let repeat = pattern(reasoning).unwrap();
        assert_eq!((repeat.choice, repeat.into), (2, Into::Reasoning));
    }

    #[test]
    fn anything_but_a_plain_token_is_read_in_full() {
        let repeat = pattern(TOKEN).unwrap();
        for other in [
            // A quote ends the string early and opens a key of its own.
            TOKEN.replace("\"Hi\"", r#""a","role":"tool""#),
            TOKEN.replace("\"Hi\"", r#""say \"hi\"""#),
            TOKEN.replace("\"Hi\"", "\"tab\there\""),
            TOKEN.replace("\"created\":7", "\"created\":8"),
            TOKEN.replace("\"finish_reason\":null", "\"finish_reason\":\"stop\""),
            TOKEN.replace("\"Hi\"", ""),
        ] {
            assert_eq!(repeat.token(&other), None, "{other}");
        }
        // Chunks whose other fields change the answer when seen again make no pattern.
        for chunk in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"total_tokens":3}}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a","reasoning":"b"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a\nb"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"no"}}]}"#,
            r#"{"choices":[{"text":"a","index":0}]}"#,
        ] {
            assert!(pattern(chunk).is_none(), "{chunk}");
        }
    }
}
