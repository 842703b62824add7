//! Tables in and out: `run data.csv --template ...` renders one request per row, resumes on the
//! rendered requests, and `export --format csv|jsonl` gives one row per input line back.

mod common;

use common::{start_mock, Scratch};
use sheepdog::MockConfig;

const TABLE: &str = "id,text,lang,max_tokens\n\
                     r1,\"Sheep are\nwoolly\",en,\n\
                     r2,Dogs herd,fr,7\n\
                     r3,\"Quotes \"\"inside\"\", commas\",de,\n";

fn envs(server: &sheepdog::MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("OPENAI_BASE_URL", server.base_url()),
        ("OPENAI_API_KEY", "sk-test-tables".to_string()),
    ]
}

async fn run(scratch: &Scratch, server: &sheepdog::MockServer, extra: &[&str]) -> common::Finished {
    let table = scratch.write("data.csv", TABLE);
    let table = table.to_str().expect("utf-8 path").to_string();
    let mut args = vec![
        "run",
        table.as_str(),
        "--model",
        "gpt-4.1-mini",
        "--template",
        "Summarize: {{ text }}",
        "--system",
        "Answer in {{ lang }}.",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let envs = envs(server);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scratch.run(&args, &envs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_table_runs_resumes_on_its_rendered_requests_and_exports_back_to_csv() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    run(&scratch, &server, &["--out", "t"]).await.assert_code(0);
    assert_eq!(server.stats().requests, 3);
    let dir = scratch.path().join("t");

    // The rendered request of each row: system and user message, max_tokens from its column,
    // and the item's line is the row's line in the table (r1 spans lines 2 and 3).
    let results = common::read_jsonl(&dir.join("results.jsonl"));
    let by_id = |id: &str| results.iter().find(|l| l["custom_id"] == id).expect("a result").clone();
    assert_eq!(by_id("r1")["sheepdog"]["line"], 2);
    assert_eq!(by_id("r2")["sheepdog"]["line"], 4);
    let rendered = common::read_jsonl_skipping_blanks(&dir.join("rendered.jsonl"));
    assert_eq!(rendered[0]["messages"][0]["content"], "Answer in en.");
    assert_eq!(rendered[0]["messages"][1]["content"], "Summarize: Sheep are\nwoolly");
    assert_eq!(rendered[1]["max_tokens"], 7);

    // A lost answer is sent again, and only it; a changed template is refused.
    let kept: Vec<String> = results
        .iter()
        .filter(|l| l["custom_id"] != "r2")
        .map(|l| l.to_string() + "\n")
        .collect();
    std::fs::write(dir.join("results.jsonl"), kept.concat()).expect("rewrite");
    run(&scratch, &server, &["--out", "t"]).await.assert_code(0);
    assert_eq!(server.stats().requests, 4);
    let changed = scratch
        .run(
            &[
                "run",
                "data.csv",
                "--model",
                "gpt-4.1-mini",
                "--template",
                "Shorten: {{ text }}",
                "--out",
                "t",
            ],
            &[],
        )
        .await;
    changed.assert_code(2);
    assert!(
        changed
            .stderr
            .contains("the template, --system, --id-column or the table changed"),
        "{}",
        changed.stderr
    );

    // Export: one row per input line, in line order, input columns included, read back by a
    // CSV reader.
    scratch
        .run(&["export", "t", "--format", "csv"], &[])
        .await
        .assert_code(0);
    let mut reader = csv::Reader::from_path(dir.join("export.csv")).expect("export.csv");
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    assert_eq!(
        headers,
        [
            "line",
            "id",
            "text",
            "lang",
            "max_tokens",
            "status",
            "http_status",
            "answer",
            "target",
            "model",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "latency_ms",
            "ttft_ms",
            "attempts",
            "error"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert_eq!(rows.len(), 3);
    let column = |row: &csv::StringRecord, name: &str| row[headers.iter().position(|h| h == name).unwrap()].to_string();
    assert_eq!(
        rows.iter().map(|r| column(r, "id")).collect::<Vec<_>>(),
        ["r1", "r2", "r3"]
    );
    assert_eq!(column(&rows[0], "text"), "Sheep are\nwoolly");
    assert_eq!(column(&rows[2], "text"), "Quotes \"inside\", commas");
    for row in &rows {
        assert_eq!(column(row, "status"), "ok");
        assert_eq!(column(row, "http_status"), "200");
        assert!(!column(row, "answer").is_empty());
        assert!(column(row, "output_tokens").parse::<u64>().unwrap() > 0);
        assert!(column(row, "cost_usd").parse::<f64>().unwrap() > 0.0);
        assert!(column(row, "latency_ms").parse::<f64>().unwrap() >= 0.0);
    }

    // JSONL export: the same rows, typed.
    let jsonl = scratch
        .run(&["export", "t", "--format", "jsonl", "--out", "-"], &[])
        .await;
    jsonl.assert_code(0);
    let lines: Vec<serde_json::Value> = jsonl.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["line"], 4);
    assert!(lines[1]["output_tokens"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_the_first_prompts_and_a_missing_column_exits_2_before_sending() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let dry = run(&scratch, &server, &["--dry-run"]).await;
    dry.assert_code(0);
    assert!(
        dry.stdout.contains("user:   Summarize: Sheep are\n            woolly"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("system: Answer in fr."), "{}", dry.stdout);
    assert!(dry.stdout.contains("valid items:        3"), "{}", dry.stdout);

    let table = scratch.write("data.csv", TABLE);
    let bad = scratch
        .run(
            &[
                "run",
                table.to_str().unwrap(),
                "--template",
                "Hi {{ name }}",
                "--out",
                "bad",
            ],
            &[],
        )
        .await;
    bad.assert_code(2);
    assert!(
        bad.stderr
            .contains("data.csv: the template uses {{ name }}, but the header has no such column"),
        "{}",
        bad.stderr
    );
    assert_eq!(server.stats().requests, 0);
}
