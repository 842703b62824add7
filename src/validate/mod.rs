//! `run --validate-json [--schema FILE]`: every answer must be JSON, and valid against a schema
//! when there is one (the file's, else the request's own `response_format` json_schema; tool
//! calls against their tool's `parameters`). A failed check is an `invalid_output` error:
//! retried like a broken stream, counted apart, with the validator's words in errors.jsonl.

use std::path::{Path, PathBuf};

use crate::record::JsonText;
use serde_json::Value;

/// Longest validator message kept per violation (instances can be long).
const MESSAGE_CHARS: usize = 200;

/// Violations listed in one error message; the rest are counted.
const LISTED: usize = 3;

/// Why `--schema FILE` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaFileError {
    #[error("{}: cannot read the schema: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not JSON: {source}", .path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{}: not a valid JSON Schema: {message}", .path.display())]
    Schema { path: PathBuf, message: String },
}

/// The `choices` of an answer; its other fields are skipped, not built.
#[derive(serde::Deserialize)]
struct Choices {
    #[serde(default)]
    choices: Value,
}

/// The check every answer of a `--validate-json` run goes through.
pub struct OutputCheck {
    /// `--schema FILE`, compiled once; `None`: each request's own `response_format`.
    schema: Option<jsonschema::Validator>,
}

impl std::fmt::Debug for OutputCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputCheck")
            .field("schema_file", &self.schema.is_some())
            .finish()
    }
}

impl OutputCheck {
    /// The check, with the schema of `schema` when a file is given.
    pub fn new(schema: Option<&Path>) -> Result<OutputCheck, SchemaFileError> {
        let Some(path) = schema else {
            return Ok(OutputCheck { schema: None });
        };
        let text = std::fs::read_to_string(path).map_err(|source| SchemaFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|source| SchemaFileError::Json {
            path: path.to_owned(),
            source,
        })?;
        let validator = jsonschema::validator_for(&value).map_err(|e| SchemaFileError::Schema {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Ok(OutputCheck {
            schema: Some(validator),
        })
    }

    /// Checks every choice of a chat completion `body` answered to `request` (the body sent).
    /// Answers without `choices[].message` (embeddings, moderations) are not checked. Only
    /// the answer's `choices` are parsed.
    pub fn check(&self, request: &[u8], body: &JsonText) -> Result<(), String> {
        let choices = match serde_json::from_str::<Choices>(body.get()) {
            Ok(answer) => answer.choices,
            // `choices` given twice: read as a `Value` reads it (the last one).
            Err(_) => serde_json::from_str::<Value>(body.get())
                .ok()
                .and_then(|b| b.get("choices").cloned())
                .unwrap_or_default(),
        };
        let Some(choices) = choices.as_array() else {
            return Ok(());
        };
        let request: Value = serde_json::from_slice(request).unwrap_or(Value::Null);
        for (index, choice) in choices.iter().enumerate() {
            let Some(message) = choice.get("message") else { continue };
            let at = |what: String| {
                if choices.len() > 1 {
                    format!("choice {index}: {what}")
                } else {
                    what
                }
            };
            let calls = message.get("tool_calls").and_then(Value::as_array);
            if let Some(calls) = calls.filter(|c| !c.is_empty()) {
                for call in calls {
                    self.check_call(&request, call).map_err(at)?;
                }
                continue;
            }
            let Some(content) = message.get("content").and_then(Value::as_str) else {
                return Err(at("the answer has no text content to check".into()));
            };
            let parsed: Value =
                serde_json::from_str(content).map_err(|e| at(format!("the answer is not JSON: {e}")))?;
            match (&self.schema, request_schema(&request)) {
                (Some(validator), _) => violations(validator, &parsed).map_err(at)?,
                (None, Some(schema)) => {
                    let validator = jsonschema::validator_for(schema)
                        .map_err(|e| at(format!("the request's response_format schema is not valid: {e}")))?;
                    violations(&validator, &parsed).map_err(at)?;
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// A tool call's arguments: JSON, and valid against the request's tool of that name.
    fn check_call(&self, request: &Value, call: &Value) -> Result<(), String> {
        let function = call.get("function").unwrap_or(&Value::Null);
        let name = function.get("name").and_then(Value::as_str).unwrap_or("");
        let arguments = function.get("arguments").and_then(Value::as_str).unwrap_or("");
        let parsed: Value = serde_json::from_str(arguments)
            .map_err(|e| format!("tool call {name}: the arguments are not JSON: {e}"))?;
        let parameters = request
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|tools| {
                tools
                    .iter()
                    .find(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
            })
            .and_then(|tool| tool.pointer("/function/parameters"));
        if let Some(parameters) = parameters {
            let validator = jsonschema::validator_for(parameters)
                .map_err(|e| format!("tool {name}: its parameters are not a valid schema: {e}"))?;
            violations(&validator, &parsed).map_err(|e| format!("tool call {name}: {e}"))?;
        }
        Ok(())
    }
}

/// `response_format.json_schema.schema` of a request body.
fn request_schema(request: &Value) -> Option<&Value> {
    let format = request.get("response_format")?;
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return None;
    }
    format.pointer("/json_schema/schema")
}

/// The first violations, each with where in the answer it is.
fn violations(validator: &jsonschema::Validator, instance: &Value) -> Result<(), String> {
    let mut listed = Vec::new();
    let mut count = 0usize;
    for error in validator.iter_errors(instance) {
        count += 1;
        if listed.len() < LISTED {
            let mut text = error.to_string();
            if text.chars().count() > MESSAGE_CHARS {
                text = text.chars().take(MESSAGE_CHARS).collect::<String>() + "…";
            }
            let path = error.instance_path().to_string();
            listed.push(if path.is_empty() {
                text
            } else {
                format!("at {path}: {text}")
            });
        }
    }
    if count == 0 {
        return Ok(());
    }
    let more = count - listed.len();
    let mut message = format!("the answer does not match the schema: {}", listed.join("; "));
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    Err(message)
}

#[cfg(test)]
mod tests;
