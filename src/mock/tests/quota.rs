//! Per-key limits, x-ratelimit headers, quotas, failing models and hanging requests.

use std::time::Duration;

use super::{chat_body, post, send, start};
use crate::mock::{parse_fail_models, MockConfig};

fn with_key(client: &reqwest::Client, server: &crate::mock::MockServer, key: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/chat/completions", server.base_url()))
        .bearer_auth(key)
        .json(&chat_body("hello"))
}

#[tokio::test]
async fn rpm_is_per_key_and_answers_carry_ratelimit_headers() {
    let server = start(MockConfig {
        rpm: Some(2),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let first = send(with_key(&client, &server, "key-a")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), "2");
    assert_eq!(first.header("x-ratelimit-remaining-requests"), "1");
    let second = send(with_key(&client, &server, "key-a")).await;
    assert_eq!(second.header("x-ratelimit-remaining-requests"), "0");
    // A full minute's allowance takes about a minute to come back (OpenAI's "reset").
    assert!(second.header("x-ratelimit-reset-requests").ends_with('s'));
    assert_eq!(send(with_key(&client, &server, "key-a")).await.status, 429);
    // Another key has its own allowance.
    assert_eq!(send(with_key(&client, &server, "key-b")).await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn tpm_counts_prompt_and_completion_tokens() {
    let server = start(MockConfig {
        tpm: Some(100),
        output_tokens: Some(30),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let first = post(&client, &server, &chat_body("one")).await;
    assert_eq!(first.status, 200);
    let used = first.body["usage"]["total_tokens"].as_u64().expect("usage");
    assert_eq!(first.header("x-ratelimit-remaining-tokens"), (100 - used).to_string());
    let second = post(&client, &server, &chat_body("two")).await;
    assert_eq!(second.status, 200);
    let third = post(&client, &server, &chat_body("three")).await;
    let message = third.assert_error(429, "tokens", Some("rate_limit_exceeded"));
    assert!(message.contains("TPM"), "{message}");
    assert!(third.header("retry-after-ms").parse::<u64>().is_ok());
    let log = server.stats().log;
    assert_eq!(
        log.iter().map(|r| r.tokens).sum::<u64>(),
        2 * used,
        "refused requests count no tokens"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn quota_turns_into_insufficient_quota_after_n_requests() {
    let server = start(MockConfig {
        quota: Some(3),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        assert_eq!(post(&client, &server, &chat_body(&format!("p{i}"))).await.status, 200);
    }
    for _ in 0..2 {
        let refused = post(&client, &server, &chat_body("more")).await;
        refused.assert_error(429, "insufficient_quota", Some("insufficient_quota"));
        assert!(refused.headers.get("retry-after").is_none(), "no point in retrying");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn failing_models_answer_their_status() {
    let fail_models = parse_fail_models("gpt-4.1=404, deepseek-chat=503").expect("valid");
    assert_eq!(
        fail_models,
        vec![("gpt-4.1".to_string(), 404), ("deepseek-chat".to_string(), 503)]
    );
    assert!(parse_fail_models("gpt-4.1").is_err());
    assert!(parse_fail_models("gpt-4.1=200").unwrap_err().contains("400..=599"));
    let server = start(MockConfig {
        fail_models,
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let body = |model: &str| serde_json::json!({"model": model, "messages": [{"role": "user", "content": "x"}]});
    post(&client, &server, &body("gpt-4.1"))
        .await
        .assert_error(404, "invalid_request_error", Some("model_not_found"));
    assert_eq!(post(&client, &server, &body("deepseek-chat")).await.status, 503);
    assert_eq!(post(&client, &server, &body("gpt-4.1-mini")).await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn hanging_requests_are_ended_by_the_client_timeout() {
    let server = start(MockConfig {
        hang: 1.0,
        ..MockConfig::default()
    })
    .await;
    // Long enough for the request to reach the server on a busy machine; the hang is a day.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let url = format!("{}/chat/completions", server.base_url());
    let result = client.post(url).json(&chat_body("never")).send().await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert_eq!(server.stats().in_flight, 1, "the request is still held by the server");
    server.shutdown().await;
}
