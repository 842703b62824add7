//! Size tiers of a price (LiteLLM's `*_above_200k_tokens`) apply per request, by its own
//! prompt size, in `estimate` and in `run --dry-run`, as `run` charges them: never to the
//! tokens of a whole file summed.

mod common;

use common::{repo_file, Scratch};
use serde_json::Value;

/// A chat line for `model` whose prompt is `tokens` tokens with cl100k_base and o200k_base:
/// OpenAI's chat framing (3 per message + 1 for the role, + 3 to prime the reply) is 7, and
/// "hello" then each " hello" is one token in both encodings.
fn line(id: &str, model: &str, tokens: usize) -> String {
    let text = format!("hello{}", " hello".repeat(tokens - 8));
    format!("{{\"id\":\"{id}\",\"model\":\"{model}\",\"prompt\":\"{text}\"}}\n")
}

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= expected.abs() * 1e-9 + 1e-15)
}

fn row<'a>(json: &'a Value, label: &str) -> &'a Value {
    json["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["label"] == label))
        .unwrap_or_else(|| panic!("no row {label}: {json}"))
}

fn estimate(scratch: &Scratch, args: &[&str]) -> Value {
    let finished = scratch.run_blocking(args, &[]);
    finished.assert_code(0);
    serde_json::from_str(&finished.stdout).unwrap_or_else(|e| panic!("{e}: {}", finished.stdout))
}

#[test]
fn a_prompt_above_200k_tokens_is_priced_at_its_tier_and_the_small_ones_at_the_base() {
    let scratch = Scratch::new();
    let input = format!(
        "{}{}{}",
        line("big", "gemini-2.5-pro", 250_005),
        line("s1", "gemini-2.5-pro", 8),
        line("s2", "gemini-2.5-pro", 8)
    );
    let input = scratch.write("prompts.jsonl", &input);
    let input = input.to_str().unwrap();
    let prices = repo_file("tests/fixtures/litellm_prices.json");
    let prices = prices.to_str().unwrap();
    let common = [input, "--prices", prices, "--output-tokens", "100", "--format", "json"];

    // LiteLLM's figures, request by request (USD per token from the file):
    //   big:   250,005 × 2.5e-6 + 100 × 1.5e-5   (the _above_200k_tokens prices)
    //   small: 8 × 1.25e-6 + 100 × 1e-5, twice  (the base prices)
    let list = 250_005.0 * 2.5e-6 + 100.0 * 1.5e-5 + 2.0 * (8.0 * 1.25e-6 + 100.0 * 1e-5);
    // Half the input at the cache-read price, of the tier for the big prompt.
    let cached = 250_005.0 * (0.5 * 2.5e-6 + 0.5 * 2.5e-7)
        + 100.0 * 1.5e-5
        + 2.0 * (8.0 * (0.5 * 1.25e-6 + 0.5 * 1.25e-7) + 100.0 * 1e-5);
    // Batch prices have no tiers in the file: every token at the batch rate.
    let batch = 250_021.0 * 6.25e-7 + 300.0 * 5e-6;

    let mut args = vec!["estimate"];
    args.extend(common);
    args.extend(["--models", "gemini-2.5-pro,gpt-4.1", "--cache-hit-rate", "0.5"]);
    let json = estimate(&scratch, &args);
    let gemini = row(&json, "gemini-2.5-pro");
    assert_eq!(gemini["input_tokens"], 250_021, "{gemini}");
    assert_eq!(gemini["tiered_requests"], 1, "{gemini}");
    assert!(close(&gemini["list"], list), "{list}: {gemini}");
    assert!(close(&gemini["cached"], cached), "{cached}: {gemini}");
    assert!(close(&gemini["batch"], batch), "{batch}: {gemini}");
    // Not the base price for all (about half), nor the tier for all.
    assert!(list > 1.9 * (250_021.0 * 1.25e-6 + 300.0 * 1e-5));
    assert!(list < 250_021.0 * 2.5e-6 + 300.0 * 1.5e-5);

    // An untiered model on the same file: its figure as before, every token at one rate.
    let gpt = row(&json, "gpt-4.1");
    let tokens = gpt["input_tokens"].as_u64().unwrap() as f64;
    assert!(close(&gpt["list"], tokens * 2e-6 + 300.0 * 8e-6), "{gpt}");
    assert!(gpt.get("tiered_requests").is_none(), "{gpt}");

    // Each line for the model it names: the same tiers.
    let mut args = vec!["estimate"];
    args.extend(common);
    let json = estimate(&scratch, &args);
    let gemini = row(&json, "gemini-2.5-pro");
    assert!(close(&gemini["list"], list), "{list}: {gemini}");

    let text = scratch.run_blocking(&["estimate", input, "--prices", prices, "--output-tokens", "100"], &[]);
    text.assert_code(0);
    assert!(
        text.stdout
            .contains("gemini-2.5-pro: 1 request with a prompt above 200,000 tokens priced at the model's size tier"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_dry_run_prices_each_request_by_its_own_prompt_as_estimate_does() {
    let scratch = Scratch::new();
    // Input above 1,000 prompt tokens costs ten times the base price.
    let prices = scratch.write(
        "prices.json",
        r#"{"tiny-tier": {"input_cost_per_token": 1e-06, "input_cost_per_token_above_1k_tokens": 1e-05,
            "output_cost_per_token": 2e-06, "litellm_provider": "custom", "mode": "chat"}}"#,
    );
    let prices = prices.to_str().unwrap();
    // Two prompts of 600 tokens (1,200 together: above the tier, but neither alone) and one
    // of 1,001.
    let input = format!(
        "{}{}{}",
        line("a", "tiny-tier", 600),
        line("b", "tiny-tier", 600),
        line("c", "tiny-tier", 1001)
    );
    let input = scratch.write("prompts.jsonl", &input);
    let input = input.to_str().unwrap();
    // 1,200 × 1e-6 + 1,001 × 1e-5 = 0.01121 (summed, all 2,201 at the tier: 0.02201).
    let expected = 1200.0 * 1e-6 + 1001.0 * 1e-5;

    let dry = scratch.run_blocking(
        &["run", input, "--model", "tiny-tier", "--prices", prices, "--dry-run"],
        &[],
    );
    dry.assert_code(0);
    assert!(
        dry.stdout
            .contains("tiny-tier: 3 items, 2201 tokens, $0.0112 input at list price"),
        "{}",
        dry.stdout
    );

    let json = estimate(
        &scratch,
        &[
            "estimate",
            input,
            "--prices",
            prices,
            "--output-tokens",
            "0",
            "--format",
            "json",
        ],
    );
    let tiny = row(&json, "tiny-tier");
    assert!(close(&tiny["list"], expected), "{expected}: {tiny}");
    assert_eq!(tiny["tiered_requests"], 1, "{tiny}");
}
