//! `--output-format openai`: results.jsonl and errors.jsonl exactly as OpenAI's Batch output
//! (checked line by line against a strict JSON Schema), the `sheepdog` blocks in the sidecar
//! sheepdog.jsonl, and resume, merge and `report` working from the sidecar.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{read_jsonl, start_mock, RunFolder, Scratch};
use serde_json::{json, Value};
use sheepdog::MockConfig;

/// One line of OpenAI's Batch output file, strictly: no other key anywhere it defines keys.
fn batch_line_schema(extra_top_level: Option<&str>) -> Value {
    let mut schema = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "custom_id", "response", "error"],
        "properties": {
            "id": {"type": "string"},
            "custom_id": {"type": "string"},
            "response": {"oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["status_code", "request_id", "body"],
                    "properties": {
                        "status_code": {"type": "integer"},
                        "request_id": {"type": "string"},
                        "body": {"type": "object"}
                    }
                }
            ]},
            "error": {"oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}
                }
            ]}
        }
    });
    if let Some(key) = extra_top_level {
        schema["properties"][key] = json!({"type": "object"});
    }
    schema
}

fn assert_valid(schema: &Value, path: &Path) -> usize {
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    let lines = read_jsonl(path);
    for (i, line) in lines.iter().enumerate() {
        let problems: Vec<String> = validator.iter_errors(line).map(|e| e.to_string()).collect();
        assert!(
            problems.is_empty(),
            "{} line {}: {problems:?}\n{line}",
            path.display(),
            i + 1
        );
    }
    lines.len()
}

/// Six answerable lines (one without an id), one line that is not JSON, one line whose model
/// the server does not have (404 after no retries), one without a prompt.
const INPUT: &str = r#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"one"}]}}
{"id":"b","prompt":"two","model":"gpt-4.1-mini"}
{"prompt":"three, no id","model":"gpt-4.1-mini"}
this is not json
{"id":"gone","prompt":"four","model":"no-such-model"}
{"id":"c","prompt":"five","model":"gpt-4.1-mini"}
{"id":"empty","model":"gpt-4.1-mini"}
{"id":"d","prompt":"six","model":"gpt-4.1-mini"}
{"id":"e","prompt":"seven","model":"gpt-4.1-mini"}
"#;

fn envs(server: &sheepdog::MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", server.base_url()),
        ("OPENAI_API_KEY", "sk-test-format".to_string()),
    ]
}

fn mock() -> MockConfig {
    MockConfig {
        models: Some(vec!["gpt-4.1-mini".to_string()]),
        ..MockConfig::default()
    }
}

async fn run(scratch: &Scratch, server: &sheepdog::MockServer, out: &str, extra: &[&str]) -> common::Finished {
    let input = scratch.write("input.jsonl", INPUT);
    let input = input.to_str().expect("utf-8 path").to_string();
    let mut args = vec!["run", input.as_str(), "--quiet", "--out", out];
    args.extend_from_slice(extra);
    let envs = envs(server);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scratch.run(&args, &envs).await
}

/// `(file, line)` of every sidecar line.
fn sidecar_lines(dir: &Path) -> Vec<(String, u64)> {
    read_jsonl(&dir.join("sheepdog.jsonl"))
        .iter()
        .map(|l| {
            (
                l["file"].as_str().expect("file").to_string(),
                l["sheepdog"]["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

fn id_lines(path: &Path) -> Vec<u64> {
    read_jsonl(path)
        .iter()
        .map(|l| {
            let id = l["id"].as_str().expect("id");
            id.trim_start_matches("sheepdog-").parse().expect("sheepdog-<line>")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_lines_pass_a_strict_batch_schema_and_the_blocks_go_to_the_sidecar() {
    let server = start_mock(mock()).await;
    let scratch = Scratch::new();
    run(&scratch, &server, "strict", &["--output-format", "openai"])
        .await
        .assert_code(1);
    let dir = scratch.path().join("strict");
    let schema = batch_line_schema(None);
    assert_eq!(assert_valid(&schema, &dir.join("results.jsonl")), 6);
    assert_eq!(assert_valid(&schema, &dir.join("errors.jsonl")), 3);

    let folder = RunFolder::read(&dir);
    let by_id = |id: &str| folder.all_lines().find(|l| l["custom_id"] == id).cloned();
    // The line without an id, and the line that is not JSON, get `line-<n>`.
    assert!(by_id("line-3").is_some_and(|l| l["response"]["status_code"] == 200));
    let not_json = by_id("line-4").expect("the non-JSON line has an error line");
    assert_eq!(not_json["error"]["code"], "invalid_input");
    assert!(not_json["response"].is_null());
    // A 404 keeps its status, with a request id although the server sent none with the error.
    let gone = by_id("gone").expect("the 404 line");
    assert_eq!(gone["response"]["status_code"], 404);
    assert!(gone["response"]["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    // One sidecar line per item, naming the file that holds the item's line.
    let sidecar = sidecar_lines(&dir);
    assert_eq!(sidecar.len(), 9);
    let results: BTreeSet<u64> = id_lines(&dir.join("results.jsonl")).into_iter().collect();
    let errors: BTreeSet<u64> = id_lines(&dir.join("errors.jsonl")).into_iter().collect();
    for (file, line) in &sidecar {
        let held = if file == "results" { &results } else { &errors };
        assert!(held.contains(line), "sidecar line {line} points to {file}");
    }
    assert_eq!(folder.summary_u64("/totals/succeeded"), 6);
    assert_eq!(folder.summary_u64("/totals/rejected"), 2);

    // `report` rebuilds from the sidecar: the same totals, and requests.csv rows for sent items.
    std::fs::remove_file(dir.join("requests.csv")).expect("requests.csv was written");
    let csv = scratch.run(&["report", "strict", "--format", "csv"], &[]).await;
    csv.assert_code(0);
    let rows = csv.stdout.lines().count();
    assert_eq!(rows, 1 + 7, "header + 7 sent items:\n{}", csv.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_lines_are_the_strict_lines_plus_the_sheepdog_block() {
    let server = start_mock(mock()).await;
    let scratch = Scratch::new();
    run(&scratch, &server, "default", &[]).await.assert_code(1);
    let dir = scratch.path().join("default");
    let schema = batch_line_schema(Some("sheepdog"));
    assert_eq!(assert_valid(&schema, &dir.join("results.jsonl")), 6);
    assert_eq!(assert_valid(&schema, &dir.join("errors.jsonl")), 3);
    assert!(!dir.join("sheepdog.jsonl").exists());
    // Not strict: the block is there on every line.
    let strict = jsonschema::validator_for(&batch_line_schema(None)).expect("schema compiles");
    assert!(read_jsonl(&dir.join("results.jsonl"))
        .iter()
        .all(|l| !strict.is_valid(l)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_folder_resumes_sending_only_what_lost_a_half_and_refuses_another_format() {
    let server = start_mock(mock()).await;
    let scratch = Scratch::new();
    run(&scratch, &server, "r", &["--output-format", "openai"])
        .await
        .assert_code(1);
    let dir = scratch.path().join("r");
    let sent_before = server.stats().requests;

    // A crash between the writes of two items: item of line 9 lost its results line, item of
    // line 1 its sidecar line; and the last results line is torn.
    let keep = |name: &str, drop: &dyn Fn(&Value) -> bool| {
        let path = dir.join(name);
        let kept: Vec<String> = read_jsonl(&path)
            .iter()
            .filter(|l| !drop(l))
            .map(|l| l.to_string() + "\n")
            .collect();
        std::fs::write(&path, kept.concat()).expect("rewrite");
    };
    keep("results.jsonl", &|l| l["id"] == "sheepdog-9");
    keep("sheepdog.jsonl", &|l| l["line"] == 1);
    let mut torn = std::fs::read(dir.join("results.jsonl")).expect("results");
    torn.extend_from_slice(br#"{"id":"sheepdog-8","custom_id":"d","resp"#);
    std::fs::write(dir.join("results.jsonl"), torn).expect("tear");

    // Resuming without the flag would mix formats: refused.
    let refused = run(&scratch, &server, "r", &[]).await;
    refused.assert_code(2);
    assert!(refused.stderr.contains("--output-format openai"), "{}", refused.stderr);

    run(&scratch, &server, "r", &["--output-format", "openai"])
        .await
        .assert_code(1);
    // Exactly the two items that lost a half were sent again.
    assert_eq!(server.stats().requests - sent_before, 2);
    let schema = batch_line_schema(None);
    assert_eq!(assert_valid(&schema, &dir.join("results.jsonl")), 6);
    assert_eq!(assert_valid(&schema, &dir.join("errors.jsonl")), 3);
    let mut lines: Vec<u64> = sidecar_lines(&dir).into_iter().map(|(_, l)| l).collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=9).collect::<Vec<_>>());
    let mut results = id_lines(&dir.join("results.jsonl"));
    results.sort_unstable();
    assert_eq!(results, vec![1, 2, 3, 6, 8, 9]);
    let folder = RunFolder::read(&dir);
    assert_eq!(folder.summary_u64("/totals/succeeded"), 6);
    assert_eq!(folder.summary_u64("/totals/rejected"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_shards_merge_with_their_sidecars() {
    let server = start_mock(mock()).await;
    let scratch = Scratch::new();
    for (out, shard) in [("s0", "0/2"), ("s1", "1/2")] {
        let finished = run(&scratch, &server, out, &["--output-format", "openai", "--shard", shard]).await;
        assert!(matches!(finished.code, Some(0 | 1)), "{finished:?}");
    }
    let merged = scratch
        .run(&["merge", "s0", "s1", "--out", "m", "--ordered"], &[])
        .await;
    merged.assert_code(1);
    let dir = scratch.path().join("m");
    let schema = batch_line_schema(None);
    assert_eq!(assert_valid(&schema, &dir.join("results.jsonl")), 6);
    assert_eq!(assert_valid(&schema, &dir.join("errors.jsonl")), 3);
    assert_eq!(
        id_lines(&dir.join("results.jsonl")),
        vec![1, 2, 3, 6, 8, 9],
        "--ordered"
    );
    assert_eq!(sidecar_lines(&dir).len(), 9);
    assert_eq!(RunFolder::read(&dir).summary_u64("/totals/succeeded"), 6);
}
