//! Running one batch: validate its input file, answer each line through the server's own
//! routes (same replies, faults and limits as a live request), write the output and error
//! files, and move the batch through its statuses on [`BatchSettings::duration`]'s schedule.
//!
//! [`BatchSettings::duration`]: super::BatchSettings::duration

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Request};
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::time::Instant;
use tower::ServiceExt;

use super::{unix_now, BatchApi};

/// Lines answered at once.
const LINES_AT_ONCE: usize = 64;

/// A line that gets no answer in this long (a `--hang` fault) fails with a timeout.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read back from the router.
const ANSWER_LIMIT: usize = 64 * 1024 * 1024;

/// One input line as the Batch API reads it.
struct Line {
    custom_id: String,
    url: String,
    body: Value,
    /// Its `url` is not the batch's endpoint: why; it is not sent, and gets an error line.
    wrong_url: Option<String>,
}

/// What became of one line: an output line, or an error line.
enum Answered {
    Output(Value),
    Error(Value),
}

/// Runs batch `id` to its end.
pub(super) async fn run(api: Arc<BatchApi>, id: String, input: Bytes, key: Option<String>) {
    let started = Instant::now();
    let duration = api.settings.duration;
    let Some((number, endpoint, cancel)) = api
        .store()
        .batches
        .get(&id)
        .map(|b| (b.number, b.endpoint.clone(), b.cancel.clone()))
    else {
        return;
    };
    tokio::time::sleep_until(started + duration / 10).await;

    let lines = match parse(&input, &endpoint) {
        Ok(lines) if !api.settings.fail.contains(&number) => lines,
        Ok(_) => {
            return fail(
                &api,
                &id,
                "mock_failed",
                "This batch was set to fail (--batch-failed).",
                None,
            )
        }
        Err((line, message)) => return fail(&api, &id, "invalid_request", &message, Some(line)),
    };
    let total = lines.len() as u64;
    update(&api, &id, |b| {
        b.status = "in_progress".into();
        b.in_progress_at = Some(unix_now());
        b.total = total;
    });

    let expires = api.settings.expire.contains(&number);
    // An expiring batch answers half its lines, then runs out of time.
    let answerable = if expires { lines.len() / 2 } else { lines.len() };
    let mut rng = SmallRng::seed_from_u64(api.seed ^ number.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let fails: Vec<bool> = lines
        .iter()
        .map(|_| api.settings.fail_share > 0.0 && rng.random::<f64>() < api.settings.fail_share)
        .collect();
    let lines: Arc<[Line]> = lines.into();
    let fails: Arc<[bool]> = fails.into();
    let mut answers = futures::stream::iter(0..answerable)
        .map(|n| {
            let (api, key, lines, fails) = (api.clone(), key.clone(), lines.clone(), fails.clone());
            let custom_id = lines[n].custom_id.clone();
            // A task per line: a big batch uses every core, as live requests do.
            let task =
                tokio::spawn(
                    async move { answer(&api, &lines[n], fails[n], n as u64 + 1, number, key.as_deref()).await },
                );
            async move {
                task.await.unwrap_or_else(|_| {
                    error_line(
                        &request_id(number, n as u64 + 1),
                        &custom_id,
                        "server_error",
                        "the mock stopped answering this line",
                    )
                })
            }
        })
        .buffered(LINES_AT_ONCE);
    let (mut output, mut errors) = (Vec::new(), Vec::new());
    loop {
        let next = tokio::select! {
            next = answers.next() => next,
            _ = cancel.cancelled() => None,
        };
        let Some(answered) = next else { break };
        let ok = matches!(answered, Answered::Output(_));
        match answered {
            Answered::Output(line) => output.push(line),
            Answered::Error(line) => errors.push(line),
        }
        update(&api, &id, |b| {
            if ok {
                b.completed += 1;
            } else {
                b.failed += 1;
            }
        });
    }
    drop(answers);
    let done = output.len() + errors.len();

    if cancel.is_cancelled() {
        finish(&api, &id, output, errors, |b| {
            b.status = "cancelled".into();
            b.cancelled_at = Some(unix_now());
        });
        return;
    }
    if expires {
        for (n, line) in lines.iter().enumerate().skip(done) {
            errors.push(json!({
                "id": request_id(number, n as u64 + 1),
                "custom_id": line.custom_id,
                "response": null,
                "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired.",
                },
            }));
        }
        tokio::time::sleep_until(started + duration * 9 / 10).await;
        finish(&api, &id, output, errors, |b| {
            b.status = "expired".into();
            b.expired_at = Some(unix_now());
        });
        return;
    }
    tokio::time::sleep_until(started + duration * 8 / 10).await;
    update(&api, &id, |b| {
        b.status = "finalizing".into();
        b.finalizing_at = Some(unix_now());
    });
    tokio::time::sleep_until(started + duration).await;
    finish(&api, &id, output, errors, |b| {
        b.status = "completed".into();
        b.completed_at = Some(unix_now());
    });
}

/// Reads every line; the first line that is not a request (bad JSON, no `custom_id`, no body)
/// fails the whole batch, as OpenAI's validation does. A line whose `url` is not the batch's
/// endpoint is kept: it is answered with an error line (see [`answer`]).
fn parse(input: &[u8], endpoint: &str) -> Result<Vec<Line>, (u64, String)> {
    let mut lines = Vec::new();
    for (n, text) in input.split(|&b| b == b'\n').enumerate() {
        let number = n as u64 + 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value =
            serde_json::from_slice(text).map_err(|e| (number, format!("Line {number} is not valid JSON: {e}")))?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
        let custom_id = field("custom_id").ok_or_else(|| (number, format!("Line {number} has no custom_id.")))?;
        let url = field("url").unwrap_or_default();
        let Some(body) = value.get("body").filter(|b| b.is_object()).cloned() else {
            return Err((number, format!("Line {number} has no body object.")));
        };
        let wrong_url = (url != endpoint)
            .then(|| format!("The url '{url}' of this request does not match the batch's endpoint '{endpoint}'."));
        lines.push(Line {
            custom_id,
            url,
            body,
            wrong_url,
        });
    }
    if lines.is_empty() {
        return Err((0, "The input file has no lines.".into()));
    }
    Ok(lines)
}

fn request_id(batch: u64, line: u64) -> String {
    format!("batch_req_mock{batch:08x}{line:08x}")
}

/// Answers one line through the server's routes (or fails it, when drawn to).
async fn answer(api: &BatchApi, line: &Line, fails: bool, n: u64, batch: u64, key: Option<&str>) -> Answered {
    let id = request_id(batch, n);
    if let Some(message) = &line.wrong_url {
        return wrong_url(&id, &line.custom_id, message);
    }
    if fails {
        return Answered::Error(json!({
            "id": id,
            "custom_id": line.custom_id,
            "response": {
                "status_code": 500,
                "request_id": format!("req_{id}"),
                "body": {"error": {
                    "message": "The server had an error while processing this request.",
                    "type": "server_error", "param": null, "code": "server_error",
                }},
            },
            "error": null,
        }));
    }
    let mut body = line.body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("stream");
        object.remove("stream_options");
    }
    let mut request = Request::post(line.url.as_str()).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let answered = match request.body(Body::from(bytes)) {
        Ok(request) => tokio::time::timeout(LINE_TIMEOUT, api.lines.clone().oneshot(request)).await,
        Err(e) => return error_line(&id, &line.custom_id, "invalid_request", &e.to_string()),
    };
    let response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => return error_line(&id, &line.custom_id, "timeout", "The request timed out."),
    };
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match axum::body::to_bytes(response.into_body(), ANSWER_LIMIT).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        Err(e) => return error_line(&id, &line.custom_id, "server_error", &e.to_string()),
    };
    let line = json!({
        "id": id,
        "custom_id": line.custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": null,
    });
    if (200..300).contains(&status) {
        Answered::Output(line)
    } else {
        Answered::Error(line)
    }
}

/// The error line of a request whose `url` is not the batch's endpoint: a 400 in the line's
/// `response`, as the Batch API reports a request it refused, and nothing sent.
fn wrong_url(id: &str, custom_id: &str, message: &str) -> Answered {
    Answered::Error(json!({
        "id": id,
        "custom_id": custom_id,
        "response": {
            "status_code": 400,
            "request_id": format!("req_{id}"),
            "body": {"error": {
                "message": message,
                "type": "invalid_request_error", "param": "url", "code": "invalid_url",
            }},
        },
        "error": null,
    }))
}

fn error_line(id: &str, custom_id: &str, code: &str, message: &str) -> Answered {
    Answered::Error(json!({
        "id": id,
        "custom_id": custom_id,
        "response": null,
        "error": {"code": code, "message": message},
    }))
}

fn update(api: &BatchApi, id: &str, change: impl FnOnce(&mut super::Batch)) {
    if let Some(batch) = api.store().batches.get_mut(id) {
        change(batch);
    }
}

/// A batch that failed validation: `failed`, with the reason in `errors`.
fn fail(api: &BatchApi, id: &str, code: &str, message: &str, line: Option<u64>) {
    update(api, id, |b| {
        b.status = "failed".into();
        b.failed_at = Some(unix_now());
        b.errors = Some(json!({
            "object": "list",
            "data": [{"code": code, "message": message, "param": null, "line": line}],
        }));
    });
}

/// Stores the output and error files (when they have lines) and sets the final status.
fn finish(api: &BatchApi, id: &str, output: Vec<Value>, errors: Vec<Value>, status: impl FnOnce(&mut super::Batch)) {
    let jsonl = |lines: &[Value]| {
        let mut bytes = Vec::new();
        for line in lines {
            if serde_json::to_writer(&mut bytes, line).is_ok() {
                bytes.push(b'\n');
            }
        }
        Bytes::from(bytes)
    };
    let now = unix_now();
    let mut store = api.store();
    let output_file = (!output.is_empty()).then(|| {
        store
            .add_file(format!("{id}_output.jsonl"), "batch_output", jsonl(&output), now)
            .id
    });
    let error_file = (!errors.is_empty()).then(|| {
        store
            .add_file(format!("{id}_error.jsonl"), "batch_output", jsonl(&errors), now)
            .id
    });
    if let Some(batch) = store.batches.get_mut(id) {
        batch.output_file_id = output_file;
        batch.error_file_id = error_file;
        status(batch);
    }
}
