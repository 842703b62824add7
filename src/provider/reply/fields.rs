//! The few fields of an answer sheepdog reads, borrowed from its bytes: the body is never
//! built into a `Value` tree on the way to `results.jsonl`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

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
    /// `usage` read on the way, when the body was read by [`Head::checked`] (its text is then
    /// not kept).
    counts: Option<UsageFields>,
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
        let head = deserializer.deserialize_any(HeadVisitor { counts: true })?;
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
        match (&self.counts, self.usage) {
            (Some(counts), _) => counts.usage(api),
            (None, Some(raw)) => serde_json::from_str::<UsageFields>(raw).ok()?.usage(api),
            (None, None) => None,
        }
    }
}

/// A visitor's methods for every JSON value but an object: the value is read through (so
/// checked) and taken as the visitor's `Default` (no fields, no counts).
macro_rules! other_values_read_as_default {
    () => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
}

mod usage;

pub(crate) use usage::value_usage;
use usage::UsageFields;

impl<'de> Deserialize<'de> for Head<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Head<'de>, D::Error> {
        deserializer.deserialize_any(HeadVisitor { counts: false })
    }
}

/// Reads an object's fields; any other value (read through, so checked) has none. With
/// `counts`, `usage` is read into its counts on the way instead of being kept as text.
struct HeadVisitor {
    counts: bool,
}

impl<'de> Visitor<'de> for HeadVisitor {
    type Value = Head<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head<'de>, A::Error> {
        let mut head = Head::default();
        // Keys as read, escapes and all (`"us\u0061ge"` is `usage`).
        while let Some(Key(key)) = map.next_key::<Key>()? {
            if self.counts && key == "usage" {
                head.counts = Some(map.next_value()?);
                continue;
            }
            match head.field(&key) {
                Some(field) => *field = Some(map.next_value::<&'de RawValue>()?.get()),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }

    other_values_read_as_default!();
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
