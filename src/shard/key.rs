//! The shard key of a raw input line: the id the input reader would give it, found without
//! building the whole request (only the id fields are materialized), or `line-<n>`.

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;

use crate::input::parse_line;

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
