//! `POST /v1/embeddings`: one deterministic unit vector per input, of the model's length or
//! the `dimensions` asked for, as floats or as base64 of little-endian float32 (what the SDKs
//! ask for by default and decode).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::super::faults::ApiError;
use super::super::reply::{mix, Prompt};
use super::request;

/// The length of a model's vectors when `dimensions` is not given.
fn native_dimensions(model: &str) -> usize {
    if model.contains("3-large") {
        3072
    } else {
        1536
    }
}

/// `dimensions` and whether `encoding_format` is base64, checked as OpenAI checks them.
pub(super) fn options(body: &Map<String, Value>, model: &str) -> Result<(usize, bool), ApiError> {
    let native = native_dimensions(model);
    let dimensions = match body.get("dimensions") {
        None | Some(Value::Null) => native,
        Some(value) => {
            let Some(n) = value.as_u64() else {
                return Err(request::invalid_type("dimensions", "an integer"));
            };
            if model.contains("ada-002") {
                return Err(ApiError::invalid_request(
                    "This model does not support specifying dimensions.",
                    Some("dimensions"),
                    "unsupported_parameter",
                ));
            }
            if n == 0 || n > native as u64 {
                return Err(ApiError::invalid_request(
                    format!("Invalid 'dimensions': {n}. It must be between 1 and {native} for {model}."),
                    Some("dimensions"),
                    "invalid_value",
                ));
            }
            n as usize
        }
    };
    let base64 = match super::string_field(body, "encoding_format")? {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_request(
                format!("Invalid value for 'encoding_format': '{other}'. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                "invalid_value",
            ))
        }
    };
    Ok((dimensions, base64))
}

/// The unit vector of an input: the same text always gets the same vector.
pub(super) fn vector(prompt: &Prompt, dimensions: usize) -> Vec<f32> {
    let raw: Vec<f64> = (0..dimensions as u64)
        .map(|k| {
            let bits = mix(prompt.hash ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(k));
            (bits >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    raw.iter().map(|x| (x / norm) as f32).collect()
}

/// The embedding list: `{"object": "list", "data": [...], "model", "usage"}`.
pub(super) fn body(model: &str, inputs: &[Prompt], dimensions: usize, base64: bool, prompt_tokens: u32) -> Value {
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, prompt)| {
            let vector = vector(prompt, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}
