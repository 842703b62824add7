//! The SSE client against a small server on 127.0.0.1:0 that sends canned event streams,
//! well-formed and broken.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::*;
use crate::record::ErrorClass;

const ROLE: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
const HELLO: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#;
const WORLD: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}"#;
const FINISH: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
const USAGE: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#;
const DONE: &str = "data: [DONE]";

fn sse(events: &[&str]) -> Response {
    let mut text = events.join("\n\n");
    text.push_str("\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], text).into_response()
}

/// A body that sends `events`, then fails (the connection drops) or stalls for a long time.
fn broken(events: &[&str], stall: bool) -> Response {
    let first = Bytes::from(format!("{}\n\n", events.join("\n\n")));
    let body = futures::stream::unfold(0, move |n| {
        let first = first.clone();
        async move {
            match n {
                0 => Some((Ok(first), 1)),
                _ if stall => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    None
                }
                _ => {
                    // Let the server flush what it has before the connection drops.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Err(std::io::Error::other("dropped")), 2))
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
    response
}

fn router() -> Router {
    let route = |f: fn() -> Response| post(move || async move { f() });
    Router::new()
        .route(
            "/ok/chat/completions",
            route(|| sse(&[ROLE, HELLO, WORLD, FINISH, USAGE, DONE])),
        )
        .route(
            "/no-usage/chat/completions",
            route(|| sse(&[ROLE, HELLO, WORLD, FINISH, DONE])),
        )
        .route(
            "/echo-key/chat/completions",
            route(|| {
                sse(&[
                    ROLE,
                    r#"data: {"id":"c","choices":[{"index":0,"delta":{"content":"sk\u002dstream\u002d0123456789"}}]}"#,
                    FINISH,
                    USAGE,
                    DONE,
                ])
            }),
        )
        .route("/truncated/chat/completions", route(|| sse(&[ROLE, HELLO])))
        .route("/no-finish/chat/completions", route(|| sse(&[ROLE, HELLO, DONE])))
        .route(
            "/malformed/chat/completions",
            route(|| sse(&[ROLE, "data: {\"choices\":[", WORLD])),
        )
        .route(
            "/error-event/chat/completions",
            route(|| sse(&[ROLE, "event: error\ndata: {\"message\":\"overloaded\"}"])),
        )
        .route(
            "/error-chunk/chunk/chat/completions",
            route(|| {
                sse(&[
                    ROLE,
                    HELLO,
                    r#"data: {"error":{"message":"The server had an error","type":"server_error"}}"#,
                ])
            }),
        )
        .route("/disconnect/chat/completions", route(|| broken(&[ROLE, HELLO], false)))
        .route("/stall/chat/completions", route(|| broken(&[ROLE, HELLO], true)))
        .route(
            "/plain/chat/completions",
            route(|| {
                let body = json!({"id": "p1", "object": "chat.completion", "choices": [{"index": 0,
                    "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1}});
                axum::Json(body).into_response()
            }),
        )
        .route(
            "/busy/chat/completions",
            route(|| {
                let body =
                    json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}});
                (axum::http::StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
            }),
        )
}

async fn send(case: &str) -> Result<Reply, RequestError> {
    send_with_key(case, None).await
}

async fn send_with_key(case: &str, key: Option<&str>) -> Result<Reply, RequestError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router()).await });
    let endpoint = Endpoint::new(
        "test",
        format!("http://{addr}/{case}"),
        key.map(crate::provider::Secret::new),
    );
    let settings = StreamSettings {
        idle_timeout: Duration::from_millis(200),
    };
    let client = crate::provider::Client::new(1).unwrap().streaming(settings);
    let body =
        serde_json::to_vec(&json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Say hi"}]}))
            .unwrap();
    client.chat(&endpoint, body.into(), Duration::from_secs(10)).await
}

fn fault(result: Result<Reply, RequestError>) -> StreamFault {
    match result {
        Err(RequestError::Stream { kind, .. }) => kind,
        other => panic!("expected a broken stream, got {other:?}"),
    }
}

#[tokio::test]
async fn a_complete_stream_becomes_a_chat_completion() {
    let reply = send("ok").await.expect("complete stream");
    assert_eq!(
        reply.body_value(),
        json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4.1-mini",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello world"},
                            "logprobs": null, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}})
    );
    assert_eq!((reply.usage.input_tokens, reply.usage.output_tokens), (9, 2));
    assert_eq!(reply.request_id.as_deref(), Some("c1"));
    let ttft = reply.ttft.expect("a first token");
    assert!(ttft <= reply.latency);
    let timing = reply.stream.expect("stream timing");
    assert_eq!(timing.content_chunks, 2);
    assert!(!timing.output_tokens_estimated);
    assert!(timing.itl.is_some() && timing.tpot.is_some(), "2 tokens have one gap");
}

#[tokio::test]
async fn without_usage_tokens_are_counted_and_marked_estimated() {
    let reply = send("no-usage").await.expect("complete stream");
    assert_eq!(
        reply.body_value()["usage"],
        Value::Null,
        "the server's usage, which it did not send"
    );
    assert_eq!(reply.usage.output_tokens, 2, "\"Hello world\" is 2 tokens");
    assert!(reply.usage.input_tokens > 0);
    assert!(reply.stream.expect("timing").output_tokens_estimated);
}

#[tokio::test]
async fn every_broken_stream_is_an_error_of_its_kind() {
    assert_eq!(fault(send("truncated").await), StreamFault::Truncated);
    assert_eq!(fault(send("no-finish").await), StreamFault::Truncated);
    assert_eq!(fault(send("malformed").await), StreamFault::Malformed);
    assert_eq!(fault(send("error-event").await), StreamFault::ErrorEvent);
    assert_eq!(fault(send("error-chunk/chunk").await), StreamFault::ErrorEvent);
    assert_eq!(fault(send("disconnect").await), StreamFault::Disconnect);
    let started = std::time::Instant::now();
    assert_eq!(fault(send("stall").await), StreamFault::Stall);
    assert!(started.elapsed() < Duration::from_secs(4), "the idle timeout ended it");
}

#[tokio::test]
async fn stream_errors_are_retryable_and_say_their_kind() {
    let error = send("error-chunk/chunk").await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::StreamInterrupted);
    assert!(error.class().is_retryable());
    let info = error.info();
    assert_eq!(info.code.as_deref(), Some("error_event"));
    assert!(
        info.message.contains("server_error: The server had an error"),
        "{}",
        info.message
    );
    let stall = send("stall").await.unwrap_err().to_string();
    assert!(
        stall.contains("stream interrupted (stall): no data for 200ms"),
        "{stall}"
    );
}

#[tokio::test]
async fn a_plain_answer_or_an_error_status_is_read_as_without_streaming() {
    let reply = send("plain").await.expect("plain answer");
    assert_eq!(reply.body_value()["choices"][0]["message"]["content"], "hi");
    assert_eq!(reply.ttft, None);
    let busy = send("busy").await.unwrap_err();
    assert_eq!(busy.class(), ErrorClass::RateLimited);
}

#[tokio::test]
async fn a_key_streamed_back_behind_json_escapes_is_scrubbed() {
    let reply = send_with_key("echo-key", Some("sk-stream-0123456789"))
        .await
        .expect("answer");
    let text = reply.body.get().to_string();
    assert!(!text.contains("sk-stream"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

#[test]
fn itl_and_tpot_follow_the_design_definitions() {
    let mut answer = Assembler::new();
    let chunk = |text: &str| json!({"choices": [{"index": 0, "delta": {"content": text}}]});
    answer.push(
        &json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        ms(2),
    );
    for (i, at) in [10, 30, 50, 70, 90].into_iter().enumerate() {
        answer.push(&chunk(&format!("w{i}")), ms(at));
    }
    let t = timing(&answer, 5, Some(ms(10)), ms(100), false);
    assert_eq!(t.itl, Some(ms(20)), "(90 - 10) / (5 - 1)");
    assert_eq!(t.tpot, Some(Duration::from_micros(22_500)), "(100 - 10) / (5 - 1)");
    let one = timing(&answer, 1, Some(ms(10)), ms(100), true);
    assert_eq!((one.itl, one.tpot), (None, None), "one token has no gap");
    assert!(one.output_tokens_estimated);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
