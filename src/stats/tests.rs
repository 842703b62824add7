use super::fixture;
use super::summary::{ErrorScope, Percentiles, Tokens};
use super::*;
use crate::record::ErrorClass::*;

fn approx(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-12
}

/// Within HdrHistogram precision (3 significant figures), in ms.
fn near(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected * 0.002 + 0.001
}

#[test]
fn counts_and_success_rate() {
    let s = fixture::summary();
    let t = &s.totals;
    assert_eq!(t.lines, 8);
    assert_eq!(t.rejected, 1);
    assert_eq!(t.attempted, 7);
    assert_eq!(t.succeeded, 5);
    assert_eq!(t.failed, 2);
    assert_eq!(t.unsent, 0);
    assert_eq!(t.requests, 11);
    // The fallback's first try at the next target is not a retry.
    assert_eq!(t.retries, 3);
    assert_eq!(t.fallbacks, 1);
    assert!(approx(t.success_rate, 5.0 / 7.0), "{}", t.success_rate);
    assert!(approx(t.items_per_s, 3.5), "{}", t.items_per_s);
    assert!(approx(t.requests_per_s, 5.5), "{}", t.requests_per_s);
}

#[test]
fn unsent_is_reported_as_given() {
    let s = fixture::collector().finish(fixture::job(2.0), 20, 12);
    assert_eq!(s.totals.lines, 20);
    assert_eq!(s.totals.unsent, 12);
}

#[test]
fn tokens_and_cost_are_summed_over_attempts_with_usage() {
    let s = fixture::summary();
    assert_eq!(
        s.tokens,
        Tokens {
            input: 1000 + 2000 + 500 + 800 + 300,
            cached_input: 200 + 100,
            output: 100 + 200 + 50 + 80 + 30,
        }
    );
    assert!(approx(s.cost.total_usd, 0.001 + 0.002 + 0.0005 + 0.004));
}

#[test]
fn unpriced_requests_are_counted_never_as_zero() {
    let s = fixture::summary();
    assert_eq!(s.cost.unpriced_requests, 1);
    assert_eq!(s.cost.unpriced_models, vec!["llama-free".to_string()]);
    let local = s.targets.iter().find(|t| t.name == "local").unwrap();
    assert_eq!(local.cost_usd, None);
    let deepseek = s.targets.iter().find(|t| t.name == "deepseek").unwrap();
    assert!(approx(deepseek.cost_usd.unwrap(), 0.0035));
}

#[test]
fn unpriced_models_are_sorted_and_unique() {
    let mut c = Collector::new(fixture::targets());
    for (id, target) in [("x", "zeta"), ("y", "alpha"), ("z", "zeta")] {
        let mut outcome = fixture::succeeded(
            id,
            vec![],
            fixture::ok("local", 1, 10, None, fixture::usage(1, 0, 1), None),
        );
        outcome.attempts[0].model = target.into();
        c.record(&outcome);
    }
    let s = c.finish(fixture::job(1.0), 3, 0);
    assert_eq!(s.cost.unpriced_requests, 3);
    assert_eq!(s.cost.unpriced_models, vec!["alpha", "zeta"]);
}

#[test]
fn error_rows_by_scope_class_and_status_sorted() {
    let s = fixture::summary();
    let rows: Vec<_> = s.errors.iter().map(|e| (e.scope, e.class, e.status, e.count)).collect();
    use ErrorScope::*;
    assert_eq!(
        rows,
        vec![
            (Attempts, Timeout, None, 2),
            (Attempts, ServerError, Some(503), 2),
            (Attempts, RateLimited, Some(429), 1),
            (Attempts, BadRequest, Some(400), 1),
            (Items, Timeout, None, 1),
            (Items, BadRequest, Some(400), 1),
            (Items, InvalidInput, None, 1),
        ]
    );
}

#[test]
fn attempts_per_item_distribution() {
    let s = fixture::summary();
    // a1 a2 a5 a7 took one attempt, a3 a6 two, a4 three.
    assert_eq!(s.attempts_per_item, vec![4, 2, 1]);
}

#[test]
fn per_target_rows_in_given_order() {
    let s = fixture::summary();
    let names: Vec<_> = s.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["deepseek", "gpt41", "local"]);

    let d = &s.targets[0];
    assert_eq!(d.provider, "holysheep");
    assert_eq!(d.model, "deepseek-chat");
    assert_eq!(
        (d.requests, d.succeeded, d.failed_requests, d.failed_items, d.retries),
        (8, 3, 5, 1, 3)
    );
    assert_eq!(d.latency_ms.count, 3);
    assert!(near(d.latency_ms.p50, 200.0), "{}", d.latency_ms.p50);
    assert!(near(d.latency_ms.max, 300.0), "{}", d.latency_ms.max);
    assert_eq!(
        (d.tokens.input, d.tokens.cached_input, d.tokens.output),
        (3500, 200, 350)
    );

    let g = &s.targets[1];
    assert_eq!(
        (g.requests, g.succeeded, g.failed_requests, g.failed_items, g.retries),
        (2, 1, 1, 1, 0)
    );
    assert!(near(g.latency_ms.max, 400.0));
    assert!(approx(g.cost_usd.unwrap(), 0.004));
}

#[test]
fn unknown_target_is_appended() {
    let mut c = Collector::new(fixture::targets()[..1].to_vec());
    c.record(&fixture::succeeded(
        "b1",
        vec![fixture::failed_attempt(
            "gpt41",
            1,
            fixture::error(ServerError, Some(500)),
        )],
        fixture::ok("mystery", 1, 10, None, fixture::usage(1, 0, 1), Some(0.1)),
    ));
    let s = c.finish(fixture::job(1.0), 1, 0);
    let rows: Vec<_> = s
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.provider.as_str(), t.model.as_str(), t.requests))
        .collect();
    assert_eq!(
        rows,
        [
            ("deepseek", "holysheep", "deepseek-chat", 0),
            ("gpt41", "", "gpt-4.1", 1),
            ("mystery", "", "other-model", 1),
        ]
    );
    assert_eq!(s.targets[2].succeeded, 1);
}

#[test]
fn latency_and_ttft_percentiles_of_succeeded_items() {
    let s = fixture::summary();
    let l = &s.latency_ms;
    assert_eq!(l.count, 5);
    assert!(near(l.min, 100.0), "{}", l.min);
    assert!(near(l.p50, 300.0), "{}", l.p50);
    assert!(near(l.max, 500.0), "{}", l.max);
    assert!(near(l.mean, 300.0), "{}", l.mean);
    let ttft = s.ttft_ms.as_ref().expect("two items were streamed");
    assert_eq!(ttft.count, 2);
    assert!(near(ttft.min, 20.0) && near(ttft.max, 40.0), "{ttft:?}");
}

#[test]
fn serialized_histograms_match_the_percentiles() {
    let s = fixture::summary();
    let latency = decode_histogram(&s.histograms.latency_us).unwrap();
    assert_eq!(percentiles(&latency), s.latency_ms);
    assert_eq!(&latency, fixture::collector().latency_histogram());
    let ttft = decode_histogram(s.histograms.ttft_us.as_deref().unwrap()).unwrap();
    assert_eq!(Some(percentiles(&ttft)), s.ttft_ms);
}

#[test]
fn live_counts_follow_records() {
    let mut c = Collector::new(fixture::targets());
    assert_eq!(c.live().done, 0);
    let outcomes = fixture::outcomes();
    c.record(&outcomes[3]);
    c.record(&outcomes[6]);
    let live = c.live();
    assert_eq!(
        (live.done, live.succeeded, live.failed, live.rejected, live.requests),
        (2, 1, 1, 0, 4)
    );
    assert!(approx(live.cost_usd, 0.004));
    let live = fixture::collector().live();
    assert_eq!((live.done, live.rejected), (8, 1));
}

#[test]
fn empty_run_has_no_nan() {
    let s = fixture::empty_summary();
    assert_eq!(s.totals.success_rate, 0.0);
    assert_eq!(s.totals.items_per_s, 0.0);
    assert_eq!(s.totals.requests_per_s, 0.0);
    assert_eq!(s.latency_ms, Percentiles::default());
    assert_eq!(s.ttft_ms, None);
    assert_eq!(s.histograms.ttft_us, None);
    assert!(s.targets.is_empty() && s.errors.is_empty() && s.attempts_per_item.is_empty());
    assert!(decode_histogram(&s.histograms.latency_us).unwrap().is_empty());
    // Every float survives JSON (NaN would become null).
    let json = serde_json::to_string(&s).unwrap();
    assert!(!json.contains("null"), "{json}");
}

#[test]
fn nan_duration_or_nan_price_do_not_poison_the_summary() {
    let mut c = Collector::new(fixture::targets());
    c.record(&fixture::succeeded(
        "n1",
        vec![],
        fixture::ok("deepseek", 1, 10, None, fixture::usage(1, 0, 1), Some(f64::NAN)),
    ));
    let s = c.finish(fixture::job(f64::NAN), 1, 0);
    assert_eq!(s.totals.items_per_s, 0.0);
    assert_eq!(s.cost.total_usd, 0.0);
    assert_eq!(s.cost.unpriced_requests, 1);
    assert_eq!(s.targets[0].cost_usd, None);
}

#[test]
fn repeated_target_names_are_kept_once() {
    let mut targets = fixture::targets();
    targets.push(targets[0].clone());
    let s = Collector::new(targets).finish(fixture::job(1.0), 0, 0);
    assert_eq!(s.targets.len(), 3);
}

#[test]
fn what_the_dispatcher_saw_lands_in_its_targets_row() {
    let name = fixture::targets()[0].name.clone();
    let dispatch = DispatchReport {
        targets: vec![TargetDispatch {
            name: name.clone(),
            breaker_openings: 3,
            slowdowns: 2,
            pacing: summary::TargetPacing {
                learned_rpm: Some(120.0),
                retry_after_wait_s: 1.5,
                ..Default::default()
            },
        }],
        budget: None,
    };
    let s = fixture::collector().finish_with(fixture::job(2.0), 20, 0, &dispatch);
    let row = s.targets.iter().find(|t| t.name == name).unwrap();
    assert_eq!((row.breaker_openings, row.slowdowns), (3, 2));
    assert_eq!(row.pacing.learned_rpm, Some(120.0));
    assert_eq!(row.pacing.retry_after_wait_s, 1.5);
    let others: Vec<_> = s.targets.iter().filter(|t| t.name != name).collect();
    assert!(
        !others.is_empty()
            && others
                .iter()
                .all(|t| t.breaker_openings == 0 && t.pacing == Default::default())
    );
}
