//! `--ordered` (results in input order under random latencies) and `--cache` (a re-run sends
//! nothing, an edited prompt is the only thing paid for, identical requests are sent once).

mod common;

use std::time::Duration;

use common::{block_u64, generated_input, job, start_mock, RunFolder, Scratch};
use sheepdog::mock::Latency;
use sheepdog::{MockConfig, MockServer};

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Runs `text` through `server` into `scratch/out`; returns the exit code and the folder.
async fn run(server: &MockServer, scratch: &Scratch, text: &str, out: &str, extra: &[&str]) -> (i32, RunFolder) {
    let input = scratch.write("input.jsonl", text);
    let config = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    let out = scratch.path().join(out);
    let mut args = vec![
        "run",
        input.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let finished = scratch.run(&args, &[(KEY_ENV, "k")]).await;
    let code = finished.code.unwrap_or_else(|| panic!("killed: {}", finished.stderr));
    assert!(code <= 1, "exit {code}: {}", finished.stderr);
    (code, RunFolder::read(&out))
}

fn line_numbers(lines: &[serde_json::Value]) -> Vec<u64> {
    lines.iter().map(|l| block_u64(l, "line")).collect()
}

fn random_latency() -> MockConfig {
    MockConfig {
        latency: Latency::Normal {
            mean: Duration::from_millis(6),
            std: Duration::from_millis(5),
        },
        seed: 4,
        ..MockConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_results_are_in_input_order_under_random_latencies() {
    let server = start_mock(random_latency()).await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(600, 41);

    let (_, unordered) = run(&server, &scratch, &text, "plain", &["--concurrency", "32"]).await;
    let (_, ordered) = run(
        &server,
        &scratch,
        &text,
        "ordered",
        &["--concurrency", "32", "--ordered", "--reorder-window", "40"],
    )
    .await;

    let plain = line_numbers(&unordered.results);
    assert!(
        plain.windows(2).any(|w| w[0] > w[1]),
        "the latencies do reorder completions without --ordered"
    );
    let results = line_numbers(&ordered.results);
    assert_eq!(results.len(), plain.len());
    assert!(
        results.windows(2).all(|w| w[0] < w[1]),
        "results.jsonl is in input order"
    );
    let errors = line_numbers(&ordered.errors);
    assert!(
        !errors.is_empty() && errors.windows(2).all(|w| w[0] < w[1]),
        "errors.jsonl too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_answers_a_rerun_without_requests_and_pays_only_for_edited_prompts() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let cache = scratch.path().join("answers.redb");
    let cache = cache.to_str().expect("utf-8");
    let (text, _) = generated_input(120, 0);

    let (code, first) = run(&server, &scratch, &text, "first", &["--cache", cache]).await;
    assert_eq!(code, 0);
    assert_eq!(server.stats().requests, 120);
    assert_eq!(first.summary_u64("/cache/hits"), 0);

    let (code, second) = run(&server, &scratch, &text, "second", &["--cache", cache]).await;
    assert_eq!(code, 0);
    assert_eq!(server.stats().requests, 120, "the second run sends nothing");
    assert_eq!(second.summary_u64("/cache/hits"), 120);
    assert_eq!(second.summary_u64("/totals/succeeded"), 120);
    assert_eq!(second.summary["cost"]["total_usd"].as_f64(), Some(0.0));
    let saved = second.summary["cache"]["saved_usd"].as_f64().expect("saved_usd");
    let paid = first.summary["cost"]["total_usd"].as_f64().expect("total_usd");
    assert!((saved - paid).abs() < 1e-9, "saved {saved} = first run's cost {paid}");
    assert_eq!(
        second.summary["latency_ms"]["count"], 0,
        "hits are not in the latency figures"
    );
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(b["sheepdog"]["cache_hit"], true);
        assert_eq!(b["sheepdog"]["cost_usd"].as_f64(), Some(0.0));
        let same = first
            .results
            .iter()
            .find(|l| l["custom_id"] == b["custom_id"])
            .unwrap_or(a);
        assert_eq!(
            same["response"]["body"], b["response"]["body"],
            "the cached answer is the answer"
        );
    }

    let edited = text
        .replace("Question 3?", "Question three?")
        .replace("Say something about 4.", "Say something about four.")
        .replace("Topic 5\"", "Topic five\"");
    assert_ne!(edited, text);
    let (code, third) = run(&server, &scratch, &edited, "third", &["--cache", cache]).await;
    assert_eq!(code, 0);
    assert_eq!(server.stats().requests, 123, "only the 3 edited prompts are sent");
    assert_eq!(third.summary_u64("/cache/hits"), 117);
    assert_eq!(third.summary_u64("/totals/requests"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_inside_one_run_are_sent_once() {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(20)),
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let cache = scratch.path().join("c.redb");
    let text: String = (0..90)
        .map(|i| format!("{{\"id\":\"q{i}\",\"prompt\":\"Same question number {}\"}}\n", i % 3))
        .collect();

    let (code, folder) = run(
        &server,
        &scratch,
        &text,
        "run",
        &["--cache", cache.to_str().expect("utf-8")],
    )
    .await;

    assert_eq!(code, 0);
    assert_eq!(server.stats().requests, 3, "three distinct prompts, three requests");
    assert_eq!(folder.results.len(), 90);
    assert_eq!(folder.summary_u64("/cache/hits"), 87);
}
