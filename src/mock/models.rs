//! `GET /v1/models`, `GET /v1/models/{id}` and `GET /mock/stats`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::faults::ApiError;
use super::handlers::{bearer, Shared};
use super::DEFAULT_MODELS;

/// `created` of the listed models (2025-01-01T00:00:00Z).
const MODELS_CREATED: u64 = 1_735_689_600;

/// `GET /v1/models`: the configured models, or [`DEFAULT_MODELS`].
pub(super) async fn list_models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(error) = shared.check_key(bearer(&headers)) {
        return error.into_response();
    }
    let data: Vec<Value> = match &shared.config.models {
        Some(models) => models.iter().map(|m| model_object(m)).collect(),
        None => DEFAULT_MODELS.iter().map(|m| model_object(m)).collect(),
    };
    Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{id}`: one model, or 404 `model_not_found`.
pub(super) async fn get_model(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = shared.check_key(bearer(&headers)) {
        return error.into_response();
    }
    let known = match &shared.config.models {
        Some(models) => models.contains(&id),
        None => DEFAULT_MODELS.contains(&id.as_str()),
    };
    if known {
        Json(model_object(&id)).into_response()
    } else {
        ApiError::model_not_found(&id).into_response()
    }
}

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": MODELS_CREATED, "owned_by": "sheepdog-mock"})
}

/// `GET /mock/stats[?log=true]`: the counters, with the request log only when asked.
pub(super) async fn stats(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let with_log = uri.query().is_some_and(|query| {
        query
            .split('&')
            .any(|pair| matches!(pair, "log" | "log=true" | "log=1"))
    });
    Json(shared.recorder.snapshot(with_log)).into_response()
}
