//! `bench --find-max` against a mock of known capacity, and saturation stopping a sweep.
//!
//! The mock serves 8 requests at once, each taking 100 ms to the first token and 31 × 10 ms
//! more: 8 / 0.41 s ≈ 19.5 req/s. Beyond it requests queue, and TTFT grows past 300 ms.

mod common;

use std::time::{Duration, Instant};

use common::start_mock;
use serde_json::Value;
use sheepdog::mock::Latency;
use sheepdog::{MockConfig, MockServer};

const CAPACITY: f64 = 8.0 / 0.41;

fn eight_slots() -> MockConfig {
    MockConfig {
        max_concurrency: Some(8),
        ttft: Latency::Fixed(Duration::from_millis(100)),
        itl: Latency::Fixed(Duration::from_millis(10)),
        output_tokens: Some(32),
        ..MockConfig::default()
    }
}

/// `sheepdog bench` with short synthetic prompts.
async fn bench(server: &MockServer, args: &[&str]) -> common::BenchRun {
    let all = [&["--synthetic", "in=32,out=32"], args].concat();
    common::bench(server, &all).await
}

fn number(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

const PROBE: [&str; 6] = ["--find-max", "--slo", "ttft=300ms", "--duration", "2s", "--warmup"];

#[tokio::test]
async fn find_max_by_rate_lands_near_the_capacity() {
    let server = start_mock(eight_slots()).await;
    let started = Instant::now();
    let mut args = PROBE.to_vec();
    args.extend(["1s", "--by", "rate"]);
    let run = bench(&server, &args).await;
    eprintln!("find-max by rate took {:?}", started.elapsed());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = &run.summary["find_max"];
    assert_eq!(found["by"], "rate");
    let max = number(found, "/max_load");
    // On a quiet machine the search lands within 10% of the capacity; a loaded 2-core machine
    // adds its own delay to TTFT, so the bound below it is wider (15 req/s was seen at load 13).
    assert!(
        (0.6 * CAPACITY..=1.2 * CAPACITY).contains(&max),
        "max {max} req/s, capacity {CAPACITY:.1}: {found}"
    );
    let failed = number(found, "/failed_at");
    assert!(
        failed > max && (failed - max) / max <= 0.1 + 1e-9,
        "bracket {max}..{failed}"
    );
    let probes = found["probes"].as_array().expect("probes");
    assert_eq!(
        probes.len(),
        run.summary["steps"].as_array().map_or(0, Vec::len),
        "one step per probe"
    );
    assert!(
        run.stdout
            .contains(&format!("max {max} req/s meets ttft ≤ 300ms for 95%: passed at {max}")),
        "{}",
        run.stdout
    );
    assert!(run.report.contains("## Find max"), "{}", run.report);
    assert!(
        run.html.contains("data-chart=\"find-max\""),
        "the goodput chart is on the page"
    );
}

#[tokio::test]
async fn find_max_by_concurrency_finds_the_knee() {
    let server = start_mock(eight_slots()).await;
    let started = Instant::now();
    let mut args = PROBE.to_vec();
    args.extend(["1s", "--by", "concurrency"]);
    let run = bench(&server, &args).await;
    eprintln!("find-max by concurrency took {:?}", started.elapsed());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let found = &run.summary["find_max"];
    assert_eq!(found["by"], "concurrency");
    let knee = number(found, "/max_load");
    assert!((7.0..=9.0).contains(&knee), "knee at {knee}: {found}");
}

#[tokio::test]
async fn saturation_stops_a_sweep_before_its_heavier_steps() {
    let server = start_mock(eight_slots()).await;
    let run = bench(&server, &["--rate", "10,40,60,80", "--duration", "2s"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let steps = run.summary["steps"].as_array().expect("steps");
    assert_eq!(
        steps.len(),
        2,
        "rate 40 saturates; 60 and 80 are not run: {}",
        run.stderr
    );
    assert!(steps[0].get("saturated").is_none(), "10/s is served");
    let why = steps[1]["saturated"].as_str().unwrap_or_default();
    assert!(why.contains("of 40 offered"), "{why}");
    let note = run.summary["bench"]["stopped_early"].as_str().unwrap_or_default();
    assert!(note.contains("2 heavier step(s) not run"), "{note}");
    assert!(run.report.contains("Stopped early"), "{}", run.report);
}

#[tokio::test]
async fn find_max_needs_objectives() {
    let server = start_mock(MockConfig::default()).await;
    let run = bench(&server, &["--find-max"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--slo"), "{}", run.stderr);
    let run = bench(
        &server,
        &["--find-max", "--slo", "e2e=1s", "--by", "rate", "--concurrency", "2"],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--by rate"), "{}", run.stderr);
    assert_eq!(server.stats().requests, 0);
}
