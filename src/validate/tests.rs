use serde_json::{json, Value};

use super::*;

fn answer(content: &str) -> JsonText {
    raw(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}))
}

fn raw(body: Value) -> JsonText {
    crate::record::raw_body(&body)
}

fn request(schema: Value) -> Vec<u8> {
    json!({"model": "m", "messages": [],
           "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    .to_string()
    .into_bytes()
}

#[test]
fn json_alone_is_checked_without_a_schema() {
    let check = OutputCheck::new(None).expect("no file");
    let plain = br#"{"model":"m","messages":[]}"#;
    assert_eq!(check.check(plain, &answer(r#"{"a": 1}"#)), Ok(()));
    let error = check
        .check(plain, &answer("Sure! Here it is"))
        .expect_err("prose is not JSON");
    assert!(
        error.starts_with("the answer is not JSON: expected value at line 1 column 1"),
        "{error}"
    );
    let embeddings = raw(json!({"data": [{"embedding": [0.1]}]}));
    assert_eq!(check.check(plain, &embeddings), Ok(()));
}

#[test]
fn the_requests_own_schema_is_used_and_violations_are_named() {
    let check = OutputCheck::new(None).expect("no file");
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1},
                        "tag": {"enum": ["a", "b"]}}, "required": ["n", "tag"]});
    let body = request(schema);
    assert_eq!(check.check(&body, &answer(r#"{"n": 2, "tag": "a"}"#)), Ok(()));
    let error = check
        .check(&body, &answer(r#"{"n": 0, "tag": "c"}"#))
        .expect_err("two violations");
    assert!(
        error.starts_with("the answer does not match the schema: at /"),
        "{error}"
    );
    assert!(error.contains("/n: 0 is less than the minimum of 1"), "{error}");
    assert!(error.contains("/tag"), "{error}");
    let error = check.check(&body, &answer(r#"{"n": 2}"#)).expect_err("missing tag");
    assert!(error.contains("\"tag\" is a required property"), "{error}");
}

#[test]
fn a_schema_file_wins_and_bad_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("schema.json");
    std::fs::write(&path, r#"{"type": "array"}"#).expect("write");
    let check = OutputCheck::new(Some(&path)).expect("valid schema");
    let body = request(json!({"type": "object"}));
    assert_eq!(check.check(&body, &answer("[1, 2]")), Ok(()));
    assert!(check.check(&body, &answer("{}")).is_err());

    std::fs::write(&path, "{not json").expect("write");
    let error = OutputCheck::new(Some(&path)).expect_err("not JSON").to_string();
    assert!(error.contains("schema.json: not JSON"), "{error}");
    std::fs::write(&path, r#"{"type": 12}"#).expect("write");
    let error = OutputCheck::new(Some(&path)).expect_err("bad schema").to_string();
    assert!(error.contains("schema.json: not a valid JSON Schema"), "{error}");
    let missing = dir.path().join("missing.json");
    let error = OutputCheck::new(Some(&missing)).expect_err("missing").to_string();
    assert!(error.contains("missing.json: cannot read the schema"), "{error}");
}

#[test]
fn tool_call_arguments_are_checked_against_their_tool() {
    let check = OutputCheck::new(None).expect("no file");
    let body = json!({"model": "m", "messages": [], "tools": [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
        "required": ["city"]}}}]})
    .to_string();
    let call = |arguments: &str| {
        raw(
            json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]}}]}),
        )
    };
    assert_eq!(check.check(body.as_bytes(), &call(r#"{"city": "Oslo"}"#)), Ok(()));
    let error = check.check(body.as_bytes(), &call("{}")).expect_err("city missing");
    assert!(error.starts_with("tool call get_weather: "), "{error}");
    let error = check.check(body.as_bytes(), &call("{\"city\":")).expect_err("cut");
    assert!(error.contains("arguments are not JSON"), "{error}");
}

#[test]
fn every_choice_is_checked() {
    let check = OutputCheck::new(None).expect("no file");
    let body = raw(json!({"choices": [{"message": {"content": "{}"}}, {"message": {"content": "nope"}}]}));
    let error = check.check(b"{}", &body).expect_err("second choice");
    assert!(error.starts_with("choice 1: the answer is not JSON"), "{error}");
}
