//! Structured outputs, tool calls and `n`, shaped as the OpenAI SDK parses them.

use serde_json::{json, Value};

use super::stream::stream;
use super::{chat_body, post, start};
use crate::mock::MockConfig;

/// A schema with what structured outputs use: nesting, arrays, enums, required, $defs, nullable.
fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "customer": {"$ref": "#/$defs/person"},
            "status": {"type": "string", "enum": ["draft", "sent", "paid"]},
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "minLength": 3},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
                        "price": {"type": "number", "exclusiveMinimum": 0}
                    },
                    "required": ["sku", "quantity", "price"],
                    "additionalProperties": false
                }
            },
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "paid": {"type": "boolean"},
            "issued": {"type": "string", "format": "date"}
        },
        "required": ["customer", "status", "lines", "note", "paid", "issued"],
        "additionalProperties": false,
        "$defs": {
            "person": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
                "required": ["name", "email"],
                "additionalProperties": false
            }
        }
    })
}

fn with(mut body: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().expect("object") {
        body[key] = value.clone();
    }
    body
}

fn schema_format(schema: Value) -> Value {
    json!({"response_format": {"type": "json_schema",
                               "json_schema": {"name": "invoice", "strict": true, "schema": schema}}})
}

fn assert_valid(schema: &Value, instance: &Value) {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{instance} is not valid: {errors:?}");
}

#[tokio::test]
async fn json_schema_answers_are_valid_and_deterministic() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let schema = invoice_schema();
    for prompt in ["Invoice for Ada", "Invoice for Grace", "Invoice for Edsger"] {
        let body = with(chat_body(prompt), schema_format(schema.clone()));
        let answer = post(&client, &server, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["choices"][0]["finish_reason"], "stop");
        assert!(answer.body["choices"][0]["message"]["refusal"].is_null());
        let parsed: Value = serde_json::from_str(answer.content()).expect("content is JSON");
        assert_valid(&schema, &parsed);
        let again = post(&client, &server, &body).await;
        assert_eq!(answer.content(), again.content());
        let tokens = answer.body["usage"]["completion_tokens"].as_u64().expect("tokens");
        assert_eq!(tokens, (answer.content().chars().count() as u64).div_ceil(4));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn json_object_answers_are_objects() {
    let server = start(MockConfig::default()).await;
    let body = with(
        chat_body("Reply in JSON"),
        json!({"response_format": {"type": "json_object"}}),
    );
    let answer = post(&reqwest::Client::new(), &server, &body).await;
    let parsed: Value = serde_json::from_str(answer.content()).expect("content is JSON");
    assert!(parsed["answer"].as_str().is_some_and(|a| !a.is_empty()), "{parsed}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_short_max_tokens_cuts_structured_content_with_finish_length() {
    let server = start(MockConfig::default()).await;
    let body = with(
        chat_body("Invoice for Ada"),
        with(schema_format(invoice_schema()), json!({"max_tokens": 5})),
    );
    let answer = post(&reqwest::Client::new(), &server, &body).await;
    assert_eq!(answer.body["choices"][0]["finish_reason"], "length");
    assert_eq!(answer.body["usage"]["completion_tokens"], 5);
    assert_eq!(answer.content().chars().count(), 20);
    assert!(serde_json::from_str::<Value>(answer.content()).is_err());
    server.shutdown().await;
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]},
                           "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city", "unit", "days"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {
            "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
    ])
}

#[tokio::test]
async fn tools_are_called_as_tool_choice_says_with_valid_arguments() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let tools = weather_tools();
    let required = with(
        chat_body("Weather in Oslo?"),
        json!({"tools": tools, "tool_choice": "required"}),
    );
    let answer = post(&client, &server, &required).await;
    let choice = &answer.body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{}", answer.body);
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().is_some_and(|id| id.starts_with("call_")));
    let name = call["function"]["name"].as_str().expect("name");
    let tool = tools
        .as_array()
        .and_then(|t| t.iter().find(|t| t["function"]["name"] == name))
        .expect("a tool of the request");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments is a string")).expect("JSON");
    assert_valid(&tool["function"]["parameters"], &arguments);

    let named = with(
        chat_body("Weather in Oslo?"),
        json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
    );
    let answer = post(&client, &server, &named).await;
    let call = &answer.body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_time");
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("string")).expect("JSON");
    assert_valid(&tools[1]["function"]["parameters"], &arguments);

    let none = with(
        chat_body("Weather in Oslo?"),
        json!({"tools": tools, "tool_choice": "none"}),
    );
    let answer = post(&client, &server, &none).await;
    assert!(answer.body["choices"][0]["message"].get("tool_calls").is_none());
    assert!(!answer.content().is_empty());

    // `auto` calls a tool, then answers in text once the tool's result is in the conversation.
    let mut auto = with(chat_body("Weather in Oslo?"), json!({"tools": tools}));
    assert_eq!(
        post(&client, &server, &auto).await.body["choices"][0]["finish_reason"],
        "tool_calls"
    );
    auto["messages"]
        .as_array_mut()
        .expect("messages")
        .push(json!({"role": "tool", "tool_call_id": "call_1", "content": "12 C"}));
    let answer = post(&client, &server, &auto).await;
    assert_eq!(answer.body["choices"][0]["finish_reason"], "stop");
    assert!(!answer.content().is_empty());

    let unknown = with(
        chat_body("x"),
        json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
    );
    post(&client, &server, &unknown)
        .await
        .assert_error(400, "invalid_request_error", Some("invalid_value"));
    server.shutdown().await;
}

#[tokio::test]
async fn n_gives_n_choices_and_usage_over_all() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let plain = post(&client, &server, &chat_body("Name a sheep")).await;
    let three = post(&client, &server, &with(chat_body("Name a sheep"), json!({"n": 3}))).await;
    let choices = three.body["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3);
    assert_eq!(
        choices[0]["message"]["content"],
        plain.body["choices"][0]["message"]["content"]
    );
    assert_ne!(choices[1]["message"]["content"], choices[2]["message"]["content"]);
    let words: u64 = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["index"], i);
            c["message"]["content"].as_str().expect("text").split(' ').count() as u64
        })
        .sum();
    assert_eq!(three.body["usage"]["completion_tokens"], words);
    assert_eq!(
        three.body["usage"]["prompt_tokens"],
        plain.body["usage"]["prompt_tokens"]
    );
    post(&client, &server, &with(chat_body("x"), json!({"n": 0})))
        .await
        .assert_error(400, "invalid_request_error", Some("invalid_value"));
    server.shutdown().await;
}

#[tokio::test]
async fn streamed_structured_answers_match_the_plain_ones() {
    let server = start(MockConfig::default()).await;
    let client = reqwest::Client::new();
    let usage = json!({"stream_options": {"include_usage": true}});

    let schema = with(chat_body("Invoice for Ada"), schema_format(invoice_schema()));
    let plain = post(&client, &server, &schema).await;
    let events = stream(&server, with(schema, usage.clone())).await;
    assert!(events.done);
    let text: String = events
        .chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, plain.content());
    assert_eq!(events.chunks.last().expect("usage chunk")["usage"], plain.body["usage"]);

    let tools = with(
        chat_body("Weather?"),
        json!({"tools": weather_tools(), "tool_choice": "required"}),
    );
    let plain = post(&client, &server, &tools).await;
    let events = stream(&server, tools).await;
    let calls: Vec<&Value> = events
        .chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    let call = &plain.body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(calls[0]["id"], call["id"]);
    assert_eq!(calls[0]["function"]["name"], call["function"]["name"]);
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, call["function"]["arguments"].as_str().expect("string"));
    let finish = events
        .chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));

    let two = with(chat_body("Name a sheep"), json!({"n": 2}));
    let plain = post(&client, &server, &two).await;
    let events = stream(&server, with(two, usage)).await;
    for index in 0..2 {
        let text: String = events
            .chunks
            .iter()
            .filter_map(|c| c["choices"].get(0).filter(|c| c["index"] == index))
            .filter_map(|c| c["delta"]["content"].as_str())
            .collect();
        assert_eq!(
            text,
            plain.body["choices"][index]["message"]["content"]
                .as_str()
                .expect("text")
        );
    }
    assert_eq!(events.chunks.last().expect("usage chunk")["usage"], plain.body["usage"]);
    server.shutdown().await;
}
