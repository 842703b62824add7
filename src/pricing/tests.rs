//! Tests of the price table and the built-in prices.

use super::*;
use crate::record::Usage;

fn builtin() -> PriceTable {
    match PriceTable::builtin() {
        Ok(table) => table,
        Err(e) => panic!("built-in price table must parse: {e}"),
    }
}

fn usage(input: u64, cached: u64, output: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_tokens: 0,
        output_tokens: output,
    }
}

#[test]
fn builtin_has_the_required_models_at_their_list_prices() {
    let table = builtin();
    let required = [
        ("gpt-4.1", 2.00, 0.50, 8.00),
        ("gpt-4.1-mini", 0.40, 0.10, 1.60),
        ("gpt-4o-mini", 0.15, 0.075, 0.60),
        ("claude-sonnet-4-5", 3.00, 0.30, 15.00),
        ("gemini-2.5-flash", 0.30, 0.03, 2.50),
        ("deepseek-chat", 0.28, 0.028, 0.42),
    ];
    for (model, input, cached, output) in required {
        let price = table.prices.get(model);
        let price = price.unwrap_or_else(|| panic!("{model} missing from prices.toml"));
        assert_eq!(
            (price.input, price.cached_input, price.output),
            (input, Some(cached), output),
            "{model}"
        );
    }
}

#[test]
fn builtin_entries_have_source_date_and_consistent_batch_prices() {
    for (model, price) in builtin().iter() {
        assert!(price.source.starts_with("https://"), "{model}: {}", price.source);
        let d = price.date.as_bytes();
        let is_date = d.len() == 10
            && d[4] == b'-'
            && d[7] == b'-'
            && d.iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        assert!(is_date, "{model}: date {:?}", price.date);
        assert_eq!(price.batch_input.is_some(), price.batch_output.is_some(), "{model}");
        if model.starts_with("gpt-") || model.starts_with('o') {
            assert_eq!(price.batch_input, Some(price.input / 2.0), "{model}");
            assert_eq!(price.batch_output, Some(price.output / 2.0), "{model}");
        }
    }
}

#[test]
fn embedding_models_are_priced_per_input_token_only() {
    let table = builtin();
    for (model, input) in [
        ("text-embedding-3-small", 0.02),
        ("text-embedding-3-large", 0.13),
        ("text-embedding-ada-002", 0.10),
    ] {
        let price = table.get(model).unwrap_or_else(|| panic!("{model} has a price"));
        assert_eq!((price.input, price.output), (input, 0.0), "{model}");
        assert!(price.is_builtin() && price.date == "2024-01-25", "{model}");
        // 1M input tokens cost the input price; output tokens (there are none) nothing.
        let cost = price.cost_usd(&usage(1_000_000, 0, 0));
        assert!((cost - input).abs() < 1e-12, "{model}: {cost}");
    }
    assert_eq!(
        table
            .get("omni-moderation-latest")
            .map(|p| p.cost_usd(&usage(1000, 0, 0))),
        Some(0.0)
    );
}

#[test]
fn cost_counts_cached_tokens_at_the_cached_price() {
    let table = builtin();
    // gpt-4.1: 1000 uncached * 2.00 + 500 cached * 0.50 + 200 out * 8.00 = 3850 / 1M.
    let price = table.get("gpt-4.1").map(|p| p.cost_usd(&usage(1500, 500, 200)));
    assert!((price.unwrap_or(f64::NAN) - 0.003_85).abs() < 1e-12, "{price:?}");
    // deepseek-chat: 9000 * 0.28 + 1_000_000 * 0.028 + 4000 * 0.42 = 32200 / 1M.
    let price = table
        .get("deepseek-chat")
        .map(|p| p.cost_usd(&usage(1_009_000, 1_000_000, 4000)));
    assert!((price.unwrap_or(f64::NAN) - 0.0322).abs() < 1e-12, "{price:?}");
}

#[test]
fn cost_without_cached_price_charges_input_price_and_never_goes_negative() {
    let mut price = PriceOverride {
        input: 1.0,
        cached_input: None,
        output: 2.0,
        batch_input: None,
        batch_output: None,
        cache_write: None,
        source: None,
        date: None,
    }
    .into_price(&PriceOrigin::PriceFile("test".into()));
    assert_eq!(price.cost_usd(&usage(1_000_000, 400_000, 1_000_000)), 3.0);
    price.cached_input = Some(0.5);
    // More cached than input (a provider bug) is treated as all-cached.
    assert_eq!(price.cost_usd(&usage(1_000_000, 2_000_000, 0)), 0.5);
    assert_eq!(price.cost_usd(&Usage::default()), 0.0);
}

#[test]
fn snapshot_and_provider_prefix_resolve_to_the_base_model() {
    let table = builtin();
    let base = |m: &str| table.get(m).map(|p| (p.input, p.output));
    for (alias, model) in [
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("deepseek/deepseek-chat", "deepseek-chat"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("GPT-4o-mini", "gpt-4o-mini"),
    ] {
        assert!(base(alias).is_some(), "{alias} did not resolve");
        assert_eq!(base(alias), base(model), "{alias} -> {model}");
    }
}

#[test]
fn mini_and_full_models_are_never_confused() {
    let mut table = builtin();
    let gpt41 = table.get("gpt-4.1").map(|p| p.input);
    let mini = table.get("gpt-4.1-mini").map(|p| p.input);
    assert_eq!((gpt41, mini), (Some(2.00), Some(0.40)));
    assert_eq!(table.get("gpt-4.1-mini-2025-04-14").map(|p| p.input), Some(0.40));
    assert_eq!(table.get("gpt-4o-2024-08-06").map(|p| p.input), Some(2.50));
    // A snapshot with its own price wins over its base model.
    assert_eq!(table.get("gpt-4o-2024-05-13").map(|p| p.input), Some(5.00));
    // Without gpt-4.1-mini in the table, its names must find nothing, not gpt-4.1.
    table.prices.remove("gpt-4.1-mini");
    assert!(table.get("gpt-4.1-mini").is_none());
    assert!(table.get("gpt-4.1-mini-2025-04-14").is_none());
    assert!(table.get("openai/gpt-4.1-mini").is_none());
    // Nor the reverse.
    let mut only_mini = PriceTable::new();
    if let Some(p) = builtin().get("gpt-4.1-mini") {
        only_mini.insert("gpt-4.1-mini", p.clone());
    }
    assert!(only_mini.get("gpt-4.1").is_none());
    assert!(only_mini.get("gpt-4.1-2025-04-14").is_none());
    assert!(table.get("claude-opus-4-5").is_none());
    assert!(table.get("gemini-2.5-flash-preview-09-2025").is_none());
    assert!(table.get("").is_none());
    assert!(table.get("-20250929").is_none());
}

#[test]
fn bad_entries_name_the_origin_and_the_model_key() {
    let cases = [
        ("[prices.\"my-model\"]\ninput = 1.0\n", "missing field `output`"),
        ("[prices.\"my-model\"]\ninput = 1.0\noutput = \"2\"\n", "invalid type"),
        (
            "[prices.\"my-model\"]\ninput = 1.0\noutput = 2.0\ncost = 3\n",
            "unknown field `cost`",
        ),
        ("[prices.\"my-model\"]\ninput = -1.0\noutput = 2.0\n", "input = -1"),
        ("[prices.\"my-model\"]\ninput = 1.0\noutput = nan\n", "output = NaN"),
    ];
    for (text, needle) in cases {
        let err = PriceTable::from_toml_str(text, &PriceOrigin::job_file("job.toml"))
            .map(|_| ())
            .err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("job.toml: prices.\"my-model\": "), "{message}");
        assert!(message.contains(needle), "{message}");
    }
    let err = PriceTable::from_toml_str("[prices\ninput = ", &PriceOrigin::job_file("job.toml")).err();
    assert!(
        matches!(&err, Some(PriceError::Syntax { origin, .. }) if origin == "job.toml"),
        "{err:?}"
    );
    let err = PriceTable::from_toml_str("prices = 3", &PriceOrigin::PriceFile("p.toml".into()))
        .map(|_| ())
        .err();
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "p.toml: prices: expected a table of models, found a integer"
    );
    let err = PriceTable::from_toml_str(
        "[price.\"gpt-4.1\"]\ninput = 1.0\n",
        &PriceOrigin::PriceFile("p.toml".into()),
    )
    .err();
    assert_eq!(
        err.map(|e| e.to_string()).unwrap_or_default(),
        "p.toml: unknown key `price`: expected only [prices.\"model\"] tables"
    );
    let empty =
        PriceTable::from_toml_str("# nothing yet\n", &PriceOrigin::PriceFile("p.toml".into())).map(|t| t.is_empty());
    assert_eq!(empty, Ok(true));
}

#[test]
fn user_prices_default_source_and_override_builtin() {
    let text = "[prices.\"gpt-4.1\"]\ninput = 1.0\ncached_input = 0.1\noutput = 2.0\n\
                [prices.\"my-model\"]\ninput = 0.5\noutput = 0.5\nsource = \"contract\"\ndate = \"2025-11-01\"\n";
    let user = PriceTable::from_toml_str(text, &PriceOrigin::JobFile(None));
    let user = user.unwrap_or_else(|e| panic!("{e}"));
    let mut table = builtin();
    let before = table.len();
    table.extend(user);
    assert_eq!(table.len(), before + 1);
    let gpt41 = table.get("gpt-4.1").cloned();
    assert_eq!(
        gpt41.as_ref().map(|p| (p.input, p.source.as_str(), p.date.as_str())),
        Some((1.0, "job config", ""))
    );
    // The override also applies through snapshot and prefix resolution.
    assert_eq!(table.get("openai/gpt-4.1-2025-04-14").cloned(), gpt41);
    assert_eq!(table.get("my-model").map(|p| p.source.as_str()), Some("contract"));

    let mut price = table.get("my-model").cloned().unwrap_or_else(|| panic!("my-model"));
    price.output = 9.0;
    table.insert("my-model", price);
    assert_eq!(table.get("my-model").map(|p| p.output), Some(9.0));
    let names: Vec<&str> = table.iter().map(|(m, _)| m).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "iter must be sorted");
}
