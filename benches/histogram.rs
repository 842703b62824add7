//! Micro-benchmarks of the statistics path: recording a latency in an HdrHistogram, and the
//! merge of serialized histograms that `sheepdog merge` does. `cargo bench --bench histogram`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sheepdog::stats::{decode_histogram, encode_histogram, new_histogram, percentiles, record_duration, record_us};

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(1));
    let mut h = new_histogram();
    let mut us = 1u64;
    group.bench_function("record_us", |b| {
        b.iter(|| {
            us = us.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            record_us(&mut h, black_box(us % 60_000_000));
        })
    });
    let mut h = new_histogram();
    group.bench_function("record_duration", |b| {
        b.iter(|| record_duration(&mut h, black_box(Duration::from_micros(48_213))))
    });
    group.finish();

    // Eight shards of 100,000 latencies each, serialized as in summary.json.
    let shards: Vec<String> = (0..8u64)
        .map(|s| {
            let mut h = new_histogram();
            for i in 0..100_000u64 {
                record_us(&mut h, 1_000 + (i * 7919 + s * 104_729) % 5_000_000);
            }
            encode_histogram(&h).expect("encode")
        })
        .collect();
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(shards.len() as u64));
    group.bench_function("decode_add_percentiles_8_shards", |b| {
        b.iter(|| {
            let mut all = new_histogram();
            for s in &shards {
                all.add(decode_histogram(s).expect("decode")).expect("add");
            }
            black_box(percentiles(&all))
        })
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
