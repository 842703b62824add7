//! `sheepdog estimate` on a file with known token counts: costs computed by hand for two
//! models and two currencies, a provider's billing rate, output tokens from each source, and
//! prices imported from a LiteLLM file.

mod common;

use common::Scratch;
use serde_json::Value;

/// Three valid lines (Chinese, Russian, French: texts the two encodings split differently),
/// a blank line and an invalid one.
const INPUT: &str = concat!(
    r#"{"id":"zh","prompt":"请把这句话翻译成英文：今天天气很好。","max_tokens":100}"#,
    "\n",
    r#"{"id":"ru","messages":[{"role":"system","content":"You are a terse assistant."},{"role":"user","content":"Привет, как дела? Это тестовое сообщение."}],"max_tokens":50}"#,
    "\n\n",
    r#"{"custom_id":"fr","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1","messages":[{"role":"user","content":"Traduis en anglais : il pleut depuis ce matin."}],"max_tokens":30}}"#,
    "\n",
    "not json\n",
);

// Expected prompt tokens, obtained once with tiktoken-rs 0.12 itself:
// `tiktoken_rs::o200k_base()?.encode_ordinary(text).len()` (and `cl100k_base()`) for each text:
//   "user" 1 / 1, "system" 1 / 1, "You are a terse assistant." 6 / 6,
//   "请把这句话翻译成英文：今天天气很好。" 14 / 25,
//   "Привет, как дела? Это тестовое сообщение." 11 / 17,
//   "Traduis en anglais : il pleut depuis ce matin." 12 / 13   (o200k_base / cl100k_base),
// combined with OpenAI's chat framing: 3 per message + role + content, + 3 to prime the reply.
//   zh: 3 + 1 + 14 + 3 = 21   |  3 + 1 + 25 + 3 = 32
//   ru: (3 + 1 + 6) + (3 + 1 + 11) + 3 = 28   |  (3 + 1 + 6) + (3 + 1 + 17) + 3 = 34
//   fr: 3 + 1 + 12 + 3 = 19   |  3 + 1 + 13 + 3 = 20
const O200K_TOKENS: u64 = 21 + 28 + 19;
const CL100K_TOKENS: u64 = 32 + 34 + 20;
/// Sum of the lines' max_tokens.
const MAX_TOKENS: u64 = 100 + 50 + 30;

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|a| (a - expected).abs() <= expected.abs() * 1e-9 + 1e-15)
}

fn estimate_json(scratch: &Scratch, args: &[&str]) -> Value {
    let input = scratch.write("prompts.jsonl", INPUT);
    let mut all = vec!["estimate", input.to_str().expect("utf-8 path"), "--format", "json"];
    all.extend_from_slice(args);
    let finished = scratch.run_blocking(&all, &[]);
    finished.assert_code(0);
    serde_json::from_str(&finished.stdout).unwrap_or_else(|e| panic!("{e}: {}", finished.stdout))
}

fn row<'a>(json: &'a Value, label: &str) -> &'a Value {
    json["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["label"] == label))
        .unwrap_or_else(|| panic!("no row {label}: {json}"))
}

#[test]
fn known_token_counts_and_hand_computed_costs_in_usd() {
    let scratch = Scratch::new();
    let json = estimate_json(
        &scratch,
        &[
            "--models",
            "gpt-4.1,deepseek-chat",
            "--cache-hit-rate",
            "0.3",
            "--per-month",
            "1000000",
        ],
    );
    assert_eq!(json["lines"], 4);
    assert_eq!(json["requests"], 3);
    assert_eq!(json["rejected"], 1);
    assert_eq!(json["rejected_shown"][0]["line"], 5);
    assert_eq!(json["output_source"], "max_tokens");

    let gpt = row(&json, "gpt-4.1");
    assert_eq!(
        (gpt["encoding"].as_str(), gpt["approximate"].as_bool()),
        (Some("o200k_base"), Some(false))
    );
    assert_eq!(gpt["input_tokens"], O200K_TOKENS);
    assert_eq!(gpt["output_tokens"], MAX_TOKENS);
    // gpt-4.1: $2.00 in, $0.50 cached, $8.00 out, batch $1.00 / $4.00 per 1M.
    // list   (68 × 2 + 180 × 8) / 1e6                        = 0.001576
    // cached (68 × 0.7 × 2 + 68 × 0.3 × 0.5 + 180 × 8) / 1e6  = 0.0015454
    // batch  (68 × 1 + 180 × 4) / 1e6                        = 0.000788
    assert!(close(&gpt["list"], 0.001576), "{gpt}");
    assert!(close(&gpt["cached"], 0.0015454), "{gpt}");
    assert!(close(&gpt["batch"], 0.000788), "{gpt}");
    assert!(close(&gpt["per_1k_requests"], 0.001576 / 3.0 * 1000.0), "{gpt}");
    assert!(close(&gpt["per_month"], 0.001576 / 3.0 * 1e6), "{gpt}");

    let deepseek = row(&json, "deepseek-chat");
    assert_eq!(
        (deepseek["encoding"].as_str(), deepseek["approximate"].as_bool()),
        (Some("cl100k_base"), Some(true))
    );
    assert_eq!(deepseek["input_tokens"], CL100K_TOKENS);
    // deepseek-chat: $0.28 in, $0.028 cached, $0.42 out, no batch API.
    // list   (86 × 0.28 + 180 × 0.42) / 1e6                          = 0.00009968
    // cached (86 × 0.7 × 0.28 + 86 × 0.3 × 0.028 + 180 × 0.42) / 1e6 = 0.0000931784
    assert!(close(&deepseek["list"], 0.00009968), "{deepseek}");
    assert!(close(&deepseek["cached"], 0.0000931784), "{deepseek}");
    assert!(deepseek["batch"].is_null(), "{deepseek}");
}

#[test]
fn cny_at_an_exchange_rate_and_a_gateway_billing_one_yuan_per_dollar() {
    let scratch = Scratch::new();
    let json = estimate_json(
        &scratch,
        &["--models", "gpt-4.1,deepseek-chat", "--currency", "CNY", "--fx", "7.1"],
    );
    assert_eq!(
        (json["currency"].as_str(), json["fx"].as_f64()),
        (Some("CNY"), Some(7.1))
    );
    assert!(close(&row(&json, "gpt-4.1")["list"], 0.001576 * 7.1));
    assert!(close(&row(&json, "gpt-4.1")["list_usd"], 0.001576));
    assert!(close(&row(&json, "deepseek-chat")["list"], 0.00009968 * 7.1));

    // A gateway that bills ¥1 per $1 of list price: its target costs 0.00009968 CNY, not × 7.1.
    let job = scratch.write(
        "job.toml",
        r#"
[[providers]]
name = "gateway"
base_url = "https://gateway.invalid/v1"
billing = { currency = "CNY", per_usd = 1.0 }

[[providers]]
name = "openai"
base_url = "https://openai.invalid/v1"

[[targets]]
name = "ds"
provider = "gateway"
model = "deepseek-chat"

[[targets]]
name = "gpt"
provider = "openai"
model = "gpt-4.1"
"#,
    );
    let job = job.to_str().unwrap();
    let json = estimate_json(&scratch, &["--config", job, "--currency", "CNY", "--fx", "7.1"]);
    let ds = row(&json, "ds");
    assert_eq!(ds["provider"], "gateway");
    assert!(close(&ds["per_usd"], 1.0));
    assert!(close(&ds["list"], 0.00009968), "{ds}");
    assert!(close(&row(&json, "gpt")["list"], 0.001576 * 7.1));

    let text = scratch.run_blocking(
        &[
            "estimate",
            "prompts.jsonl",
            "--config",
            job,
            "--currency",
            "CNY",
            "--fx",
            "7.1",
        ],
        &[],
    );
    text.assert_code(0);
    assert!(
        text.stdout
            .contains("ds: provider gateway bills 1 CNY per USD of list price."),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("¥0.0000996"), "{}", text.stdout);

    // In USD the gateway's CNY bill cannot be converted without a rate: said, exit 2.
    let usd = scratch.run_blocking(&["estimate", "prompts.jsonl", "--config", job], &[]);
    usd.assert_code(2);
    assert!(
        usd.stderr.contains("ds: provider \"gateway\" bills in CNY"),
        "{}",
        usd.stderr
    );
}

#[test]
fn output_tokens_from_the_flag_or_a_previous_run() {
    let scratch = Scratch::new();
    let json = estimate_json(&scratch, &["--models", "gpt-4.1", "--output-tokens", "10"]);
    assert_eq!(row(&json, "gpt-4.1")["output_tokens"], 30);
    // (68 × 2 + 30 × 8) / 1e6
    assert!(close(&row(&json, "gpt-4.1")["list"], 0.000376));

    let run = scratch.path().join("earlier-run");
    std::fs::create_dir(&run).unwrap();
    let results: String = [10, 20, 30, 40]
        .iter()
        .map(|n| format!("{{\"custom_id\":\"x{n}\",\"sheepdog\":{{\"output_tokens\":{n}}}}}\n"))
        .collect();
    std::fs::write(run.join("results.jsonl"), results).unwrap();
    let json = estimate_json(&scratch, &["--models", "gpt-4.1", "--from-run", run.to_str().unwrap()]);
    assert_eq!(json["output_source"], "measured");
    assert_eq!(json["output_measured"]["mean"], 25.0);
    assert_eq!(row(&json, "gpt-4.1")["output_tokens"], 75);
}

#[test]
fn without_models_each_line_counts_for_the_model_it_names() {
    let scratch = Scratch::new();
    let json = estimate_json(&scratch, &[]);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{json}");
    assert_eq!(rows[0]["label"], "(no model in the line)");
    assert_eq!(rows[0]["requests"], 2);
    assert!(rows[0]["list"].is_null());
    assert_eq!(rows[1]["label"], "gpt-4.1");
    assert_eq!(
        (rows[1]["requests"].as_u64(), rows[1]["input_tokens"].as_u64()),
        (Some(1), Some(19))
    );
}

#[test]
fn litellm_prices_replace_built_in_ones_and_say_where_they_came_from() {
    let scratch = Scratch::new();
    let prices = scratch.write(
        "model_prices_and_context_window.json",
        r#"{
  "sample_spec": {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "chat"},
  "gpt-4.1": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1e-05,
              "input_cost_per_token_batches": 1.5e-06, "output_cost_per_token_batches": 5e-06,
              "cache_read_input_token_cost": 7.5e-07, "litellm_provider": "openai", "mode": "chat"},
  "my-finetune": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06, "litellm_provider": "custom", "mode": "chat"},
  "fireworks-ai-up-to-4b": {"input_cost_per_token": 2e-07, "output_cost_per_token": 2e-07, "litellm_provider": "fireworks_ai"},
  "text-embedding-3-large": {"input_cost_per_token": 1.3e-07, "output_cost_per_token": 0.0, "mode": "embedding"},
  "dall-e-3": {"output_cost_per_image": 0.04, "mode": "image_generation"}
}"#,
    );
    let prices = prices.to_str().unwrap();
    let json = estimate_json(
        &scratch,
        &[
            "--models",
            "gpt-4.1,my-finetune",
            "--prices",
            prices,
            "--output-tokens",
            "10",
        ],
    );
    let gpt = row(&json, "gpt-4.1");
    // (68 × 3 + 30 × 10) / 1e6 and batch (68 × 1.5 + 30 × 5) / 1e6
    assert!(close(&gpt["list"], 0.000504), "{gpt}");
    assert!(close(&gpt["batch"], 0.000252), "{gpt}");
    assert!(
        gpt["price"]["source"].as_str().unwrap().ends_with("(LiteLLM format)"),
        "{gpt}"
    );
    assert!(close(&row(&json, "my-finetune")["list"], (86.0 + 60.0) / 1e6));

    let models = scratch.run_blocking(&["models", "--prices", prices], &[]);
    models.assert_code(0);
    assert!(
        models.stdout.contains(&format!(
            "--prices {prices}: 3 prices imported (0 with size tiers); 2 entries skipped (1 not a text \
             endpoint, 1 without a mode, 0 not priced per token)"
        )),
        "{}",
        models.stdout
    );
    let all = scratch.run_blocking(&["models", "--prices", prices, "--all"], &[]);
    all.assert_code(0);
    let header = format!("from the --prices {prices}, source {prices} (LiteLLM format):");
    assert_eq!(all.stdout.matches(&header).count(), 1, "{}", all.stdout);
    assert!(
        all.stdout.contains("from the built-in table, source https://"),
        "{}",
        all.stdout
    );
    let finetune = all
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("my-finetune"))
        .unwrap();
    assert!(
        !finetune.contains("LiteLLM format"),
        "the source is said once: {finetune}"
    );
    assert!(
        all.stdout.contains("text-embedding-3-large"),
        "embeddings are a text endpoint"
    );
    assert!(
        !all.stdout.contains("fireworks-ai-up-to-4b"),
        "an entry without a mode is no model"
    );
}

#[test]
fn markdown_and_text_say_which_counts_are_approximate() {
    let scratch = Scratch::new();
    let input = scratch.write("prompts.jsonl", INPUT);
    let input = input.to_str().unwrap();
    let md = scratch.run_blocking(
        &["estimate", input, "--models", "gpt-4.1,deepseek-chat", "--format", "md"],
        &[],
    );
    md.assert_code(0);
    assert!(
        md.stdout.contains("| deepseek-chat | cl100k_base~ | 3 | 86~ | 180 |"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("~ approximate input tokens"), "{}", md.stdout);
    assert!(md.stdout.contains("- line 5: not valid JSON"), "{}", md.stdout);
    let text = scratch.run_blocking(&["estimate", input, "--models", "gpt-4.1"], &[]);
    text.assert_code(0);
    assert!(!text.stdout.contains("approximate"), "{}", text.stdout);
    assert!(text.stdout.contains("$0.001576"), "{}", text.stdout);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let scratch = Scratch::new();
    scratch.write("prompts.jsonl", INPUT);
    for (args, message) in [
        (vec!["--currency", "CNY"], "--currency CNY needs --fx RATE"),
        (
            vec!["--cache-hit-rate", "1.5"],
            "--cache-hit-rate: 1.5 must be between 0 and 1",
        ),
        (vec!["--prices", "missing.json"], "--prices missing.json: cannot read"),
        (
            vec!["--from-run", "nowhere"],
            "--from-run nowhere: no results.jsonl or summary.json",
        ),
    ] {
        let mut all = vec!["estimate", "prompts.jsonl"];
        all.extend(args);
        let finished = scratch.run_blocking(&all, &[]);
        finished.assert_code(2);
        assert!(finished.stderr.contains(message), "{all:?}: {}", finished.stderr);
    }
    let missing = scratch.run_blocking(&["estimate", "nope.jsonl"], &[]);
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("nope.jsonl: cannot open input file"),
        "{}",
        missing.stderr
    );
}
