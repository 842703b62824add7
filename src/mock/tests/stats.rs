//! Counters, the request log and seeded fault rates.

use std::time::Duration;

use futures::{stream, StreamExt};

use super::{chat_body, post, send, start};
use crate::mock::{MockConfig, MockServer, MockStats};

/// Sends `n` requests, `concurrency` at a time, prompts numbered `0..n`; returns the statuses.
async fn flood(server: &MockServer, n: usize, concurrency: usize) -> Vec<u16> {
    let client = reqwest::Client::new();
    stream::iter(0..n)
        .map(|i| {
            let client = &client;
            async move {
                post(client, server, &chat_body(&format!("prompt {i}")))
                    .await
                    .status
                    .as_u16()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

#[tokio::test]
async fn fault_rates_follow_the_configured_probabilities() {
    let config = MockConfig {
        failures: vec![(429, 0.10), (500, 0.05)],
        seed: 42,
        ..MockConfig::default()
    };
    let server = start(config.clone()).await;
    let statuses = flood(&server, 2000, 32).await;
    let count = |code| statuses.iter().filter(|&&s| s == code).count() as u64;
    let (limited, failed, ok) = (count(429), count(500), count(200));
    // Expected 200 and 100; bounds are about 4.5 standard deviations wide.
    assert!((140..=260).contains(&limited), "429s: {limited}");
    assert!((55..=145).contains(&failed), "500s: {failed}");
    assert_eq!(limited + failed + ok, 2000);

    let stats = server.stats();
    assert_eq!(stats.requests, 2000);
    assert_eq!(stats.by_status.get(&429), Some(&limited));
    assert_eq!(stats.by_status.get(&500), Some(&failed));
    assert_eq!(stats.by_status.get(&200), Some(&ok));
    server.shutdown().await;

    // Draws depend on the seed and the request number, not on arrival order or timing:
    // the same seed gives the same counts again.
    let replay = start(config).await;
    let again = flood(&replay, 2000, 8).await;
    assert_eq!(again.iter().filter(|&&s| s == 429).count() as u64, limited);
    assert_eq!(again.iter().filter(|&&s| s == 500).count() as u64, failed);
    replay.shutdown().await;
}

#[tokio::test]
async fn stats_count_requests_and_peak_concurrency() {
    let server = start(MockConfig {
        latency: crate::mock::Latency::Fixed(Duration::from_millis(100)),
        ..MockConfig::default()
    })
    .await;
    let sent = 20;
    let client = reqwest::Client::new();
    let statuses = stream::iter(0..sent)
        .map(|i| {
            let (client, server) = (&client, &server);
            // Two prompts only, so the log shows repeated fingerprints.
            async move {
                post(client, server, &chat_body(&format!("same {}", i % 2)))
                    .await
                    .status
            }
        })
        .buffer_unordered(sent)
        .collect::<Vec<_>>()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));

    let stats = server.stats();
    assert_eq!(stats.requests, sent as u64);
    assert_eq!(stats.in_flight, 0);
    // All 20 are held for 100ms, so most of them overlap; never more than were sent.
    assert!(stats.peak_in_flight >= 10, "peak {}", stats.peak_in_flight);
    assert!(stats.peak_in_flight <= sent as u64, "peak {}", stats.peak_in_flight);
    assert_eq!(stats.by_status.get(&200), Some(&(sent as u64)));

    let log = &stats.log;
    assert_eq!(log.len(), sent);
    assert!(log
        .iter()
        .all(|e| e.model == "gpt-4.1-mini" && e.status == 200 && !e.stream));
    assert!(log.iter().all(|e| e.at_ms >= 0.0 && e.key_id.is_none()));
    let hashes: std::collections::BTreeSet<&str> = log.iter().map(|e| e.prompt_hash.as_str()).collect();
    assert_eq!(hashes.len(), 2, "two distinct prompts: {hashes:?}");
    assert!(hashes.iter().all(|h| h.len() == 16));

    // Over HTTP: the same counters, the log only when asked for.
    let url = format!("http://{}/mock/stats", server.addr());
    let plain = send(client.get(&url)).await;
    let plain: MockStats = serde_json::from_value(plain.body).expect("MockStats JSON");
    assert_eq!(plain.requests, stats.requests);
    assert_eq!(plain.peak_in_flight, stats.peak_in_flight);
    assert_eq!(plain.by_status, stats.by_status);
    assert!(plain.log.is_empty());
    let logged = send(client.get(format!("{url}?log=true"))).await;
    let logged: MockStats = serde_json::from_value(logged.body).expect("MockStats JSON");
    assert_eq!(logged.log, stats.log);
    server.shutdown().await;
}
