//! The API key never leaves the process: not in any file of the run folder (results, errors,
//! summary.json, report.md, ...), not on stdout or stderr, whether the key is refused or works.

mod common;

use common::{all_files, contains_bytes, job, start_mock, Finished, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "CANARY_PROVIDER_KEY";
/// Long and random-looking, so that a match can only be the key itself.
const CANARY: &str = "sk-canary-7f3a9d2c41e8b6a05d9f7e3c2b1a4d6e8f0c9b7a5e3d1f2a";

/// Runs a small job whose provider key is the canary against a mock requiring `required`.
async fn run_with_canary(required: &str) -> (Scratch, Finished, u64) {
    let config = MockConfig {
        require_key: Some(required.to_string()),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let (text, _) = common::generated_input(40, 9);
    let job_text = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    // Not quiet: the final table and any progress output are checked too.
    let (_, finished) = scratch.run_job(&text, &job_text, &[], &[(KEY_ENV, CANARY)]).await;
    (scratch, finished, server.stats().requests)
}

/// Reads every file under the scratch folder (the run folder and anything else written there).
fn assert_no_canary(scratch: &Scratch, finished: &Finished) {
    let files = all_files(scratch.path());
    let names: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    for expected in ["results.jsonl", "errors.jsonl", "summary.json", "report.md"] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} was written: {names:?}"
        );
    }
    for (path, bytes) in &files {
        assert!(!contains_bytes(bytes, CANARY), "the key is in {}", path.display());
        assert!(
            !contains_bytes(bytes, &CANARY[..20]),
            "part of the key is in {}",
            path.display()
        );
    }
    assert!(
        !finished.stdout.contains(&CANARY[..20]),
        "the key is on stdout:\n{}",
        finished.stdout
    );
    assert!(
        !finished.stderr.contains(&CANARY[..20]),
        "the key is on stderr:\n{}",
        finished.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_key_is_in_no_output_file_and_not_on_the_terminal() {
    let (scratch, finished, requests) = run_with_canary("the-right-key").await;

    finished.assert_code(3);
    assert!(requests >= 1, "the key was sent and refused");
    assert!(
        finished.stderr.contains(KEY_ENV),
        "stderr names the variable, not the key: {}",
        finished.stderr
    );
    assert_no_canary(&scratch, &finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_key_is_in_no_output_file_and_not_on_the_terminal() {
    let (scratch, finished, requests) = run_with_canary(CANARY).await;

    // Some input lines are invalid on purpose, so errors.jsonl has content too.
    finished.assert_code(1);
    assert!(
        requests >= 30,
        "the key was accepted and the items sent ({requests} requests)"
    );
    assert_no_canary(&scratch, &finished);
    let summary = std::fs::read_to_string(scratch.path().join("run/summary.json")).expect("summary.json");
    assert!(
        summary.contains(KEY_ENV),
        "summary.json echoes the variable name, a sign the config echo was checked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_in_dot_env_of_the_working_directory_is_used_and_not_shown() {
    let config = MockConfig {
        require_key: Some(CANARY.to_string()),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    scratch.write(".env", &format!("{KEY_ENV}={CANARY}\n"));
    let input = common::repo_file("jobs/with-errors.jsonl");
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );

    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--config",
                job_file.to_str().expect("utf-8 path"),
                "--out",
                "run",
            ],
            &[],
        )
        .await;

    finished.assert_code(1);
    assert_eq!(
        server.stats().by_status.get(&200).copied(),
        Some(8),
        "the key from .env was accepted"
    );
    std::fs::remove_file(scratch.path().join(".env")).expect("remove .env before scanning");
    assert_no_canary(&scratch, &finished);
}

/// A provider that echoes the whole key it was sent in its 401 message (some gateways do).
async fn start_echoing_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let refuse = move |headers: HeaderMap| {
        counter.fetch_add(1, Ordering::Relaxed);
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        async move {
            let message = format!("Incorrect API key provided: {given}. Check it at https://example.test/keys");
            let body = serde_json::json!({"error": {"message": message, "type": "invalid_request_error",
                "code": "invalid_api_key", "param": given}});
            (StatusCode::UNAUTHORIZED, [("x-echo-key", given)], axum::Json(body)).into_response()
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(refuse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_echoed_back_by_the_provider_is_scrubbed_from_every_output() {
    let (base_url, hits) = start_echoing_server().await;
    let scratch = Scratch::new();
    let input = common::repo_file("jobs/with-errors.jsonl");
    let job_file = scratch.write("job.toml", &job(&base_url, KEY_ENV, &[("mini", "gpt-4.1-mini")], ""));

    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--config",
                job_file.to_str().expect("utf-8 path"),
                "--out",
                "run",
            ],
            &[(KEY_ENV, CANARY)],
        )
        .await;

    finished.assert_code(3);
    assert!(
        hits.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the provider was asked"
    );
    assert!(
        finished.stderr.contains("Incorrect API key provided"),
        "the provider's message is shown: {}",
        finished.stderr
    );
    assert_no_canary(&scratch, &finished);
}

/// A provider that echoes the key it was sent everywhere it can: in 2xx bodies (content and
/// id), in `x-request-id` and other headers, in SSE chunks, in error bodies and in the model
/// list. Every third plain request fails with a 500 that quotes the key.
async fn start_echo_everywhere_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn key_of(headers: &HeaderMap) -> String {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        given.trim_start_matches("Bearer ").to_string()
    }
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let chat = move |headers: HeaderMap, body: String| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            let key = key_of(&headers);
            let echo = [("x-request-id", key.clone()), ("x-echo-key", key.clone())];
            let usage = serde_json::json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
            if body.contains("\"stream\":true") {
                let chunk = serde_json::json!({"id": key, "object": "chat.completion.chunk", "model": "gpt-4.1-mini",
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": format!("your key is {key}")}, "finish_reason": null}]});
                let last = serde_json::json!({"id": key, "object": "chat.completion.chunk", "model": "gpt-4.1-mini",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage});
                let text = format!("data: {chunk}\n\ndata: {last}\n\ndata: [DONE]\n\n");
                return (
                    StatusCode::OK,
                    echo,
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    text,
                )
                    .into_response();
            }
            if n % 3 == 2 {
                let error = serde_json::json!({"error": {"message": format!("upstream failed for key {key}"),
                    "type": "server_error", "code": key}});
                return (StatusCode::INTERNAL_SERVER_ERROR, echo, axum::Json(error)).into_response();
            }
            let answer = serde_json::json!({"id": key, "object": "chat.completion", "model": "gpt-4.1-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("your key is {key}")},
                "finish_reason": "stop"}], "usage": usage, "system_fingerprint": key});
            (StatusCode::OK, echo, axum::Json(answer)).into_response()
        }
    };
    let models = |headers: HeaderMap| async move {
        let key = key_of(&headers);
        let list = serde_json::json!({"object": "list", "data": [{"id": "gpt-4.1-mini", "owned_by": key}]});
        ([("x-echo-key", key)], axum::Json(list))
    };
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route("/v1/models", axum::routing::get(models));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_against_a_server_echoing_the_key_everywhere_leaks_nothing() {
    let (base_url, hits) = start_echo_everywhere_server().await;
    let scratch = Scratch::new();
    let (text, _) = common::generated_input(30, 0);
    scratch.write("input.jsonl", &text);
    let extra = "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\n";
    scratch.write("job.toml", &job(&base_url, KEY_ENV, &[("mini", "gpt-4.1-mini")], extra));
    let env = [(KEY_ENV, CANARY), ("RUST_LOG", "trace")];
    let commands: [&[&str]; 10] = [
        &["run", "input.jsonl", "--config", "job.toml", "--out", "plain"],
        &[
            "run",
            "input.jsonl",
            "--config",
            "job.toml",
            "--out",
            "streamed",
            "--stream",
        ],
        &[
            "run",
            "input.jsonl",
            "--config",
            "job.toml",
            "--out",
            "plain",
            "--retry-failed",
            "--log-format",
            "json",
        ],
        &["check", "--config", "job.toml"],
        &["models", "--config", "job.toml"],
        &[
            "bench",
            "--config",
            "job.toml",
            "--input",
            "input.jsonl",
            "--requests",
            "12",
            "--concurrency",
            "2",
            "--out",
            "bench",
        ],
        &["estimate", "input.jsonl", "--config", "job.toml"],
        &["report", "plain"],
        &["compare", "plain", "streamed"],
        &["merge", "plain", "streamed", "--out", "merged"],
    ];
    let mut outputs = Vec::new();
    for args in commands {
        let finished = scratch.run(args, &env).await;
        assert!(
            matches!(finished.code, Some(0..=3)),
            "{args:?} exited {:?}: {}",
            finished.code,
            finished.stderr
        );
        outputs.push((args, finished));
    }
    assert!(
        hits.load(std::sync::atomic::Ordering::Relaxed) >= 60,
        "the server answered the runs"
    );
    let plain = std::fs::read_to_string(scratch.path().join("plain/results.jsonl")).expect("results.jsonl");
    assert!(
        plain.contains("your key is [redacted]"),
        "2xx bodies are kept, scrubbed: {plain:.300}"
    );
    let streamed = std::fs::read_to_string(scratch.path().join("streamed/results.jsonl")).expect("results.jsonl");
    assert!(
        streamed.contains("[redacted]"),
        "SSE text is kept, scrubbed: {streamed:.300}"
    );
    for (path, bytes) in all_files(scratch.path()) {
        assert!(
            !contains_bytes(&bytes, &CANARY[..20]),
            "the key is in {}",
            path.display()
        );
    }
    for (args, finished) in &outputs {
        assert!(
            !finished.stdout.contains(&CANARY[..20]) && !finished.stderr.contains(&CANARY[..20]),
            "the key is in the output or trace log of {args:?}"
        );
    }
}
