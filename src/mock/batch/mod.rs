//! The mock's Files and Batches APIs, shaped as OpenAI's reference says, so that sheepdog's
//! `run --batch-api` (and the official SDKs' `files.create`, `batches.create`,
//! `batches.retrieve`, `files.content`) can be tested without a provider:
//!
//! - `POST /v1/files` (multipart: `purpose`, `file`), `GET /v1/files`, `GET /v1/files/{id}`,
//!   `GET /v1/files/{id}/content`;
//! - `POST /v1/batches` (`input_file_id`, `endpoint`, `completion_window`), `GET /v1/batches`,
//!   `GET /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`.
//!
//! A batch goes `validating → in_progress → finalizing → completed` over
//! [`BatchSettings::duration`]; each of its lines is answered by the server's own router, so
//! the same replies, faults and limits as a live request apply (see [`process`]).

mod files;
mod process;
mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::stats::Recorder;
use store::{Batch, Store};

/// Largest batch input file accepted: OpenAI's limit is 200 MB.
const UPLOAD_LIMIT: usize = 256 * 1024 * 1024;

/// The endpoints a batch may name (OpenAI's list).
pub const BATCH_ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/moderations",
];

/// How the mock's batches behave.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSettings {
    /// From creation to `completed` (a tenth validating, most in progress, the end finalizing).
    pub duration: Duration,
    /// Share of lines that fail with a 500 in the error file, drawn per line (seeded).
    pub fail_share: f64,
    /// Batches (1-based, in creation order) that expire half-way: the lines answered so far
    /// are in the output file, the others in the error file as `batch_expired`.
    pub expire: Vec<u64>,
    /// Batches (1-based, in creation order) that fail validation: no line is answered.
    pub fail: Vec<u64>,
    /// The first this-many `GET /v1/batches/{id}` of each batch get 429 with `retry-after`
    /// (the server's `retry_after`), to show that polling honours it.
    pub poll_429: u32,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            duration: Duration::from_secs(5),
            fail_share: 0.0,
            expire: Vec::new(),
            fail: Vec::new(),
            poll_429: 0,
        }
    }
}

impl BatchSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.fail_share.is_finite() && (0.0..=1.0).contains(&self.fail_share)) {
            return Err(format!("batch fail share {} is not in 0..=1", self.fail_share));
        }
        if self.expire.iter().chain(&self.fail).any(|&n| n == 0) {
            return Err("batch numbers count from 1".to_owned());
        }
        Ok(())
    }
}

/// Parses `1,3` (batch numbers, 1-based).
pub fn parse_batch_numbers(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<u64>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("`{part}` is not a batch number (1, 2, ...)"))
        })
        .collect()
}

/// State of the Files and Batches endpoints.
pub(crate) struct BatchApi {
    settings: BatchSettings,
    require_key: Option<String>,
    seed: u64,
    /// What a 429 asks to wait.
    retry_after: std::time::Duration,
    recorder: Arc<Recorder>,
    /// The server's live routes: every batch line is answered by them.
    lines: Router,
    store: std::sync::Mutex<Store>,
}

impl BatchApi {
    pub fn new(config: &super::MockConfig, recorder: Arc<Recorder>, lines: Router) -> Arc<BatchApi> {
        Arc::new(BatchApi {
            settings: config.batch.clone(),
            require_key: config.require_key.clone(),
            seed: config.seed,
            retry_after: config.retry_after,
            recorder,
            lines,
            store: std::sync::Mutex::new(Store::default()),
        })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The bearer key of the request, when it is the one required (or none is required).
    fn authorize(&self, headers: &HeaderMap) -> Result<Option<String>, Unauthorized> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim().to_string());
        match (&self.require_key, &given) {
            (None, _) => Ok(given),
            (Some(key), Some(g)) if g == key => Ok(given),
            (Some(_), _) => Err(Unauthorized),
        }
    }
}

/// A request without the required key: 401 (the message never holds the key).
pub(crate) struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        error(
            StatusCode::UNAUTHORIZED,
            "Incorrect or missing API key. Check the key configured for this provider.",
            "invalid_api_key",
        )
    }
}

/// The Files and Batches routes.
pub(crate) fn router(api: Arc<BatchApi>) -> Router {
    Router::new()
        .route("/v1/files", post(files::upload).get(files::list))
        .route("/v1/files/{id}", get(files::retrieve))
        .route("/v1/files/{id}/content", get(files::content))
        .route("/v1/batches", post(create).get(list))
        .route("/v1/batches/{id}", get(retrieve))
        .route("/v1/batches/{id}/cancel", post(cancel))
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
        .with_state(api)
}

/// An error in OpenAI's shape.
pub(crate) fn error(status: StatusCode, message: impl Into<String>, code: &str) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    };
    let body = json!({"error": {"message": message.into(), "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `POST /v1/batches`.
async fn create(State(api): State<Arc<BatchApi>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let key = match api.authorize(&headers) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The body is not a JSON object.",
            "invalid_json",
        );
    };
    let field = |name: &str| request.get(name).and_then(Value::as_str).map(str::to_string);
    let Some(input_file_id) = field("input_file_id") else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'input_file_id'.",
            "missing_required_parameter",
        );
    };
    let Some(endpoint) = field("endpoint").filter(|e| BATCH_ENDPOINTS.contains(&e.as_str())) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("'endpoint' must be one of {}.", BATCH_ENDPOINTS.join(", ")),
            "invalid_value",
        );
    };
    let window = field("completion_window").unwrap_or_default();
    let Ok(window_length) = humantime::parse_duration(&window) else {
        return error(
            StatusCode::BAD_REQUEST,
            "'completion_window' must be a duration such as 24h.",
            "invalid_value",
        );
    };
    let metadata = request.get("metadata").cloned().filter(|m| !m.is_null());
    let (batch, input) = {
        let mut store = api.store();
        let Some(input) = store
            .files
            .get(&input_file_id)
            .filter(|f| f.purpose == "batch")
            .map(|f| f.content.clone())
        else {
            return error(
                StatusCode::NOT_FOUND,
                format!("No batch input file with id '{input_file_id}'."),
                "file_not_found",
            );
        };
        let now = unix_now();
        let batch = store.new_batch(|id, number| Batch {
            id,
            number,
            endpoint,
            input_file_id,
            completion_window: window,
            created_at: now,
            expires_at: now + window_length.as_secs(),
            metadata,
            ..Batch::default()
        });
        (batch, input)
    };
    api.recorder.batch_created();
    let snapshot = batch.to_json();
    tokio::spawn(process::run(api.clone(), batch.id.clone(), input, key));
    Json(snapshot).into_response()
}

/// `GET /v1/batches/{id}`.
async fn retrieve(State(api): State<Arc<BatchApi>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let mut store = api.store();
    let Some(batch) = store.batches.get_mut(&id) else {
        return no_batch(&id);
    };
    if batch.polls < api.settings.poll_429 {
        batch.polls += 1;
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests for this batch; try again later.",
            "rate_limit_exceeded",
        );
        let wait = api.retry_after;
        let (secs, ms) = super::faults::retry_after_headers(wait);
        response.headers_mut().insert(header::RETRY_AFTER, secs.into());
        response.headers_mut().insert("retry-after-ms", ms.into());
        return response;
    }
    Json(batch.to_json()).into_response()
}

fn no_batch(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("No batch with id '{id}'."),
        "batch_not_found",
    )
}

/// `GET /v1/batches`: every batch, newest first.
async fn list(State(api): State<Arc<BatchApi>>, headers: HeaderMap) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let store = api.store();
    let mut batches: Vec<&Batch> = store.batches.values().collect();
    batches.sort_by_key(|b| std::cmp::Reverse(b.number));
    let data: Vec<Value> = batches.iter().map(|b| b.to_json()).collect();
    Json(json!({
        "object": "list",
        "first_id": batches.first().map(|b| b.id.clone()),
        "last_id": batches.last().map(|b| b.id.clone()),
        "has_more": false,
        "data": data,
    }))
    .into_response()
}

/// `POST /v1/batches/{id}/cancel`: `cancelling` at once, `cancelled` when the lines stop.
async fn cancel(State(api): State<Arc<BatchApi>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let mut store = api.store();
    let Some(batch) = store.batches.get_mut(&id) else {
        return no_batch(&id);
    };
    if matches!(batch.status.as_str(), "validating" | "in_progress" | "finalizing") {
        batch.status = "cancelling".into();
        batch.cancelling_at = Some(unix_now());
        batch.cancel.cancel();
    } else if batch.status != "cancelling" {
        return error(
            StatusCode::CONFLICT,
            format!("Cannot cancel a batch with status '{}'.", batch.status),
            "batch_not_cancellable",
        );
    }
    Json(batch.to_json()).into_response()
}
