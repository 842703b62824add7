//! Property tests of sheepdog's parsers: input lines, durations, the `--fail`, `--slo` and
//! `--shard` mini-languages and LiteLLM price JSON. Each never panics on any text, and gives
//! the documented result; where sheepdog has a formatter the value survives a round trip.
//!
//! 256 cases per property (`PROPTEST_CASES` raises it).

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use sheepdog::bench::spec::SloMetric;
use sheepdog::bench::Slo;
use sheepdog::input::{parse_line, LineFormat};
use sheepdog::mock::parse_failures;
use sheepdog::pricing::litellm;
use sheepdog::shard::{Shard, MAX_SHARDS};

/// A JSON value of a few levels, for fields sheepdog passes through untouched.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn message() -> impl Strategy<Value = Value> {
    (prop::sample::select(vec!["system", "user", "assistant"]), ".{0,20}")
        .prop_map(|(role, content)| json!({"role": role, "content": content}))
}

proptest! {
    #[test]
    fn any_bytes_as_an_input_line_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), line in 1u64..) {
        if let Err(rejected) = parse_line(&bytes, line) {
            prop_assert_eq!(rejected.line, line);
            prop_assert!(!rejected.reason.is_empty());
        }
    }

    #[test]
    fn any_object_of_input_keys_is_accepted_only_when_sendable(
        object in prop::collection::btree_map(
            prop::sample::select(vec!["id", "custom_id", "prompt", "messages", "body", "url", "method", "model", "metadata"]),
            prop_oneof![json_value(), prop::collection::vec(message(), 0..3).prop_map(Value::Array)],
            0..6,
        ),
    ) {
        let object: Map<String, Value> = object.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let text = Value::Object(object.clone()).to_string();
        if let Ok(item) = parse_line(text.as_bytes(), 9) {
            prop_assert!(!item.id.is_empty());
            let messages = item.body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default();
            prop_assert!(!messages.is_empty(), "accepted without messages: {}", text);
            prop_assert!(messages.iter().all(|m| m.get("role").is_some_and(Value::is_string)));
            prop_assert!(item.body.get("model").is_none_or(Value::is_string));
        }
    }

    #[test]
    fn short_lines_become_one_user_message_and_round_trip(
        id in "[^\u{0}]{1,12}",
        prompt in ".{0,40}",
        extra in prop::collection::btree_map("(temperature|top_p|max_tokens|seed|user)", json_value(), 0..3),
        model in prop::option::of("[a-z0-9.-]{1,12}"),
        line in 1u64..1_000_000,
    ) {
        let mut object: Map<String, Value> = extra.into_iter().collect();
        object.insert("id".into(), json!(id));
        object.insert("prompt".into(), json!(prompt));
        if let Some(model) = &model {
            object.insert("model".into(), json!(model));
        }
        let text = Value::Object(object).to_string();
        let item = parse_line(text.as_bytes(), line).map_err(|r| TestCaseError::fail(r.reason))?;
        prop_assert_eq!(&item.id, &id);
        prop_assert_eq!(item.line, line);
        prop_assert_eq!(item.format, LineFormat::Short);
        prop_assert_eq!(&item.body["messages"], &json!([{"role": "user", "content": prompt}]));
        prop_assert_eq!(item.model(), model.as_deref());
        // The body written back as a messages line reads the same.
        let mut again = (*item.body).clone();
        again.insert("id".into(), json!(id));
        let again = parse_line(Value::Object(again).to_string().as_bytes(), line)
            .map_err(|r| TestCaseError::fail(r.reason))?;
        prop_assert_eq!(again.body, item.body);
        // No prefix of the line is a line.
        for cut in (1..text.len()).filter(|&c| text.is_char_boundary(c)) {
            prop_assert!(parse_line(&text.as_bytes()[..cut], line).is_err(), "prefix {:?} accepted", &text[..cut]);
        }
    }

    #[test]
    fn batch_lines_keep_their_body(
        custom_id in "[^\u{0}]{1,12}",
        messages in prop::collection::vec(message(), 1..4),
        max_tokens in prop::option::of(any::<u64>()),
        crlf in any::<bool>(),
    ) {
        let mut body = json!({"model": "gpt-4.1-mini", "messages": messages});
        if let Some(n) = max_tokens {
            body["max_tokens"] = json!(n);
        }
        let mut text = json!({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})
            .to_string();
        if crlf {
            text.push('\r');
        }
        let item = parse_line(text.as_bytes(), 3).map_err(|r| TestCaseError::fail(r.reason))?;
        prop_assert_eq!(&item.id, &custom_id);
        prop_assert_eq!(item.format, LineFormat::Batch);
        prop_assert_eq!(Value::Object((*item.body).clone()), body);
    }

    #[test]
    fn durations_in_the_job_file_round_trip(ms in 1u64..=10 * 365 * 24 * 3600 * 1000, nanos in 0u32..1_000_000) {
        let duration = Duration::from_millis(ms) + Duration::from_nanos(u64::from(nanos));
        let text = humantime::format_duration(duration).to_string();
        let job = sheepdog::config::file::parse(&format!("[run]\ntimeout = {text:?}\n"), "job.toml")
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(job.run.and_then(|r| r.timeout).map(|d| d.0), Some(duration));
    }

    #[test]
    fn any_duration_text_in_the_job_file_never_panics(text in ".{0,30}") {
        let toml = format!("[run]\ntimeout = {}\n", Value::from(text.clone()));
        if let Err(e) = sheepdog::config::file::parse(&toml, "job.toml") {
            let message = e.to_string();
            prop_assert!(message.contains("job.toml") && message.contains("line 2"), "{}", message);
        }
    }

    #[test]
    fn fail_specs_round_trip(
        entries in prop::collection::btree_map(100u16..=599, 0u32..=200, 0..5),
        percent in any::<bool>(),
    ) {
        // Up to 5 entries of at most 0.2: the sum stays within 1.
        let expected: Vec<(u16, f64)> = entries.iter().map(|(&s, &p)| (s, f64::from(p) / 1000.0)).collect();
        let text = expected
            .iter()
            .map(|(s, p)| if percent { format!("{s} = {}%", p * 100.0) } else { format!("{s}={p}") })
            .collect::<Vec<_>>()
            .join(" , ");
        let parsed = parse_failures(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.len(), expected.len());
        for ((s, p), (es, ep)) in parsed.iter().zip(&expected) {
            prop_assert_eq!(s, es);
            prop_assert!((p - ep).abs() < 1e-12, "{} vs {}", p, ep);
        }
    }

    #[test]
    fn any_fail_text_never_panics_and_what_is_accepted_is_valid(text in "[0-9=.,% a-z-]{0,30}") {
        if let Ok(failures) = parse_failures(&text) {
            let mut sum = 0.0;
            for (status, p) in &failures {
                prop_assert!((100..=599).contains(status));
                prop_assert!(p.is_finite() && (0.0..=1.0).contains(p));
                sum += p;
            }
            prop_assert!(sum <= 1.0 + 1e-9);
        }
    }

    #[test]
    fn slos_round_trip(
        bounds in prop::collection::vec(prop::option::of(0u64..10_000_000), 4),
        order in Just(()).prop_perturb(|_, mut rng| { let mut o = [0usize, 1, 2, 3]; for i in (1..4).rev() { o.swap(i, (rng.next_u32() as usize) % (i + 1)); } o }),
    ) {
        prop_assume!(bounds.iter().any(Option::is_some));
        let names = ["ttft", "itl", "tpot", "e2e"];
        let text = order
            .iter()
            .filter_map(|&i| bounds[i].map(|us| format!("{}={}", names[i], humantime::format_duration(Duration::from_micros(us)))))
            .collect::<Vec<_>>()
            .join(",");
        let slo: Slo = text.parse().map_err(TestCaseError::fail)?;
        for (i, name) in names.iter().enumerate() {
            prop_assert_eq!(slo.bound(SloMetric::ALL[i]), bounds[i].map(Duration::from_micros), "{}", name);
        }
    }

    #[test]
    fn any_slo_text_never_panics(text in "[a-z0-9=,. ]{0,30}") {
        if let Ok(slo) = text.parse::<Slo>() {
            prop_assert!(slo != Slo::default(), "an accepted SLO bounds something");
        }
    }

    #[test]
    fn shards_round_trip(count in 1u32..=MAX_SHARDS, index in any::<prop::sample::Index>(), spaces in any::<bool>()) {
        let shard = Shard::new(index.index(count as usize) as u32, count).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = if spaces { format!(" {} / {} ", shard.index, shard.count) } else { shard.to_string() };
        prop_assert_eq!(text.parse::<Shard>(), Ok(shard));
    }

    #[test]
    fn any_shard_text_never_panics_and_what_is_accepted_is_in_range(text in "[0-9/ -]{0,14}|.{0,10}") {
        if let Ok(shard) = text.parse::<Shard>() {
            prop_assert!(shard.index < shard.count && shard.count <= MAX_SHARDS);
        }
    }
}

/// A price field as LiteLLM files write it, or something else that turns up there.
#[derive(Debug, Clone)]
enum PriceField {
    Missing,
    Number(f64),
    Text(f64),
    Garbage(String),
}

impl PriceField {
    fn json(&self) -> Option<Value> {
        match self {
            PriceField::Missing => None,
            PriceField::Number(x) => Some(json!(x)),
            PriceField::Text(x) => Some(json!(x.to_string())),
            PriceField::Garbage(s) => Some(json!(s)),
        }
    }

    fn value(&self) -> Option<f64> {
        match self {
            PriceField::Number(x) | PriceField::Text(x) => Some(*x),
            _ => None,
        }
    }
}

fn price_field() -> impl Strategy<Value = PriceField> {
    prop_oneof![
        Just(PriceField::Missing),
        (0u32..100_000).prop_map(|n| PriceField::Number(f64::from(n) * 1e-9)),
        (0u32..100_000).prop_map(|n| PriceField::Text(f64::from(n) * 1e-9)),
        (1u32..100).prop_map(|n| PriceField::Number(-f64::from(n) * 1e-9)),
        "[a-z]{0,5}".prop_map(PriceField::Garbage),
    ]
}

fn mode() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(vec![
        "chat",
        "completion",
        "responses",
        "embedding",
        "image_generation",
    ]))
}

proptest! {
    #[test]
    fn litellm_price_files_import_every_priced_text_model(
        entries in prop::collection::btree_map("[a-z][a-z0-9-]{0,10}", (mode(), price_field(), price_field()), 0..8),
    ) {
        let mut file = Map::new();
        for (model, (mode, input, output)) in &entries {
            let mut fields = Map::new();
            if let Some(mode) = mode {
                fields.insert("mode".into(), json!(mode));
            }
            fields.extend(input.json().map(|v| ("input_cost_per_token".to_string(), v)));
            fields.extend(output.json().map(|v| ("output_cost_per_token".to_string(), v)));
            file.insert(model.clone(), Value::Object(fields));
        }
        // Text endpoints sheepdog sends are imported; embeddings need only an input price (no
        // output price is 0); entries without a mode are not models (LiteLLM's size buckets).
        let text = |mode: &Option<&str>| matches!(mode, Some("chat" | "completion" | "responses"));
        let input_only = |mode: &Option<&str>| matches!(mode, Some("embedding"));
        let priced: BTreeMap<&String, (f64, f64)> = entries
            .iter()
            .filter_map(|(m, (mode, i, o))| {
                if text(mode) {
                    Some((m, (i.value()?, o.value()?)))
                } else if input_only(mode) {
                    Some((m, (i.value()?, o.value().unwrap_or(0.0))))
                } else {
                    None
                }
            })
            .collect();
        let no_mode = entries.values().filter(|(mode, _, _)| mode.is_none()).count();
        let negative = priced.values().any(|&(i, o)| i < 0.0 || o < 0.0);
        match litellm::parse(&Value::Object(file).to_string(), "p.json", "2026-01-01") {
            Ok(imported) => {
                prop_assert!(!negative, "a negative price was accepted");
                prop_assert_eq!(imported.models, priced.len());
                prop_assert_eq!(imported.skipped_no_mode, no_mode);
                prop_assert_eq!(
                    imported.models + imported.skipped_mode + imported.skipped_no_mode + imported.skipped_unpriced,
                    entries.len()
                );
                for (model, (input, output)) in priced {
                    let price = imported.table.get(model).ok_or_else(|| TestCaseError::fail(format!("{model} missing")))?;
                    prop_assert!((price.input - input * 1e6).abs() < 1e-9, "{} vs {}", price.input, input * 1e6);
                    prop_assert!((price.output - output * 1e6).abs() < 1e-9);
                }
            }
            Err(e) => {
                prop_assert!(negative, "refused: {}", e);
                prop_assert!(e.to_string().starts_with("p.json: "), "{}", e);
            }
        }
    }

    #[test]
    fn any_text_as_a_litellm_file_never_panics(text in "[{}\\[\\]\":,a-z0-9.e-]{0,60}") {
        let _ = litellm::parse(&text, "p.json", "2026-01-01");
    }
}
