//! `run --validate-json [--schema FILE]` against the mock's structured outputs: valid answers
//! succeed, prose and cut JSON are `invalid_output` errors retried up to --max-attempts, with
//! the validator's words in errors.jsonl and their own count in summary.json.

mod common;

use common::{job, start_mock, RunFolder, Scratch};
use serde_json::{json, Value};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
const FAST_RETRY: &str = "[retry]\nbase_delay = \"2ms\"\nmax_delay = \"20ms\"\n";

fn line(id: &str, prompt: &str, extra: Value) -> String {
    let mut body = json!({"id": id, "messages": [{"role": "user", "content": prompt}]});
    for (key, value) in extra.as_object().expect("object") {
        body[key] = value.clone();
    }
    body.to_string()
}

fn person_format() -> Value {
    json!({"response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
                       "role": {"enum": ["farmer", "shepherd"]}},
        "required": ["name", "age", "role"], "additionalProperties": false}}}})
}

fn error_of<'a>(folder: &'a RunFolder, id: &str) -> &'a Value {
    folder
        .errors
        .iter()
        .find(|e| e["custom_id"] == id)
        .unwrap_or_else(|| panic!("no error line for {id}: {:?}", folder.errors))
}

#[tokio::test]
async fn invalid_answers_are_retried_counted_and_explained() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let mut cut = person_format();
    cut["max_tokens"] = json!(3);
    let input = [
        line("person", "Describe Ada", person_format()),
        line("prose", "Say hello", json!({})),
        line("cut", "Describe Grace", cut),
    ]
    .join("\n");
    let job = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], FAST_RETRY);
    let extra = ["--validate-json", "--max-attempts", "2", "--quiet"];
    let (out, finished) = scratch.run_job(&input, &job, &extra, &[(KEY_ENV, "k")]).await;
    finished.assert_code(1);
    let folder = RunFolder::read(&out);

    assert_eq!(folder.results.len(), 1);
    assert_eq!(folder.results[0]["custom_id"], "person");
    let prose = error_of(&folder, "prose");
    assert_eq!(prose["sheepdog"]["error_class"], "invalid_output");
    assert_eq!(prose["sheepdog"]["attempts"], 2, "{prose}");
    let message = prose["error"]["message"].as_str().expect("message");
    assert!(message.starts_with("the answer is not JSON: "), "{message}");
    let cut = error_of(&folder, "cut");
    assert_eq!(cut["sheepdog"]["error_class"], "invalid_output");
    assert!(
        cut["error"]["message"].as_str().is_some_and(|m| m.contains("not JSON")),
        "{cut}"
    );
    // The refused answers were paid for: their cost is on the error line.
    assert!(cut["sheepdog"]["cost_usd"].as_f64().is_some_and(|c| c > 0.0), "{cut}");

    let errors = folder.summary["errors"].as_array().expect("summary errors");
    let invalid: u64 = errors
        .iter()
        .filter(|e| e["class"] == "invalid_output" && e["scope"] == "items")
        .filter_map(|e| e["count"].as_u64())
        .sum();
    assert_eq!(invalid, 2, "{errors:?}");
    // 1 + 2 + 2 requests reached the mock.
    assert_eq!(server.stats().requests, 5);
    server.shutdown().await;
}

#[tokio::test]
async fn a_schema_file_applies_to_every_answer_and_a_bad_file_is_named() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let schema = scratch.write(
        "score.json",
        r#"{"type": "object", "properties": {"score": {"type": "number"}}, "required": ["score"]}"#,
    );
    let input = line("obj", "Rate this", json!({"response_format": {"type": "json_object"}}));
    let job = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], FAST_RETRY);
    let schema_arg = schema.to_str().expect("utf-8");
    let extra = ["--schema", schema_arg, "--max-attempts", "1", "--quiet"];
    let (out, finished) = scratch.run_job(&input, &job, &extra, &[(KEY_ENV, "k")]).await;
    finished.assert_code(1);
    let folder = RunFolder::read(&out);
    let message = error_of(&folder, "obj")["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.contains("does not match the schema") && message.contains("\"score\" is a required property"),
        "{message}"
    );

    let broken = scratch.write("broken.json", "{\"type\": ");
    let broken_arg = broken.to_str().expect("utf-8");
    let (_, finished) = scratch
        .run_job(&input, &job, &["--schema", broken_arg, "--quiet"], &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(2);
    assert!(finished.stderr.contains("broken.json: not JSON"), "{}", finished.stderr);
    server.shutdown().await;
}
