//! Helpers of the `--batch-api` tests: a job file at the mock, inputs, the run folder's state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use sheepdog::mock::BatchSettings;
use sheepdog::{MockConfig, MockServer};

use crate::common::RunFolder;

/// A job file: one provider at the mock with `provider_extra` in its table, one target.
pub fn job(server: &MockServer, provider_extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"p\"\nbase_url = \"{}\"\n{provider_extra}\n\n\
         [[targets]]\nname = \"mini\"\nprovider = \"p\"\nmodel = \"gpt-4.1-mini\"\n\n\
         [route]\ntargets = [\"mini\"]\n",
        server.base_url()
    )
}

/// `lines` short-form lines `{"id": "i<n>", "prompt": "p<n>"}`.
pub fn input(lines: usize) -> String {
    let mut text = String::with_capacity(lines * 32);
    for i in 1..=lines {
        text.push_str(&format!("{{\"id\":\"i{i}\",\"prompt\":\"p{i}\"}}\n"));
    }
    text
}

pub fn mock(duration_ms: u64, batch: BatchSettings) -> MockConfig {
    MockConfig {
        output_tokens: Some(8),
        batch: BatchSettings {
            duration: Duration::from_millis(duration_ms),
            ..batch
        },
        ..MockConfig::default()
    }
}

pub fn path_text(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

/// Every custom_id of results.jsonl and errors.jsonl, with how many lines it has.
pub fn ids(folder: &RunFolder) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for line in folder.all_lines() {
        *ids.entry(line["custom_id"].as_str().expect("custom_id").to_string())
            .or_insert(0) += 1;
    }
    ids
}

pub fn batch_state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("batch_api.json")).expect("batch_api.json")).expect("json")
}

/// Waits (at most 30 s) until `ready()`; panics naming `what` otherwise.
pub async fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn parts(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("batch_api.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|state| state["parts"].as_array().cloned())
        .unwrap_or_default()
}
