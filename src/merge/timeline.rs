//! Throughput over time of several shards on one wall-clock axis: each shard's buckets are moved
//! by the shard's start offset and counted in the bucket of the merged timeline that holds their
//! start. The merged buckets are as wide as the widest shard's (100 ms × 2^k), doubled until
//! they fit in [`MAX_BUCKETS`]; a shard whose offset is not a multiple of that width is placed
//! to within one bucket.

use std::time::Duration;

use crate::stats::timeline::{Timeline, MAX_BUCKETS};

/// Combines `(offset, timeline)` pairs.
pub fn combine(parts: &[(Duration, &Timeline)]) -> Timeline {
    let mut merged = Timeline::default();
    let mut width = parts
        .iter()
        .map(|(_, t)| t.bucket_ms)
        .max()
        .unwrap_or(merged.bucket_ms)
        .max(1);
    let offset_ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let end = parts
        .iter()
        .map(|(offset, t)| offset_ms(offset).saturating_add(t.bucket_ms.saturating_mul(t.len() as u64)))
        .max()
        .unwrap_or(0);
    while end.div_ceil(width) > MAX_BUCKETS as u64 {
        width = width.saturating_mul(2);
    }
    merged.bucket_ms = width;
    let tracked = parts.iter().any(|(_, t)| !t.max_concurrency_limit.is_empty());
    for (offset, t) in parts {
        for i in 0..t.len() {
            let start = offset_ms(offset).saturating_add(t.bucket_ms.saturating_mul(i as u64));
            let j = usize::try_from(start / width)
                .unwrap_or(MAX_BUCKETS - 1)
                .min(MAX_BUCKETS - 1);
            if merged.ok.len() <= j {
                merged.ok.resize(j + 1, 0);
                merged.failed.resize(j + 1, 0);
                merged.output_tokens.resize(j + 1, 0);
                if tracked {
                    merged.max_concurrency_limit.resize(j + 1, None);
                }
            }
            merged.ok[j] += t.ok.get(i).copied().unwrap_or(0);
            merged.failed[j] += t.failed.get(i).copied().unwrap_or(0);
            merged.output_tokens[j] += t.output_tokens.get(i).copied().unwrap_or(0);
            if let Some(Some(limit)) = t.max_concurrency_limit.get(i) {
                let slot = &mut merged.max_concurrency_limit[j];
                // Shards run side by side: their limits add up.
                *slot = Some(slot.unwrap_or(0).saturating_add(*limit));
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(bucket_ms: u64, ok: &[u64]) -> Timeline {
        Timeline {
            bucket_ms,
            ok: ok.to_vec(),
            failed: vec![0; ok.len()],
            output_tokens: ok.iter().map(|n| n * 10).collect(),
            max_concurrency_limit: Vec::new(),
        }
    }

    #[test]
    fn shards_line_up_by_their_start_and_keep_every_count() {
        let a = timeline(100, &[1, 2, 3]);
        let b = timeline(200, &[5, 7]);
        let merged = combine(&[(Duration::ZERO, &a), (Duration::from_millis(200), &b)]);
        assert_eq!(merged.bucket_ms, 200);
        // a: [0,100)→0, [100,200)→0, [200,300)→1; b: [200,400)→1, [400,600)→2.
        assert_eq!(merged.ok, vec![3, 8, 7]);
        assert_eq!(merged.output_tokens.iter().sum::<u64>(), 180);
        assert!(merged.max_concurrency_limit.is_empty());
    }

    #[test]
    fn long_spans_widen_to_fit() {
        let a = timeline(100, &[1; 300]);
        let merged = combine(&[(Duration::ZERO, &a), (Duration::from_secs(3600), &a)]);
        assert!(merged.len() <= MAX_BUCKETS);
        assert_eq!(merged.ok.iter().sum::<u64>(), 600);
        assert_eq!(merged.bucket_ms % 100, 0);
    }
}
