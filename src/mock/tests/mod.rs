//! Tests of the mock server over real HTTP, with reqwest as the client, on 127.0.0.1:0.

mod chat;
mod endpoints;
mod endpoints_stream;
mod limits;
mod pacing;
mod quota;
mod server;
mod stats;
mod stream;
mod structured;

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{MockConfig, MockServer};

pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub(super) async fn start(config: MockConfig) -> MockServer {
    MockServer::start(config, loopback())
        .await
        .expect("mock server starts on 127.0.0.1:0")
}

pub(super) fn chat_body(prompt: &str) -> Value {
    json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": prompt}]})
}

/// The answer to one request: status, headers and the body parsed as JSON.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("header {name} missing in {:?}", self.headers))
    }

    pub fn content(&self) -> &str {
        self.body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("no content in {}", self.body))
    }

    /// Asserts an OpenAI-shaped error with this status, type and code; returns its message.
    pub fn assert_error(&self, status: u16, kind: &str, code: Option<&str>) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let error = &self.body["error"];
        assert_eq!(error["type"], kind, "body: {}", self.body);
        assert_eq!(error["code"].as_str(), code, "body: {}", self.body);
        assert!(
            error.get("param").is_some(),
            "param present (maybe null): {}",
            self.body
        );
        error["message"].as_str().expect("error message is a string").to_owned()
    }
}

pub(super) async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request reaches the mock");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body is readable");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer { status, headers, body }
}

pub(super) async fn post(client: &reqwest::Client, server: &MockServer, body: &Value) -> Answer {
    let url = format!("{}/chat/completions", server.base_url());
    send(client.post(url).json(body)).await
}
