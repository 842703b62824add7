//! Micro-benchmarks of a request's own work on its way through `sheepdog run`: an input line
//! parsed and its request body written (short and long prompts), an answer's bytes read and its
//! result line rendered, and a streamed chunk read the way the client reads it.
//! `cargo bench --bench request_path`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sheepdog::input::parse_line;
use sheepdog::output::render;
use sheepdog::provider::stream::{Assembler, ChunkView};
use sheepdog::provider::{read_answer, ApiEndpoint, Client, Endpoint};
use sheepdog::record::{Attempt, Outcome, Success};

const SHORT: &str = r#"{"id":"p7","messages":[{"role":"user","content":"Summarise item 7 of the benchmark in one sentence, please."}],"max_tokens":32}"#;

const ANSWER: &str = r#"{"id":"chatcmpl-mock-7","object":"chat.completion","created":1796009359,"model":"gpt-4.1-mini","system_fingerprint":"fp_mock","choices":[{"index":0,"message":{"role":"assistant","content":"Item 7 of the benchmark is summarised here in one short sentence, as asked.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":21,"completion_tokens":16,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default"}"#;

const CHUNK: &str = r#"{"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1796009359,"model":"gpt-4.1-mini","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":{"content":" valley"},"logprobs":null,"finish_reason":null}],"usage":null}"#;

fn item(line: &str) -> sheepdog::input::WorkItem {
    match parse_line(line.as_bytes(), 1) {
        Ok(item) => item,
        Err(_) => panic!("the benchmark's line parses"),
    }
}

fn request(c: &mut Criterion) {
    let client = Client::new(1).expect("an HTTP client");
    let long_line = format!(
        r#"{{"id":"long","messages":[{{"role":"user","content":"{}"}}],"max_tokens":1000}}"#,
        "the quick brown fox jumps over the lazy dog ".repeat(9_300)
    );
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.bench_function("short_line_to_body_bytes", |b| {
        b.iter(|| {
            let item = item(black_box(SHORT));
            client.encode(item.endpoint, &item.body, "gpt-4.1-mini")
        })
    });
    let long = item(&long_line);
    group.throughput(Throughput::Bytes(long_line.len() as u64));
    group.bench_function("long_prompt_body_bytes_400kb", |b| {
        b.iter(|| client.encode(long.endpoint, black_box(&long.body), "gpt-4.1-mini"))
    });
    group.finish();
}

fn answer(c: &mut Criterion) {
    let endpoint = Endpoint::new("bench", "http://127.0.0.1:9/v1", None);
    let mut group = c.benchmark_group("answer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("bytes_to_result_line", |b| {
        b.iter(|| {
            let Ok(reply) = read_answer(ApiEndpoint::Chat, black_box(ANSWER.as_bytes()), &endpoint) else {
                panic!("the benchmark's answer reads");
            };
            let attempt = Attempt {
                target: "mock".into(),
                model: "gpt-4.1-mini".into(),
                number: 1,
                sent_at: Duration::from_millis(5),
                latency: reply.latency,
                ttft: None,
                stream: None,
                status: Some(reply.status),
                usage: Some(reply.usage),
                cost_usd: Some(0.0001),
                error: None,
                concurrency_limit: None,
            };
            let outcome = Outcome {
                id: "p7".into(),
                line: 7,
                metadata: None,
                attempts: vec![attempt],
                result: Ok(Success {
                    target: "mock".into(),
                    model: "gpt-4.1-mini".into(),
                    status: reply.status,
                    request_id: reply.request_id,
                    body: reply.body,
                    usage: reply.usage,
                    latency: reply.latency,
                    ttft: None,
                    stream: None,
                    cost_usd: Some(0.0001),
                    cache_hit: None,
                }),
            };
            black_box(render(&outcome, false)).is_ok()
        })
    });
    group.bench_function("stream_chunk_view", |b| {
        b.iter(|| ChunkView::parse(black_box(CHUNK)).is_some())
    });
    // The next chunk of the same shape: matched against the last one's bytes, not parsed.
    group.bench_function("stream_chunk_repeat", |b| {
        let seen = || {
            let mut answer = Assembler::new();
            answer.push_data(CHUNK, Duration::ZERO);
            answer
        };
        b.iter_batched_ref(
            seen,
            |answer| answer.push_data(black_box(CHUNK), Duration::ZERO),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, request, answer);
criterion_main!(benches);
