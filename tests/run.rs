//! `sheepdog run` against a mock server: one output line per input line, invalid lines with
//! their line numbers, and a summary.json that agrees with the result files.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{block_u64, generated_input, job, repo_file, start_mock, RunFolder, Scratch};
use serde_json::Value;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
/// Short backoff, so retried items do not slow the tests down.
const FAST_RETRY: &str = "[retry]\nbase_delay = \"2ms\"\nmax_delay = \"20ms\"\n";

/// Runs `input_text` through a mock with `config` and returns the exit code and run folder.
async fn run_input(config: MockConfig, input_text: &str, extra_args: &[&str]) -> (i32, RunFolder) {
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let job_text = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], FAST_RETRY);
    let args = [&["--quiet"], extra_args].concat();
    let (out, finished) = scratch
        .run_job(input_text, &job_text, &args, &[(KEY_ENV, "any-key")])
        .await;
    let code = finished
        .code
        .unwrap_or_else(|| panic!("killed by a signal: {}", finished.stderr));
    (code, RunFolder::read(&out))
}

/// Every non-blank input line has exactly one line in results.jsonl or errors.jsonl, at its
/// line number, with its id; invalid lines are in errors.jsonl, valid ones in results.jsonl.
fn assert_one_line_per_input_line(folder: &RunFolder, expected: &BTreeMap<u64, common::Expected>) {
    let mut seen: BTreeMap<u64, (&Value, bool)> = BTreeMap::new();
    for (line, in_results) in folder
        .results
        .iter()
        .map(|l| (l, true))
        .chain(folder.errors.iter().map(|l| (l, false)))
    {
        let number = block_u64(line, "line");
        assert!(
            seen.insert(number, (line, in_results)).is_none(),
            "input line {number} has two output lines"
        );
    }
    let seen_numbers: Vec<u64> = seen.keys().copied().collect();
    let expected_numbers: Vec<u64> = expected.keys().copied().collect();
    assert_eq!(
        seen_numbers, expected_numbers,
        "output lines are not one per non-blank input line"
    );
    for (number, exp) in expected {
        let (line, in_results) = seen[number];
        assert_eq!(in_results, exp.valid, "line {number} in the wrong file: {line}");
        assert_eq!(
            line["custom_id"].as_str(),
            // A line that cannot be read at all is `line-<n>`, like a line without an id.
            Some(exp.id.clone().unwrap_or_else(|| format!("line-{number}")).as_str()),
            "custom_id of line {number}"
        );
        if !exp.valid {
            assert_eq!(line["error"]["code"], "invalid_input", "line {number}: {line}");
        }
    }
    let mut ids: HashMap<&str, u32> = HashMap::new();
    for id in folder.all_lines().filter_map(|l| l["custom_id"].as_str()) {
        *ids.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = ids.iter().filter(|(_, &n)| n > 1).collect();
    assert!(repeated.is_empty(), "custom_ids written more than once: {repeated:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_line_has_exactly_one_output_line_and_invalid_lines_make_exit_1() {
    let (text, expected) = generated_input(1_100, 53);
    let invalid = expected.values().filter(|e| !e.valid).count();
    assert!(invalid >= 20, "the input has invalid lines of every kind");

    let (code, folder) = run_input(MockConfig::default(), &text, &[]).await;

    assert_eq!(code, 1, "some lines were invalid");
    assert_one_line_per_input_line(&folder, &expected);
    assert_eq!(folder.errors.len(), invalid);
    assert_eq!(folder.results.len(), 1_100 - invalid);
    assert!(folder
        .results
        .iter()
        .all(|l| l["response"]["status_code"] == 200 && l["error"].is_null()));
    assert_eq!(folder.summary_u64("/totals/lines"), 1_100);
    assert_eq!(folder.summary_u64("/totals/rejected"), invalid as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_line_of_both_formats_succeeds_once_and_exit_is_0() {
    let (text, expected) = generated_input(1_050, 0);
    assert!(
        text.contains("\"custom_id\"")
            && text.contains("\"prompt\"")
            && text.contains("\"messages\":[{\"role\":\"system\"")
    );

    let (code, folder) = run_input(MockConfig::default(), &text, &[]).await;

    assert_eq!(code, 0, "all lines succeeded");
    assert!(folder.errors.is_empty(), "errors.jsonl: {:?}", folder.errors.first());
    assert_eq!(folder.results.len(), 1_050);
    assert_one_line_per_input_line(&folder, &expected);
    assert_eq!(folder.summary_u64("/totals/succeeded"), 1_050);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_lines_of_the_example_are_reported_with_line_number_and_reason() {
    let text = std::fs::read_to_string(repo_file("jobs/with-errors.jsonl")).expect("example input");

    let (code, folder) = run_input(MockConfig::default(), &text, &[]).await;

    assert_eq!(code, 1);
    let mut bad: Vec<(u64, String)> = folder
        .errors
        .iter()
        .map(|l| {
            (
                block_u64(l, "line"),
                l["error"]["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    bad.sort();
    let numbers: Vec<u64> = bad.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![3, 6, 8, 10], "errors.jsonl: {:?}", folder.errors);
    let reasons = [
        "not valid JSON",
        "neither \"prompt\" nor \"messages\"",
        "/v1/embeddings",
        "repeats",
    ];
    for ((number, message), reason) in bad.iter().zip(reasons) {
        assert!(
            message.contains(reason),
            "line {number}: message {message:?} should say {reason:?}"
        );
    }
    let mut good: Vec<u64> = folder.results.iter().map(|l| block_u64(l, "line")).collect();
    good.sort();
    assert_eq!(good, vec![1, 2, 4, 5, 7, 9, 11, 12]);
    // Line 10 repeats line 2's id: the first one is sent, the repeat is not.
    let we002 = folder
        .results
        .iter()
        .find(|l| l["custom_id"] == "we-002")
        .expect("we-002 succeeded");
    assert_eq!(block_u64(we002, "line"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_tokens_and_cost_equal_what_the_result_files_hold() {
    let (text, _) = generated_input(400, 40);
    // 400s fail items for good; 500s are retried (and sometimes fail for good after 2 tries).
    let config = MockConfig {
        failures: vec![(400, 0.05), (500, 0.15)],
        seed: 11,
        ..MockConfig::default()
    };

    let (code, folder) = run_input(config, &text, &["--max-attempts", "2"]).await;

    assert_eq!(code, 1);
    let failed: Vec<&Value> = folder
        .errors
        .iter()
        .filter(|l| l["error"]["code"] != "invalid_input")
        .collect();
    let rejected = folder.errors.len() - failed.len();
    assert!(
        !failed.is_empty() && rejected > 0,
        "the run has failed items and rejected lines"
    );
    assert_eq!(folder.summary_u64("/totals/succeeded"), folder.results.len() as u64);
    assert_eq!(folder.summary_u64("/totals/failed"), failed.len() as u64);
    assert_eq!(folder.summary_u64("/totals/rejected"), rejected as u64);
    assert_eq!(
        folder.summary_u64("/totals/attempted"),
        (folder.results.len() + failed.len()) as u64
    );

    let sum = |field: &str| folder.results.iter().map(|l| block_u64(l, field)).sum::<u64>();
    assert!(sum("input_tokens") > 0 && sum("output_tokens") > 0);
    assert_eq!(folder.summary_u64("/tokens/input"), sum("input_tokens"));
    assert_eq!(folder.summary_u64("/tokens/output"), sum("output_tokens"));
    assert_eq!(folder.summary_u64("/tokens/cached_input"), sum("cached_input_tokens"));
    let cost: f64 = folder
        .all_lines()
        .filter_map(|l| l["sheepdog"]["cost_usd"].as_f64())
        .sum();
    let total_cost = folder.summary["cost"]["total_usd"].as_f64().expect("cost.total_usd");
    assert!(
        cost > 0.0 && (total_cost - cost).abs() <= 1e-9 * cost.max(1.0),
        "summary {total_cost} vs results {cost}"
    );

    let sent: Vec<&Value> = folder.results.iter().chain(failed.iter().copied()).collect();
    let attempts: u64 = sent.iter().map(|l| block_u64(l, "attempts")).sum();
    assert_eq!(folder.summary_u64("/totals/requests"), attempts);
    assert_eq!(folder.summary_u64("/totals/retries"), attempts - sent.len() as u64);
    let target = &folder.summary["targets"][0];
    assert_eq!(target["name"], "mini");
    let tried_at_mini: u64 = sent
        .iter()
        .flat_map(|l| l["sheepdog"]["targets_tried"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["target"] == "mini")
        .map(|t| t["attempts"].as_u64().expect("targets_tried[].attempts"))
        .sum();
    assert_eq!(target["requests"].as_u64(), Some(tried_at_mini));
    assert_eq!(target["requests"].as_u64(), Some(attempts));
    assert_eq!(target["succeeded"].as_u64(), Some(folder.results.len() as u64));
    assert_eq!(target["tokens"]["input"].as_u64(), Some(sum("input_tokens")));
}
