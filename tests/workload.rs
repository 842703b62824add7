//! Realistic bench workloads: ShareGPT conversations as prompts, and synthetic prompts with a
//! shared prefix whose cached share the mock's prompt cache reports.

mod common;

use common::{start_mock, Scratch};
use serde_json::Value;
use sheepdog::MockConfig;

#[tokio::test]
async fn a_shared_prefix_shows_a_cached_share_and_distinct_prompts_none() {
    let server = start_mock(MockConfig::default()).await;
    let shared = common::bench(
        &server,
        &[
            "--concurrency",
            "1",
            "--requests",
            "20",
            "--synthetic",
            "in=64,out=8,prefix=2000,prefix-share=0.8",
        ],
    )
    .await;
    assert_eq!(shared.code, 0, "{}", shared.stderr);
    let share = shared.summary["steps"][0]["cached_input_share"]
        .as_f64()
        .expect("cached_input_share");
    assert!(share > 0.5 && share < 1.0, "cached share {share}");
    assert!(shared.report.contains("| cached |"), "{}", shared.report);
    assert!(shared.stdout.contains("cached"), "{}", shared.stdout);

    let distinct = common::bench(
        &server,
        &["--concurrency", "1", "--requests", "10", "--synthetic", "in=1500,out=8"],
    )
    .await;
    assert_eq!(distinct.code, 0, "{}", distinct.stderr);
    assert_eq!(distinct.summary["steps"][0]["cached_input_share"], 0.0);
}

const SHAREGPT: &str = r#"[
  {"id": "a", "conversations": [{"from": "human", "value": "Name a river."}, {"from": "gpt", "value": "The Nile."}]},
  {"id": "b", "conversations": [{"from": "gpt", "value": "Nobody asked."}]},
  {"id": "c", "conversations": [{"role": "user", "content": "Count to three."}, {"role": "assistant", "content": "One, two, three."}]}
]"#;

#[tokio::test]
async fn sharegpt_conversations_are_sent_with_their_answers_length() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let input = scratch.write("sharegpt.json", SHAREGPT);
    let run = common::bench(
        &server,
        &[
            "--concurrency",
            "1",
            "--requests",
            "4",
            "--input",
            input.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The mock answers at most max_tokens: "The Nile." is 3 tokens (o200k), "One, two, three." 6.
    let mut rows = csv::Reader::from_reader(run.requests_csv.as_bytes());
    let outputs: Vec<(String, u64)> = rows
        .deserialize::<std::collections::HashMap<String, String>>()
        .map(|row| {
            let row = row.expect("requests.csv row");
            (row["id"].clone(), row["output_tokens"].parse().expect("output_tokens"))
        })
        .collect();
    assert_eq!(
        outputs,
        [
            ("a#1".into(), 3),
            ("c#2".into(), 6),
            ("a#3".into(), 3),
            ("c#4".into(), 6)
        ]
    );
    assert_eq!(
        run.summary["bench"]["prompts"],
        Value::from(input.display().to_string())
    );
}

#[tokio::test]
async fn a_bad_sharegpt_file_exits_2_naming_file_and_line() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let input = scratch.write(
        "broken.jsonl",
        "{\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}, {\"from\": \"gpt\", \"value\": \"yo\"}]}\n\
         {\"conversations\": [{\"from\": \"human\"}]}\n",
    );
    let run = common::bench(
        &server,
        &[
            "--concurrency",
            "1",
            "--requests",
            "2",
            "--input",
            input.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("broken.jsonl: line 2: turn 1: has no \"value\""),
        "{}",
        run.stderr
    );
    assert_eq!(server.stats().requests, 0);
}
