use std::time::Duration;

use super::*;
use crate::stats::fixture;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn outcomes_become_counters_by_target_status_and_class() {
    let metrics = Metrics::new();
    for outcome in fixture::outcomes() {
        metrics.observe(&outcome);
    }
    metrics.observe_rejected();
    metrics.set_input_lines(8);
    let text = metrics.render();
    let v = |series: &str| value(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(
        v(r#"sheepdog_requests_total{target="deepseek",status="200",class="ok"}"#),
        3.0
    );
    assert_eq!(
        v(r#"sheepdog_requests_total{target="deepseek",status="503",class="server_error"}"#),
        2.0
    );
    assert_eq!(
        v(r#"sheepdog_requests_total{target="deepseek",status="none",class="timeout"}"#),
        2.0
    );
    assert_eq!(v(r#"sheepdog_retries_total{target="deepseek"}"#), 3.0);
    assert_eq!(v(r#"sheepdog_fallbacks_total{from="deepseek",to="gpt41"}"#), 1.0);
    assert_eq!(v(r#"sheepdog_items_total{result="succeeded"}"#), 5.0);
    assert_eq!(v(r#"sheepdog_items_total{result="failed"}"#), 2.0);
    assert_eq!(v(r#"sheepdog_items_total{result="rejected"}"#), 1.0);
    assert_eq!(v(r#"sheepdog_tokens_total{target="deepseek",kind="input"}"#), 3500.0);
    assert!((v(r#"sheepdog_cost_usd_total{target="deepseek"}"#) - 0.0035).abs() < 1e-12);
    assert_eq!(v(r#"sheepdog_request_duration_seconds_count{target="deepseek"}"#), 3.0);
    assert_eq!(v(r#"sheepdog_time_to_first_token_seconds_count{target="gpt41"}"#), 1.0);
    assert_eq!(v("sheepdog_input_lines"), 8.0);
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn in_flight_gauge_follows_guards_and_waits_add_up() {
    let metrics = Metrics::new();
    let first = metrics.in_flight("t");
    let second = metrics.in_flight("t");
    assert_eq!(
        value(&metrics.render(), r#"sheepdog_requests_in_flight{target="t"}"#),
        Some(2.0)
    );
    drop((first, second));
    assert_eq!(
        value(&metrics.render(), r#"sheepdog_requests_in_flight{target="t"}"#),
        Some(0.0)
    );
    metrics.limiter_waited("t", Duration::from_millis(1500));
    metrics.limiter_waited("t", Duration::from_millis(500));
    assert_eq!(
        value(&metrics.render(), r#"sheepdog_limiter_wait_seconds_total{target="t"}"#),
        Some(2.0)
    );
    assert_eq!(metrics.clone(), metrics);
    assert_ne!(Metrics::new(), metrics);
}
