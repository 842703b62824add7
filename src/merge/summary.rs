//! One summary from the summaries of a job's shards, exactly: counts, tokens and cost summed,
//! HdrHistograms decoded from `summary.json`, added, and read with the same percentile function
//! a single run uses, so the merged percentiles are those of one run over the same requests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::record::ErrorClass;
use crate::stats::summary::{
    ErrorCount, ErrorScope, Histograms, JobInfo, Summary, TargetHistogram, TargetSummary, Tokens, Totals,
    SCHEMA_VERSION,
};
use crate::stats::{decode_histogram, encode_histogram, new_histogram, percentiles};

/// One shard's summary and where its time axis starts on the merged one.
pub struct Part<'a> {
    /// Shown in messages, e.g. "shard 1/4 (reports/s1)".
    pub name: String,
    pub summary: &'a Summary,
    /// Its `job.started_at` after the earliest shard's.
    pub offset: Duration,
}

fn add(into: &mut Histogram<u64>, encoded: &str, part: &Part<'_>, what: &str) -> Result<(), String> {
    if encoded.trim().is_empty() {
        return Err(format!(
            "{}: summary.json has no {what} histogram, so it cannot be merged exactly",
            part.name
        ));
    }
    let h = decode_histogram(encoded).map_err(|e| format!("{}: summary.json, {what} histogram: {e}", part.name))?;
    into.add(&h)
        .map_err(|e| format!("{}: {what} histogram: {e:?}", part.name))
}

fn add_tokens(into: &mut Tokens, t: &Tokens) {
    into.input += t.input;
    into.cached_input += t.cached_input;
    into.output += t.output;
}

fn encode(h: &Histogram<u64>) -> String {
    encode_histogram(h).unwrap_or_default()
}

/// Merges `parts` (at least one) into the summary of the whole job. `job` is the merged job
/// description; its `duration_s` is the time the rates are computed over.
pub fn merge(parts: &[Part<'_>], job: JobInfo) -> Result<Summary, String> {
    let first = parts.first().ok_or("no shard to merge")?.summary;
    let mut latency = new_histogram();
    let mut streamed: [(Histogram<u64>, bool); 3] = [
        (new_histogram(), false),
        (new_histogram(), false),
        (new_histogram(), false),
    ];
    let mut totals = Totals::default();
    let mut tokens = Tokens::default();
    let mut cost = first.cost.clone();
    cost.total_usd = 0.0;
    cost.unpriced_requests = 0;
    let mut unpriced_models = BTreeSet::new();
    let mut errors: BTreeMap<(ErrorScope, ErrorClass, Option<u16>), u64> = BTreeMap::new();
    let mut attempts_per_item: Vec<u64> = Vec::new();
    let mut targets: Vec<(TargetSummary, Histogram<u64>)> = Vec::new();
    let mut cache = first.cache.clone();
    cache.hits = 0;
    cache.saved_usd = 0.0;
    let mut output_tokens_estimated = 0;

    for part in parts {
        let s = part.summary;
        add(&mut latency, &s.histograms.latency_us, part, "latency")?;
        let optional = [&s.histograms.ttft_us, &s.histograms.itl_us, &s.histograms.tpot_us];
        for ((h, present), (encoded, name)) in streamed
            .iter_mut()
            .zip(optional.into_iter().zip(["TTFT", "ITL", "TPOT"]))
        {
            if let Some(encoded) = encoded {
                add(h, encoded, part, name)?;
                *present = true;
            }
        }
        let t = &s.totals;
        totals.lines += t.lines;
        totals.rejected += t.rejected;
        totals.attempted += t.attempted;
        totals.succeeded += t.succeeded;
        totals.failed += t.failed;
        totals.unsent += t.unsent;
        totals.requests += t.requests;
        totals.retries += t.retries;
        totals.fallbacks += t.fallbacks;
        add_tokens(&mut tokens, &s.tokens);
        cost.total_usd += s.cost.total_usd;
        cost.unpriced_requests += s.cost.unpriced_requests;
        unpriced_models.extend(s.cost.unpriced_models.iter().cloned());
        for e in &s.errors {
            *errors.entry((e.scope, e.class, e.status)).or_insert(0) += e.count;
        }
        if attempts_per_item.len() < s.attempts_per_item.len() {
            attempts_per_item.resize(s.attempts_per_item.len(), 0);
        }
        for (into, n) in attempts_per_item.iter_mut().zip(&s.attempts_per_item) {
            *into += n;
        }
        cache.hits += s.cache.hits;
        cache.saved_usd += s.cache.saved_usd;
        output_tokens_estimated += s.output_tokens_estimated;
        for row in &s.targets {
            let index = match targets.iter().position(|(t, _)| t.name == row.name) {
                Some(index) => index,
                None => {
                    let mut empty = row.clone();
                    empty.requests = 0;
                    empty.succeeded = 0;
                    empty.failed_requests = 0;
                    empty.failed_items = 0;
                    empty.retries = 0;
                    empty.tokens = Tokens::default();
                    empty.cost_usd = Some(0.0);
                    empty.fallbacks_in = 0;
                    empty.fallbacks_out = 0;
                    empty.breaker_openings = 0;
                    empty.slowdowns = 0;
                    empty.pacing = Default::default();
                    targets.push((empty, new_histogram()));
                    targets.len() - 1
                }
            };
            let (into, histogram) = &mut targets[index];
            into.requests += row.requests;
            into.succeeded += row.succeeded;
            into.failed_requests += row.failed_requests;
            into.failed_items += row.failed_items;
            into.retries += row.retries;
            add_tokens(&mut into.tokens, &row.tokens);
            into.cost_usd = into.cost_usd.zip(row.cost_usd).map(|(a, b)| a + b);
            into.fallbacks_in += row.fallbacks_in;
            into.fallbacks_out += row.fallbacks_out;
            into.breaker_openings += row.breaker_openings;
            into.slowdowns += row.slowdowns;
            add_pacing(&mut into.pacing, &row.pacing);
            match s.histograms.targets.iter().find(|h| h.target == row.name) {
                Some(h) => add(
                    histogram,
                    &h.latency_us,
                    part,
                    &format!("target {:?} latency", row.name),
                )?,
                // A target with successful requests always has one (failed requests only: none).
                None if row.latency_ms.count > 0 => {
                    return Err(format!(
                        "{}: summary.json has no latency histogram for target {:?}, so it cannot be merged exactly",
                        part.name, row.name
                    ))
                }
                None => {}
            }
        }
    }

    let attempted = totals.attempted;
    let rate = |n: u64| {
        if job.duration_s.is_finite() && job.duration_s > 0.0 {
            n as f64 / job.duration_s
        } else {
            0.0
        }
    };
    totals.success_rate = if attempted == 0 {
        0.0
    } else {
        totals.succeeded as f64 / attempted as f64
    };
    totals.items_per_s = rate(attempted);
    totals.requests_per_s = rate(totals.requests);
    cost.unpriced_models = unpriced_models.into_iter().collect();

    let [(ttft, has_ttft), (itl, has_itl), (tpot, has_tpot)] = streamed;
    let shown = |h: &Histogram<u64>, present: bool| (present && !h.is_empty()).then(|| percentiles(h));
    let encoded = |h: &Histogram<u64>, present: bool| (present && !h.is_empty()).then(|| encode(h));
    let timelines: Vec<_> = parts.iter().map(|p| (p.offset, &p.summary.timeline)).collect();
    Ok(Summary {
        schema_version: SCHEMA_VERSION,
        sheepdog_version: env!("CARGO_PKG_VERSION").to_string(),
        job,
        totals,
        latency_ms: percentiles(&latency),
        ttft_ms: shown(&ttft, has_ttft),
        itl_ms: shown(&itl, has_itl),
        tpot_ms: shown(&tpot, has_tpot),
        output_tokens_estimated,
        thresholds: Vec::new(),
        batch_latency_ms: None,
        batch_api: None,
        budget: None,
        tokens,
        cost,
        errors: error_rows(errors),
        attempts_per_item,
        histograms: Histograms {
            latency_us: encode(&latency),
            ttft_us: encoded(&ttft, has_ttft),
            itl_us: encoded(&itl, has_itl),
            tpot_us: encoded(&tpot, has_tpot),
            targets: targets
                .iter()
                .filter(|(_, h)| !h.is_empty())
                .map(|(t, h)| TargetHistogram {
                    target: t.name.clone(),
                    latency_us: encode(h),
                })
                .collect(),
        },
        targets: targets
            .into_iter()
            .map(|(mut t, h)| {
                t.latency_ms = percentiles(&h);
                t
            })
            .collect(),
        timeline: super::timeline::combine(&timelines),
        cache,
    })
}

/// The collector's order: attempts scope first, then items; most frequent first, then by class
/// and status.
fn error_rows(errors: BTreeMap<(ErrorScope, ErrorClass, Option<u16>), u64>) -> Vec<ErrorCount> {
    let mut rows: Vec<ErrorCount> = errors
        .into_iter()
        .map(|((scope, class, status), count)| ErrorCount {
            scope,
            class,
            status,
            count,
        })
        .collect();
    rows.sort_by_key(|r| (r.scope, std::cmp::Reverse(r.count), r.class, r.status));
    rows
}

/// Adds one part's pacing figures of a target to the merged ones: counts and waits add up,
/// the learned rate is the last part's, the changes are kept in order.
fn add_pacing(into: &mut crate::stats::summary::TargetPacing, part: &crate::stats::summary::TargetPacing) {
    into.rate_limited_at_limit += part.rate_limited_at_limit;
    into.rate_limited_noise += part.rate_limited_noise;
    into.learned_rpm = part.learned_rpm.or(into.learned_rpm);
    into.learned_changes.extend(part.learned_changes.iter().cloned());
    into.learned_wait_s += part.learned_wait_s;
    into.retry_after_wait_s += part.retry_after_wait_s;
    into.breaker_wait_s += part.breaker_wait_s;
    into.retry_after_capped += part.retry_after_capped;
    into.max_retry_after_s = part.max_retry_after_s.or(into.max_retry_after_s);
}
