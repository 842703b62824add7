//! Server lifecycle, configuration and latency sampling.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::{chat_body, loopback, post, start};
use crate::mock::{Latency, MockConfig, MockServer, StreamFaultKind};

#[tokio::test]
async fn start_rejects_invalid_faults_and_shutdown_stops_serving() {
    let bad = MockConfig {
        failures: vec![(429, 0.7), (500, 0.7)],
        ..MockConfig::default()
    };
    let err = MockServer::start(bad, loopback()).await.expect_err("sum > 1");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("add up to 1.4"), "{err}");
    let bad = MockConfig {
        stream_faults: vec![(StreamFaultKind::Truncate, 1.5)],
        ..MockConfig::default()
    };
    let err = MockServer::start(bad, loopback()).await.expect_err("p > 1");
    assert!(err.to_string().contains("1.5 for truncate is not in 0..=1"), "{err}");

    let server = start(MockConfig::default()).await;
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr().port(), 0);
    assert_eq!(
        server.base_url(),
        format!("http://127.0.0.1:{}/v1", server.addr().port())
    );
    let client = reqwest::Client::new();
    assert_eq!(post(&client, &server, &chat_body("hi")).await.status, 200);
    let url = format!("{}/models", server.base_url());
    let listed: serde_json::Value = client.get(&url).send().await.expect("up").json().await.expect("JSON");
    assert_eq!(
        listed["data"].as_array().map(Vec::len),
        Some(crate::mock::DEFAULT_MODELS.len())
    );

    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown is prompt");
    let fresh = reqwest::Client::new();
    assert!(fresh.get(&url).send().await.is_err(), "nothing listens after shutdown");
}

#[test]
fn latency_parses_fixed_and_normal_forms() {
    assert_eq!("50ms".parse(), Ok(Latency::Fixed(Duration::from_millis(50))));
    let normal = Latency::Normal {
        mean: Duration::from_millis(200),
        std: Duration::from_millis(50),
    };
    assert_eq!("200ms±50ms".parse(), Ok(normal));
    assert_eq!("200ms +- 50ms".parse(), Ok(normal));
    let err = "fast".parse::<Latency>().unwrap_err();
    assert!(err.contains("`fast` is not a duration"), "{err}");
}

#[test]
fn normal_latency_is_centred_and_clamped_at_zero() {
    let mut rng = SmallRng::seed_from_u64(1);
    let centred = Latency::Normal {
        mean: Duration::from_millis(100),
        std: Duration::from_millis(10),
    };
    let mean_ms = (0..2000)
        .map(|_| centred.sample(&mut rng).as_secs_f64() * 1000.0)
        .sum::<f64>()
        / 2000.0;
    assert!((97.0..=103.0).contains(&mean_ms), "mean {mean_ms}ms");

    let wide = Latency::Normal {
        mean: Duration::from_millis(1),
        std: Duration::from_millis(100),
    };
    let samples: Vec<Duration> = (0..1000).map(|_| wide.sample(&mut rng)).collect();
    let zeros = samples.iter().filter(|d| d.is_zero()).count();
    assert!((400..=600).contains(&zeros), "about half clamp to zero: {zeros}");
    assert!(Latency::default().is_zero());
}
