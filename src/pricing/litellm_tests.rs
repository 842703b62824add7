//! LiteLLM import against a faithful subset of its real price file
//! (tests/fixtures/litellm_prices.json: every kind of key the real file uses).

use super::*;
use crate::record::Usage;

const FIXTURE: &str = include_str!("../../tests/fixtures/litellm_prices.json");

fn imported() -> Imported {
    parse(FIXTURE, "prices.json", "2026-11-01").expect("the fixture imports")
}

fn usage(input: u64, cached: u64, written: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: written,
        output_tokens: output,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn text_models_are_imported_and_the_rest_skipped_by_reason() {
    let imported = imported();
    assert_eq!(imported.models, 19);
    assert_eq!(imported.tiered, 5);
    // Image generation, audio transcription and speech, rerank.
    assert_eq!(imported.skipped_mode, 6);
    // Fireworks' size buckets have no mode: they are not models.
    assert_eq!(imported.skipped_no_mode, 2);
    assert!(imported.table.get("fireworks-ai-up-to-4b").is_none());
    // chat-bison is priced per character.
    assert_eq!(imported.skipped_unpriced, 1);
    assert!(imported.table.get("chat-bison").is_none());
    assert_eq!(
        imported.describe("prices.json"),
        "prices.json: 19 prices imported (5 with size tiers); 9 entries skipped (6 not a text \
         endpoint, 2 without a mode, 1 not priced per token)"
    );
    for kept in [
        "text-embedding-3-small",
        "omni-moderation-latest",
        "gpt-3.5-turbo-instruct",
        "o3-deep-research",
    ] {
        assert!(imported.table.get(kept).is_some(), "{kept}");
    }
    let embedding = imported.table.get("text-embedding-3-small").expect("embedding");
    assert_eq!(
        (embedding.input, embedding.output, embedding.batch_input),
        (0.02, 0.0, Some(0.01))
    );
}

#[test]
fn a_prompt_above_a_tier_is_priced_at_that_tier() {
    let table = imported().table;
    let pro = table.get("gemini-2.5-pro").expect("gemini-2.5-pro");
    assert_eq!(pro.tiers.len(), 1);
    assert_eq!(pro.tiers[0].above_tokens, 200_000);
    // The issue's case: 250,005 prompt tokens are all charged at the upper tier.
    let long = pro.cost_usd(&usage(250_005, 0, 0, 1000));
    assert!(close(long, (250_005.0 * 2.5 + 1000.0 * 15.0) / 1e6), "{long}");
    let at_limit = pro.cost_usd(&usage(200_000, 0, 0, 1000));
    assert!(close(at_limit, (200_000.0 * 1.25 + 1000.0 * 10.0) / 1e6), "{at_limit}");
    // Cached input has its own tier price.
    let cached = pro.cost_usd(&usage(300_000, 100_000, 0, 0));
    assert!(close(cached, (200_000.0 * 2.5 + 100_000.0 * 0.25) / 1e6), "{cached}");

    let old = table.get("gemini-1.5-pro").expect("gemini-1.5-pro");
    let rates = old.rates(128_001);
    assert_eq!((rates.input, rates.output), (2.5, 10.0));
    assert_eq!(old.rates(128_000).input, 1.25);

    // `tiered_pricing` ranges (DashScope): the range from 0 is the base price.
    let qwen = table.get("dashscope/qwen-plus").expect("qwen-plus");
    assert_eq!((qwen.input, qwen.output), (0.4, 1.2));
    assert_eq!(qwen.rates(300_000).input, 1.2);
    assert_eq!(qwen.rates(300_000).output, 3.6);
    assert!(table.get("qwen-plus").is_some(), "own-provider alias");
}

#[test]
fn cache_writes_are_charged_at_the_cache_creation_price() {
    let table = imported().table;
    let sonnet = table.get("claude-sonnet-4-20250514").expect("sonnet 4");
    assert_eq!((sonnet.cache_write, sonnet.cached_input), (Some(3.75), Some(0.3)));
    let cost = sonnet.cost_usd(&usage(10_000, 1000, 8000, 500));
    assert!(
        close(cost, (1000.0 * 3.0 + 1000.0 * 0.3 + 8000.0 * 3.75 + 500.0 * 15.0) / 1e6),
        "{cost}"
    );
    let long = sonnet.cost_usd(&usage(210_000, 0, 10_000, 0));
    assert!(close(long, (200_000.0 * 6.0 + 10_000.0 * 7.5) / 1e6), "{long}");
    // Without a cache-write price, writes cost the input price.
    let gpt = table.get("gpt-4.1").expect("gpt-4.1");
    assert!(close(gpt.cost_usd(&usage(1000, 0, 1000, 0)), 1000.0 * 2.0 / 1e6));
}

#[test]
fn batch_prices_come_from_the_file() {
    let table = imported().table;
    let gpt = table.get("gpt-4.1").expect("gpt-4.1");
    assert_eq!((gpt.batch_input, gpt.batch_output), (Some(1.0), Some(4.0)));
    let pro = table.get("gemini-2.5-pro").expect("pro");
    assert_eq!((pro.batch_input, pro.batch_output), (Some(0.625), Some(5.0)));
    let gateway = table.get("openrouter/openai/gpt-4o").expect("gateway");
    assert_eq!((gateway.batch_input, gateway.batch_output), (None, None));
}

#[test]
fn provider_prefixes_resolve_as_litellm_and_missing_models_get_hints() {
    let mut table = crate::pricing::PriceTable::builtin().expect("built-in");
    table.extend_under_overrides(imported().table);
    let input = |model: &str| table.get(model).map(|p| p.input);
    assert_eq!(input("azure/gpt-4.1"), Some(2.0));
    assert_eq!(input("openai/gpt-4.1"), Some(2.0));
    let studio = table.get("gemini/gemini-2.5-pro").and_then(|p| p.cached_input);
    assert_eq!(studio, Some(0.3125), "AI Studio's own entry, not Vertex's");
    assert_eq!(input("vertex_ai/gemini-2.5-pro"), Some(1.25));
    assert_eq!(input("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"), Some(3.0));
    assert_eq!(input("bedrock/amazon.nova-lite-v1:0"), Some(0.06));
    assert_eq!(input("deepseek-chat"), Some(0.27));
    assert_eq!(input("sonar"), Some(1.0));
    // Another provider's entry is never a substitute.
    assert_eq!(input("anthropic/gpt-4.1"), None);
    assert_eq!(input("openrouter/openai/gpt-4.1"), None);
    let hint = table.missing_hint("openrouter/openai/gpt-4.1");
    assert!(
        hint.starts_with("no price for openrouter/openai/gpt-4.1 (nearest: "),
        "{hint}"
    );
    assert!(hint.contains("openrouter/openai/gpt-4o"), "{hint}");
    assert!(hint.contains("gpt-4.1"), "{hint}");
    assert_eq!(
        table.missing_hint("zzzzzzzzzzzzzzzzzzzz"),
        "no price for zzzzzzzzzzzzzzzzzzzz"
    );
}

#[test]
fn bad_files_name_the_file_and_the_entry() {
    let err = parse("[1, 2]", "p.json", "").unwrap_err();
    assert!(err.to_string().starts_with("p.json: expected a JSON object"), "{err}");
    let err = parse("{", "p.json", "").unwrap_err();
    assert!(err.to_string().starts_with("p.json: not valid JSON"), "{err}");
    let err = parse(r#"{"m": 3}"#, "p.json", "").unwrap_err();
    assert_eq!(err.to_string(), "p.json: prices.\"m\": expected an object of prices");
    let negative = r#"{"m": {"input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06, "mode": "chat"}}"#;
    let err = parse(negative, "p.json", "").unwrap_err();
    assert!(err.to_string().contains("prices.\"m\": input = -1"), "{err}");
}

#[test]
fn string_prices_are_read_and_noise_is_rounded_away() {
    let text = r#"{"m": {"input_cost_per_token": "0.0000003", "output_cost_per_token": 1.2e-06, "mode": "chat"}}"#;
    let price = parse(text, "p.json", "").unwrap().table.get("m").cloned().unwrap();
    assert_eq!((price.input, price.output), (0.3, 1.2));
}

#[test]
fn a_price_written_as_inf_or_nan_leaves_the_entry_unpriced_and_the_file_imported() {
    let file = r#"{
        "good": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        "inf": {"mode": "chat", "input_cost_per_token": 0.0, "output_cost_per_token": "inf"},
        "nan": {"mode": "chat", "input_cost_per_token": "NaN", "output_cost_per_token": 1e-06}
    }"#;
    let imported = parse(file, "p.json", "2026-01-01").unwrap();
    assert_eq!(imported.models, 1);
    assert_eq!(imported.skipped_unpriced, 2);
    assert!(imported.table.get("good").is_some());
    assert!(imported.table.get("inf").is_none() && imported.table.get("nan").is_none());
}
