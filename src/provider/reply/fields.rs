//! The few fields of an answer sheepdog reads, borrowed from its bytes: the body is never
//! built into a `Value` tree on the way to `results.jsonl`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::provider::ApiEndpoint;
use crate::record::Usage;

/// The top-level fields of an answer that sheepdog uses, each left as its JSON text. Any
/// other field is skipped without being built; a key given twice keeps its last value (as a
/// `Value` would); a body that is not an object has none of them.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Head<'a> {
    pub id: Option<&'a str>,
    pub usage: Option<&'a str>,
    choices: Option<&'a str>,
    data: Option<&'a str>,
    output: Option<&'a str>,
    results: Option<&'a str>,
}

impl<'a> Head<'a> {
    /// The fields of `json` (already known to be JSON), found by [`super::scan`]; an answer
    /// with an escaped key is read with `serde_json` instead.
    pub fn read(json: &'a str) -> Head<'a> {
        let mut head = Head::default();
        let scanned = super::scan::fields(json, |key, value| {
            if let Some(field) = head.field(key) {
                *field = Some(value);
            }
        });
        match scanned {
            Some(()) => head,
            None => Head::parsed(json),
        }
    }

    /// The fields of `json` read by `serde_json`, which compares keys once their escapes are
    /// read.
    pub(super) fn parsed(json: &'a str) -> Head<'a> {
        serde_json::from_str(json).unwrap_or_default()
    }

    /// The fields of `json`, which is checked whole as JSON on the way (one pass): an error
    /// when it is not JSON. Any JSON value reads; one that is not an object has no fields.
    pub fn checked(json: &'a str) -> Result<Head<'a>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let head = Head::deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(head)
    }

    /// The field named `key`, when sheepdog uses it: the one list of their names, for the scan
    /// and for `serde_json`.
    fn field(&mut self, key: &str) -> Option<&mut Option<&'a str>> {
        Some(match key {
            "id" => &mut self.id,
            "usage" => &mut self.usage,
            "choices" => &mut self.choices,
            "data" => &mut self.data,
            "output" => &mut self.output,
            "results" => &mut self.results,
            _ => return None,
        })
    }

    /// Whether the body holds the array of `api`'s answers (`choices`, `data`, ...).
    pub fn has_array(&self, api: ApiEndpoint) -> bool {
        let field = match api {
            ApiEndpoint::Chat | ApiEndpoint::Completions => self.choices,
            ApiEndpoint::Embeddings => self.data,
            ApiEndpoint::Responses => self.output,
            ApiEndpoint::Moderations => self.results,
        };
        field.is_some_and(|text| text.starts_with('['))
    }

    /// The body's `id`, when it is a string.
    pub fn id(&self) -> Option<String> {
        self.id.and_then(|text| serde_json::from_str(text).ok())
    }

    /// The body's `usage` read in `api`'s shape.
    pub fn usage(&self, api: ApiEndpoint) -> Option<Usage> {
        let raw = self.usage?;
        let fields = match serde_json::from_str::<UsageFields>(raw) {
            Ok(fields) => fields,
            // Counts that are not integers, a details field that is not an object, a key given
            // twice: read the way a `Value` reads them.
            Err(_) => UsageFields::from_value(&serde_json::from_str(raw).ok()?),
        };
        fields.usage(api)
    }
}

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Head<'de>, D::Error> {
        deserializer.deserialize_any(HeadVisitor)
    }
}

/// Reads an object's fields; any other value (read through, so checked) has none.
struct HeadVisitor;

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = Head<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
        let mut head = Head::default();
        // Keys as read, escapes and all (`"us\u0061ge"` is `usage`).
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match head.field(&key) {
                Some(field) => *field = Some(map.next_value::<&'de RawValue>()?.get()),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Head::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }

    fn visit_unit<E>(self) -> Result<Head<'de>, E> {
        Ok(Head::default())
    }
}

/// An object's key, borrowed from the text unless it holds escapes (serde's own `Cow`
/// copies every key).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The counts of a `usage` object, in any endpoint's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UsageFields {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
    /// Anthropic-style cache writes (LiteLLM's proxy passes them on).
    cache_creation_input_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    input_tokens_details: Option<Details>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Details {
    cached_tokens: Option<u64>,
    cache_creation_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
}

impl UsageFields {
    /// The counts of a `usage` value: a count that is not a non-negative integer is absent.
    fn from_value(usage: &Value) -> UsageFields {
        let count = |value: &Value, key: &str| value.get(key).and_then(Value::as_u64);
        let details = |key: &str| {
            usage.get(key).map(|d| Details {
                cached_tokens: count(d, "cached_tokens"),
                cache_creation_tokens: count(d, "cache_creation_tokens"),
                cache_write_tokens: count(d, "cache_write_tokens"),
            })
        };
        UsageFields {
            prompt_tokens: count(usage, "prompt_tokens"),
            completion_tokens: count(usage, "completion_tokens"),
            input_tokens: count(usage, "input_tokens"),
            output_tokens: count(usage, "output_tokens"),
            total_tokens: count(usage, "total_tokens"),
            cache_creation_input_tokens: count(usage, "cache_creation_input_tokens"),
            prompt_tokens_details: details("prompt_tokens_details"),
            input_tokens_details: details("input_tokens_details"),
        }
    }

    fn usage(&self, api: ApiEndpoint) -> Option<Usage> {
        let detail = |details: &Option<Details>, read: fn(&Details) -> Option<u64>| details.as_ref().and_then(read);
        match api {
            // `prompt_tokens_details.cached_tokens`; cache writes as Anthropic's
            // `cache_creation_input_tokens` or a `prompt_tokens_details` count of them.
            ApiEndpoint::Chat | ApiEndpoint::Completions => {
                let input = self.prompt_tokens?;
                let details = &self.prompt_tokens_details;
                let cached = detail(details, |d| d.cached_tokens).unwrap_or(0).min(input);
                let written = self
                    .cache_creation_input_tokens
                    .or_else(|| detail(details, |d| d.cache_creation_tokens.or(d.cache_write_tokens)))
                    .unwrap_or(0)
                    .min(input - cached);
                Some(Usage {
                    input_tokens: input,
                    cached_input_tokens: cached,
                    cache_write_tokens: written,
                    output_tokens: self.completion_tokens.unwrap_or(0),
                })
            }
            // `input_tokens_details.cached_tokens` and `.cache_write_tokens`.
            ApiEndpoint::Responses => {
                let input = self.input_tokens?;
                let details = &self.input_tokens_details;
                let cached = detail(details, |d| d.cached_tokens).unwrap_or(0).min(input);
                Some(Usage {
                    input_tokens: input,
                    cached_input_tokens: cached,
                    cache_write_tokens: detail(details, |d| d.cache_write_tokens)
                        .unwrap_or(0)
                        .min(input - cached),
                    output_tokens: self.output_tokens.unwrap_or(0),
                })
            }
            ApiEndpoint::Embeddings | ApiEndpoint::Moderations => Some(Usage {
                input_tokens: self.prompt_tokens.or(self.input_tokens).or(self.total_tokens)?,
                ..Usage::default()
            }),
        }
    }
}

/// `usage` of an answer held as a `Value` (a streamed answer put together, a Batch API
/// output line), read in `api`'s shape.
pub(crate) fn value_usage(api: ApiEndpoint, body: &Value) -> Option<Usage> {
    UsageFields::from_value(body.get("usage")?).usage(api)
}

/// `json` on one line: the whitespace between its tokens removed, every string and number
/// kept as written. For a pretty-printed answer (`results.jsonl` holds one item per line).
pub(crate) fn one_line(json: &str) -> String {
    let mut line = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        line.push(c);
    }
    line
}
