//! `POST /v1/files` (multipart), `GET /v1/files/{id}`, `GET /v1/files/{id}/content`.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{error, unix_now, BatchApi};

/// `POST /v1/files`: multipart with `purpose` and `file`.
pub(super) async fn upload(
    State(api): State<Arc<BatchApi>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let Ok(mut multipart) = multipart else {
        return error(
            StatusCode::BAD_REQUEST,
            "Expected a multipart/form-data body with 'purpose' and 'file'.",
            "invalid_request",
        );
    };
    let (mut purpose, mut file) = (None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("Unreadable multipart body: {e}"),
                    "invalid_request",
                )
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().unwrap_or("upload.jsonl").to_string();
        let bytes = match field.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("Unreadable multipart body: {e}"),
                    "invalid_request",
                )
            }
        };
        match name.as_str() {
            "purpose" => purpose = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = Some((filename, bytes)),
            _ => {}
        }
    }
    let Some((filename, content)) = file else {
        return error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'file'.",
            "missing_required_parameter",
        );
    };
    if purpose.as_deref() != Some("batch") {
        return error(
            StatusCode::BAD_REQUEST,
            "'purpose' must be 'batch' on this server.",
            "invalid_value",
        );
    }
    let stored = api.store().add_file(filename, "batch", content, unix_now());
    api.recorder.file_uploaded();
    Json(stored.to_json()).into_response()
}

fn no_file(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("No such File object: {id}"),
        "file_not_found",
    )
}

/// `GET /v1/files/{id}`.
pub(super) async fn retrieve(State(api): State<Arc<BatchApi>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    match api.store().files.get(&id) {
        Some(file) => Json(file.to_json()).into_response(),
        None => no_file(&id),
    }
}

/// `GET /v1/files/{id}/content`: the bytes as stored.
pub(super) async fn content(State(api): State<Arc<BatchApi>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let Some(content) = api.store().files.get(&id).map(|f| f.content.clone()) else {
        return no_file(&id);
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        content,
    )
        .into_response()
}

/// `GET /v1/files[?purpose=...]`: every file (of that purpose), newest first.
pub(super) async fn list(State(api): State<Arc<BatchApi>>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    if let Err(refused) = api.authorize(&headers) {
        return refused.into_response();
    }
    let purpose = uri
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("purpose=")))
        .map(str::to_string);
    let store = api.store();
    let mut files: Vec<_> = store
        .files
        .values()
        .filter(|f| purpose.as_ref().is_none_or(|p| *p == f.purpose))
        .collect();
    files.sort_by(|a, b| b.id.cmp(&a.id));
    let data: Vec<_> = files.iter().map(|f| f.to_json()).collect();
    Json(serde_json::json!({"object": "list", "data": data, "has_more": false})).into_response()
}
