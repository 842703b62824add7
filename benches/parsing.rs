//! Micro-benchmarks of the per-request parsing work: JSONL input lines (both formats, and the
//! whole streaming reader), the shard key of a line, and an SSE answer decoded and assembled
//! the way the streaming client does it. `cargo bench --bench parsing`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt as _;
use sheepdog::input::{line_key, parse_line, Reader};
use sheepdog::provider::stream::Assembler;
use sheepdog::shard::Shard;

const SHORT: &str = r#"{"id":"sum-002","prompt":"Summarise the following paragraph in one sentence: the quick brown fox jumps over the lazy dog, again and again, until the dog finally gets up and leaves.","max_tokens":64,"temperature":0.2,"metadata":{"batch":"b7"}}"#;
const BATCH: &str = r#"{"custom_id":"req-000123","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4.1-mini","messages":[{"role":"system","content":"You are a terse classifier."},{"role":"user","content":"Classify this support ticket as billing, bug or other: my invoice shows two charges for March."}],"max_tokens":8}}"#;

fn jsonl(c: &mut Criterion) {
    let mut group = c.benchmark_group("jsonl");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_line_short", |b| {
        b.iter(|| parse_line(black_box(SHORT.as_bytes()), 7))
    });
    group.bench_function("parse_line_batch", |b| {
        b.iter(|| parse_line(black_box(BATCH.as_bytes()), 7))
    });
    group.bench_function("shard_key", |b| b.iter(|| line_key(black_box(BATCH.as_bytes()), 7)));
    group.finish();

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("input.jsonl");
    let lines = 10_000u64;
    let text: String = (0..lines)
        .map(|i| {
            let line = if i % 2 == 0 { SHORT } else { BATCH };
            line.replace("sum-002", &format!("s-{i}"))
                .replace("req-000123", &format!("b-{i}"))
                + "\n"
        })
        .collect();
    std::fs::write(&path, text).expect("write input");
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Elements(lines));
    group.bench_function("10k_lines", |b| {
        b.iter(|| Reader::open(&path).expect("open").filter(|e| e.is_ok()).count())
    });
    group.bench_function("10k_lines_shard_1_of_4", |b| {
        b.iter(|| {
            let shard = Some(Shard { index: 1, count: 4 });
            Reader::open(&path).expect("open").with_shard(shard).count()
        })
    });
    group.finish();

    // Long prompts: 50 lines of about 400 KB, a long-context bench's input.
    let long = dir.path().join("long.jsonl");
    let words = ["alpha ", "river ", "stone ", "light ", "cloud "]
        .concat()
        .repeat(16_000);
    let text: String = (0..50)
        .map(|i| format!("{{\"id\":\"long-{i}\",\"messages\":[{{\"role\":\"user\",\"content\":\"{i} {words}\"}}]}}\n"))
        .collect();
    std::fs::write(&long, text).expect("write long input");
    let mut group = c.benchmark_group("reader_long");
    group.throughput(Throughput::Bytes(
        std::fs::metadata(&long).map(|m| m.len()).unwrap_or(0),
    ));
    group.sample_size(20);
    group.bench_function("50_lines_of_400kb", |b| {
        b.iter(|| Reader::open(&long).expect("open").filter(|e| e.is_ok()).count())
    });
    group.finish();
}

/// A streamed answer of `chunks` content chunks, a usage chunk and `[DONE]`, as the server
/// sends it, cut into network reads of 1 KiB.
fn sse_body(chunks: usize) -> Vec<Vec<u8>> {
    let mut body = String::new();
    for i in 0..chunks {
        let chunk = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "delta": {"content": format!("word{i} ")}, "finish_reason": null}]
        });
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    let last = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": chunks, "total_tokens": 20 + chunks}
    });
    body.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
    body.into_bytes().chunks(1024).map(<[u8]>::to_vec).collect()
}

fn sse(c: &mut Criterion) {
    let reads = sse_body(64);
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Elements(66));
    group.bench_function("decode_and_assemble_64_chunks", |b| {
        b.iter(|| {
            let bytes = futures::stream::iter(reads.iter().map(|r| Ok::<_, std::io::Error>(r.as_slice())));
            let mut events = Box::pin(sse_stream::SseByteStream::new(bytes));
            let mut answer = Assembler::new();
            futures::executor::block_on(async {
                while let Some(Ok(event)) = events.next().await {
                    let Some(data) = event.data.as_deref().map(str::trim) else {
                        continue;
                    };
                    if data == "[DONE]" {
                        break;
                    }
                    answer.push_data(data, Duration::ZERO);
                }
            });
            black_box(answer.finished())
        })
    });
    group.finish();
}

criterion_group!(benches, jsonl, sse);
criterion_main!(benches);
