//! Retry-After in every form, statuses never retried, fallback, breaker, quota and the guard.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use sheepdog::config::Overrides;
use sheepdog::mock::MockConfig;
use sheepdog::RunStatus;

use super::harness::{by_prompt, job, mock, prompts, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_comes_before_the_retry_after_in_ms() {
    let server = mock(MockConfig {
        failures: vec![(429, 0.3)],
        retry_after: Duration::from_millis(300),
        seed: 11,
        ..MockConfig::default()
    })
    .await;
    let job_toml = job(
        &server.base_url(),
        &["gpt-4.1-mini"],
        "[retry]\nmax_attempts = 10\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\n",
    );
    let ran = run(
        &job_toml,
        &prompts(60),
        Overrides {
            adaptive: no_adaptive(),
            ..Overrides::default()
        },
    )
    .await;
    assert_eq!(ran.results.len(), 60);
    let mut retries = 0;
    for requests in by_prompt(&server.stats().log).values() {
        for pair in requests.windows(2) {
            if pair[0].status == 429 {
                retries += 1;
                let gap = pair[1].at_ms - pair[0].at_ms;
                assert!(gap >= 300.0, "retried {gap:.1} ms after a 429 that asked for 300 ms");
            }
        }
    }
    assert!(retries >= 5, "the test saw retries: {retries}");
    server.shutdown().await;
}

fn no_adaptive() -> Option<bool> {
    Some(false)
}

/// A server that answers each prompt's first request with 429 and `header`, then 200.
pub async fn answer_429_once_with(
    header: fn() -> (HeaderName, HeaderValue),
) -> (String, Arc<Mutex<Vec<(String, Instant)>>>) {
    let seen: Arc<Mutex<Vec<(String, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicU64::new(0));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let log = log.clone();
            let count = count.clone();
            async move {
                let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
                let first = {
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    let first = !log.iter().any(|(p, _)| *p == prompt);
                    log.push((prompt, Instant::now()));
                    first
                };
                let n = count.fetch_add(1, Ordering::Relaxed);
                if first {
                    let mut headers = HeaderMap::new();
                    let (name, value) = header();
                    headers.insert(name, value);
                    let error = json!({"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}});
                    return (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(error)).into_response();
                }
                axum::Json(json!({
                    "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
                }))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), seen)
}

pub fn gaps(seen: &Mutex<Vec<(String, Instant)>>) -> Vec<Duration> {
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let mut gaps = Vec::new();
    for (i, (prompt, at)) in seen.iter().enumerate() {
        if let Some((_, later)) = seen[i + 1..].iter().find(|(p, _)| p == prompt) {
            gaps.push(later.duration_since(*at));
        }
    }
    gaps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_comes_before_the_retry_after_in_seconds() {
    let (base_url, seen) =
        answer_429_once_with(|| (HeaderName::from_static("retry-after"), HeaderValue::from_static("1"))).await;
    let job_toml = job(
        &base_url,
        &["m"],
        "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\n",
    );
    let ran = run(&job_toml, &prompts(4), Overrides::default()).await;
    assert_eq!(ran.results.len(), 4);
    let gaps = gaps(&seen);
    assert_eq!(gaps.len(), 4);
    assert!(gaps.iter().all(|g| *g >= Duration::from_secs(1)), "{gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_retry_comes_before_the_retry_after_as_an_http_date() {
    fn two_seconds_from_now() -> (HeaderName, HeaderValue) {
        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
        (
            HeaderName::from_static("retry-after"),
            HeaderValue::from_str(&at).unwrap_or(HeaderValue::from_static("2")),
        )
    }
    let (base_url, seen) = answer_429_once_with(two_seconds_from_now).await;
    let job_toml = job(
        &base_url,
        &["m"],
        "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\n",
    );
    let ran = run(&job_toml, &prompts(3), Overrides::default()).await;
    assert_eq!(ran.results.len(), 3);
    // An HTTP date has whole seconds: at least one second must have passed, and no retry may
    // come before the date itself (checked at one-second precision).
    let gaps = gaps(&seen);
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(1000)), "{gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_never_retried() {
    for status in [400u16, 401, 403, 404, 422] {
        let server = mock(MockConfig {
            failures: vec![(status, 1.0)],
            ..MockConfig::default()
        })
        .await;
        let ran = run(
            &job(&server.base_url(), &["gpt-4.1-mini"], ""),
            &prompts(6),
            Overrides::default(),
        )
        .await;
        let log = server.stats().log;
        for (prompt, requests) in by_prompt(&log) {
            assert_eq!(
                requests.len(),
                1,
                "HTTP {status}: prompt {prompt} was sent {} times",
                requests.len()
            );
        }
        assert!(ran.results.is_empty(), "HTTP {status}: nothing succeeds");
        if matches!(status, 401 | 403) {
            assert!(
                matches!(ran.output.status, RunStatus::Aborted(_)),
                "HTTP {status} stops the run"
            );
        } else {
            assert_eq!(ran.errors.len(), 6, "HTTP {status}: every item failed for good");
        }
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_not_found_falls_back_to_the_next_target() {
    let server = mock(MockConfig {
        fail_models: vec![("gpt-4.1".into(), 404)],
        ..MockConfig::default()
    })
    .await;
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1", "deepseek-chat"], ""),
        &prompts(10),
        Overrides::default(),
    )
    .await;
    assert_eq!(ran.results.len(), 10);
    for line in &ran.results {
        assert_eq!(line["sheepdog"]["target"], "deepseek-chat");
        assert_eq!(line["sheepdog"]["fallbacks"], 1);
        assert_eq!(line["sheepdog"]["targets_tried"][0]["result"], "not_found");
    }
    let targets = &ran.output.summary.targets;
    assert_eq!((targets[0].fallbacks_out, targets[1].fallbacks_in), (10, 10));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_provider_loses_almost_nothing() {
    let server = mock(MockConfig {
        failures: vec![(429, 0.2), (503, 0.1)],
        retry_after: Duration::from_millis(5),
        seed: 3,
        ..MockConfig::default()
    })
    .await;
    let job_toml = job(
        &server.base_url(),
        &["gpt-4.1-mini"],
        "[retry]\nmax_attempts = 10\nbase_delay = \"2ms\"\nmax_delay = \"20ms\"\n",
    );
    // Injected 429s come at random, not from load: AIMD would slow the run for nothing, so it is
    // off here (as the README advises for such gateways).
    let overrides = Overrides {
        concurrency: Some(64),
        adaptive: Some(false),
        ..Overrides::default()
    };
    let ran = run(&job_toml, &prompts(2000), overrides).await;
    let totals = &ran.output.summary.totals;
    assert!(totals.succeeded >= 1998, "{} of 2000 succeeded", totals.succeeded);
    assert!(totals.retries >= 400, "the retries are reported: {}", totals.retries);
    let attempts: u64 = ran
        .results
        .iter()
        .map(|l| l["sheepdog"]["attempts"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(attempts, totals.requests - errors_attempts(&ran.errors));
    server.shutdown().await;
}

fn errors_attempts(errors: &[Value]) -> u64 {
    errors
        .iter()
        .map(|l| l["sheepdog"]["attempts"].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_quota_stops_the_run_after_about_its_size() {
    let server = mock(MockConfig {
        quota: Some(50),
        ..MockConfig::default()
    })
    .await;
    let overrides = Overrides {
        concurrency: Some(8),
        ..Overrides::default()
    };
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1-mini"], ""),
        &prompts(1000),
        overrides,
    )
    .await;
    let RunStatus::Aborted(reason) = &ran.output.status else {
        panic!("expected an abort, got {:?}", ran.output.status)
    };
    assert!(
        reason.contains("insufficient_quota") && reason.contains("add credit"),
        "{reason}"
    );
    assert_eq!(ran.results.len(), 50);
    let sent = server.stats().requests;
    assert!(sent <= 50 + 8, "stopped at once: {sent} requests");
    assert!(
        ran.output.summary.totals.unsent >= 1000 - 50 - 8,
        "the rest stays unsent"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_target_is_skipped_by_its_breaker_and_probed() {
    let server = mock(MockConfig {
        fail_models: vec![("gpt-4.1".into(), 503)],
        ..MockConfig::default()
    })
    .await;
    let extra = "[retry]\nmax_attempts = 1\n\n[breaker]\nconsecutive_failures = 3\ncooldown = \"200ms\"\n";
    let job_toml = job(&server.base_url(), &["gpt-4.1", "deepseek-chat"], extra);
    let input = prompts(300);
    let ran = run(
        &job_toml,
        &input,
        Overrides {
            concurrency: Some(2),
            ..Overrides::default()
        },
    )
    .await;
    assert_eq!(ran.results.len(), 300, "the fallback answered everything");
    let broken = &ran.output.summary.targets[0];
    assert!(broken.breaker_openings >= 1, "the breaker opened");
    assert!(
        broken.requests < 150,
        "the broken target was skipped most of the time: {} requests",
        broken.requests
    );
    server.shutdown().await;

    // A target that recovers: probes close the breaker again and it takes traffic back.
    let healthy = mock(MockConfig::default()).await;
    let ran = run(
        &job(&healthy.base_url(), &["gpt-4.1", "deepseek-chat"], extra),
        &prompts(20),
        Overrides::default(),
    )
    .await;
    assert!(ran.results.iter().all(|l| l["sheepdog"]["target"] == "gpt-4.1"));
    healthy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_rate_guard_stops_a_failing_run() {
    let server = mock(MockConfig {
        failures: vec![(400, 0.5)],
        seed: 5,
        ..MockConfig::default()
    })
    .await;
    let overrides = Overrides {
        max_error_rate: Some(0.05),
        error_window: Some(50),
        concurrency: Some(4),
        ..Overrides::default()
    };
    let ran = run(
        &job(&server.base_url(), &["gpt-4.1-mini"], ""),
        &prompts(2000),
        overrides,
    )
    .await;
    let RunStatus::Aborted(reason) = &ran.output.status else {
        panic!("expected an abort")
    };
    assert!(
        reason.contains("error-rate guard") && reason.contains("limit 5.0%"),
        "{reason}"
    );
    assert!(
        server.stats().requests < 200,
        "stopped early: {} requests",
        server.stats().requests
    );
    assert_eq!(
        ran.output.summary.job.aborted.as_deref(),
        Some(reason.as_str()),
        "the report says why"
    );
    server.shutdown().await;
}
