//! `sheepdog bench` against the mock server: open-loop rates that hold, coordinated omission
//! made visible, sweeps with their own figures, and usage errors that name the flag.

mod common;

use std::time::Duration;

use common::{bench, start_mock, Scratch};
use serde_json::Value;
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

fn f64_at(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

#[tokio::test]
async fn open_loop_sends_rate_times_duration_requests() {
    let server = start_mock(MockConfig::default()).await;
    let run = bench(
        &server,
        &["--rate", "100", "--duration", "2s", "--synthetic", "in=64,out=8"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = &run.summary["steps"][0];
    let requests = f64_at(step, "/requests");
    // 200 are due: the pacer's schedule is absolute, so a late start on a loaded machine
    // still sends every request due before the end of the window (late, with its lag).
    assert!(
        (195.0..=205.0).contains(&requests),
        "{requests} requests at 100/s for 2 s"
    );
    assert_eq!(server.stats().requests as f64, requests, "each sent once");
    // A client that kept up lags by about a millisecond; one that sent in bursts or one at a
    // time would lag by most of the 2 s. The bound leaves a loaded 2-core machine room.
    let lag_p99 = f64_at(step, "/schedule_lag_ms/p99");
    assert!(lag_p99 < 1_000.0, "the client kept up: lag p99 {lag_p99} ms");
    assert_eq!(
        run.requests_csv.lines().count() as f64,
        requests + 1.0,
        "a row per request"
    );
    assert!(run.stdout.contains("rate 100/s"), "{}", run.stdout);
    server.shutdown().await;
}

#[tokio::test]
async fn poisson_arrivals_average_the_rate() {
    let server = start_mock(MockConfig::default()).await;
    let args = [
        "--rate",
        "200",
        "--poisson",
        "--seed",
        "7",
        "--duration",
        "2s",
        "--no-stream",
    ];
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let requests = f64_at(&run.summary, "/steps/0/requests");
    // A Poisson count of mean 400 has a standard deviation of 20.
    assert!((320.0..=480.0).contains(&requests), "{requests}");
    assert_eq!(run.summary["steps"][0]["load"]["arrivals"], "poisson");
    server.shutdown().await;
}

#[tokio::test]
async fn corrected_latency_shows_a_server_stall_that_uncorrected_latency_hides() {
    // At 50/s with one request in flight, the 11th request meets a 1 s stall of the server;
    // the ~50 requests due meanwhile are sent late, after it, and answered at once.
    let server = start_mock(MockConfig {
        stall_after: Some(10),
        stall_for: Duration::from_secs(1),
        ..MockConfig::default()
    })
    .await;
    let args = [
        "--rate",
        "50",
        "--requests",
        "100",
        "--max-in-flight",
        "1",
        "--synthetic",
        "in=32,out=4",
    ];
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = &run.summary["steps"][0];
    let uncorrected_p90 = f64_at(step, "/summary/latency_ms/p90");
    let corrected_p90 = f64_at(step, "/latency_from_schedule_ms/p90");
    let lag_max = f64_at(step, "/schedule_lag_ms/max");
    // The stall is the server's own 1 s sleep, so the corrected p90 holds ~800 ms however
    // loaded the machine is; the uncorrected p90 is the mock's answer time, which load may
    // stretch, but not to a stall's size.
    assert!(corrected_p90 > 500.0, "corrected p90 {corrected_p90} ms shows it");
    assert!(
        uncorrected_p90 < 450.0,
        "uncorrected p90 {uncorrected_p90} ms hides the stall"
    );
    assert!(
        corrected_p90 > 2.0 * uncorrected_p90,
        "corrected p90 {corrected_p90} ms vs uncorrected {uncorrected_p90} ms"
    );
    assert!(lag_max > 700.0, "the client fell behind by {lag_max} ms and says so");
    assert!(
        f64_at(step, "/summary/latency_ms/max") >= 1000.0,
        "one request waited the stall out"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_closed_loop_sweep_has_a_step_per_concurrency_and_a_summary_table() {
    let server = start_mock(MockConfig {
        ttft: Latency::Fixed(Duration::from_millis(20)),
        itl: Latency::Fixed(Duration::from_millis(2)),
        output_tokens: Some(10),
        ..MockConfig::default()
    })
    .await;
    let args = ["--concurrency", "1,4", "--requests", "24", "--slo", "ttft=10s,e2e=10s"];
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["kind"], "bench");
    let steps = run.summary["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    for (step, concurrency) in steps.iter().zip([1, 4]) {
        assert_eq!(step["load"]["concurrency"], concurrency);
        assert_eq!(step["requests"], 24);
        assert_eq!(step["failed"], 0);
        let ttft_p50 = f64_at(step, "/summary/ttft_ms/p50");
        assert!((20.0..=200.0).contains(&ttft_p50), "TTFT p50 {ttft_p50}");
        // The mock keeps an absolute 2 ms schedule: a first token read late (a loaded machine)
        // makes the mean gap of a request shorter, by as much as the first token was late, so
        // only the upper bound is tight.
        let itl_p50 = f64_at(step, "/summary/itl_ms/p50");
        assert!(itl_p50 > 0.0 && itl_p50 <= 20.0, "ITL p50 {itl_p50}");
        assert_eq!(f64_at(step, "/slo/met_all"), 1.0, "generous objectives are always met");
        let goodput = f64_at(step, "/slo/goodput_rps");
        assert!((goodput - f64_at(step, "/achieved_rps")).abs() < 1e-9);
        assert!(step.get("schedule_lag_ms").is_none(), "closed loop has no schedule");
    }
    assert!(server.stats().peak_in_flight <= 4);
    assert!(run.report.contains("## Sweep"), "{}", run.report);
    assert!(run.report.contains("## Step 2: concurrency 4"));
    assert!(run.report.contains("**Goodput:"));
    assert_eq!(run.requests_csv.lines().count(), 1 + 48);
    server.shutdown().await;
}

#[tokio::test]
async fn warmup_requests_are_sent_but_left_out_of_the_figures() {
    let server = start_mock(MockConfig::default()).await;
    let args = ["--rate", "100", "--warmup", "500ms", "--duration", "1s", "--no-stream"];
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let step = &run.summary["steps"][0];
    assert_eq!(step["warmup_requests"], 50);
    assert_eq!(step["requests"], 100);
    assert_eq!(step["summary"]["totals"]["attempted"], 100);
    assert_eq!(server.stats().requests, 150);
    let warm_rows = run.requests_csv.lines().filter(|l| l.contains(",true,")).count();
    assert_eq!(warm_rows, 50, "warm-up rows are marked");
    server.shutdown().await;
}

#[tokio::test]
async fn the_prompts_size_is_the_servers_count_and_the_tokenizers_without_an_answer() {
    let scratch = Scratch::new();
    let text = "The quick brown fox jumps over the lazy dog, twice over and once more.";
    let prompt = serde_json::json!({"messages": [{"role": "user", "content": text}]});
    let input = scratch.write("prompts.jsonl", &format!("{prompt}\n"));
    let args = [
        "--input",
        input.to_str().expect("utf-8 path"),
        "--concurrency",
        "1",
        "--requests",
        "3",
        "--no-stream",
    ];

    let server = start_mock(MockConfig::default()).await;
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The mock counts a quarter of the characters, not the tokenizer's tokens: the size
    // reported is what the answers' usage said.
    let usage = f64_at(&run.summary, "/steps/0/summary/tokens/input") / 3.0;
    let tokenizer = sheepdog::tokens::estimate_prompt_tokens("gpt-4.1-mini", &prompt);
    assert_ne!(usage.round() as u64, tokenizer, "the test tells the two counts apart");
    assert_eq!(f64_at(&run.summary, "/bench/prompt_tokens"), usage.round());
    server.shutdown().await;

    let refusing = start_mock(MockConfig {
        failures: vec![(400, 1.0)],
        ..MockConfig::default()
    })
    .await;
    let run = bench(&refusing, &args).await;
    assert_eq!(run.summary["steps"][0]["succeeded"], 0, "{}", run.stderr);
    assert_eq!(f64_at(&run.summary, "/bench/prompt_tokens"), tokenizer as f64);
    refusing.shutdown().await;
}

/// 35 prompts `p0` to `p34` of 960,000 characters: 33.6 MB, over the 32 MiB a bench holds in
/// memory, so it is read as the requests go.
fn long_prompt_file(scratch: &Scratch) -> std::path::PathBuf {
    let content = "x".repeat(960_000);
    let mut text = String::new();
    for i in 0..35 {
        let line = serde_json::json!({"id": format!("p{i}"), "messages": [{"role": "user", "content": content}]});
        text.push_str(&format!("{line}\n"));
    }
    assert!(text.len() > 32 * 1024 * 1024);
    scratch.write("long.jsonl", &text)
}

/// A closed-loop bench of `input` at `concurrency`, `requests` requests, not streamed.
fn long_prompt_args<'a>(input: &'a std::path::Path, concurrency: &'a str, requests: &'a str) -> [&'a str; 7] {
    let input = input.to_str().expect("utf-8 path");
    [
        "--input",
        input,
        "--concurrency",
        concurrency,
        "--requests",
        requests,
        "--no-stream",
    ]
}

#[tokio::test]
async fn a_prompt_file_over_32_mib_cycles_through_every_prompt_and_again() {
    let scratch = Scratch::new();
    let input = long_prompt_file(&scratch);
    let server = start_mock(MockConfig::default()).await;
    let args = long_prompt_args(&input, "4", "40");
    let run = bench(&server, &args).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.summary["steps"][0]["succeeded"], 40);
    assert_eq!(server.stats().requests, 40);
    // The 36th request is the file's first prompt again, read from its start.
    for id in ["p34#35", "p0#36", "p4#40"] {
        assert!(run.requests_csv.contains(&format!("\n1,{id},")), "no row for {id}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_prompt_file_emptied_during_the_bench_stops_it_and_keeps_the_step() {
    let scratch = Scratch::new();
    let input = long_prompt_file(&scratch);
    let server = start_mock(MockConfig::default()).await;
    let args = long_prompt_args(&input, "1", "1000");
    let empty = async {
        while server.stats().requests < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::fs::write(&input, "not json\n").expect("rewrite the prompt file");
    };
    let (run, ()) = tokio::join!(bench(&server, &args), empty);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no valid request left"), "{}", run.stderr);
    assert!(server.stats().requests < 1000);
    let step = &run.summary["steps"][0];
    assert!(
        step["succeeded"].as_u64().is_some_and(|n| n >= 3),
        "the step cut short is kept: {step}"
    );
    let why = run.summary["bench"]["stopped_early"].as_str().unwrap_or_default();
    assert!(why.contains("the prompts ended"), "{why}");
    server.shutdown().await;
}

#[test]
fn bad_bench_usage_exits_2_naming_the_flag() {
    let scratch = Scratch::new();
    let cases: [(&[&str], &str); 6] = [
        (&["bench", "--requests", "5"], "--concurrency"),
        (
            &["bench", "--concurrency", "4,0"],
            "--concurrency: a concurrency must be at least 1",
        ),
        (&["bench", "--rate", "fast"], "--rate: `fast` is not a number"),
        (
            &["bench", "--concurrency", "2", "--synthetic", "in=x"],
            "--synthetic: `x` is not a number of tokens (1 or more) (in `in=x`)",
        ),
        (
            &["bench", "--concurrency", "2", "--slo", "ttfb=1s"],
            "--slo: unknown metric `ttfb`",
        ),
        (
            &["bench", "--concurrency", "2", "--no-stream", "--slo", "itl=1s"],
            "drop --no-stream",
        ),
    ];
    for (args, message) in cases {
        let finished = scratch.run_blocking(args, &[]);
        finished.assert_code(2);
        assert!(finished.stderr.contains(message), "{args:?}: {}", finished.stderr);
    }
}
