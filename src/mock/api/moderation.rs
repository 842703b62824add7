//! `POST /v1/moderations`: one result per input with every category of
//! `omni-moderation-latest`, its score and the input types it was applied to. Scores are small
//! and deterministic; an input whose text contains `[flag]` is flagged for violence (so tests
//! can see both answers). Like OpenAI's, the answer has no `usage`.

use serde_json::{json, Map, Value};

use super::super::faults::ApiError;
use super::super::reply::{mix, Prompt};
use super::request;

/// The model named in answers when the request names none.
pub(crate) const DEFAULT_MODEL: &str = crate::provider::endpoint::DEFAULT_MODERATION_MODEL;

/// The categories, and whether each also applies to images.
const CATEGORIES: [(&str, bool); 13] = [
    ("harassment", false),
    ("harassment/threatening", false),
    ("hate", false),
    ("hate/threatening", false),
    ("illicit", false),
    ("illicit/violent", false),
    ("self-harm", true),
    ("self-harm/intent", true),
    ("self-harm/instructions", true),
    ("sexual", true),
    ("sexual/minors", false),
    ("violence", true),
    ("violence/graphic", true),
];

/// The text that makes the mock flag an input.
const FLAG: &str = "[flag]";

/// One input to moderate: its fingerprint, whether it carries the flag, and whether it has
/// an image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input {
    pub prompt: Prompt,
    pub flagged: bool,
    pub image: bool,
}

/// `input`: a string, an array of strings, or one multimodal array of text and image parts.
pub(crate) fn inputs(value: Option<&Value>) -> Result<Vec<Input>, ApiError> {
    let text = |text: &str| Input {
        prompt: super::text_prompt(text),
        flagged: text.contains(FLAG),
        image: false,
    };
    match value {
        Some(Value::String(s)) => Ok(vec![text(s)]),
        Some(Value::Array(items)) if items.is_empty() => Err(ApiError::invalid_request(
            "[] is too short - 'input'",
            Some("input"),
            "empty_array",
        )),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(items.iter().filter_map(Value::as_str).map(text).collect())
        }
        Some(Value::Array(parts)) if parts.iter().all(Value::is_object) => {
            let mut joined = String::new();
            let mut image = false;
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => joined.push_str(part.get("text").and_then(Value::as_str).unwrap_or("")),
                    Some("image_url") => image = true,
                    _ => return Err(request::invalid_type("input", "text or image_url parts")),
                }
            }
            Ok(vec![Input { image, ..text(&joined) }])
        }
        None | Some(Value::Null) => Err(ApiError::invalid_request(
            "Missing required parameter: 'input'.",
            Some("input"),
            "missing_required_parameter",
        )),
        Some(_) => Err(request::invalid_type("input", "a string or an array")),
    }
}

/// The moderation object: `{"id", "model", "results": [...]}`.
pub(crate) fn body(id: &str, model: &str, inputs: &[Input]) -> Value {
    let results: Vec<Value> = inputs.iter().map(result).collect();
    json!({"id": id, "model": model, "results": results})
}

fn result(input: &Input) -> Value {
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for (k, &(name, images)) in CATEGORIES.iter().enumerate() {
        let flagged = input.flagged && name == "violence";
        let score = if flagged {
            0.97
        } else {
            // Below 0.01: nothing is near flagging.
            (mix(input.prompt.hash ^ k as u64) >> 11) as f64 / (1u64 << 53) as f64 * 0.01
        };
        categories.insert(name.into(), json!(flagged));
        scores.insert(name.into(), json!(score));
        let types: Vec<&str> = if images && input.image {
            vec!["text", "image"]
        } else {
            vec!["text"]
        };
        applied.insert(name.into(), json!(types));
    }
    json!({
        "flagged": input.flagged,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}
