use std::fs;

use serde_json::json;

use super::*;
use crate::output::{ResultsWriter, ERRORS_FILE, REPLACED_FILE, RESULTS_FILE};
use crate::record::{Attempt, ErrorClass, ErrorInfo, Outcome, Rejected, Success, Usage};
use crate::stats::Collector;

fn attempt(target: &str, error: Option<ErrorClass>, status: u16) -> Attempt {
    Attempt {
        target: target.into(),
        model: "gpt-4.1-mini".into(),
        number: 1,
        sent_at: Duration::from_millis(5),
        latency: Duration::from_micros(12_345),
        ttft: None,
        stream: None,
        status: Some(status),
        usage: error.is_none().then_some(Usage {
            input_tokens: 10,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 4,
        }),
        cost_usd: error.is_none().then_some(0.001),
        error: error.map(|class| ErrorInfo {
            class,
            status: Some(status),
            message: "m".into(),
            code: None,
        }),
        concurrency_limit: None,
    }
}

use std::time::Duration;

fn ok(line: u64) -> Outcome {
    let mut retried = attempt("t", Some(ErrorClass::ServerError), 503);
    retried.number = 1;
    let mut last = attempt("t", None, 200);
    last.number = 2;
    Outcome {
        id: format!("id-{line}"),
        line,
        metadata: None,
        attempts: vec![retried, last],
        result: Ok(Success {
            target: "t".into(),
            model: "gpt-4.1-mini".into(),
            status: 200,
            request_id: None,
            body: crate::record::raw_body(&json!({"choices": []})),
            usage: Usage {
                input_tokens: 10,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 4,
            },
            latency: Duration::from_micros(12_345),
            ttft: None,
            stream: None,
            cost_usd: Some(0.001),
            cache_hit: None,
        }),
    }
}

fn failed(line: u64, class: ErrorClass) -> Outcome {
    let a = attempt("t", Some(class), 400);
    Outcome {
        id: format!("id-{line}"),
        line,
        metadata: None,
        attempts: vec![a.clone()],
        result: Err(a.error.unwrap_or_else(|| unreachable!())),
    }
}

/// A run folder written by the real writer: lines 1, 2, 4 ok; 3 failed (400); 5 rejected;
/// 6 unfinished (429 when the run stopped).
fn folder() -> (tempfile::TempDir, Collector) {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = ResultsWriter::open(dir.path()).unwrap();
    let mut expected = Collector::new(Vec::new());
    for outcome in [ok(1), ok(2), failed(3, ErrorClass::BadRequest), ok(4)] {
        writer.write_outcome(&outcome).unwrap();
        expected.record(&outcome);
    }
    let rejected = Rejected {
        id: None,
        line: 5,
        reason: "not valid JSON".into(),
    };
    writer.write_rejected(&rejected).unwrap();
    expected.record_rejected(&rejected);
    writer.write_unfinished(&failed(6, ErrorClass::RateLimited)).unwrap();
    writer.sync().unwrap();
    (dir, expected)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn scan_rebuilds_the_statistics_of_the_lines_it_keeps() {
    let (dir, expected) = folder();
    let mut collector = Collector::new(Vec::new());
    let scanned = scan(dir.path(), false, &mut collector).unwrap();
    assert_eq!(scanned.done.len(), 5, "line 6 was cut short: it is sent again");
    assert!(!scanned.done.contains(6));
    assert_eq!(scanned.replaced, 1);
    let job = crate::stats::fixture::job(1.0);
    let (rebuilt, original) = (collector.finish(job.clone(), 6, 1), expected.finish(job, 6, 1));
    assert_eq!(rebuilt.totals, original.totals);
    assert_eq!(rebuilt.errors, original.errors, "attempt-level errors come back too");
    assert_eq!(rebuilt.latency_ms, original.latency_ms);
    assert_eq!(rebuilt.tokens, original.tokens);
    assert_eq!(rebuilt.cost, original.cost);
    assert_eq!(rebuilt.attempts_per_item, original.attempts_per_item);
    assert_eq!(lines(&dir.path().join(ERRORS_FILE)).len(), 2);
    assert_eq!(lines(&dir.path().join(REPLACED_FILE)).len(), 1);
}

#[test]
fn a_torn_last_line_is_cut_off() {
    let (dir, _) = folder();
    let results = dir.path().join(RESULTS_FILE);
    let whole = fs::read(&results).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"id":"sheepdog-7","custom_id":"id-7","response":{"status_co"#);
    fs::write(&results, &torn).unwrap();

    let scanned = scan(dir.path(), false, &mut Collector::new(Vec::new())).unwrap();

    assert_eq!(
        fs::read(&results).unwrap(),
        whole,
        "the file is back to its complete lines"
    );
    assert!(!scanned.done.contains(7));
    assert!(
        scanned.notices.iter().any(|n| n.contains("incomplete last line")),
        "{:?}",
        scanned.notices
    );
}

#[test]
fn garbage_in_the_middle_and_repeats_move_to_a_damaged_file() {
    let (dir, _) = folder();
    let results = dir.path().join(RESULTS_FILE);
    let mut text = lines(&results);
    let first = text[0].clone();
    text.insert(1, "\0\0\0garbage".into());
    text.push(first);
    fs::write(&results, text.join("\n") + "\n").unwrap();

    let scanned = scan(dir.path(), false, &mut Collector::new(Vec::new())).unwrap();

    assert_eq!(lines(&results).len(), 3, "lines 1, 2, 4 once each");
    assert_eq!(lines(&dir.path().join("results.jsonl.damaged")).len(), 2);
    assert_eq!(scanned.done.len(), 5);
    assert!(!scanned.results_order.sorted || scanned.results_order.last_line == 4);
}

#[test]
fn retry_failed_replaces_failed_items_but_keeps_rejected_lines() {
    let (dir, _) = folder();
    let scanned = scan(dir.path(), true, &mut Collector::new(Vec::new())).unwrap();
    assert!(!scanned.done.contains(3) && !scanned.done.contains(6));
    assert!(
        scanned.done.contains(5),
        "an invalid input line would only be rejected again"
    );
    let errors = lines(&dir.path().join(ERRORS_FILE));
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("invalid_input"));
    assert_eq!(lines(&dir.path().join(REPLACED_FILE)).len(), 2);
}

#[test]
fn a_missing_folder_content_is_an_empty_job() {
    let dir = tempfile::tempdir().unwrap();
    let scanned = scan(dir.path(), false, &mut Collector::new(Vec::new())).unwrap();
    assert!(scanned.done.is_empty() && scanned.notices.is_empty());
}
