//! Non-streamed chat completions: body shape, determinism, limits, keys, models, faults.

use std::time::Duration;

use serde_json::json;

use super::{chat_body, post, send, start};
use crate::mock::MockConfig;

#[tokio::test]
async fn success_has_openai_shape_and_consistent_usage() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let answer = post(&client, &server, &chat_body("Hello there")).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    let body = &answer.body;
    let id = body["id"].as_str().expect("id");
    let number = id.strip_prefix("chatcmpl-mock-").expect("id prefix");
    assert_eq!(answer.header("x-request-id"), format!("req_mock_{number}"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().expect("created") > 1_700_000_000);
    assert_eq!(body["model"], "gpt-4.1-mini");
    assert_eq!(body["system_fingerprint"], "fp_mock");
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");

    let words = answer.content().split(' ').count() as u64;
    assert!((16..=64).contains(&words), "{words} words");
    let usage = &body["usage"];
    // "Hello there": ceil(11 / 4) = 3, + 4 for the message, + 3 for the reply.
    assert_eq!(usage["prompt_tokens"], 10);
    assert_eq!(usage["completion_tokens"], words);
    assert_eq!(usage["total_tokens"], 10 + words);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    server.shutdown().await;
}

#[tokio::test]
async fn replies_depend_on_the_prompt_only() {
    let server = start(MockConfig::default()).await;
    let other_seed = start(MockConfig {
        seed: 99,
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let first = post(&client, &server, &chat_body("What is a sheepdog?")).await;
    let again = post(&client, &server, &chat_body("What is a sheepdog?")).await;
    let elsewhere = post(&client, &other_seed, &chat_body("What is a sheepdog?")).await;
    let different = post(&client, &server, &chat_body("What is a sheep?")).await;

    assert_eq!(first.content(), again.content());
    assert_eq!(first.body["usage"], again.body["usage"]);
    assert_eq!(first.content(), elsewhere.content());
    assert_ne!(first.content(), different.content());
    assert_ne!(first.body["id"], again.body["id"], "ids are per request");

    // Content given as text parts counts like the same text given as a string.
    let parts = json!({"model": "m", "messages": [{"role": "user",
        "content": [{"type": "text", "text": "What is a sheepdog?"}]}]});
    let from_parts = post(&client, &server, &parts).await;
    assert_eq!(
        from_parts.body["usage"]["prompt_tokens"],
        first.body["usage"]["prompt_tokens"]
    );
    server.shutdown().await;
    other_seed.shutdown().await;
}

#[tokio::test]
async fn max_tokens_caps_the_reply_with_finish_reason_length() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let full = post(&client, &server, &chat_body("Tell me a story")).await;

    let mut capped = chat_body("Tell me a story");
    capped["max_tokens"] = json!(5);
    let capped = post(&client, &server, &capped).await;
    assert_eq!(capped.body["choices"][0]["finish_reason"], "length");
    assert_eq!(capped.body["usage"]["completion_tokens"], 5);
    assert_eq!(capped.content().split(' ').count(), 5);
    assert!(full.content().starts_with(capped.content()));

    let mut newer = chat_body("Tell me a story");
    newer["max_completion_tokens"] = json!(3);
    let newer = post(&client, &server, &newer).await;
    assert_eq!(newer.body["usage"]["completion_tokens"], 3);
    assert_eq!(newer.body["choices"][0]["finish_reason"], "length");

    let mut roomy = chat_body("Tell me a story");
    roomy["max_tokens"] = json!(1000);
    let roomy = post(&client, &server, &roomy).await;
    assert_eq!(roomy.body["choices"][0]["finish_reason"], "stop");
    assert_eq!(roomy.content(), full.content());
    server.shutdown().await;

    let fixed = start(MockConfig {
        output_tokens: Some(7),
        ..MockConfig::default()
    })
    .await;
    let answer = post(&client, &fixed, &chat_body("Tell me a story")).await;
    assert_eq!(answer.body["usage"]["completion_tokens"], 7);
    assert_eq!(answer.content().split(' ').count(), 7);
    assert_eq!(answer.body["choices"][0]["finish_reason"], "stop");
    fixed.shutdown().await;
}

#[tokio::test]
async fn required_key_gives_401_without_echoing_the_key() {
    let key = "sk-mock-secret-1234567890";
    let wrong = "sk-wrong-abcdefghijklmnop";
    let server = start(MockConfig {
        require_key: Some(key.to_owned()),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let body = chat_body("hi");

    let missing = send(client.post(&url).json(&body)).await;
    missing.assert_error(401, "invalid_request_error", Some("invalid_api_key"));
    let bad = send(client.post(&url).bearer_auth(wrong).json(&body)).await;
    bad.assert_error(401, "invalid_request_error", Some("invalid_api_key"));
    let text = bad.body.to_string();
    for secret in [key, wrong, "sk-wrong", "mnop", "7890"] {
        assert!(!text.contains(secret), "401 body leaks {secret:?}: {text}");
    }
    let models = send(client.get(format!("{}/models", server.base_url()))).await;
    models.assert_error(401, "invalid_request_error", Some("invalid_api_key"));

    let ok = send(client.post(&url).bearer_auth(key).json(&body)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let log = server.stats().log;
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].key_id, None);
    let (bad_id, good_id) = (log[1].key_id.clone(), log[2].key_id.clone());
    assert!(bad_id.is_some() && good_id.is_some() && bad_id != good_id);
    assert!(log.iter().flat_map(|e| &e.key_id).all(|id| !id.contains("sk-")));
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_model_gets_404_model_not_found() {
    let server = start(MockConfig {
        models: Some(vec!["deepseek-chat".to_owned()]),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let answer = post(&client, &server, &chat_body("hi")).await;
    let message = answer.assert_error(404, "invalid_request_error", Some("model_not_found"));
    assert_eq!(
        message,
        "The model `gpt-4.1-mini` does not exist or you do not have access to it."
    );

    let mut known = chat_body("hi");
    known["model"] = json!("deepseek-chat");
    assert_eq!(post(&client, &server, &known).await.status, 200);

    let list = send(client.get(format!("{}/models", server.base_url()))).await;
    assert_eq!(list.body["object"], "list");
    assert_eq!(list.body["data"][0]["id"], "deepseek-chat");
    assert_eq!(list.body["data"][0]["owned_by"], "sheepdog-mock");
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1));
    let one = send(client.get(format!("{}/models/gpt-4o", server.base_url()))).await;
    one.assert_error(404, "invalid_request_error", Some("model_not_found"));
    server.shutdown().await;
}

#[tokio::test]
async fn injected_429_carries_both_retry_after_headers() {
    let server = start(MockConfig {
        failures: vec![(429, 1.0)],
        retry_after: Duration::from_millis(1500),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let answer = post(&client, &server, &chat_body("hi")).await;
    answer.assert_error(429, "requests", Some("rate_limit_exceeded"));
    assert_eq!(answer.header("retry-after"), "2");
    assert_eq!(answer.header("retry-after-ms"), "1500");
    assert!(answer.header("x-request-id").starts_with("req_mock_"));
    server.shutdown().await;

    let failing = start(MockConfig {
        failures: vec![(503, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let answer = post(&client, &failing, &chat_body("hi")).await;
    answer.assert_error(503, "server_error", None);
    assert!(answer.headers.get("retry-after").is_none());
    failing.shutdown().await;
}

#[tokio::test]
async fn checks_run_in_order_key_model_fault() {
    let server = start(MockConfig {
        require_key: Some("k".to_owned()),
        models: Some(vec!["good".to_owned()]),
        failures: vec![(500, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let bad_model = chat_body("hi");
    let mut good_model = chat_body("hi");
    good_model["model"] = json!("good");

    let no_key = send(client.post(&url).json(&bad_model)).await;
    no_key.assert_error(401, "invalid_request_error", Some("invalid_api_key"));
    let garbage = send(client.post(&url).body("{not json")).await;
    garbage.assert_error(401, "invalid_request_error", Some("invalid_api_key"));
    let model = send(client.post(&url).bearer_auth("k").json(&bad_model)).await;
    model.assert_error(404, "invalid_request_error", Some("model_not_found"));
    let fault = send(client.post(&url).bearer_auth("k").json(&good_model)).await;
    fault.assert_error(500, "server_error", None);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_400_and_the_server_keeps_going() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base_url());
    let cases: [(&str, Option<&str>, &str); 8] = [
        ("{not json", None, "invalid_json"),
        ("", None, "invalid_json"),
        ("[1, 2]", None, "invalid_type"),
        (
            r#"{"messages": [{"role": "user", "content": "x"}]}"#,
            Some("model"),
            "missing_required_parameter",
        ),
        (r#"{"model": "m"}"#, Some("messages"), "missing_required_parameter"),
        (r#"{"model": "m", "messages": []}"#, Some("messages"), "empty_array"),
        (r#"{"model": "m", "messages": "hi"}"#, Some("messages"), "invalid_type"),
        (
            r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#,
            Some("max_tokens"),
            "integer_below_min_value",
        ),
    ];
    for (body, param, code) in cases {
        let answer = send(client.post(&url).body(body)).await;
        answer.assert_error(400, "invalid_request_error", Some(code));
        assert_eq!(answer.body["error"]["param"].as_str(), param, "for {body}");
    }
    assert_eq!(post(&client, &server, &chat_body("still there?")).await.status, 200);
    let stats = server.stats();
    assert_eq!(stats.by_status.get(&400), Some(&8));
    assert_eq!(stats.by_status.get(&200), Some(&1));
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_openai_errors() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let base = server.base_url();
    let missing = send(client.post(format!("{base}/images/generations")).json(&json!({}))).await;
    let message = missing.assert_error(404, "invalid_request_error", Some("unknown_url"));
    assert_eq!(message, "Invalid URL (POST /v1/images/generations)");
    let wrong = send(client.get(format!("{base}/chat/completions"))).await;
    wrong.assert_error(405, "invalid_request_error", Some("method_not_allowed"));
    server.shutdown().await;
}
