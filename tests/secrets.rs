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
