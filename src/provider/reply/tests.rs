use super::*;
use crate::provider::Secret;
use serde_json::Value;

#[test]
fn usage_reads_cached_tokens() {
    let body = serde_json::json!({"usage": {"prompt_tokens": 100, "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 64}}});
    let usage = parse_usage(&body);
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 100,
            cached_input_tokens: 64,
            cache_write_tokens: 0,
            output_tokens: 20
        })
    );
    assert_eq!(parse_usage(&serde_json::json!({})), None);
}

fn endpoint() -> Endpoint {
    Endpoint::new("p", "http://127.0.0.1:1/v1", Some(Secret::new("sk-echoed-0123456789")))
}

#[test]
fn a_key_echoed_in_a_2xx_body_is_scrubbed_before_parsing() {
    let body =
        br#"{"id":"sk-echoed-0123456789","choices":[{"message":{"content":"your key is sk-echoed-0123456789"}}]}"#;
    let reply = completion_reply(ApiEndpoint::Chat, 200, None, body, Duration::ZERO, &endpoint()).unwrap();
    assert!(!reply.body.to_string().contains("sk-echoed"), "{}", reply.body);
    assert_eq!(reply.request_id.as_deref(), Some("[redacted]"));
}

#[test]
fn a_key_echoed_behind_json_escapes_is_scrubbed_too() {
    let body = br#"{"id":"c","choices":[{"message":{"content":"key: sk\u002dechoed\u002d0123456789, caf\u00e9"}}]}"#;
    let reply = completion_reply(ApiEndpoint::Chat, 200, None, body, Duration::ZERO, &endpoint()).unwrap();
    let text = reply.body_value().to_string();
    assert!(!text.contains("sk-echoed"), "{text}");
    assert!(text.contains("[redacted]") && text.contains("café"), "{text}");
    // Escapes without the key behind them are kept as they came.
    let body = br#"{"id":"c","choices":[{"message":{"content":"caf\u00e9"}}]}"#;
    let reply = completion_reply(ApiEndpoint::Chat, 200, None, body, Duration::ZERO, &endpoint()).unwrap();
    assert_eq!(reply.body.get(), std::str::from_utf8(body).unwrap());
}

#[test]
fn each_endpoint_checks_its_own_shape_and_reads_its_own_usage() {
    let embeddings = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],
        "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#;
    let reply = completion_reply(
        ApiEndpoint::Embeddings,
        200,
        None,
        embeddings,
        Duration::ZERO,
        &endpoint(),
    )
    .unwrap();
    assert_eq!((reply.usage.input_tokens, reply.usage.output_tokens), (8, 0));
    let error = completion_reply(ApiEndpoint::Chat, 200, None, embeddings, Duration::ZERO, &endpoint()).unwrap_err();
    assert!(error.to_string().contains("no \"choices\""), "{error}");

    let responses = br#"{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":30,
        "input_tokens_details":{"cached_tokens":10},"output_tokens":5,"total_tokens":35}}"#;
    let reply = completion_reply(
        ApiEndpoint::Responses,
        200,
        None,
        responses,
        Duration::ZERO,
        &endpoint(),
    )
    .unwrap();
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 30,
            cached_input_tokens: 10,
            cache_write_tokens: 0,
            output_tokens: 5
        }
    );
    assert_eq!(reply.request_id.as_deref(), Some("resp_1"));
    let error = completion_reply(
        ApiEndpoint::Moderations,
        200,
        None,
        responses,
        Duration::ZERO,
        &endpoint(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("no \"results\""), "{error}");
}

/// An answer as the mock sends it: compact JSON, as serde_json writes it.
const COMPACT: &str = concat!(
    r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4.1-mini","#,
    r#""choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\",\nçà ✓","#,
    r#""refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"#,
    r#""completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}},"#,
    r#""service_tier":"default","system_fingerprint":"fp_1","score":0.25}"#
);

fn chat(bytes: &[u8]) -> Result<Reply, RequestError> {
    completion_reply(ApiEndpoint::Chat, 200, None, bytes, Duration::ZERO, &endpoint())
}

#[test]
fn a_compact_answer_is_kept_as_the_bytes_that_came_which_are_what_its_value_wrote() {
    let reply = chat(COMPACT.as_bytes()).unwrap();
    assert_eq!(reply.body.get(), COMPACT);
    // What results.jsonl held when the body was parsed into a `Value` and written again.
    let before: Value = serde_json::from_str(COMPACT).unwrap();
    assert_eq!(reply.body.get(), serde_json::to_string(&before).unwrap());
    assert_eq!(reply.request_id.as_deref(), Some("chatcmpl-1"));
    assert_eq!(
        reply.usage,
        Usage {
            input_tokens: 12,
            cached_input_tokens: 4,
            cache_write_tokens: 0,
            output_tokens: 3
        }
    );
    let given = completion_reply(
        ApiEndpoint::Chat,
        200,
        Some("req-header".into()),
        COMPACT.as_bytes(),
        Duration::ZERO,
        &endpoint(),
    )
    .unwrap();
    assert_eq!(given.request_id.as_deref(), Some("req-header"), "the header's id wins");
}

#[test]
fn a_pretty_printed_answer_is_kept_on_one_line_with_its_strings_untouched() {
    let value: Value = serde_json::from_str(COMPACT).unwrap();
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert!(pretty.lines().count() > 10);
    let reply = chat(format!("\r\n{pretty}\r\n").as_bytes()).unwrap();
    assert!(!reply.body.get().contains(['\n', '\r']), "{}", reply.body);
    // The whitespace between tokens is gone, nothing else: the compact bytes again.
    assert_eq!(reply.body.get(), COMPACT);
    assert_eq!(reply.usage.input_tokens, 12);

    // Spaces on one line are kept as they came.
    let spaced = r#"{ "choices": [ {"message": {"content": "a  b"}} ], "usage": {"prompt_tokens": 2} }"#;
    let reply = chat(spaced.as_bytes()).unwrap();
    assert_eq!(reply.body.get(), spaced);
    assert_eq!(reply.usage.input_tokens, 2);
}

#[test]
fn only_the_shape_decides_and_odd_fields_read_as_a_value_reads_them() {
    let error = chat(b"{\"choices\": [}").unwrap_err();
    assert!(matches!(error, RequestError::InvalidResponse(_)), "{error:?}");
    assert!(error.to_string().contains("body is not JSON"), "{error}");
    let error = chat(b"{\"choices\": []} trailing").unwrap_err();
    assert!(error.to_string().contains("body is not JSON"), "{error}");
    // The fields sheepdog skips are checked too: the body is written out as it came.
    for broken in [
        &br#"{"choices": [], "x": [1, }"#[..],
        br#"{"choices": [], "x": {"y": tru}}"#,
        b"{\"choices\": [], \"x\": \"\xff\xfe\"}",
        b"{\"choices\": [], \"x\": \"a\tb\"}",
    ] {
        let error = chat(broken).unwrap_err();
        assert!(error.to_string().contains("body is not JSON"), "{error}");
    }
    for not_an_answer in [
        &b"[[1]]"[..],
        b"null",
        b"true",
        b"-1.5e3",
        b"\"choices\"",
        b"{\"choices\": {}}",
        b"{\"choices\": null}",
    ] {
        let error = chat(not_an_answer).unwrap_err();
        assert!(error.to_string().contains("has no \"choices\""), "{error}");
    }
    // A key given twice keeps its last value, as in a `Value`.
    let twice = br#"{"id": 7, "choices": {}, "usage": {"prompt_tokens": 1}, "choices": [], "id": "c2",
        "usage": {"prompt_tokens": 9, "prompt_tokens": 10, "completion_tokens": 2.0}}"#;
    let reply = chat(twice).unwrap();
    assert_eq!(reply.request_id.as_deref(), Some("c2"));
    assert_eq!((reply.usage.input_tokens, reply.usage.output_tokens), (10, 0));
    // An id that is not a string is no request id; usage that is not an object is none.
    let reply = chat(br#"{"id": 7, "choices": [], "usage": "none"}"#).unwrap();
    assert_eq!((reply.request_id, reply.usage), (None, Usage::default()));
    let escaped = br#"{"ch\u006fices": [], "usage": {"prompt_tokens": 3}}"#;
    assert_eq!(chat(escaped).unwrap().usage.input_tokens, 3);
}

#[test]
fn a_moderation_answer_without_usage_is_told_from_one_with() {
    let without = br#"{"id": "modr-1", "results": [{"flagged": false}]}"#;
    let reply = completion_reply(
        ApiEndpoint::Moderations,
        200,
        None,
        without,
        Duration::ZERO,
        &endpoint(),
    )
    .unwrap();
    assert!(!has_usage(&reply.body));
    let with = br#"{"id": "modr-1", "results": [], "usage": {"prompt_tokens": 4}}"#;
    let reply = completion_reply(ApiEndpoint::Moderations, 200, None, with, Duration::ZERO, &endpoint()).unwrap();
    assert!(has_usage(&reply.body));
    assert_eq!(reply.usage.input_tokens, 4);
}
