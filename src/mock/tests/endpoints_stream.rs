//! Streamed legacy completions (chunks up to `[DONE]`) and Responses (typed events up to
//! `response.completed`), as the SDKs read them.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{send, start};
use crate::mock::{Latency, MockConfig, MockServer, StreamFaultKind};

/// The events of a stream: `(event name, data)`; `[DONE]` is an event with no name and the
/// data `"[DONE]"`.
async fn events(server: &MockServer, path: &str, body: Value) -> Vec<(Option<String>, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .json(&body)
        .send()
        .await
        .expect("request reaches the mock");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("stream is readable");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|event| {
            let mut name = None;
            let mut data = Value::Null;
            for line in event.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or_else(|_| json!(d));
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_legacy_completion_is_text_chunks_then_usage_then_done() {
    let server = start(MockConfig::default()).await;
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Count", "max_tokens": 5});
    let plain = send(
        reqwest::Client::new()
            .post(format!("{}/completions", server.base_url()))
            .json(&body),
    )
    .await;
    let mut streamed = body;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let events = events(&server, "/completions", streamed).await;
    let (last, rest) = events.split_last().unwrap();
    assert_eq!(last.1, json!("[DONE]"));
    let text: String = rest
        .iter()
        .filter_map(|(_, chunk)| chunk["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, plain.body["choices"][0]["text"].as_str().unwrap());
    for (_, chunk) in rest {
        assert_eq!(chunk["object"], "text_completion");
        assert!(chunk["choices"][0].get("delta").is_none(), "{chunk}");
    }
    let finish = &rest[rest.len() - 2].1;
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    let usage = &rest[rest.len() - 1].1;
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
}

#[tokio::test]
async fn a_streamed_response_is_typed_events_ending_with_the_completed_response() {
    let server = start(MockConfig::default()).await;
    let body = json!({"model": "gpt-4.1-mini", "input": "Say hello"});
    let plain = send(
        reqwest::Client::new()
            .post(format!("{}/responses", server.base_url()))
            .json(&body),
    )
    .await;
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let events = events(&server, "/responses", streamed).await;
    let kinds: Vec<&str> = events.iter().map(|(name, _)| name.as_deref().unwrap()).collect();
    let words = plain.body["usage"]["output_tokens"].as_u64().unwrap() as usize;
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", words));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds, expected);
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"].as_str(), name.as_deref(), "the data names its event");
        assert_eq!(data["sequence_number"], i, "{data}");
    }
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    let text: String = events
        .iter()
        .filter(|(name, _)| name.as_deref() == Some("response.output_text.delta"))
        .map(|(_, data)| data["delta"].as_str().unwrap())
        .collect();
    let plain_text = plain.body["output"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(text, plain_text);
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["content"][0]["text"], plain_text);
    assert_eq!(completed["usage"], plain.body["usage"]);
}

#[tokio::test]
async fn a_streamed_response_keeps_the_configured_ttft_and_itl() {
    let (ttft, itl) = (Duration::from_millis(150), Duration::from_millis(20));
    let server = start(MockConfig {
        ttft: Latency::Fixed(ttft),
        itl: Latency::Fixed(itl),
        output_tokens: Some(6),
        ..MockConfig::default()
    })
    .await;
    let started = Instant::now();
    let events = events(
        &server,
        "/responses",
        json!({"model": "m", "input": "x", "stream": true}),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(events.len(), 4 + 6 + 4);
    // ttft + 5 × itl at least; generous above for a loaded machine.
    assert!(elapsed >= ttft + itl * 5, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn stream_faults_break_responses_streams_too() {
    let server = start(MockConfig {
        stream_faults: vec![(StreamFaultKind::Error, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let events = events(
        &server,
        "/responses",
        json!({"model": "m", "input": "x", "stream": true}),
    )
    .await;
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    assert_eq!(data["code"], "server_error");
    assert!(events
        .iter()
        .all(|(name, _)| name.as_deref() != Some("response.completed")));
}
