use super::*;

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sharegpt.json");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

const ARRAY: &str = r#"[
  {"id": "c1", "conversations": [
    {"from": "system", "value": "be nice"},
    {"from": "human", "value": "What is a river?"},
    {"from": "gpt", "value": "A river is a natural stream of water flowing toward an ocean."},
    {"from": "human", "value": "And a lake?"}]},
  {"id": "c2", "conversations": [{"from": "gpt", "value": "I start."}]},
  {"conversations": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}]},
  {"messages": [{"role": "user", "content": "Ping"}, {"role": "assistant", "content": "Pong"}]}
]"#;

#[test]
fn the_first_human_turn_is_the_prompt_and_the_answer_sets_max_tokens() {
    let (_dir, path) = write(ARRAY);
    assert!(detect(&path).unwrap());
    let loaded = load(&path, "gpt-4.1").unwrap();
    assert_eq!(loaded.skipped, 1, "c2 has no human turn");
    let ids: Vec<&str> = loaded.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["c1", "sharegpt-3", "sharegpt-4"]);
    let first = &loaded.items[0];
    assert_eq!(
        first.body["messages"],
        json!([{"role": "user", "content": "What is a river?"}])
    );
    let answer = "A river is a natural stream of water flowing toward an ocean.";
    let expected = count_text(encoding_for_model("gpt-4.1").0, answer);
    assert_eq!(first.body["max_tokens"], json!(expected));
    assert!((10..=16).contains(&expected), "{expected} tokens");
    assert_eq!(loaded.items[1].body["messages"][0]["content"], "Hi");
}

#[test]
fn jsonl_conversations_are_read_line_by_line() {
    let (_dir, path) = write(concat!(
        r#"{"conversations": [{"from": "human", "value": "one"}, {"from": "gpt", "value": "uno"}]}"#,
        "\n\n",
        r#"{"conversations": [{"from": "human", "value": "two"}, {"from": "gpt", "value": "dos"}]}"#,
        "\n"
    ));
    assert!(detect(&path).unwrap());
    let loaded = load(&path, "gpt-4.1").unwrap();
    let lines: Vec<u64> = loaded.items.iter().map(|i| i.line).collect();
    assert_eq!(lines, [1, 3]);
}

#[test]
fn run_input_is_not_taken_for_sharegpt() {
    let (_dir, path) = write("{\"id\": \"a\", \"prompt\": \"hi\"}\n");
    assert!(!detect(&path).unwrap());
}

#[test]
fn bad_files_name_the_file_and_the_line() {
    let err = |text: &str| {
        let (_dir, path) = write(text);
        let e = load(&path, "gpt-4.1").err().unwrap();
        assert_eq!(e.exit(), crate::Exit::Usage);
        e.to_string()
    };
    let ok = r#"{"conversations": [{"from": "human", "value": "one"}, {"from": "gpt", "value": "uno"}]}"#;
    let e = err(&format!("{ok}\n{{\"conversations\": [\n"));
    assert!(e.contains("sharegpt.json: line 2: not valid JSON"), "{e}");
    let e = err(&format!("{ok}\n{{\"conversations\": \"hi\"}}\n"));
    assert!(e.contains("line 2: \"conversations\" must be an array"), "{e}");
    let e = err(&format!("{ok}\n{{\"conversations\": [{{\"from\": \"human\"}}]}}\n"));
    assert!(e.contains("line 2: turn 1: has no \"value\""), "{e}");
    let e = err("[{\"conversations\": []},\n 3]");
    assert!(e.contains("record 2: expected an object"), "{e}");
    let e = err("[{\"conversations\": [],\n");
    assert!(e.contains("line 2") && e.contains("not a JSON array"), "{e}");
    let e = err(r#"[{"conversations": [{"from": "gpt", "value": "alone"}]}]"#);
    assert!(
        e.contains("no conversation with a human turn followed by an answer (1 skipped)"),
        "{e}"
    );
}
