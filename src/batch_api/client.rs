//! The provider's Files and Batches endpoints: upload, create, retrieve, list, cancel, content.
//! Transient failures (connect errors, timeouts, 408, 409, 429, 5xx) are tried again with
//! capped exponential backoff, a `Retry-After` honoured exactly; errors never carry the key.

use std::time::{Duration, SystemTime};

use reqwest::header::AUTHORIZATION;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::BatchError;
use crate::provider::{retry_after, Endpoint};

/// Tries of one call before it fails for good.
const TRIES: u32 = 8;
const FIRST_WAIT: Duration = Duration::from_millis(500);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// Per call; an upload of 200 MB needs long.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Why one call failed.
#[derive(Debug)]
pub enum CallError {
    /// Worth trying again, after `wait` when the server said.
    Transient { message: String, wait: Option<Duration> },
    /// Will not work by trying again (400, 401, 404, ...).
    Refused { status: u16, message: String },
    /// The run is stopping.
    Stopped,
}

impl CallError {
    pub fn message(&self) -> String {
        match self {
            CallError::Transient { message, .. } | CallError::Refused { message, .. } => message.clone(),
            CallError::Stopped => "stopped".into(),
        }
    }
}

impl From<CallError> for BatchError {
    fn from(e: CallError) -> BatchError {
        match e {
            CallError::Stopped => BatchError::Interrupted,
            other => BatchError::Provider(other.message()),
        }
    }
}

#[derive(Clone)]
pub struct BatchClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    stop: CancellationToken,
}

impl BatchClient {
    pub fn new(endpoint: Endpoint, stop: CancellationToken) -> Result<BatchClient, BatchError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("sheepdog/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BatchError::Setup(format!("cannot set up the HTTP client: {e}")))?;
        Ok(BatchClient { http, endpoint, stop })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.endpoint.base_url()))
            .timeout(TIMEOUT);
        if let Some(key) = self.endpoint.api_key() {
            request = request.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        request
    }

    fn scrub(&self, text: &str) -> String {
        match self.endpoint.api_key() {
            Some(key) => key.scrub(text),
            None => text.to_string(),
        }
    }

    /// One request, no retry: the body on a 2xx.
    async fn once(&self, what: &str, request: RequestBuilder) -> Result<bytes::Bytes, CallError> {
        let sent = tokio::select! {
            sent = request.send() => sent,
            _ = self.stop.cancelled() => return Err(CallError::Stopped),
        };
        let response = sent.map_err(|e| CallError::Transient {
            message: self.scrub(&format!("{what}: {}", e.without_url())),
            wait: None,
        })?;
        let status = response.status().as_u16();
        let wait = retry_after::from_headers(response.headers(), SystemTime::now());
        let body = response.bytes().await.map_err(|e| CallError::Transient {
            message: self.scrub(&format!("{what}: {}", e.without_url())),
            wait: None,
        })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let said = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
        let message = self.scrub(&format!("{what}: HTTP {status}: {said}"));
        if matches!(status, 408 | 409 | 429 | 500..=599) {
            Err(CallError::Transient { message, wait })
        } else {
            Err(CallError::Refused { status, message })
        }
    }

    /// A call tried up to [`TRIES`] times; `build` makes each request afresh.
    async fn call(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<bytes::Bytes, CallError> {
        let mut wait = FIRST_WAIT;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.once(what, build()).await {
                Err(CallError::Transient { message, wait: asked }) if tries < TRIES => {
                    let pause = asked.unwrap_or(wait);
                    tracing::warn!(%message, wait_ms = pause.as_millis() as u64, "batch API call failed; trying again");
                    self.pause(pause).await?;
                    wait = (wait * 2).min(LONGEST_WAIT);
                }
                other => return other,
            }
        }
    }

    /// Sleeps, unless the run stops first.
    pub async fn pause(&self, wait: Duration) -> Result<(), CallError> {
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = self.stop.cancelled() => Err(CallError::Stopped),
        }
    }

    async fn json(&self, what: &str, build: impl Fn() -> RequestBuilder) -> Result<Value, CallError> {
        let body = self.call(what, build).await?;
        serde_json::from_slice(&body).map_err(|e| CallError::Refused {
            status: 200,
            message: format!("{what}: the answer is not JSON: {e}"),
        })
    }

    /// `POST /files` (multipart, `purpose=batch`): the file id.
    pub async fn upload(&self, name: &str, content: bytes::Bytes) -> Result<String, CallError> {
        let build = || {
            let part = reqwest::multipart::Part::stream(content.clone())
                .file_name(name.to_string())
                .mime_str("application/jsonl")
                .unwrap_or_else(|_| reqwest::multipart::Part::stream(content.clone()).file_name(name.to_string()));
            let form = reqwest::multipart::Form::new()
                .text("purpose", "batch")
                .part("file", part);
            self.request(Method::POST, "/files").multipart(form)
        };
        let file = self.json("upload", build).await?;
        id_of(&file, "upload")
    }

    /// `GET /files`: the id of a batch file named `name`, if the provider has one.
    pub async fn find_file(&self, name: &str) -> Result<Option<String>, CallError> {
        let list = self
            .json("list files", || self.request(Method::GET, "/files?purpose=batch"))
            .await?;
        Ok(list["data"].as_array().and_then(|files| {
            files
                .iter()
                .find(|f| f["filename"] == name)
                .and_then(|f| f["id"].as_str().map(str::to_string))
        }))
    }

    /// `POST /batches`: the batch object.
    pub async fn create(&self, file_id: &str, endpoint: &str, window: &str, tag: &str) -> Result<Value, CallError> {
        let body = json!({
            "input_file_id": file_id,
            "endpoint": endpoint,
            "completion_window": window,
            "metadata": {"sheepdog_part": tag},
        });
        self.json("create batch", || self.request(Method::POST, "/batches").json(&body))
            .await
    }

    /// `GET /batches`: the batch tagged `tag`, if the provider has one.
    pub async fn find_batch(&self, tag: &str) -> Result<Option<Value>, CallError> {
        let list = self
            .json("list batches", || self.request(Method::GET, "/batches?limit=100"))
            .await?;
        Ok(list["data"]
            .as_array()
            .and_then(|batches| batches.iter().find(|b| b["metadata"]["sheepdog_part"] == tag).cloned()))
    }

    /// `GET /batches/{id}`, tried once: polling decides when to try again.
    pub async fn retrieve(&self, id: &str) -> Result<Value, CallError> {
        let body = self
            .once("poll batch", self.request(Method::GET, &format!("/batches/{id}")))
            .await?;
        serde_json::from_slice(&body).map_err(|e| CallError::Transient {
            message: format!("poll batch: the answer is not JSON: {e}"),
            wait: None,
        })
    }

    /// `POST /batches/{id}/cancel`.
    pub async fn cancel(&self, id: &str) -> Result<Value, CallError> {
        self.json("cancel batch", || {
            self.request(Method::POST, &format!("/batches/{id}/cancel"))
        })
        .await
    }

    /// `GET /files/{id}/content`.
    pub async fn content(&self, id: &str) -> Result<bytes::Bytes, CallError> {
        self.call("download", || {
            self.request(Method::GET, &format!("/files/{id}/content"))
        })
        .await
    }
}

fn id_of(object: &Value, what: &str) -> Result<String, CallError> {
    object["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CallError::Refused {
            status: 200,
            message: format!("{what}: the answer has no id"),
        })
}
