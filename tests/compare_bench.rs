//! `sheepdog compare` of two bench folders: the same server shows no significant change; a
//! server made 50% slower shows one, with its confidence.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{job, start_mock, Scratch};
use serde_json::Value;
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

fn mock(scale: f64) -> MockConfig {
    let ms = |v: f64| Latency::Fixed(Duration::from_secs_f64(v * scale / 1000.0));
    MockConfig {
        ttft: ms(60.0),
        itl: ms(5.0),
        output_tokens: Some(10),
        ..MockConfig::default()
    }
}

/// A bench of two steps against a fresh mock slowed by `scale`, into `scratch/name`.
async fn bench(scratch: &Scratch, name: &str, scale: f64) -> PathBuf {
    let server = start_mock(mock(scale)).await;
    let job_file = scratch.write(
        &format!("{name}.toml"),
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    let out = scratch.path().join(name);
    let args = [
        "bench",
        "--config",
        job_file.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--concurrency",
        "2,4",
        "--requests",
        "40",
        "--synthetic",
        "in=32,out=10",
        "--quiet",
    ];
    let finished = scratch.run(&args, &[(KEY_ENV, "k")]).await;
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    out
}

async fn compare(scratch: &Scratch, a: &Path, b: &Path, format: &str) -> String {
    let args = [
        "compare",
        a.to_str().expect("utf-8"),
        b.to_str().expect("utf-8"),
        "--format",
        format,
    ];
    let finished = scratch.run(&args, &[]).await;
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    finished.stdout
}

fn verdicts(json: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(json).expect("compare --format json");
    v["others"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["metric"].as_str().unwrap_or("").to_string(),
                c["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_same_server_shows_no_significant_change() {
    let scratch = Scratch::new();
    // Both at once, so that whatever else loads the machine loads both; at twice the mock's
    // latencies, the 5% a change must reach is 6 ms of TTFT.
    let (a, b) = tokio::join!(bench(&scratch, "a", 2.0), bench(&scratch, "b", 2.0));
    let found = verdicts(&compare(&scratch, &a, &b, "json").await);
    assert_eq!(found.len(), 4, "e2e and ttft of two steps: {found:?}");
    assert!(found.iter().all(|(_, v)| v == "no_change"), "{found:?}");
    let text = compare(&scratch, &a, &b, "text").await;
    assert!(text.contains("no significant change"), "{text}");
}

#[tokio::test]
async fn a_server_made_50_percent_slower_is_significantly_slower() {
    let scratch = Scratch::new();
    let a = bench(&scratch, "fast", 1.0).await;
    let b = bench(&scratch, "slow", 1.5).await;
    let json = compare(&scratch, &a, &b, "json").await;
    let found = verdicts(&json);
    assert!(found.iter().all(|(_, v)| v == "slower"), "{found:?}");
    let v: Value = serde_json::from_str(&json).expect("json");
    let change = v["others"][0]["changes"][0]["change"].as_f64().unwrap_or(0.0);
    assert!((0.3..0.8).contains(&change), "e2e median about 50% higher: {change}");
    let text = compare(&scratch, &a, &b, "text").await;
    assert!(text.contains("SLOWER (confidence 100.0%)"), "{text}");
}

#[tokio::test]
async fn bench_and_run_folders_are_not_mixed() {
    let scratch = Scratch::new();
    let a = bench(&scratch, "a", 1.0).await;
    let run = scratch.path().join("run");
    std::fs::create_dir_all(&run).expect("dir");
    std::fs::write(run.join("summary.json"), "{}").expect("write");
    let args = ["compare", a.to_str().expect("utf-8"), run.to_str().expect("utf-8")];
    let finished = scratch.run(&args, &[]).await;
    assert_eq!(finished.code, Some(2), "{}", finished.stderr);
    assert!(finished.stderr.contains("not both"), "{}", finished.stderr);
}
