//! Property tests of the streamed-answer path: Server-Sent Events decoded the way
//! `provider::stream` decodes them (`sse-stream`'s `SseByteStream`), then put back together by
//! [`Assembler`]. However the bytes are cut into network reads, whatever line endings (LF, CRLF,
//! CR), comments and multi-line `data:` fields the server uses, the events and the assembled
//! answer are the same as from one unsplit read.
//!
//! 256 cases per property (`PROPTEST_CASES` raises it).

use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt as _;
use proptest::prelude::*;
use serde_json::{json, Value};
use sse_stream::{Sse, SseByteStream};

use sheepdog::provider::stream::Assembler;

/// One event as a server writes it.
#[derive(Debug, Clone)]
struct Event {
    /// Comment lines (`: ...`) before the fields.
    comments: Vec<String>,
    /// An `event:` field.
    name: Option<String>,
    /// The data; each element is written as its own `data:` line, joined with `\n` on reading.
    data_lines: Vec<String>,
}

/// Text that fits on one SSE line: no CR or LF.
fn line_text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

fn event() -> impl Strategy<Value = Event> {
    (
        prop::collection::vec(line_text(), 0..3),
        prop::option::of("[a-z_]{1,8}"),
        prop::collection::vec(line_text(), 1..4),
    )
        .prop_map(|(comments, name, data_lines)| Event {
            comments,
            name,
            data_lines,
        })
}

const ENDINGS: [&str; 3] = ["\n", "\r\n", "\r"];

/// The bytes of `events`, each line ended by `ENDINGS[endings[i % len]]`; an empty line right
/// after a CR ending gets CRLF, as a lone LF there would only complete a CRLF.
fn encode(events: &[Event], endings: &[usize]) -> Vec<u8> {
    let mut text = String::new();
    let mut n = 0;
    let mut end = |text: &mut String| {
        let mut ending = ENDINGS[endings[n % endings.len()] % ENDINGS.len()];
        if ending == "\n" && text.ends_with('\r') {
            ending = "\r\n";
        }
        text.push_str(ending);
        n += 1;
    };
    for event in events {
        for comment in &event.comments {
            text.push(':');
            text.push_str(comment);
            end(&mut text);
        }
        if let Some(name) = &event.name {
            text.push_str("event: ");
            text.push_str(name);
            end(&mut text);
        }
        for line in &event.data_lines {
            // One optional space after the colon is not part of the value.
            text.push_str("data: ");
            text.push_str(line);
            end(&mut text);
        }
        end(&mut text);
    }
    text.into_bytes()
}

/// The events decoded from `chunks`, as the client reads them one network read at a time.
fn decode(chunks: Vec<Vec<u8>>) -> Vec<Sse> {
    let reads = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
    futures::executor::block_on(async {
        let mut events = Box::pin(SseByteStream::new(reads));
        let mut out = Vec::new();
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => out.push(event),
                Err(e) => panic!("decoding failed: {e}"),
            }
        }
        out
    })
}

/// `(event name, data)` of the events that carry data.
fn data_events(events: &[Sse]) -> Vec<(Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| e.data.clone().map(|d| (e.event.clone(), d)))
        .collect()
}

fn split_at(bytes: &[u8], at: usize) -> Vec<Vec<u8>> {
    vec![bytes[..at].to_vec(), bytes[at..].to_vec()]
}

proptest! {
    #[test]
    fn events_are_the_same_however_the_bytes_are_split(
        events in prop::collection::vec(event(), 1..5),
        endings in prop::collection::vec(0usize..3, 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let bytes = encode(&events, &endings);
        let whole = decode(vec![bytes.clone()]);
        let expected: Vec<(Option<String>, String)> = events
            .iter()
            .map(|e| (e.name.clone(), e.data_lines.join("\n")))
            .collect();
        prop_assert_eq!(data_events(&whole), expected);
        // Every two-piece split, one byte per read, and a few random cuts.
        for at in 0..=bytes.len() {
            prop_assert_eq!(&decode(split_at(&bytes, at)), &whole, "split at byte {}", at);
        }
        prop_assert_eq!(&decode(bytes.iter().map(|&b| vec![b]).collect()), &whole);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut from = 0;
        for at in points {
            chunks.push(bytes[from..at].to_vec());
            from = at;
        }
        chunks.push(bytes[from..].to_vec());
        prop_assert_eq!(&decode(chunks), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
    ) {
        let reads = |chunks: Vec<Vec<u8>>| {
            let reads = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
            futures::executor::block_on(async {
                let mut events = Box::pin(SseByteStream::new(reads));
                let mut out = Vec::new();
                while let Some(event) = events.next().await {
                    out.push(event.map_err(|e| e.to_string()));
                }
                out
            })
        };
        let at = at.index(bytes.len() + 1);
        let whole = reads(vec![bytes.clone()]);
        prop_assert_eq!(reads(split_at(&bytes, at)), whole);
    }

    #[test]
    fn a_streamed_answer_assembles_the_same_however_it_is_split(
        deltas in prop::collection::vec(".{0,12}", 1..6),
        endings in prop::collection::vec(0usize..3, 1..6),
        split_json in any::<bool>(),
        keep_alive in any::<bool>(),
    ) {
        let bytes = answer_stream(&deltas, &endings, split_json, keep_alive);
        let events = decode(vec![bytes.clone()]);
        let (content, finished) = assemble(&events);
        prop_assert_eq!(content, Some(deltas.concat()), "content of the unsplit stream");
        prop_assert!(finished, "[DONE] and a finish_reason arrived");
        // The answer is a function of the events: the same events from every split, the same answer.
        for at in 0..=bytes.len() {
            prop_assert_eq!(&decode(split_at(&bytes, at)), &events, "split at byte {}", at);
        }
    }
}

/// An OpenAI-style stream: a role chunk, one chunk per delta, a finish chunk, usage, `[DONE]`.
/// `split_json`: each chunk's JSON spread over several `data:` lines. `keep_alive`: comment lines
/// between events.
fn answer_stream(deltas: &[String], endings: &[usize], split_json: bool, keep_alive: bool) -> Vec<u8> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    chunks.extend(deltas.iter().map(|d| chunk(json!({"content": d}), Value::Null)));
    chunks.push(chunk(json!({}), json!("stop")));
    chunks.push(json!({"id": "c1", "object": "chat.completion.chunk", "choices": [],
                       "usage": {"prompt_tokens": 3, "completion_tokens": deltas.len(), "total_tokens": 3 + deltas.len()}}));
    let mut events: Vec<Event> = chunks
        .iter()
        .map(|c| {
            let text = serde_json::to_string(c).expect("JSON");
            let data_lines = if split_json { break_lines(&text) } else { vec![text] };
            Event {
                comments: if keep_alive {
                    vec![" keep-alive".into()]
                } else {
                    Vec::new()
                },
                name: None,
                data_lines,
            }
        })
        .collect();
    events.push(Event {
        comments: Vec::new(),
        name: None,
        data_lines: vec!["[DONE]".into()],
    });
    encode(&events, endings)
}

/// Compact JSON cut after each comma between a string and the next key (`","` followed by a
/// key and its colon): joined again with `\n`, it is the same JSON. A `","` alone may be a
/// string holding a comma (`"content":","`), so the key after it is checked: inside a string
/// every quote is escaped, and after a string's closing quote no name can follow.
fn break_lines(json: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let (mut start, mut from) = (0, 0);
    while let Some(found) = json[from..].find("\",\"") {
        let at = from + found;
        if opens_key(&json[at + 2..]) {
            lines.push(json[start..at + 2].to_string());
            start = at + 2;
        }
        from = at + 1;
    }
    lines.push(json[start..].to_string());
    lines
}

/// Whether `text` starts with an object key: a quote, a lower-case name, a quote, a colon.
fn opens_key(text: &str) -> bool {
    let Some(name) = text.strip_prefix('"') else {
        return false;
    };
    let length = name
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
        .count();
    length > 0 && name[length..].starts_with("\":")
}

#[test]
fn a_delta_of_one_comma_is_not_cut_when_chunks_spread_over_data_lines() {
    // Proptest's minimal failing input when `break_lines` cut at every `","`.
    let bytes = answer_stream(&[",".to_string()], &[0], true, false);
    let (content, finished) = assemble(&decode(vec![bytes]));
    assert_eq!(content.as_deref(), Some(","));
    assert!(finished);
    let lines = break_lines(r#"{"a":",","b":"x","c":1}"#);
    assert_eq!(lines, [r#"{"a":",","#, r#""b":"x","#, r#""c":1}"#]);
}

/// The content of the assembled answer, and whether it finished — read the way
/// `provider::stream::chat` reads events.
fn assemble(events: &[Sse]) -> (Option<String>, bool) {
    let mut answer = Assembler::new();
    let mut done = false;
    for (i, event) in events.iter().enumerate() {
        let Some(data) = event.data.as_deref().map(str::trim) else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(data).expect("every chunk is JSON");
        answer.push(&chunk, Duration::from_millis(i as u64));
    }
    let completion = answer.completion();
    let content = completion["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_string);
    (content, done && answer.finished())
}
