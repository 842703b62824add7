//! The Files and Batches APIs over real HTTP, on 127.0.0.1:0.

use std::time::Duration;

use serde_json::{json, Value};

use crate::mock::{BatchSettings, MockConfig, MockServer};

async fn start(batch: BatchSettings) -> MockServer {
    let config = MockConfig {
        batch,
        ..MockConfig::default()
    };
    MockServer::start(config, "127.0.0.1:0".parse().expect("address"))
        .await
        .expect("mock starts")
}

fn fast() -> BatchSettings {
    BatchSettings {
        duration: Duration::from_millis(200),
        ..BatchSettings::default()
    }
}

fn input(lines: usize) -> String {
    (0..lines)
        .map(|i| {
            json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": format!("line {i}")}]}})
            .to_string()
                + "\n"
        })
        .collect()
}

async fn upload(client: &reqwest::Client, server: &MockServer, text: String) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part("file", reqwest::multipart::Part::text(text).file_name("in.jsonl"));
    let response = client
        .post(format!("{}/files", server.base_url()))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    response.json().await.expect("file object")
}

async fn create(client: &reqwest::Client, server: &MockServer, file: &str) -> Value {
    create_for(client, server, file, "/v1/chat/completions").await
}

async fn create_for(client: &reqwest::Client, server: &MockServer, file: &str, endpoint: &str) -> Value {
    let body = json!({"input_file_id": file, "endpoint": endpoint, "completion_window": "24h"});
    let response = client
        .post(format!("{}/batches", server.base_url()))
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 200);
    response.json().await.expect("batch object")
}

async fn get(client: &reqwest::Client, url: String) -> reqwest::Response {
    client.get(url).send().await.expect("get")
}

/// Polls until the batch is in a final status; returns it and every status seen.
async fn wait(client: &reqwest::Client, server: &MockServer, id: &str) -> (Value, Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..1000 {
        let batch: Value = get(client, format!("{}/batches/{id}", server.base_url()))
            .await
            .json()
            .await
            .expect("batch");
        let status = batch["status"].as_str().expect("status").to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if matches!(status.as_str(), "completed" | "failed" | "expired" | "cancelled") {
            return (batch, seen);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("batch {id} never finished; statuses {seen:?}");
}

async fn lines_of(client: &reqwest::Client, server: &MockServer, file: &Value) -> Vec<Value> {
    let Some(id) = file.as_str() else { return Vec::new() };
    let text = get(client, format!("{}/files/{id}/content", server.base_url()))
        .await
        .text()
        .await
        .expect("content");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test]
async fn a_batch_goes_through_its_statuses_and_answers_every_line_once() {
    let server = start(fast()).await;
    let client = reqwest::Client::new();
    let file = upload(&client, &server, input(10)).await;
    assert_eq!(file["object"], "file");
    assert_eq!(file["purpose"], "batch");
    let id = file["id"].as_str().expect("id");
    assert!(id.starts_with("file-"), "{id}");
    let retrieved: Value = get(&client, format!("{}/files/{id}", server.base_url()))
        .await
        .json()
        .await
        .expect("file");
    assert_eq!(retrieved["bytes"], file["bytes"]);

    let batch = create(&client, &server, id).await;
    assert_eq!(batch["object"], "batch");
    assert_eq!(batch["status"], "validating");
    let batch_id = batch["id"].as_str().expect("id");
    assert!(batch_id.starts_with("batch_"), "{batch_id}");
    let (done, seen) = wait(&client, &server, batch_id).await;
    // The polls may miss a short status on a busy machine; what they saw comes in order, and
    // the batch's own stamps show it went through every status.
    let order = ["validating", "in_progress", "finalizing", "completed"];
    let mut statuses = order.iter();
    assert!(seen.iter().all(|s| statuses.any(|o| o == s)), "{seen:?} out of order");
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
    let stamps: Vec<u64> = ["created_at", "in_progress_at", "finalizing_at", "completed_at"]
        .iter()
        .map(|key| done[key].as_u64().unwrap_or_else(|| panic!("{key} not set: {done}")))
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    assert_eq!(
        done["request_counts"],
        json!({"total": 10, "completed": 10, "failed": 0})
    );
    assert!(done["error_file_id"].is_null());
    let output = lines_of(&client, &server, &done["output_file_id"]).await;
    assert_eq!(output.len(), 10);
    let first = &output[0];
    assert_eq!(first["custom_id"], "r0");
    assert_eq!(first["response"]["status_code"], 200);
    assert_eq!(first["response"]["body"]["object"], "chat.completion");
    assert!(first["error"].is_null());

    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (1, 1));
    assert_eq!(stats.requests, 10, "each line answered once by the live routes");
    let listed: Value = get(&client, format!("{}/batches", server.base_url()))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(listed["data"][0]["id"], batch_id);
}

#[tokio::test]
async fn failed_lines_expired_and_failed_batches() {
    let server = start(BatchSettings {
        fail_share: 0.2,
        expire: vec![2],
        fail: vec![3],
        ..fast()
    })
    .await;
    let client = reqwest::Client::new();
    let file = upload(&client, &server, input(100)).await;
    let id = file["id"].as_str().expect("id");

    let (one, _) = wait(
        &client,
        &server,
        create(&client, &server, id).await["id"].as_str().expect("id"),
    )
    .await;
    let counts = &one["request_counts"];
    let failed = counts["failed"].as_u64().expect("failed");
    assert!((5..=40).contains(&failed), "{failed} of 100 failed at a share of 0.2");
    assert_eq!(counts["completed"].as_u64().expect("completed") + failed, 100);
    let errors = lines_of(&client, &server, &one["error_file_id"]).await;
    assert_eq!(errors.len() as u64, failed);
    assert_eq!(errors[0]["response"]["status_code"], 500);

    let (two, _) = wait(
        &client,
        &server,
        create(&client, &server, id).await["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(two["status"], "expired");
    assert_eq!(
        lines_of(&client, &server, &two["output_file_id"]).await.len()
            + (two["request_counts"]["failed"].as_u64().expect("n") as usize),
        50
    );
    let expired = lines_of(&client, &server, &two["error_file_id"]).await;
    assert!(expired.iter().filter(|l| l["error"]["code"] == "batch_expired").count() == 50);

    let (three, _) = wait(
        &client,
        &server,
        create(&client, &server, id).await["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(three["status"], "failed");
    assert!(three["output_file_id"].is_null());
    assert!(three["errors"]["data"][0]["message"].as_str().is_some());
}

#[tokio::test]
async fn unknown_files_and_bad_batches_are_refused_in_openai_shape() {
    let server = start(fast()).await;
    let client = reqwest::Client::new();
    let missing = get(&client, format!("{}/files/file-nope/content", server.base_url())).await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("error");
    assert_eq!(body["error"]["code"], "file_not_found");

    let response = client
        .post(format!("{}/batches", server.base_url()))
        .json(&json!({"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 404);
    let response = client
        .post(format!("{}/batches", server.base_url()))
        .json(&json!({"input_file_id": "file-nope", "endpoint": "/v1/images", "completion_window": "24h"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 400);
    assert_eq!(server.stats().batches_created, 0);
}

fn request(custom_id: &str, url: &str, body: Value) -> String {
    json!({"custom_id": custom_id, "method": "POST", "url": url, "body": body}).to_string() + "\n"
}

#[tokio::test]
async fn batches_of_every_endpoint_answer_as_the_live_endpoint_and_refuse_other_urls() {
    let server = start(fast()).await;
    let client = reqwest::Client::new();
    let cases = [
        (
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": "a cat", "dimensions": 8}),
            json!("list"),
        ),
        (
            "/v1/responses",
            json!({"model": "gpt-4.1-mini", "input": "hi"}),
            json!("response"),
        ),
        (
            "/v1/completions",
            json!({"model": "gpt-4.1-mini", "prompt": "hi"}),
            json!("text_completion"),
        ),
        // A moderation answer has no `object`, as OpenAI's has none.
        ("/v1/moderations", json!({"input": "hi"}), Value::Null),
    ];
    for (endpoint, body, object) in cases {
        // Two lines of the batch's endpoint, and a chat line that does not belong in it.
        let chat = json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "x"}]});
        let text = request("a", endpoint, body.clone())
            + &request("b", "/v1/chat/completions", chat)
            + &request("c", endpoint, body.clone());
        let file = upload(&client, &server, text).await;
        let created = create_for(&client, &server, file["id"].as_str().expect("id"), endpoint).await;
        assert_eq!(created["endpoint"], endpoint);
        let (done, _) = wait(&client, &server, created["id"].as_str().expect("id")).await;
        assert_eq!(done["status"], "completed", "{endpoint}");
        assert_eq!(
            done["request_counts"],
            json!({"total": 3, "completed": 2, "failed": 1}),
            "{endpoint}"
        );
        let output = lines_of(&client, &server, &done["output_file_id"]).await;
        let ids: Vec<&str> = output.iter().map(|l| l["custom_id"].as_str().expect("id")).collect();
        assert_eq!(ids, ["a", "c"], "{endpoint}");
        let answer = &output[0]["response"]["body"];
        assert_eq!(answer["object"], object, "{endpoint}: {answer}");
        // The same answer as the live endpoint gives for the same body.
        let live: Value = client
            .post(format!("{}{}", server.base_url(), endpoint.trim_start_matches("/v1")))
            .json(&body)
            .send()
            .await
            .expect("live")
            .json()
            .await
            .expect("live answer");
        for key in ["object", "model", "usage", "data", "output", "choices", "results"] {
            if key == "output" || key == "choices" || key == "results" || key == "data" {
                // Ids and timestamps differ; the content does not.
                assert_eq!(strip_ids(&answer[key]), strip_ids(&live[key]), "{endpoint}: {key}");
            } else {
                assert_eq!(answer[key], live[key], "{endpoint}: {key}");
            }
        }
        let errors = lines_of(&client, &server, &done["error_file_id"]).await;
        assert_eq!(errors.len(), 1, "{endpoint}");
        assert_eq!(errors[0]["custom_id"], "b");
        assert_eq!(errors[0]["response"]["status_code"], 400);
        let error = &errors[0]["response"]["body"]["error"];
        assert_eq!(error["code"], "invalid_url", "{error}");
        assert!(
            error["message"].as_str().expect("message").contains(endpoint),
            "{error}"
        );
    }
    assert_eq!(
        server.stats().requests,
        2 * 4 + 4,
        "two lines per batch and one live request per endpoint; the refused lines are not sent"
    );
}

/// `value` without the `id` fields of its objects (they name the answer, not its content).
fn strip_ids(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "id")
                .map(|(k, v)| (k.clone(), strip_ids(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_ids).collect()),
        other => other.clone(),
    }
}
