//! Tests of the stream assembler.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
           "system_fingerprint": "fp", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

#[test]
fn role_chunk_is_not_a_token_and_content_is_joined() {
    let mut a = Assembler::new();
    assert!(!a.push(&chunk(json!({"role": "assistant", "content": ""}), Value::Null), ms(1)));
    assert!(a.push(&chunk(json!({"content": "Hello"}), Value::Null), ms(10)));
    assert!(a.push(&chunk(json!({"content": " world"}), Value::Null), ms(30)));
    assert!(!a.finished());
    assert!(!a.push(&chunk(json!({}), json!("stop")), ms(31)));
    assert!(a.finished());
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7});
    a.push(&json!({"id": "c1", "choices": [], "usage": usage}), ms(32));

    assert_eq!(a.token_times(), Some((ms(10), ms(30))));
    assert_eq!(a.content_chunks(), 2);
    let body = a.completion();
    assert_eq!(
        body,
        json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "m",
               "system_fingerprint": "fp",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"},
                            "logprobs": null, "finish_reason": "stop"}],
               "usage": usage})
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys[..4], ["id", "object", "created", "model"]);
}

#[test]
fn tool_calls_and_reasoning_are_merged_and_usage_may_be_missing() {
    let mut a = Assembler::new();
    a.push(&chunk(json!({"reasoning_content": "think"}), Value::Null), ms(5));
    let call = |args: &str, first: bool| {
        let mut c = json!({"index": 0, "function": {"arguments": args}});
        if first {
            c["id"] = json!("call_1");
            c["type"] = json!("function");
            c["function"]["name"] = json!("lookup");
        }
        chunk(json!({"tool_calls": [c]}), Value::Null)
    };
    a.push(&call("{\"q\":", true), ms(6));
    a.push(&call("1}", false), ms(7));
    a.push(&chunk(json!({}), json!("tool_calls")), ms(8));
    let body = a.completion();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["reasoning_content"], "think");
    assert_eq!(
        message["tool_calls"],
        json!([{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":1}"}}])
    );
    assert_eq!(body["usage"], Value::Null);
    assert_eq!(a.usage(), None);
    assert_eq!(a.generated_text(), "thinklookup{\"q\":1}");
    assert_eq!(a.content_chunks(), 3);
}

#[test]
fn legacy_completion_chunks_become_a_text_completion() {
    let mut a = Assembler::new();
    let chunk = |text: &str, finish: Value| {
        json!({"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "m",
               "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
    };
    assert!(a.push(&chunk("Hello", Value::Null), ms(10)));
    assert!(a.push(&chunk(" world", Value::Null), ms(20)));
    assert!(!a.push(&chunk("", json!("stop")), ms(21)));
    assert!(a.finished());
    let usage = json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5});
    a.push(
        &json!({"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": usage}),
        ms(22),
    );
    assert_eq!(
        a.completion(),
        json!({"id": "cmpl-1", "object": "text_completion", "created": 7, "model": "m",
               "choices": [{"text": "Hello world", "index": 0, "logprobs": null, "finish_reason": "stop"}],
               "usage": usage})
    );
    assert_eq!(a.token_times(), Some((ms(10), ms(20))));
}

#[test]
fn choices_are_kept_apart_by_index() {
    let mut a = Assembler::new();
    for (index, text) in [(1, "b"), (0, "a"), (1, "c")] {
        a.push(
            &json!({"choices": [{"index": index, "delta": {"content": text}, "finish_reason": null}]}),
            ms(1),
        );
    }
    let body = a.completion();
    assert_eq!(body["choices"][0]["message"]["content"], "a");
    assert_eq!(body["choices"][1]["message"]["content"], "bc");
    assert_eq!(body["choices"][1]["index"], 1);
}
