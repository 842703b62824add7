//! `--max-cost`: sending stops before the job could pass its budget, the run exits 3 with what
//! it spent, and a resume with a higher budget finishes the job, each line answered once.

mod common;

use common::{start_mock, RunFolder, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
/// Every answer is 100 tokens; the model's output costs $1,000 per 1M tokens, its input $1:
/// each request costs about $0.10 and reserves the same (max_tokens 100).
const PRICED: &str = "[prices.\"priced-model\"]\ninput = 1.0\noutput = 1000.0\n";

fn mock_config() -> MockConfig {
    MockConfig {
        output_tokens: Some(100),
        ..MockConfig::default()
    }
}

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!("{{\"id\":\"q{i:03}\",\"messages\":[{{\"role\":\"user\",\"content\":\"Question {i}?\"}}],\"max_tokens\":100}}\n")
        })
        .collect()
}

fn custom_ids(folder: &RunFolder) -> Vec<String> {
    let mut ids: Vec<String> = folder
        .results
        .iter()
        .map(|line| line["custom_id"].as_str().expect("custom_id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_budget_stops_sending_and_a_resume_with_more_finishes_the_job() {
    let server = start_mock(mock_config()).await;
    let scratch = Scratch::new();
    let job = common::job(&server.base_url(), KEY_ENV, &[("t", "priced-model")], PRICED);
    let envs = [(KEY_ENV, "k")];
    let (out, finished) = scratch
        .run_job(&lines(40), &job, &["--max-cost", "2.05", "--concurrency", "4"], &envs)
        .await;
    finished.assert_code(3);
    assert!(
        finished.stderr.contains("budget reached: spent $2.00 of $2.05"),
        "{}",
        finished.stderr
    );
    // The resume hint asks for a higher budget instead of repeating the one that was reached.
    assert!(
        finished.stderr.contains("--max-cost HIGHER --resume"),
        "{}",
        finished.stderr
    );
    let first = RunFolder::read(&out);
    let budget = &first.summary["budget"];
    let spent = budget["spent"].as_f64().expect("budget.spent");
    assert!(spent <= 2.05, "spent {spent} of a 2.05 budget");
    assert!(spent >= 1.9, "the budget was used, not left idle: {spent}");
    assert_eq!(budget["reached"], true);
    assert_eq!(first.results.len(), 20, "20 answers of $0.10 fit in $2.05");
    assert!(
        first.errors.is_empty(),
        "items not sent are not failures: {:?}",
        first.errors
    );
    assert_eq!(first.summary_u64("/totals/unsent"), 20);
    assert_eq!(first.summary_u64("/totals/failed"), 0);
    assert_eq!(server.stats().requests, 20);
    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("$2.00 of $2.05 spent; reached"), "{report}");

    // The spend of the first part counts: the same budget sends nothing more.
    let out_text = out.to_str().expect("utf-8 path");
    let input = scratch.path().join("input.jsonl");
    let config = scratch.path().join("job.toml");
    let (input, config) = (input.to_str().unwrap(), config.to_str().unwrap());
    let again = scratch
        .run(
            &[
                "run",
                input,
                "--config",
                config,
                "--resume",
                out_text,
                "--max-cost",
                "2.05",
            ],
            &envs,
        )
        .await;
    again.assert_code(3);
    assert!(
        again.stderr.contains("budget reached: spent $2.00 of $2.05"),
        "{}",
        again.stderr
    );
    assert_eq!(server.stats().requests, 20);

    // A higher budget finishes the job: every line answered exactly once.
    let more = scratch
        .run(
            &[
                "run",
                input,
                "--config",
                config,
                "--resume",
                out_text,
                "--max-cost",
                "10",
            ],
            &envs,
        )
        .await;
    more.assert_code(0);
    let last = RunFolder::read(&out);
    let expected: Vec<String> = (0..40).map(|i| format!("q{i:03}")).collect();
    assert_eq!(custom_ids(&last), expected, "each line answered once");
    assert_eq!(server.stats().requests, 40, "no line sent twice");
    let budget = &last.summary["budget"];
    assert_eq!(budget["reached"], false);
    let (spent, before) = (
        budget["spent"].as_f64().unwrap(),
        budget["spent_before"].as_f64().unwrap(),
    );
    assert!((spent - 4.0).abs() < 0.01 && (before - 2.0).abs() < 0.01, "{budget}");
}

#[tokio::test]
async fn the_budget_comes_from_the_job_file_and_the_flag_wins() {
    let server = start_mock(mock_config()).await;
    let scratch = Scratch::new();
    let job = common::job(
        &server.base_url(),
        KEY_ENV,
        &[("t", "priced-model")],
        &format!("[run]\nmax_cost = 0.55\n\n{PRICED}"),
    );
    let (out, finished) = scratch.run_job(&lines(10), &job, &[], &[(KEY_ENV, "k")]).await;
    finished.assert_code(3);
    assert!(
        finished.stderr.contains("spent $0.5000 of $0.5500"),
        "{}",
        finished.stderr
    );
    assert_eq!(RunFolder::read(&out).results.len(), 5);

    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(&lines(10), &job, &["--max-cost", "5"], &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(0);
    assert_eq!(RunFolder::read(&out).results.len(), 10);
}

#[tokio::test]
async fn a_budget_in_another_currency_uses_the_rate() {
    let server = start_mock(mock_config()).await;
    let scratch = Scratch::new();
    let job = common::job(&server.base_url(), KEY_ENV, &[("t", "priced-model")], PRICED);
    let envs = [(KEY_ENV, "k")];
    // ¥0.70 per request at 7 CNY per USD: 3 fit in ¥2.50.
    let (_, finished) = scratch
        .run_job(
            &lines(10),
            &job,
            &["--max-cost", "2.5CNY", "--fx", "7", "--concurrency", "1"],
            &envs,
        )
        .await;
    finished.assert_code(3);
    assert!(finished.stderr.contains("spent ¥2.10 of ¥2.50"), "{}", finished.stderr);

    let scratch = Scratch::new();
    let (_, finished) = scratch.run_job(&lines(3), &job, &["--max-cost", "180CNY"], &envs).await;
    finished.assert_code(2);
    assert!(finished.stderr.contains("--fx"), "{}", finished.stderr);
    assert_eq!(server.stats().requests, 3);
}

#[tokio::test]
async fn a_model_without_a_price_cannot_run_under_a_budget() {
    let server = start_mock(mock_config()).await;
    let scratch = Scratch::new();
    let job = common::job(&server.base_url(), KEY_ENV, &[("cheap", "unpriced-model")], "");
    let (_, finished) = scratch
        .run_job(&lines(3), &job, &["--max-cost", "25"], &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(2);
    assert!(
        finished.stderr.contains("no price for unpriced-model") && finished.stderr.contains("target \"cheap\""),
        "{}",
        finished.stderr
    );
    assert_eq!(server.stats().requests, 0, "nothing sent");

    let bad = scratch
        .run_job(&lines(3), &job, &["--max-cost", "lots"], &[(KEY_ENV, "k")])
        .await
        .1;
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("--max-cost") && bad.stderr.contains("not a budget"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn bench_stops_at_its_budget_and_writes_its_reports() {
    let server = start_mock(mock_config()).await;
    // gpt-4.1-mini at its built-in price; 100 output tokens a request: far less than a cent
    // each, so a budget of a fifth of a cent stops the bench after a few requests.
    let run = common::bench(
        &server,
        &[
            "--concurrency",
            "2",
            "--requests",
            "200",
            "--synthetic",
            "in=16,out=100",
            "--max-cost",
            "0.002",
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("budget reached: spent $"), "{}", run.stderr);
    let budget = &run.summary["bench"]["budget"];
    assert_eq!(budget["reached"], true, "{}", run.summary);
    assert!(budget["spent"].as_f64().unwrap() <= 0.002);
    let sent = server.stats().requests;
    assert!(sent > 0 && sent < 200, "{sent} requests");
    assert!(run.report.contains("Budget (`--max-cost`)"), "{}", run.report);
    let step = &run.summary["steps"][0];
    assert_eq!(step["failed"], 0, "requests never sent are not failures: {step}");
}
