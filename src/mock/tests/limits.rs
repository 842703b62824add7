//! The RPM limit and truncated streams.

use serde_json::json;

use super::{chat_body, loopback, post, start};
use crate::mock::{MockConfig, MockServer, StreamFaultKind};

#[tokio::test]
async fn rpm_limit_answers_429_with_the_exact_wait() {
    let server = start(MockConfig {
        rpm: Some(5),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    for i in 0..5 {
        let answer = post(&client, &server, &chat_body(&format!("p{i}"))).await;
        assert_eq!(answer.status, 200, "request {i} is within the limit");
    }
    let limited = post(&client, &server, &chat_body("one too many")).await;
    let message = limited.assert_error(429, "requests", Some("rate_limit_exceeded"));
    assert!(message.contains("Limit 5"), "{message}");
    // One request's allowance (60s / 5 = 12s) comes back within 12s of the first request.
    let ms: u64 = limited.header("retry-after-ms").parse().expect("integer ms");
    assert!((10_000..=12_000).contains(&ms), "retry-after-ms {ms}");
    // The same wait in whole seconds, rounded up ("12" unless the six requests took a second).
    assert_eq!(limited.header("retry-after"), ms.div_ceil(1000).to_string());
    assert_eq!(server.stats().by_status.get(&429), Some(&1));
    server.shutdown().await;

    let zero = MockConfig {
        rpm: Some(0),
        ..MockConfig::default()
    };
    let err = MockServer::start(zero, loopback()).await.expect_err("rpm 0");
    assert!(err.to_string().contains("rpm must be at least 1"), "{err}");
}

#[tokio::test]
async fn truncated_streams_stop_early_without_done() {
    let server = start(MockConfig {
        stream_faults: vec![(StreamFaultKind::Truncate, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let full = post(&client, &server, &chat_body("cut me")).await;
    let mut body = chat_body("cut me");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let url = format!("{}/chat/completions", server.base_url());
    let response = client.post(&url).json(&body).send().await.expect("sent");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("a truncated body still ends cleanly");
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(!text.contains("finish_reason\":\"stop"), "{text}");
    assert!(!text.contains("\"usage\":{"), "{text}");
    let content: String = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert!(full.content().starts_with(&content));
    assert!(content.len() < full.content().len());
    server.shutdown().await;

    // With probability 0.5, some streams of 40 are cut and some are not.
    let half = start(MockConfig {
        stream_faults: vec![(StreamFaultKind::Truncate, 0.5)],
        seed: 3,
        ..MockConfig::default()
    })
    .await;
    let url = format!("{}/chat/completions", half.base_url());
    let mut cut = 0;
    for i in 0..40 {
        let mut body = chat_body(&format!("stream {i}"));
        body["stream"] = json!(true);
        let text = client.post(&url).json(&body).send().await.expect("sent");
        let text = text.text().await.expect("body");
        cut += usize::from(!text.ends_with("data: [DONE]\n\n"));
    }
    assert!((5..=35).contains(&cut), "{cut} of 40 cut");
    half.shutdown().await;
}
