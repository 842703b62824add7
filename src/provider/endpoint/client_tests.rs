//! The client against the mock server, for every endpoint, plain and streamed.

use std::time::Duration;

use serde_json::json;

use super::ApiEndpoint;
use crate::mock::{Latency, MockConfig, MockServer};
use crate::provider::{Client, Endpoint, Reply, StreamSettings};

async fn mock(config: MockConfig) -> (MockServer, Endpoint) {
    let server = MockServer::start(config, ([127, 0, 0, 1], 0).into()).await.unwrap();
    let endpoint = Endpoint::new("mock", server.base_url(), None);
    (server, endpoint)
}

async fn send(client: &Client, endpoint: &Endpoint, api: ApiEndpoint, body: serde_json::Value) -> Reply {
    let model = body["model"].as_str().unwrap();
    let bytes = client.encode(api, body.as_object().unwrap(), model).unwrap();
    match client.send(endpoint, api, bytes, Duration::from_secs(10)).await {
        Ok(reply) => reply,
        Err(e) => panic!("{api}: {e}"),
    }
}

fn bodies() -> Vec<(ApiEndpoint, serde_json::Value)> {
    vec![
        (
            ApiEndpoint::Chat,
            json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            ApiEndpoint::Completions,
            json!({"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}),
        ),
        (
            ApiEndpoint::Embeddings,
            json!({"model": "text-embedding-3-small", "input": ["hello", "world"]}),
        ),
        (ApiEndpoint::Responses, json!({"model": "gpt-4.1-mini", "input": "hi"})),
        (
            ApiEndpoint::Moderations,
            json!({"model": "omni-moderation-latest", "input": "hello world"}),
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_is_sent_to_its_path_and_its_usage_read() {
    let (server, endpoint) = mock(MockConfig {
        output_tokens: Some(5),
        ..MockConfig::default()
    })
    .await;
    let client = Client::new(4).unwrap();
    for (api, body) in bodies() {
        let reply = send(&client, &endpoint, api, body).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            api.check_reply(&reply.body_value()),
            Ok(()),
            "{api}: {}",
            reply.body_value()
        );
        let (input, output) = (reply.usage.input_tokens, reply.usage.output_tokens);
        match api {
            ApiEndpoint::Embeddings => assert_eq!((input, output), (4, 0)),
            // No usage in a moderation answer: counted with the tokenizer ("hello world": 2).
            ApiEndpoint::Moderations => assert_eq!((input, output), (2, 0)),
            _ => assert_eq!(output, 5, "{api}"),
        }
        assert!(input > 0, "{api}");
        assert!(reply.ttft.is_none() && reply.stream.is_none());
    }
    assert_eq!(server.stats().requests, 5);
}

#[tokio::test]
async fn with_stream_on_chat_completions_and_responses_stream_and_the_others_do_not() {
    let (ttft, itl) = (Duration::from_millis(80), Duration::from_millis(15));
    let (server, endpoint) = mock(MockConfig {
        output_tokens: Some(6),
        ttft: Latency::Fixed(ttft),
        itl: Latency::Fixed(itl),
        ..MockConfig::default()
    })
    .await;
    let client = Client::new(4).unwrap().streaming(StreamSettings::default());
    for (api, body) in bodies() {
        let reply = send(&client, &endpoint, api, body).await;
        assert_eq!(
            api.check_reply(&reply.body_value()),
            Ok(()),
            "{api}: {}",
            reply.body_value()
        );
        if !api.streams() {
            assert!(reply.ttft.is_none(), "{api} is never streamed");
            continue;
        }
        let timing = reply.stream.unwrap_or_else(|| panic!("{api} streamed"));
        assert_eq!(reply.usage.output_tokens, 6, "{api}");
        assert!(!timing.output_tokens_estimated, "{api}: usage came with the stream");
        assert_eq!(timing.content_chunks, 6, "{api}");
        let first = reply.ttft.unwrap();
        assert!(
            first >= ttft && first < ttft + Duration::from_secs(2),
            "{api}: ttft {first:?}"
        );
        // A client the machine's load holds back reads several chunks at once, so the gaps it
        // measures may be short; the whole answer cannot come before the mock's schedule ends
        // (token k at ttft + k × itl).
        let gap = timing.itl.unwrap();
        assert!(gap < itl * 10, "{api}: itl {gap:?}");
        assert!(reply.latency >= ttft + itl * 5, "{api}: latency {:?}", reply.latency);
    }
    let log = server.stats().log;
    let streamed: Vec<bool> = log.iter().map(|e| e.stream).collect();
    assert_eq!(streamed, [true, true, false, true, false]);
}

#[tokio::test]
async fn a_streamed_response_becomes_the_response_object_the_plain_request_gets() {
    let (_server, endpoint) = mock(MockConfig::default()).await;
    let body = json!({"model": "gpt-4.1-mini", "input": "Tell me a story"});
    let plain = send(
        &Client::new(1).unwrap(),
        &endpoint,
        ApiEndpoint::Responses,
        body.clone(),
    )
    .await;
    let streaming = Client::new(1).unwrap().streaming(StreamSettings::default());
    let streamed = send(&streaming, &endpoint, ApiEndpoint::Responses, body).await;
    assert_eq!(streamed.body_value()["object"], "response");
    assert_eq!(
        streamed.body_value()["output"][0]["content"][0]["text"],
        plain.body_value()["output"][0]["content"][0]["text"]
    );
    assert_eq!(streamed.usage, plain.usage);
    let legacy = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Tell me a story"});
    let plain = send(
        &Client::new(1).unwrap(),
        &endpoint,
        ApiEndpoint::Completions,
        legacy.clone(),
    )
    .await;
    let streamed = send(&streaming, &endpoint, ApiEndpoint::Completions, legacy).await;
    assert_eq!(streamed.body_value()["object"], "text_completion");
    assert_eq!(
        streamed.body_value()["choices"][0]["text"],
        plain.body_value()["choices"][0]["text"]
    );
    assert_eq!(streamed.usage, plain.usage);
}
