//! Runs that cannot succeed stop within seconds with what to fix: a dead endpoint, a closed
//! port, every request refused the same way, a key that cannot be sent; and a Retry-After of
//! years is cut to `retry.max_retry_after`.

use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use serde_json::{json, Value};
use sheepdog::mock::MockConfig;

use super::common::{job, start_mock, RunFolder, Scratch};
use super::harness::prompts;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Runs `items` prompts on one target at `base_url` through the binary; returns the run folder
/// (`None` when none was written), how it ended, and how long it took.
async fn run_at(
    base_url: &str,
    items: usize,
    extra: &str,
    key: &str,
) -> (Option<RunFolder>, super::common::Finished, Duration) {
    let scratch = Scratch::new();
    let started = Instant::now();
    let (out, finished) = scratch
        .run_job(
            &prompts(items),
            &job(base_url, KEY_ENV, &[("main", "gpt-4.1-mini")], extra),
            &["--quiet", "--concurrency", "32"],
            &[(KEY_ENV, key)],
        )
        .await;
    let took = started.elapsed();
    let folder = out.join("summary.json").exists().then(|| RunFolder::read(&out));
    (folder, finished, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_stops_the_run_within_seconds_and_stays_resumable() {
    let server = start_mock(MockConfig {
        failures: vec![(500, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let (folder, finished, took) = run_at(&server.base_url(), 200, "", "k").await;
    finished.assert_code(3);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let requests = server.stats().requests;
    assert!(requests < 50, "{requests} requests to a dead endpoint");
    for says in ["\"main\"", &server.base_url(), "HTTP 500", "check", "--resume"] {
        assert!(finished.stderr.contains(says), "says {says:?}: {}", finished.stderr);
    }
    let folder = folder.expect("the run folder is written");
    assert_eq!(
        folder.summary_u64("/totals/failed"),
        0,
        "items cut short are not failed"
    );
    assert_eq!(
        folder.summary_u64("/totals/unsent"),
        200,
        "every item is left for a resume"
    );
    assert_eq!(folder.summary_u64("/totals/requests"), requests);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_stops_the_run_within_seconds() {
    // A port bound but not listening: connections are refused, and no other test's server can
    // take the port while the run tries it.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind loopback");
    let base_url = format!("http://{}/v1", socket.local_addr().expect("address"));
    let (folder, finished, took) = run_at(&base_url, 200, "", "k").await;
    finished.assert_code(3);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(
        finished.stderr.contains(&base_url),
        "names the base URL: {}",
        finished.stderr
    );
    assert!(finished.stderr.contains("server is running"), "{}", finished.stderr);
    let folder = folder.expect("the run folder is written");
    assert!(folder.summary_u64("/totals/requests") < 50);
    assert_eq!(folder.summary_u64("/totals/failed"), 0);
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_refusal_on_every_first_request_stops_the_run() {
    let server = start_mock(MockConfig {
        failures: vec![(400, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let (_, finished, _) = run_at(&server.base_url(), 300, "", "k").await;
    finished.assert_code(3);
    let requests = server.stats().requests;
    assert!(requests <= 20, "stopped after {requests} requests");
    assert!(
        finished.stderr.contains("first 20 requests were all refused"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("HTTP 400"),
        "with the provider's message: {}",
        finished.stderr
    );
    server.shutdown().await;

    // Turned off, every line is sent and fails on its own.
    let server = start_mock(MockConfig {
        failures: vec![(400, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let (_, finished, _) = run_at(&server.base_url(), 30, "[retry]\nrefusal_limit = 0\n", "k").await;
    finished.assert_code(1);
    assert_eq!(server.stats().requests, 30);
    server.shutdown().await;
}

/// A server that answers every request 400 `Invalid model name` the way LiteLLM does, and lists
/// its models.
async fn litellm_like() -> String {
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(|| async {
                let error = json!({"error": {"message": "Invalid model name passed in model=gpt-4.1-mini. Call `/v1/models` to view available models for your key.", "type": "invalid_request_error", "param": "model", "code": "400"}});
                (axum::http::StatusCode::BAD_REQUEST, axum::Json(error))
            }),
        )
        .route(
            "/v1/models",
            axum::routing::get(|| async {
                axum::Json(json!({"object": "list", "data": [{"id": "claude-sonnet", "object": "model"}, {"id": "llama-70b", "object": "model"}]}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_calls_an_invalid_model_400_an_unknown_model_and_lists_the_models() {
    let base_url = litellm_like().await;
    let scratch = Scratch::new();
    let job_file = scratch.write("job.toml", &job(&base_url, KEY_ENV, &[("main", "gpt-4.1-mini")], ""));
    let finished = scratch
        .run(
            &["check", "--config", job_file.to_str().expect("utf-8 path")],
            &[(KEY_ENV, "k")],
        )
        .await;
    let out = format!("{}{}", finished.stdout, finished.stderr);
    assert!(out.contains("\"gpt-4.1-mini\" does not exist there"), "{out}");
    assert!(out.contains("claude-sonnet, llama-70b"), "lists the models: {out}");
    assert_eq!(out.matches("HTTP 400").count(), 1, "said once: {out}");
    assert!(!out.contains("HTTP 400 400"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_retry_after_is_cut_to_the_cap_and_the_run_ends() {
    fn for_ever() -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static("retry-after"),
            HeaderValue::from_static("999999999"),
        )
    }
    let (base_url, seen) = super::faults::answer_429_once_with(for_ever).await;
    let (folder, finished, took) = run_at(&base_url, 3, "[retry]\nmax_retry_after = \"1s\"\n", "k").await;
    finished.assert_code(0);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let gaps = super::faults::gaps(&seen);
    assert_eq!(gaps.len(), 3, "each item retried once: {gaps:?}");
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_secs(1)),
        "after the cap, not before: {gaps:?}"
    );
    let summary: &Value = &folder.expect("run folder").summary;
    assert_eq!(summary["targets"][0]["pacing"]["retry_after_capped"], 3);
    assert_eq!(summary["targets"][0]["pacing"]["max_retry_after_s"], 1.0);
    let capped_logged = finished.stderr.matches("max_retry_after").count();
    assert!(capped_logged <= 1, "said once at most: {}", finished.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_a_trailing_carriage_return_is_refused_before_any_request() {
    let server = start_mock(MockConfig::default()).await;
    let (folder, finished, _) = run_at(&server.base_url(), 5, "", "sk-from-windows\r").await;
    finished.assert_code(2);
    assert!(
        finished.stderr.contains(KEY_ENV),
        "names the variable: {}",
        finished.stderr
    );
    assert!(finished.stderr.contains("carriage return"), "{}", finished.stderr);
    assert!(!finished.stderr.contains("sk-from-windows"), "never shows the key");
    assert!(folder.is_none());
    assert_eq!(server.stats().requests, 0, "nothing was sent");
    server.shutdown().await;
}
