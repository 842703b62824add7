//! Merging the summaries of shards gives the summary of one run over the same requests.

use std::time::Duration;

use super::summary::{merge, Part};
use crate::record::{ErrorClass, Outcome, Rejected};
use crate::shard::shard_of;
use crate::stats::fixture::{error, failed, failed_attempt, job, ok, succeeded, targets, usage};
use crate::stats::summary::Summary;
use crate::stats::{decode_histogram, Collector};

/// 3,000 items with latencies spread over four decades, some streamed, retried, fallen back or
/// failed, plus rejected lines: a deterministic pseudo-random mix.
fn outcomes() -> (Vec<Outcome>, Vec<Rejected>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut outcomes = Vec::new();
    for i in 0..3000u64 {
        let id = format!("item-{i}");
        let r = next();
        let latency = 1 + r % 20_000 + (r >> 20) % 7 * 1000;
        let ttft = (r % 3 == 0).then_some(latency / 4 + 1);
        let cost = Some((r % 1000) as f64 * 1e-6);
        let outcome = match r % 10 {
            0 => failed(
                &id,
                vec![
                    failed_attempt("deepseek", 1, error(ErrorClass::Timeout, None)),
                    failed_attempt("deepseek", 2, error(ErrorClass::ServerError, Some(503))),
                ],
            ),
            1 => succeeded(
                &id,
                vec![failed_attempt("deepseek", 1, error(ErrorClass::RateLimited, Some(429)))],
                ok("gpt41", 1, latency, ttft, usage(r % 900, r % 50, r % 300), cost),
            ),
            2 => succeeded(&id, vec![], ok("local", 1, latency, None, usage(10, 0, 5), None)),
            _ => succeeded(
                &id,
                vec![],
                ok("deepseek", 1, latency, ttft, usage(r % 900, 0, r % 300), cost),
            ),
        };
        outcomes.push(outcome);
    }
    let rejected = (0..40)
        .map(|n| Rejected {
            id: (n % 2 == 0).then(|| format!("bad-{n}")),
            line: 5000 + n,
            reason: "not valid JSON".into(),
        })
        .collect();
    (outcomes, rejected)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn merged_shards_equal_one_run_over_the_same_requests() {
    let (outcomes, rejected) = outcomes();
    let count = 3;
    let mut single = Collector::new(targets());
    let mut shards: Vec<Collector> = (0..count).map(|_| Collector::new(targets())).collect();
    for outcome in &outcomes {
        single.record(outcome);
        shards[shard_of(&outcome.id, count) as usize].record(outcome);
    }
    for r in &rejected {
        single.record_rejected(r);
        let key = r.id.clone().unwrap_or_else(|| format!("line-{}", r.line));
        shards[shard_of(&key, count) as usize].record_rejected(r);
    }
    let lines = (outcomes.len() + rejected.len()) as u64;
    let whole: Summary = single.finish(job(10.0), lines, 0);
    let finished: Vec<Summary> = shards
        .iter()
        .map(|c| {
            let live = c.live();
            c.finish(job(10.0), live.done, 0)
        })
        .collect();
    assert!(finished.iter().all(|s| s.totals.lines > 900), "the shards are all used");
    let parts: Vec<Part<'_>> = finished
        .iter()
        .enumerate()
        .map(|(i, summary)| Part {
            name: format!("shard {i}/{count}"),
            summary,
            offset: Duration::ZERO,
        })
        .collect();
    let merged = merge(&parts, job(10.0)).unwrap();

    // Counts, rates and percentiles: exactly those of the single run.
    assert_eq!(merged.totals.lines, whole.totals.lines);
    let mut totals = merged.totals.clone();
    totals.items_per_s = whole.totals.items_per_s;
    assert_eq!(totals, whole.totals);
    assert!(close(merged.totals.items_per_s, whole.totals.items_per_s));
    assert_eq!(merged.latency_ms, whole.latency_ms);
    assert_eq!(merged.ttft_ms, whole.ttft_ms);
    assert!(merged.ttft_ms.is_some());
    assert_eq!((&merged.itl_ms, &merged.tpot_ms), (&whole.itl_ms, &whole.tpot_ms));
    assert_eq!(merged.tokens, whole.tokens);
    assert_eq!(merged.errors, whole.errors);
    assert_eq!(merged.attempts_per_item, whole.attempts_per_item);
    assert_eq!(merged.cost.unpriced_requests, whole.cost.unpriced_requests);
    assert_eq!(merged.cost.unpriced_models, whole.cost.unpriced_models);
    assert!(
        close(merged.cost.total_usd, whole.cost.total_usd),
        "{} {}",
        merged.cost.total_usd,
        whole.cost.total_usd
    );
    assert_eq!(merged.targets.len(), whole.targets.len());
    for (m, w) in merged.targets.iter().zip(&whole.targets) {
        assert_eq!(
            (&m.name, m.requests, m.succeeded, m.failed_requests),
            (&w.name, w.requests, w.succeeded, w.failed_requests)
        );
        assert_eq!(
            (m.failed_items, m.retries, m.fallbacks_in, m.fallbacks_out),
            (w.failed_items, w.retries, w.fallbacks_in, w.fallbacks_out)
        );
        assert_eq!((&m.latency_ms, &m.tokens), (&w.latency_ms, &w.tokens));
        match (m.cost_usd, w.cost_usd) {
            (Some(a), Some(b)) => assert!(close(a, b)),
            (a, b) => assert_eq!(a, b, "target {}", m.name),
        }
    }
    // The merged histograms are the single run's, value for value.
    let values = |s: &Summary| {
        let h = decode_histogram(&s.histograms.latency_us).unwrap();
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&merged), values(&whole));
    assert_eq!(
        merged.timeline.ok.iter().sum::<u64>(),
        whole.timeline.ok.iter().sum::<u64>()
    );
}

#[test]
fn a_summary_without_its_histogram_is_refused_not_guessed() {
    let collector = crate::stats::fixture::collector();
    let mut summary = collector.finish(job(1.0), 8, 0);
    summary.histograms.latency_us = String::new();
    let parts = [Part {
        name: "shard 0/2 (x)".into(),
        summary: &summary,
        offset: Duration::ZERO,
    }];
    let error = merge(&parts, job(1.0)).unwrap_err();
    assert!(
        error.contains("shard 0/2 (x)") && error.contains("latency histogram"),
        "{error}"
    );
}
