//! Completions, embeddings, responses and moderations: requests shaped as the official SDKs
//! send them, answers checked field by field against OpenAI's API reference.

use base64::Engine as _;
use serde_json::{json, Value};

use super::{send, start, Answer};
use crate::mock::{MockConfig, MockServer};

async fn call(server: &MockServer, path: &str, body: Value) -> Answer {
    let url = format!("{}{path}", server.base_url());
    send(reqwest::Client::new().post(url).bearer_auth("sk-test-key").json(&body)).await
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(vector: &[f32]) -> f64 {
    vector.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[tokio::test]
async fn embeddings_are_unit_vectors_of_the_models_length_and_the_same_for_the_same_text() {
    let server = start(MockConfig::default()).await;
    let body = json!({"input": ["hello", "world", "hello"], "model": "text-embedding-3-small",
                      "encoding_format": "float"});
    let answer = call(&server, "/embeddings", body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let b = &answer.body;
    assert_eq!(b["object"], "list");
    assert_eq!(b["model"], "text-embedding-3-small");
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        let vector = floats(&item["embedding"]);
        assert_eq!(vector.len(), 1536);
        assert!((norm(&vector) - 1.0).abs() < 1e-4, "norm {}", norm(&vector));
    }
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    // "hello" and "world" are 5 characters: 2 tokens each. No completion tokens.
    assert_eq!(b["usage"], json!({"prompt_tokens": 6, "total_tokens": 6}));
    assert!(b.get("id").is_none() && b["usage"].get("completion_tokens").is_none());

    let large = call(
        &server,
        "/embeddings",
        json!({"input": "x", "model": "text-embedding-3-large"}),
    )
    .await;
    assert_eq!(large.body["data"][0]["embedding"].as_array().unwrap().len(), 3072);
}

#[tokio::test]
async fn base64_embeddings_decode_to_the_float_vector_and_dimensions_are_honoured() {
    let server = start(MockConfig::default()).await;
    // What the Python SDK sends by default: base64.
    let body = json!({"input": "The food was delicious", "model": "text-embedding-3-small",
                      "dimensions": 256, "encoding_format": "base64"});
    let encoded = call(&server, "/embeddings", body.clone()).await;
    assert_eq!(encoded.status, 200, "{}", encoded.body);
    let text = encoded.body["data"][0]["embedding"].as_str().expect("base64 text");
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
    assert_eq!(bytes.len(), 256 * 4);
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut float_body = body;
    float_body["encoding_format"] = json!("float");
    let plain = call(&server, "/embeddings", float_body).await;
    assert_eq!(decoded, floats(&plain.body["data"][0]["embedding"]));
    assert!((norm(&decoded) - 1.0).abs() < 1e-4);
    // Token arrays are inputs too: one token per id.
    let ids = call(
        &server,
        "/embeddings",
        json!({"input": [[1, 2, 3], [4]], "model": "text-embedding-3-small"}),
    )
    .await;
    assert_eq!(ids.body["usage"]["prompt_tokens"], 4);
}

#[tokio::test]
async fn embedding_options_are_checked_as_openai_checks_them() {
    let server = start(MockConfig::default()).await;
    let cases = [
        (
            json!({"input": "x", "model": "text-embedding-ada-002", "dimensions": 8}),
            "dimensions",
        ),
        (
            json!({"input": "x", "model": "text-embedding-3-small", "dimensions": 0}),
            "dimensions",
        ),
        (
            json!({"input": "x", "model": "text-embedding-3-small", "dimensions": 5000}),
            "dimensions",
        ),
        (
            json!({"input": "x", "model": "text-embedding-3-small", "encoding_format": "int8"}),
            "encoding_format",
        ),
        (json!({"input": "", "model": "text-embedding-3-small"}), "input"),
        (json!({"input": [], "model": "text-embedding-3-small"}), "input"),
        (json!({"model": "text-embedding-3-small"}), "input"),
        (json!({"input": "x"}), "model"),
    ];
    for (body, param) in cases {
        let answer = call(&server, "/embeddings", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(answer.body["error"]["param"], param, "{body}: {}", answer.body);
    }
}

#[tokio::test]
async fn legacy_completions_answer_text_choices_one_per_prompt() {
    let server = start(MockConfig::default()).await;
    let body = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7,
                      "temperature": 0});
    let answer = call(&server, "/completions", body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let b = &answer.body;
    assert!(b["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(b["object"], "text_completion");
    assert!(b["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(b["model"], "gpt-3.5-turbo-instruct");
    let choice = &b["choices"][0];
    assert_eq!(choice["text"].as_str().unwrap().split(' ').count(), 7);
    assert_eq!(
        (choice["index"].clone(), choice["logprobs"].clone()),
        (json!(0), Value::Null)
    );
    assert_eq!(choice["finish_reason"], "length");
    let usage = &b["usage"];
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + 7)
    );

    let two = call(
        &server,
        "/completions",
        json!({"model": "m", "prompt": ["a", "b"], "max_tokens": 3}),
    )
    .await;
    let choices = two.body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    assert_eq!(
        (choices[0]["index"].clone(), choices[1]["index"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(two.body["usage"]["completion_tokens"], 6);
    let missing = call(&server, "/completions", json!({"model": "m"})).await;
    assert_eq!(missing.body["error"]["param"], "prompt");
}

#[tokio::test]
async fn responses_are_response_objects_with_a_message_output_item() {
    let server = start(MockConfig::default()).await;
    let body = json!({"model": "gpt-4.1-mini", "input": "Tell me a three sentence bedtime story.",
                      "instructions": "Be brief."});
    let answer = call(&server, "/responses", body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let b = &answer.body;
    assert!(b["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(b["object"], "response");
    assert_eq!(b["status"], "completed");
    assert_eq!(b["error"], Value::Null);
    assert_eq!(b["model"], "gpt-4.1-mini");
    let item = &b["output"][0];
    assert_eq!(item["type"], "message");
    assert!(item["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (item["status"].as_str(), item["role"].as_str()),
        (Some("completed"), Some("assistant"))
    );
    let part = &item["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["annotations"], json!([]));
    let words = part["text"].as_str().unwrap().split(' ').count() as u64;
    let usage = &b["usage"];
    assert_eq!(usage["output_tokens"], words);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["input_tokens"].as_u64().unwrap() + words)
    );

    // Message items as input, cut by max_output_tokens: an incomplete response.
    let items = json!({"model": "gpt-4.1-mini", "max_output_tokens": 4,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]});
    let cut = call(&server, "/responses", items).await;
    assert_eq!(cut.body["status"], "incomplete");
    assert_eq!(cut.body["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(cut.body["usage"]["output_tokens"], 4);
    let bad = call(&server, "/responses", json!({"model": "gpt-4.1-mini", "input": 3})).await;
    assert_eq!(bad.body["error"]["param"], "input");
}

#[tokio::test]
async fn moderations_score_every_category_and_flag_what_asks_for_it() {
    let server = start(MockConfig::default()).await;
    let answer = call(
        &server,
        "/moderations",
        json!({"input": ["a calm sentence", "[flag] this"]}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let b = &answer.body;
    assert!(b["id"].as_str().unwrap().starts_with("modr-"));
    assert_eq!(b["model"], "omni-moderation-latest");
    assert!(b.get("usage").is_none(), "OpenAI's moderations carry no usage");
    let results = b["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let calm = &results[0];
    assert_eq!(calm["flagged"], false);
    let categories = calm["categories"].as_object().unwrap();
    assert_eq!(categories.len(), 13);
    assert!(categories.values().all(|v| v == false));
    for (name, score) in calm["category_scores"].as_object().unwrap() {
        let score = score.as_f64().unwrap();
        assert!((0.0..0.01).contains(&score), "{name}: {score}");
        assert_eq!(calm["category_applied_input_types"][name], json!(["text"]));
    }
    let flagged = &results[1];
    assert_eq!(
        (flagged["flagged"].clone(), flagged["categories"]["violence"].clone()),
        (json!(true), json!(true))
    );

    let image = json!({"model": "omni-moderation-latest", "input": [
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]});
    let answer = call(&server, "/moderations", image).await;
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0]["category_applied_input_types"]["violence"],
        json!(["text", "image"])
    );
    assert_eq!(results[0]["category_applied_input_types"]["hate"], json!(["text"]));
}

#[tokio::test]
async fn the_key_faults_and_rate_limits_apply_to_every_endpoint() {
    let bodies = [
        ("/completions", json!({"model": "gpt-4.1-mini", "prompt": "p"})),
        ("/embeddings", json!({"model": "text-embedding-3-small", "input": "p"})),
        ("/responses", json!({"model": "gpt-4.1-mini", "input": "p"})),
        ("/moderations", json!({"input": "p"})),
    ];
    let keyed = start(MockConfig {
        require_key: Some("sk-other-key".into()),
        ..MockConfig::default()
    })
    .await;
    let failing = start(MockConfig {
        failures: vec![(503, 1.0)],
        ..MockConfig::default()
    })
    .await;
    for (path, body) in bodies {
        let limited = start(MockConfig {
            rpm: Some(1),
            ..MockConfig::default()
        })
        .await;
        call(&keyed, path, body.clone())
            .await
            .assert_error(401, "invalid_request_error", Some("invalid_api_key"));
        let failed = call(&failing, path, body.clone()).await;
        assert_eq!(failed.status, 503, "{path}: {}", failed.body);
        let first = call(&limited, path, body.clone()).await;
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        let second = call(&limited, path, body).await;
        assert_eq!(second.status, 429, "{path}: {}", second.body);
        assert!(second.headers.contains_key("retry-after"), "{path}");
    }
    let stats = failing.stats();
    assert_eq!(stats.requests, 4);
}
