//! Streamed answers keep an absolute token schedule.

use std::sync::Arc;

use futures::StreamExt as _;
use rand::SeedableRng as _;
use tokio::time::Instant;

use axum::http::HeaderValue;
use rand::rngs::SmallRng;
use std::time::Duration;

use crate::mock::queue::Queue;
use crate::mock::reply::Prompt;
use crate::mock::reply::Reply;
use crate::mock::stats::Recorder;
use crate::mock::stream::{response, Plan};
use crate::mock::Latency;
use crate::mock::MockConfig;
use crate::provider::ApiEndpoint;

/// When each content chunk of a streamed answer leaves, read by a consumer that spends
/// `busy` on every chunk (on tokio's paused clock, so the times are exact).
async fn content_times(ttft: Duration, itl: Duration, tokens: u32, busy: Duration) -> Vec<Duration> {
    let recorder = Arc::new(Recorder::new());
    let (_, guard) = recorder.arrive();
    let held = Queue::new(&MockConfig::default()).enter(1).await;
    let prompt = Prompt { hash: 7, tokens: 10 };
    let plan = Plan {
        api: ApiEndpoint::Chat,
        events: None,
        id: "chatcmpl-test".into(),
        created: 0,
        model: "gpt-4.1-mini".into(),
        reply: Reply::new(prompt, Some(tokens), None),
        include_usage: false,
        planned: None,
        ttft: Latency::Fixed(ttft),
        itl: Latency::Fixed(itl),
        rng: SmallRng::seed_from_u64(1),
        fault: None,
        stall: Duration::ZERO,
        guard,
        held,
        request_id: HeaderValue::from_static("req-test"),
    };
    let start = Instant::now();
    let mut body = response(plan).into_body().into_data_stream();
    let mut times = Vec::new();
    while let Some(Ok(bytes)) = body.next().await {
        if std::str::from_utf8(&bytes).is_ok_and(|t| t.contains(r#"{"content":""#)) {
            times.push(start.elapsed());
        }
        tokio::time::sleep(busy).await;
    }
    times
}

#[tokio::test(start_paused = true)]
async fn tokens_keep_an_absolute_schedule_even_when_the_sender_is_late() {
    let (ttft, itl) = (Duration::from_millis(50), Duration::from_millis(5));
    // Each chunk takes 2 ms to hand over: with a sleep of `itl` after each one the gaps would
    // be 7 ms and token 20 would leave 40 ms late.
    let times = content_times(ttft, itl, 21, Duration::from_millis(2)).await;
    assert_eq!(times.len(), 21);
    for (k, at) in times.iter().enumerate() {
        assert_eq!(*at, ttft + itl * k as u32, "token {k}");
    }
}
