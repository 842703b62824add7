//! The shard key of a raw input line: the id the input reader would give it, found without
//! building the whole request (only the id fields are materialized), or `line-<n>`; and which
//! lines of a file a shard (see `crate::shard`) takes.

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;

use super::parse_line;
use crate::shard::Shard;

/// A line's shard key: its id, or `line-<n>` when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKey {
    Id(String),
    /// No valid id: the key is `line-<n>`.
    Line(String),
}

impl LineKey {
    pub fn as_str(&self) -> &str {
        match self {
            LineKey::Id(id) | LineKey::Line(id) => id,
        }
    }
}

/// The fields that decide a line's id (see `input::parse`): a line with `body`, `custom_id` or
/// `url` is a Batch API line, identified by `custom_id`; any other line by `id`.
#[derive(Deserialize)]
struct Ids {
    #[serde(default, deserialize_with = "present")]
    custom_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "seen")]
    body: bool,
    #[serde(default, deserialize_with = "seen")]
    url: bool,
}

/// `Some` whenever the key is present, even as `null` (which `Option<Value>` would drop).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

fn seen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// The shard key of input line `bytes` with 1-based line number `line`.
pub fn line_key(bytes: &[u8], line: u64) -> LineKey {
    let by_line = || LineKey::Line(format!("line-{line}"));
    let Ok(text) = std::str::from_utf8(bytes) else {
        return by_line();
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim();
    if !text.starts_with('{') {
        return by_line();
    }
    match serde_json::from_str::<Ids>(text) {
        Ok(ids) => {
            let is_batch = ids.body || ids.url || ids.custom_id.is_some();
            let id = if is_batch { ids.custom_id } else { ids.id };
            match id {
                None | Some(Value::Null) => by_line(),
                Some(Value::String(s)) if !s.is_empty() => LineKey::Id(s),
                Some(Value::Number(n)) => LineKey::Id(n.to_string()),
                Some(_) => by_line(),
            }
        }
        // Rare shapes (a repeated key, say): ask the reader's own parser.
        Err(_) => match parse_line(bytes, line) {
            Ok(item) => LineKey::Id(item.id),
            Err(rejected) => match rejected.id {
                Some(id) => LineKey::Id(id),
                None => by_line(),
            },
        },
    }
}

/// Whether the raw input line `bytes` (1-based line number `line`) belongs to `shard`.
pub fn owns_line(shard: Shard, bytes: &[u8], line: u64) -> bool {
    if shard.count == 1 {
        return true;
    }
    shard.owns_key(line_key(bytes, line).as_str())
}

/// Non-blank lines of the input that belong to `shard`: the progress total and the figure
/// unsent items are counted against. One streaming pass; only the ids are parsed.
pub fn count_shard_lines(path: &std::path::Path, shard: Shard) -> std::io::Result<u64> {
    let mut lines = crate::lines::Lines::new(std::fs::File::open(path)?);
    let mut owned = 0u64;
    while let Some((line, bytes)) = lines.next_filled()? {
        owned += u64::from(owns_line(shard, bytes, line));
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key the reader's own parser implies for a line.
    fn reader_key(line: &str, n: u64) -> String {
        match parse_line(line.as_bytes(), n) {
            Ok(item) => item.id,
            Err(rejected) => rejected.id.unwrap_or_else(|| format!("line-{n}")),
        }
    }

    #[test]
    fn shard_key_is_the_id_the_reader_gives_or_the_line_number() {
        let lines = [
            r#"{"id":"a1","prompt":"p"}"#,
            r#"{"prompt":"no id"}"#,
            r#"{"id":42,"prompt":"p"}"#,
            r#"{"id":1.5e3,"prompt":"p"}"#,
            r#"{"id":null,"prompt":"p"}"#,
            r#"{"id":"","prompt":"p"}"#,
            r#"{"id":true,"prompt":"p"}"#,
            r#"{"id":"x","id":"y","prompt":"repeated key"}"#,
            r#"{"custom_id":"b1","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}]}}"#,
            r#"{"custom_id":null,"id":"ignored-in-batch","body":{}}"#,
            r#"{"id":"short","url":"/v1/embeddings"}"#,
            r#"{"id":"no-messages"}"#,
            "\u{feff}{\"id\":\"bom\",\"prompt\":\"p\"}",
            "  {\"id\":\"spaces\",\"prompt\":\"p\"}  \r\n",
            "{not json",
            "[1,2]",
            "\"a string\"",
            r#"{"id":"trailing","prompt":"p"} x"#,
            r#"{"id":"esc\u00e9\n","prompt":"p"}"#,
        ];
        for (i, line) in lines.iter().enumerate() {
            let n = i as u64 + 1;
            assert_eq!(
                line_key(line.as_bytes(), n).as_str(),
                reader_key(line, n),
                "line {n}: {line}"
            );
        }
        assert_eq!(line_key(b"\xff\xfe", 9), LineKey::Line("line-9".into()));
    }

    #[test]
    fn every_line_is_in_exactly_one_shard_and_the_split_is_even() {
        let count = 4;
        let mut sizes = [0u32; 4];
        for n in 1..=4000u64 {
            let line = format!("{{\"id\":\"item-{:05}\",\"prompt\":\"p\"}}", n * 2);
            let owners: Vec<u32> = (0..count)
                .filter(|&i| owns_line(Shard { index: i, count }, line.as_bytes(), n))
                .collect();
            assert_eq!(owners.len(), 1, "{line}");
            sizes[owners[0] as usize] += 1;
        }
        // Even ids that differ in one digit (a weak hash would put them all in one shard).
        assert!(sizes.iter().all(|&s| (850..=1150).contains(&s)), "{sizes:?}");
    }

    #[test]
    fn count_lines_counts_the_shards_non_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        let mut text = String::new();
        for n in 0..100 {
            text.push_str(&format!("{{\"id\":\"k{n}\",\"prompt\":\"p\"}}\n\n"));
        }
        text.push_str("{broken\n");
        std::fs::write(&path, &text).unwrap();
        let total: u64 = (0..3)
            .map(|index| count_shard_lines(&path, Shard { index, count: 3 }).unwrap())
            .sum();
        assert_eq!(total, 101);
    }
}
