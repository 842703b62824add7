//! The counts of an answer's `usage`, read from its JSON text (in the answer's one pass, or
//! alone) or from a `Value`, the same way either way.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::Key;
use crate::provider::ApiEndpoint;
use crate::record::Usage;

/// The counts of a `usage` object, in any endpoint's shape. Read from JSON text the way
/// [`UsageFields::from_value`] reads a `Value`: a count that is not a non-negative integer is
/// absent, a key given twice keeps its last value, a value that is not an object has no counts.
#[derive(Debug, Default, PartialEq)]
pub(super) struct UsageFields {
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

#[derive(Debug, Default, PartialEq)]
pub(super) struct Details {
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

    pub(super) fn usage(&self, api: ApiEndpoint) -> Option<Usage> {
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

/// Where the value of a key of a counts object goes.
enum Slot<'a> {
    Count(&'a mut Option<u64>),
    Details(&'a mut Option<Details>),
    Skip,
}

/// An object of counts, read key by key ([`CountsVisitor`]).
trait Counts: Default {
    fn slot(&mut self, key: &str) -> Slot<'_>;
}

impl Counts for UsageFields {
    fn slot(&mut self, key: &str) -> Slot<'_> {
        match key {
            "prompt_tokens" => Slot::Count(&mut self.prompt_tokens),
            "completion_tokens" => Slot::Count(&mut self.completion_tokens),
            "input_tokens" => Slot::Count(&mut self.input_tokens),
            "output_tokens" => Slot::Count(&mut self.output_tokens),
            "total_tokens" => Slot::Count(&mut self.total_tokens),
            "cache_creation_input_tokens" => Slot::Count(&mut self.cache_creation_input_tokens),
            "prompt_tokens_details" => Slot::Details(&mut self.prompt_tokens_details),
            "input_tokens_details" => Slot::Details(&mut self.input_tokens_details),
            _ => Slot::Skip,
        }
    }
}

impl Counts for Details {
    fn slot(&mut self, key: &str) -> Slot<'_> {
        match key {
            "cached_tokens" => Slot::Count(&mut self.cached_tokens),
            "cache_creation_tokens" => Slot::Count(&mut self.cache_creation_tokens),
            "cache_write_tokens" => Slot::Count(&mut self.cache_write_tokens),
            _ => Slot::Skip,
        }
    }
}

/// Reads an object of counts into `T`, a key given twice keeping its last value; any other
/// JSON value reads as no counts.
struct CountsVisitor<T>(PhantomData<T>);

impl<'de, T: Counts> Visitor<'de> for CountsVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut counts = T::default();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            match counts.slot(&key) {
                Slot::Count(count) => *count = map.next_value::<Count>()?.0,
                Slot::Details(details) => *details = Some(map.next_value()?),
                Slot::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(counts)
    }

    other_values_read_as_default!();
}

impl<'de> Deserialize<'de> for UsageFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UsageFields, D::Error> {
        deserializer.deserialize_any(CountsVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Details, D::Error> {
        deserializer.deserialize_any(CountsVisitor(PhantomData))
    }
}

/// A count: a non-negative integer, else absent (as `Value::as_u64` reads one: not `2.0`, not
/// `-1`, not `"3"`).
struct Count(Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Count, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Count, E> {
                Ok(Count(Some(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(n).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
        }
        deserializer.deserialize_any(CountVisitor)
    }
}

/// `usage` of an answer held as a `Value` (a streamed answer put together, a Batch API
/// output line), read in `api`'s shape.
pub(crate) fn value_usage(api: ApiEndpoint, body: &Value) -> Option<Usage> {
    UsageFields::from_value(body.get("usage")?).usage(api)
}

#[cfg(test)]
mod tests {
    use super::super::Head;
    use super::*;

    /// `usage` read from its text as [`UsageFields::from_value`] reads it from a `Value`, in
    /// the body's one pass (`Head::checked`) and alone (`Head::usage` of a scanned body).
    #[test]
    fn counts_read_from_text_are_the_counts_a_value_gives() {
        let usages = [
            r#"{"prompt_tokens": 22, "completion_tokens": 32, "total_tokens": 54}"#,
            r#"{"prompt_tokens": 9, "prompt_tokens": 10, "completion_tokens": 2.0}"#,
            r#"{"prompt_tokens": -1, "completion_tokens": "3", "total_tokens": null, "input_tokens": true}"#,
            r#"{"prompt_tokens": 18446744073709551615, "output_tokens": 18446744073709551616}"#,
            r#"{"prompt_tokens_details": {"cached_tokens": 5, "cached_tokens": 6}, "prompt_tokens": 9}"#,
            r#"{"prompt_tokens_details": 5, "input_tokens_details": [1, {"cached_tokens": 2}]}"#,
            r#"{"input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 2, "x": {"y": []}}}"#,
            r#"{"cache_creation_input_tokens": 7, "prompt_tokens_details": {"cache_creation_tokens": 3}}"#,
            r#"{"pr\u006fmpt_tokens": 4, "prompt_tokens_details": null}"#,
            r#"{"prompt_tokens": {"n": 1}, "completion_tokens": [2]}"#,
            r#""none""#,
            r#"[{"prompt_tokens": 1}]"#,
            "12",
            "null",
            "{}",
        ];
        for usage in usages {
            let value: Value = serde_json::from_str(usage).unwrap();
            let expected = UsageFields::from_value(&value);
            assert_eq!(serde_json::from_str::<UsageFields>(usage).unwrap(), expected, "{usage}");
            let body = format!(r#"{{"choices": [], "usage": {usage}}}"#);
            let head = Head::checked(&body).unwrap();
            assert_eq!(head.counts.as_ref(), Some(&expected), "{usage}");
            for api in ApiEndpoint::ALL {
                assert_eq!(head.usage(api), expected.usage(api), "{usage} at {api:?}");
                assert_eq!(Head::read(&body).usage(api), expected.usage(api), "{usage} at {api:?}");
            }
        }
    }
}
