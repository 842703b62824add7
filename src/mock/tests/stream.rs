//! Streamed chat completions (SSE).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{chat_body, post, start};
use crate::mock::{Latency, MockConfig, MockServer, StreamFaultKind};

/// A streamed answer: the parsed `data:` events before `[DONE]`, and whether `[DONE]` ended it.
pub(super) struct Events {
    pub chunks: Vec<Value>,
    pub done: bool,
}

impl Events {
    fn content(&self) -> String {
        self.chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect()
    }

    /// Chunks that carry (non-empty) content.
    fn content_chunks(&self) -> Vec<&str> {
        self.chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

fn parse_sse(text: &str) -> Events {
    let mut events = Events {
        chunks: Vec::new(),
        done: false,
    };
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        assert!(!events.done, "nothing may follow [DONE]: {event}");
        let data = event.strip_prefix("data: ").expect("every event is `data: ...`");
        if data == "[DONE]" {
            events.done = true;
        } else {
            events.chunks.push(serde_json::from_str(data).expect("chunk is JSON"));
        }
    }
    events
}

pub(super) async fn stream(server: &MockServer, mut body: Value) -> Events {
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&body)
        .send()
        .await
        .expect("request reaches the mock");
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").cloned();
    assert!(content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")));
    parse_sse(&response.text().await.expect("stream is readable"))
}

#[tokio::test]
async fn stream_concatenates_to_the_plain_reply_with_usage_when_asked() {
    let server = start(MockConfig::default()).await;
    let plain = post(&reqwest::Client::new(), &server, &chat_body("Stream me")).await;
    let mut body = chat_body("Stream me");
    body["stream_options"] = json!({"include_usage": true});
    let events = stream(&server, body).await;

    assert!(events.done, "ends with data: [DONE]");
    let first = &events.chunks[0];
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    for chunk in &events.chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-4.1-mini");
        assert_eq!(chunk["id"], first["id"], "one id per stream");
    }
    assert_eq!(events.content(), plain.content());
    let words = events.content_chunks();
    assert_eq!(words.len(), plain.content().split(' ').count(), "one word per chunk");

    let n = events.chunks.len();
    let finish = &events.chunks[n - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(finish["usage"].is_null());
    let usage = &events.chunks[n - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], plain.body["usage"]);

    let log = server.stats().log;
    assert_eq!(log.iter().map(|e| e.stream).collect::<Vec<_>>(), [false, true]);
    assert_eq!(log[0].prompt_hash, log[1].prompt_hash);
    server.shutdown().await;
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_chunk() {
    let server = start(MockConfig::default()).await;
    let mut body = chat_body("Stream me briefly");
    body["max_tokens"] = json!(4);
    let events = stream(&server, body).await;
    assert!(events.done);
    assert_eq!(events.content_chunks().len(), 4);
    assert!(events.chunks.iter().all(|c| c.get("usage").is_none_or(Value::is_null)));
    assert!(events
        .chunks
        .iter()
        .all(|c| c["choices"].as_array().is_some_and(|a| a.len() == 1)));
    let last = events.chunks.last().expect("chunks");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    server.shutdown().await;
}

#[tokio::test]
async fn stream_waits_ttft_then_itl_and_stays_in_flight() {
    let ttft = Duration::from_millis(60);
    // Long enough that a client woken late for the first token still finds the stream open.
    let itl = Duration::from_millis(100);
    let server = start(MockConfig {
        ttft: Latency::Fixed(ttft),
        itl: Latency::Fixed(itl),
        output_tokens: Some(5),
        ..MockConfig::default()
    })
    .await;
    let mut body = chat_body("slow");
    body["stream"] = json!(true);
    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&body)
        .send()
        .await
        .expect("request reaches the mock");
    let mut text = String::new();
    let mut first_content = None;
    while let Some(bytes) = response.chunk().await.expect("stream is readable") {
        text.push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
        if first_content.is_none() && text.contains(r#""content":"#) && text.matches("data:").count() > 1 {
            first_content = Some(started.elapsed());
            assert_eq!(server.stats().in_flight, 1, "a stream is in flight until its end");
        }
    }
    let total = started.elapsed();
    let first_content = first_content.expect("content arrived");
    assert!(first_content >= ttft, "first content after {first_content:?}");
    assert!(total >= ttft + 4 * itl, "whole stream took {total:?}");
    let events = parse_sse(&text);
    assert!(events.done);
    assert_eq!(events.content_chunks().len(), 5);
    assert_eq!(server.stats().in_flight, 0);
    server.shutdown().await;
}

/// The raw body of one streamed request, or the error that ended it.
async fn raw_stream(server: &MockServer, prompt: &str) -> Result<String, String> {
    let mut body = chat_body(prompt);
    body["stream"] = json!(true);
    let mut response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut text = String::new();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) => return Ok(text),
            Err(e) => return Err(format!("{e} after {text:?}")),
        }
    }
}

fn faulty(kind: StreamFaultKind) -> MockConfig {
    MockConfig {
        stream_faults: vec![(kind, 1.0)],
        stream_stall: Duration::from_millis(300),
        output_tokens: Some(8),
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn each_stream_fault_breaks_the_stream_its_own_way() {
    let server = start(faulty(StreamFaultKind::Malformed)).await;
    let text = raw_stream(&server, "m")
        .await
        .expect("a malformed stream still ends cleanly");
    let bad = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter(|d| serde_json::from_str::<Value>(d).is_err())
        .count();
    assert_eq!(bad, 1, "one data line is not JSON: {text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "then the stream goes on to its end");
    server.shutdown().await;

    let server = start(faulty(StreamFaultKind::Error)).await;
    let text = raw_stream(&server, "e").await.expect("ends cleanly");
    assert!(text.contains(r#"data: {"error":{"message":"#), "{text}");
    assert!(!text.contains("[DONE]"));
    server.shutdown().await;

    let server = start(faulty(StreamFaultKind::Disconnect)).await;
    let error = raw_stream(&server, "d")
        .await
        .expect_err("the connection drops mid-body");
    assert!(error.contains("assistant"), "the answer had begun: {error}");
    server.shutdown().await;

    let server = start(faulty(StreamFaultKind::Stall)).await;
    let started = Instant::now();
    let text = raw_stream(&server, "s").await.expect("a stalled stream resumes");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it stopped for stream_stall"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    server.shutdown().await;
}

#[tokio::test]
async fn max_concurrency_queues_requests_server_side() {
    let server = start(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(100)),
        max_concurrency: Some(1),
        ..MockConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let bodies: Vec<Value> = (0..3).map(|i| chat_body(&format!("q{i}"))).collect();
    let answers = futures::future::join_all(bodies.iter().map(|body| post(&client, &server, body))).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "one at a time: {took:?}");
    assert_eq!(
        server.stats().peak_in_flight,
        3,
        "all three were in the server, two queued"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ttft_and_itl_can_be_drawn_from_a_normal_distribution() {
    let server = start(MockConfig {
        ttft: Latency::Normal {
            mean: Duration::from_millis(30),
            std: Duration::from_millis(10),
        },
        itl: Latency::Normal {
            mean: Duration::from_millis(2),
            std: Duration::from_millis(1),
        },
        output_tokens: Some(20),
        output_tokens_std: 5.0,
        ..MockConfig::default()
    })
    .await;
    let mut lengths = std::collections::BTreeSet::new();
    for i in 0..8 {
        let text = raw_stream(&server, &format!("n{i}")).await.expect("stream");
        let events = parse_sse(&text);
        assert!(events.done);
        lengths.insert(events.content_chunks().len());
    }
    assert!(lengths.len() > 1, "reply lengths vary around 20: {lengths:?}");
    server.shutdown().await;
}
