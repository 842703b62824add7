//! Servers that send too much or point elsewhere: 1 GB answers (generated lazily, never held
//! by the test) fail as `response_too_large` after one retry and the run ends; a redirect of
//! the POST is not followed and the error names the Location.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{job, Scratch};

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
const GIGABYTE: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy)]
enum Huge {
    /// A JSON body that never ends, chunked (no Content-Length).
    Chunked,
    /// The same, with `Content-Length: 1 GiB` declared.
    Declared,
    /// An event stream whose first `data:` line is 1 GiB with no newline.
    SseLine,
}

/// 1 GiB of `a`, 64 KiB at a time, after `head`.
fn lazy_gigabyte(head: &'static str) -> Body {
    let filler = Bytes::from(vec![b'a'; CHUNK]);
    let chunks = (GIGABYTE as usize - head.len()) / CHUNK;
    let body = std::iter::once(Bytes::from_static(head.as_bytes())).chain(std::iter::repeat_n(filler, chunks));
    Body::from_stream(futures::stream::iter(body.map(Ok::<_, std::io::Error>)))
}

/// A server on 127.0.0.1:0 answering every chat request with `huge`; returns its base URL and
/// the count of chat requests.
async fn huge_server(huge: Huge) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let answer = move || {
        counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let head = r#"{"id":"x","choices":[{"message":{"role":"assistant","content":""#;
            match huge {
                Huge::Chunked => ([(header::CONTENT_TYPE, "application/json")], lazy_gigabyte(head)).into_response(),
                Huge::Declared => {
                    let mut response =
                        ([(header::CONTENT_TYPE, "application/json")], lazy_gigabyte(head)).into_response();
                    response.headers_mut().insert(header::CONTENT_LENGTH, GIGABYTE.into());
                    response
                }
                Huge::SseLine => {
                    ([(header::CONTENT_TYPE, "text/event-stream")], lazy_gigabyte("data: ")).into_response()
                }
            }
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    (serve(app).await, hits)
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

fn prompts(count: usize) -> String {
    (0..count)
        .map(|i| format!("{{\"id\":\"big-{i}\",\"prompt\":\"Say a lot\"}}\n"))
        .collect()
}

/// Runs `count` items against `base_url` and checks that each failed as response_too_large
/// after exactly two tries; returns the run's stderr.
async fn assert_too_large(base_url: &str, count: usize, job_extra: &str, flags: &[&str]) -> String {
    let scratch = Scratch::new();
    let job_text = job(base_url, KEY_ENV, &[("mini", "gpt-4.1-mini")], job_extra);
    let mut extra = vec!["--quiet", "--concurrency", "16"];
    extra.extend_from_slice(flags);
    let (out, finished) = scratch
        .run_job(&prompts(count), &job_text, &extra, &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(1);
    let folder = common::RunFolder::read(&out);
    assert!(folder.results.is_empty());
    assert_eq!(folder.errors.len(), count);
    for line in &folder.errors {
        assert_eq!(line["sheepdog"]["error_class"], "response_too_large", "{line}");
        assert_eq!(line["sheepdog"]["attempts"], 2, "retried once, not more: {line}");
        let message = line["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("response too large"), "{message}");
    }
    assert_eq!(
        folder.summary_u64("/totals/requests"),
        2 * count as u64,
        "two tries per item"
    );
    finished.stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_gigabyte_bodies_in_flight_fail_as_too_large_and_the_run_ends() {
    let (base_url, hits) = huge_server(Huge::Chunked).await;
    assert_too_large(&base_url, 16, "", &["--max-response-size", "4MiB"]).await;
    assert_eq!(hits.load(Ordering::Relaxed), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_gigabyte_is_refused_before_it_is_read_at_the_default_limit() {
    let (base_url, hits) = huge_server(Huge::Declared).await;
    let scratch = Scratch::new();
    let job_text = job(&base_url, KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    let (out, finished) = scratch
        .run_job(
            &prompts(16),
            &job_text,
            &["--quiet", "--concurrency", "16"],
            &[(KEY_ENV, "k")],
        )
        .await;
    finished.assert_code(1);
    let folder = common::RunFolder::read(&out);
    let message = folder.errors[0]["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&GIGABYTE.to_string()) && message.contains("Content-Length") && message.contains("33554432"),
        "the size seen and the default limit: {message}"
    );
    assert_eq!(hits.load(Ordering::Relaxed), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_sse_line_fails_as_too_large_with_the_limit_from_the_job_file() {
    let (base_url, _) = huge_server(Huge::SseLine).await;
    assert_too_large(&base_url, 4, "[run]\nmax_response_size = \"2MiB\"\n", &["--stream"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_post_is_not_followed_and_the_error_names_the_location() {
    let gets = Arc::new(AtomicU64::new(0));
    let counter = gets.clone();
    let elsewhere = move || {
        counter.fetch_add(1, Ordering::Relaxed);
        async { (StatusCode::OK, "{}") }
    };
    let redirect = || async {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "http://127.0.0.1:9/moved/chat/completions")
            .body(Body::empty())
            .unwrap_or_default()
    };
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(redirect).get(elsewhere.clone()),
        )
        .route("/moved/chat/completions", axum::routing::any(elsewhere));
    let base_url = serve(app).await;
    let scratch = Scratch::new();
    let job_text = job(&base_url, KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    let (out, finished) = scratch
        .run_job(&prompts(3), &job_text, &["--quiet"], &[(KEY_ENV, "k")])
        .await;
    assert!(matches!(finished.code, Some(1) | Some(3)), "{}", finished.stderr);
    let folder = common::RunFolder::read(&out);
    assert!(folder.results.is_empty(), "a redirect is never a success");
    let message = folder.errors[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("http://127.0.0.1:9/moved/chat/completions"),
        "{message}"
    );
    assert_eq!(folder.errors[0]["sheepdog"]["error_status"], 302);
    assert_eq!(gets.load(Ordering::Relaxed), 0, "no GET was sent anywhere");
}
