//! A deterministic JSON instance of a JSON Schema, for `response_format: json_schema` and tool
//! arguments: the same schema and seed always give the same instance, and the instance is valid
//! against the schema for the keywords structured outputs use (type, properties, required,
//! additionalProperties, items, enum, const, anyOf/oneOf/allOf, $ref to $defs/definitions,
//! minimum/maximum, minLength/maxLength, minItems/maxItems, common formats).

use serde_json::{Map, Number, Value};

use super::reply::mix;

/// Words string values are made of.
const WORDS: &[&str] = &[
    "flock", "meadow", "shepherd", "lamb", "valley", "gate", "fold", "river", "stone", "bell", "hill", "wind",
];

/// How deep `$ref` recursion may go before the generator takes the shortest way out.
const MAX_DEPTH: u32 = 12;

/// An instance of `schema`; `root` resolves `$ref`s, `seed` varies strings and numbers.
pub(crate) fn instance(schema: &Value, seed: u64) -> Value {
    Generator { root: schema }.value(schema, seed, 0)
}

struct Generator<'a> {
    root: &'a Value,
}

impl Generator<'_> {
    fn value(&self, schema: &Value, seed: u64, depth: u32) -> Value {
        let Some(object) = schema.as_object() else {
            // `true` or `{}`: anything goes; `false` has no instance, null is as good as any.
            return Value::Null;
        };
        if let Some(target) = object.get("$ref").and_then(Value::as_str).and_then(|r| self.resolve(r)) {
            if depth < MAX_DEPTH {
                return self.value(target, seed, depth + 1);
            }
            return Value::Null;
        }
        if let Some(value) = object.get("const") {
            return value.clone();
        }
        if let Some(Value::Array(options)) = object.get("enum") {
            if !options.is_empty() {
                return options[(mix(seed) % options.len() as u64) as usize].clone();
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(options)) = object.get(key) {
                // The first branch: with recursion, pick one that ends (a non-object one) deep down.
                let pick = if depth >= MAX_DEPTH / 2 {
                    options
                        .iter()
                        .find(|o| o.get("type").is_some_and(|t| t != "object" && t != "array"))
                } else {
                    None
                };
                if let Some(option) = pick.or_else(|| options.first()) {
                    return self.value(option, seed, depth + 1);
                }
            }
        }
        if let Some(Value::Array(parts)) = object.get("allOf") {
            let mut merged = object.clone();
            merged.remove("allOf");
            for part in parts {
                let part = part
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| self.resolve(r))
                    .unwrap_or(part);
                merge_into(&mut merged, part);
            }
            return self.value(&Value::Object(merged), seed, depth + 1);
        }
        match type_of(object) {
            "object" => self.object(object, seed, depth),
            "array" => self.array(object, seed, depth),
            "string" => string(object, seed),
            "integer" => integer(object, seed),
            "number" => number(object, seed),
            "boolean" => Value::Bool(mix(seed) & 1 == 1),
            _ => Value::Null,
        }
    }

    fn object(&self, object: &Map<String, Value>, seed: u64, depth: u32) -> Value {
        let mut out = Map::new();
        if let Some(Value::Object(properties)) = object.get("properties") {
            let required: Vec<&str> = match object.get("required") {
                Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            // Every property when nesting is shallow; deep down only the required ones, so
            // that recursive schemas end.
            for (i, (name, property)) in properties.iter().enumerate() {
                if depth >= MAX_DEPTH / 2 && !required.contains(&name.as_str()) {
                    continue;
                }
                let seed = mix(seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9));
                out.insert(name.clone(), self.value(property, seed, depth + 1));
            }
            for name in required {
                if !out.contains_key(name) {
                    out.insert(name.to_owned(), Value::String(word(seed).to_owned()));
                }
            }
        }
        Value::Object(out)
    }

    fn array(&self, object: &Map<String, Value>, seed: u64, depth: u32) -> Value {
        let min = object.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = object.get("maxItems").and_then(Value::as_u64).unwrap_or(u64::MAX);
        let wanted = if depth >= MAX_DEPTH / 2 { 0 } else { 1 + mix(seed) % 3 };
        let count = wanted.clamp(min, max.max(min)).min(64);
        let items = object.get("items").cloned().unwrap_or(Value::Bool(true));
        let unique = object.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false);
        let mut out: Vec<Value> = Vec::new();
        for i in 0..count {
            let item = self.value(&items, mix(seed ^ (i + 1)), depth + 1);
            if unique && out.contains(&item) {
                continue;
            }
            out.push(item);
        }
        Value::Array(out)
    }

    /// `#/$defs/Name`, `#/definitions/Name` or `#` (the root).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }
}

/// The schema's type: its `type` (the first non-null one of a list), else guessed from its keywords.
fn type_of(object: &Map<String, Value>) -> &str {
    match object.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if object.contains_key("properties") => "object",
        _ if object.contains_key("items") => "array",
        _ => "string",
    }
}

fn merge_into(merged: &mut Map<String, Value>, part: &Value) {
    let Some(part) = part.as_object() else { return };
    for (key, value) in part {
        match (key.as_str(), merged.get_mut(key), value) {
            ("properties", Some(Value::Object(have)), Value::Object(more)) => {
                have.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            ("required", Some(Value::Array(have)), Value::Array(more)) => have.extend(more.iter().cloned()),
            _ => {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
}

fn word(seed: u64) -> &'static str {
    WORDS[(mix(seed) % WORDS.len() as u64) as usize]
}

fn string(object: &Map<String, Value>, seed: u64) -> Value {
    let text = match object.get("format").and_then(Value::as_str) {
        Some("date-time") => "2025-01-01T00:00:00Z".to_owned(),
        Some("date") => "2025-01-01".to_owned(),
        Some("time") => "12:00:00Z".to_owned(),
        Some("email") => format!("{}@example.com", word(seed)),
        Some("uri" | "url") => format!("https://example.com/{}", word(seed)),
        Some("uuid") => format!("00000000-0000-4000-8000-{:012x}", mix(seed) & 0xffff_ffff_ffff),
        Some("hostname") => "example.com".to_owned(),
        Some("ipv4") => "192.0.2.1".to_owned(),
        Some("ipv6") => "2001:db8::1".to_owned(),
        _ => format!("{} {}", word(seed), word(seed ^ 1)),
    };
    let min = object.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = object.get("maxLength").and_then(Value::as_u64).map(|m| m as usize);
    let mut text = text;
    while text.chars().count() < min {
        text.push('a');
    }
    if let Some(max) = max {
        if text.chars().count() > max {
            text = text.chars().take(max.max(min)).collect();
        }
    }
    Value::String(text)
}

fn bounds(object: &Map<String, Value>) -> (Option<f64>, Option<f64>, bool, bool) {
    let get = |key| object.get(key).and_then(Value::as_f64);
    let (low, low_open) = match (get("minimum"), get("exclusiveMinimum")) {
        (_, Some(x)) => (Some(x), true),
        (m, None) => (m, false),
    };
    let (high, high_open) = match (get("maximum"), get("exclusiveMaximum")) {
        (_, Some(x)) => (Some(x), true),
        (m, None) => (m, false),
    };
    (low, high, low_open, high_open)
}

fn integer(object: &Map<String, Value>, seed: u64) -> Value {
    let (low, high, low_open, high_open) = bounds(object);
    let low = low.map(|l| {
        if low_open {
            l.floor() as i64 + 1
        } else {
            l.ceil() as i64
        }
    });
    let high = high.map(|h| {
        if high_open {
            h.ceil() as i64 - 1
        } else {
            h.floor() as i64
        }
    });
    let base = (mix(seed) % 100) as i64;
    let value = match (low, high) {
        (Some(l), Some(h)) if h >= l => l + base % (h - l + 1),
        (Some(l), _) => l + base,
        (None, Some(h)) => h - base,
        (None, None) => base,
    };
    let value = match object.get("multipleOf").and_then(Value::as_i64) {
        Some(m) if m > 0 => {
            let rounded = value - value.rem_euclid(m);
            if low.is_some_and(|l| rounded < l) {
                rounded + m
            } else {
                rounded
            }
        }
        _ => value,
    };
    Value::Number(value.into())
}

fn number(object: &Map<String, Value>, seed: u64) -> Value {
    let (low, high, _, _) = bounds(object);
    let fraction = (mix(seed) % 1000) as f64 / 1000.0;
    let value = match (low, high) {
        (Some(l), Some(h)) if h > l => l + (h - l) * (0.25 + fraction / 2.0),
        (Some(l), Some(_)) => l,
        (Some(l), None) => l + 1.0 + fraction * 100.0,
        (None, Some(h)) => h - 1.0 - fraction * 100.0,
        (None, None) => fraction * 100.0,
    };
    Number::from_f64((value * 1000.0).round() / 1000.0)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_valid_for_many_seeds(schema: Value) {
        let validator = jsonschema::validator_for(&schema).expect("schema compiles");
        for seed in 0..200 {
            let value = instance(&schema, seed);
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "seed {seed}: {value} fails {schema}: {errors:?}");
        }
        assert_eq!(instance(&schema, 7), instance(&schema, 7));
    }

    #[test]
    fn instances_are_valid_for_each_keyword() {
        for schema in [
            json!({"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 6}),
            json!({"type": "integer", "minimum": 10, "multipleOf": 5}),
            json!({"type": "number", "minimum": -1.5, "maximum": -1.0}),
            json!({"type": ["null", "string"], "maxLength": 4}),
            json!({"type": "string", "minLength": 30}),
            json!({"type": "string", "format": "uuid"}),
            json!({"type": "array", "items": {"enum": [1, 2]}, "uniqueItems": true, "maxItems": 2}),
            json!({"type": "array", "items": {"type": "boolean"}, "minItems": 5}),
            json!({"const": {"a": 1}}),
            json!({"oneOf": [{"type": "integer"}, {"type": "string"}]}),
            json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                             {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]}),
            json!({"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x", "y"]}),
        ] {
            assert_valid_for_many_seeds(schema);
        }
    }

    #[test]
    fn recursive_schemas_end() {
        let tree = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#"}}
            },
            "required": ["name", "children"],
            "additionalProperties": false
        });
        assert_valid_for_many_seeds(tree);
        let linked = json!({
            "$defs": {"node": {"type": "object",
                               "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                               "required": ["next"]}},
            "$ref": "#/$defs/node"
        });
        assert_valid_for_many_seeds(linked);
    }
}
