//! Byte-for-byte shapes of result and error lines.

use std::time::Duration;

use super::*;
use crate::record::{Attempt, CacheHit, ErrorClass, ErrorInfo, Success, Usage};

fn attempt(target: &str, number: u32, error: Option<ErrorInfo>) -> Attempt {
    Attempt {
        target: target.into(),
        model: "m".into(),
        number,
        sent_at: Duration::from_micros(1500),
        latency: Duration::from_micros(2_250_500),
        ttft: None,
        stream: None,
        status: Some(if error.is_some() { 503 } else { 200 }),
        usage: error.is_none().then(Usage::default),
        cost_usd: Some(0.1 + 0.2),
        error,
        concurrency_limit: None,
    }
}

fn failed() -> ErrorInfo {
    ErrorInfo {
        class: ErrorClass::ServerError,
        status: Some(503),
        message: "busy \"now\"".into(),
        code: None,
    }
}

fn text(line: &RenderedLine) -> &str {
    std::str::from_utf8(&line.main).unwrap()
}

#[test]
fn a_success_line_keeps_its_keys_in_order_byte_for_byte() {
    let outcome = Outcome {
        id: "a1".into(),
        line: 7,
        metadata: Some(json!({"k": 1})),
        attempts: vec![attempt("t1", 1, Some(failed())), attempt("t2", 1, None)],
        result: Ok(Success {
            target: "t2".into(),
            model: "m".into(),
            status: 200,
            request_id: None,
            body: crate::record::raw_body(&json!({"id": "x", "choices": []})),
            usage: Usage {
                input_tokens: 10,
                cached_input_tokens: 2,
                cache_write_tokens: 0,
                output_tokens: 5,
            },
            latency: Duration::from_millis(500),
            ttft: None,
            stream: None,
            cost_usd: Some(0.1 + 0.2),
            cache_hit: Some(CacheHit { saved_usd: None }),
        }),
    };
    let line = render(&outcome, true).unwrap();
    assert_eq!(
        text(&line),
        concat!(
            r#"{"id":"sheepdog-7","custom_id":"a1","response":{"status_code":200,"request_id":"req_sheepdog_7_2","#,
            r#""body":{"id":"x","choices":[]}},"error":null,"sheepdog":{"line":7,"attempts":2,"fallbacks":1,"#,
            r#""targets_tried":[{"target":"t1","attempts":1,"result":"server_error"},{"target":"t2","attempts":1,"#,
            r#""result":"ok"}],"attempt_log":[{"target":"t1","model":"m","status":503,"error_class":"server_error","#,
            r#""latency_ms":2250.5,"sent_ms":1.5},{"target":"t2","model":"m","status":200,"error_class":null,"#,
            r#""latency_ms":2250.5,"sent_ms":1.5}],"target":"t2","model":"m","latency_ms":500.0,"ttft_ms":null,"#,
            r#""itl_ms":null,"tpot_ms":null,"input_tokens":10,"cached_input_tokens":2,"output_tokens":5,"#,
            r#""output_tokens_estimated":false,"output_tokens_per_s":10.0,"cost_usd":0.3,"cache_hit":true,"#,
            r#""saved_usd":null,"metadata":{"k":1},"unfinished":true}}"#,
            "\n"
        )
    );
    assert_eq!(result_line(&outcome)["sheepdog"]["cache_hit"], true);
}

#[test]
fn a_failed_line_and_its_openai_sidecar_keep_their_shape() {
    let outcome = Outcome {
        id: "b2".into(),
        line: 3,
        metadata: None,
        attempts: vec![attempt("t1", 1, Some(failed())), attempt("t1", 2, Some(failed()))],
        result: Err(failed()),
    };
    let line = render(&outcome, false).unwrap();
    assert_eq!(
        text(&line),
        concat!(
            r#"{"id":"sheepdog-3","custom_id":"b2","response":{"status_code":503,"request_id":"req_sheepdog_3_2","#,
            r#""body":{"error":{"message":"busy \"now\"","code":null}}},"error":{"code":"server_error","#,
            r#""message":"busy \"now\""},"sheepdog":{"line":3,"attempts":2,"fallbacks":0,"targets_tried":"#,
            r#"[{"target":"t1","attempts":2,"result":"server_error"}],"attempt_log":[{"target":"t1","model":"m","#,
            r#""status":503,"error_class":"server_error","latency_ms":2250.5,"sent_ms":1.5},{"target":"t1","#,
            r#""model":"m","status":503,"error_class":"server_error","latency_ms":2250.5,"sent_ms":1.5}],"#,
            r#""target":"t1","model":"m","error_class":"server_error","error_status":503,"cost_usd":0.0}}"#,
            "\n"
        )
    );
    let openai = render_as(&outcome, false, OutputFormat::OpenAi).unwrap();
    assert!(!text(&openai).contains("\"sheepdog\""), "{}", text(&openai));
    let sidecar: Value = serde_json::from_slice(openai.sidecar.as_deref().unwrap()).unwrap();
    assert_eq!(sidecar["line"], 3);
    assert_eq!(sidecar["file"], "errors");
    assert_eq!(sidecar["sheepdog"]["attempt_log"][1]["error_class"], "server_error");
    let extended = render_extended(&outcome, "batch_req_1", json!({"via": "batch_api"})).unwrap();
    assert!(
        text(&extended).starts_with(r#"{"id":"batch_req_1","#),
        "{}",
        text(&extended)
    );
    assert!(
        text(&extended).ends_with("\"cost_usd\":0.0,\"via\":\"batch_api\"}}\n"),
        "{}",
        text(&extended)
    );
}

fn answered(body: crate::record::JsonText) -> Outcome {
    Outcome {
        id: "c3".into(),
        line: 4,
        metadata: None,
        attempts: vec![attempt("t1", 1, None)],
        result: Ok(Success {
            target: "t1".into(),
            model: "m".into(),
            status: 200,
            request_id: Some("req-1".into()),
            body,
            usage: Usage::default(),
            latency: Duration::from_millis(20),
            ttft: None,
            stream: None,
            cost_usd: None,
            cache_hit: None,
        }),
    }
}

#[test]
fn a_body_kept_as_bytes_renders_the_line_its_value_rendered() {
    let compact = concat!(
        r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","#,
        r#""content":"a \"b\"\nç ✓"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1},"#,
        r#""score":0.5,"n":-2}"#
    );
    let outcome = answered(serde_json::from_str(compact).unwrap());
    let line = render(&outcome, false).unwrap();
    // The line as it was written when the body was a `Value` (parsed, then serialized).
    let mut before = serde_json::to_string(&result_line(&outcome)).unwrap();
    before.push('\n');
    assert_eq!(text(&line), before);
    assert!(text(&line).contains(compact), "{}", text(&line));
    let openai = render_as(&outcome, false, OutputFormat::OpenAi).unwrap();
    let mut before = serde_json::to_string(&result_line(&outcome)).unwrap();
    before.replace_range(before.find(r#","sheepdog":"#).unwrap()..before.len() - 1, "");
    before.push('\n');
    assert_eq!(text(&openai), before);
}

#[test]
fn a_body_with_spaces_is_embedded_as_it_came_in_one_valid_line() {
    let spaced = r#"{ "choices": [ {"message": {"content": "x  y"}} ],  "n": 1.50 }"#;
    let line = render(&answered(serde_json::from_str(spaced).unwrap()), false).unwrap();
    assert!(text(&line).contains(spaced), "{}", text(&line));
    assert_eq!(text(&line).matches('\n').count(), 1);
    assert!(text(&line).ends_with('\n'));
    let parsed: Value = serde_json::from_str(text(&line)).unwrap();
    assert_eq!(
        parsed["response"]["body"],
        json!({"choices": [{"message": {"content": "x  y"}}], "n": 1.5})
    );
}

/// The hand-written line of a succeeded item against the line `serde` writes from its
/// `ItemLine`, over outcomes that vary every field it writes.
#[test]
fn a_succeeded_line_written_by_hand_is_the_line_serde_writes() {
    use crate::record::StreamTiming;
    let ids = ["a1", "quote \" and \\ back", "tab\tnew\nline\u{1}", "żółw 🐢 \u{2028}"];
    let mut checked = 0;
    for (n, id) in ids.iter().enumerate() {
        for variant in 0..8u32 {
            let bit = |b: u32| variant & (1 << b) != 0;
            let mut attempts = vec![attempt(id, 1, Some(failed()))];
            if bit(0) {
                let mut lost = attempt(
                    "t\"2",
                    1,
                    Some(ErrorInfo {
                        status: None,
                        ..failed()
                    }),
                );
                lost.status = None;
                attempts.push(lost);
            }
            let mut last = attempt("t3", 2, None);
            last.model = format!("model {id}");
            last.latency = Duration::from_nanos(1_234_567_891);
            attempts.push(last);
            let stream = StreamTiming {
                itl: Some(Duration::from_micros(5_010)),
                tpot: bit(1).then(|| Duration::from_nanos(4_999_999)),
                content_chunks: 20,
                output_tokens_estimated: bit(2),
            };
            let outcome = Outcome {
                id: id.to_string(),
                line: 10u64.pow(n as u32 * 5),
                metadata: bit(1).then(|| json!({"k": [1, 2.5, null], "who": id, "z": {"": true}})),
                attempts,
                result: Ok(Success {
                    target: format!("t3 {id}"),
                    model: "m".into(),
                    status: 200 + n as u16,
                    request_id: bit(2).then(|| format!("req {id}")),
                    body: crate::record::raw_body(&json!({"id": id, "choices": [{"n": 1e-7}]})),
                    usage: Usage {
                        input_tokens: 1_000_000 * n as u64,
                        cached_input_tokens: 7,
                        cache_write_tokens: 3,
                        output_tokens: if bit(0) { 0 } else { 321 },
                    },
                    latency: if bit(1) {
                        Duration::ZERO
                    } else {
                        Duration::from_micros(987_654)
                    },
                    ttft: bit(0).then(|| Duration::from_micros(200_123)),
                    stream: bit(0).then_some(stream),
                    cost_usd: [None, Some(0.1 + 0.2), Some(1.2345678901234e-5), Some(0.0)][n],
                    cache_hit: match variant % 3 {
                        0 => None,
                        1 => Some(CacheHit { saved_usd: None }),
                        _ => Some(CacheHit {
                            saved_usd: Some(0.000_075_6),
                        }),
                    },
                }),
            };
            for unfinished in [false, true] {
                let by_hand = render(&outcome, unfinished).unwrap();
                let by_serde = with_newline(&item_line(&outcome, unfinished)).unwrap();
                assert_eq!(text(&by_hand), std::str::from_utf8(&by_serde).unwrap());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 64);
}
