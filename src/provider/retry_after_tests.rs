use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};

use super::*;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_static(value));
    }
    map
}

#[test]
fn milliseconds_win_over_seconds() {
    let map = headers(&[("retry-after", "2"), ("retry-after-ms", "1500")]);
    assert_eq!(from_headers(&map, SystemTime::now()), Some(Duration::from_millis(1500)));
}

#[test]
fn seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(parse("3", now), Some(Duration::from_secs(3)));
    assert_eq!(parse("0.25", now), Some(Duration::from_millis(250)));
    let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
    assert_eq!(parse(&later, now), Some(Duration::from_secs(7)));
    let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
    assert_eq!(parse(&earlier, now), Some(Duration::ZERO));
    assert_eq!(parse("soon", now), None);
    assert_eq!(parse("-1", now), None);
    assert_eq!(parse("1e300", now), None, "beyond a duration: unreadable, no panic");
    assert_eq!(parse("NaN", now), None);
    assert_eq!(parse("999999999", now), Some(Duration::from_secs(999_999_999)));
}

#[test]
fn litellm_passes_the_providers_wait_under_its_prefix() {
    let map = headers(&[("llm_provider-retry-after", "4")]);
    assert_eq!(from_headers(&map, SystemTime::now()), Some(Duration::from_secs(4)));
    let map = headers(&[
        ("llm_provider-retry-after-ms", "250"),
        ("llm_provider-retry-after", "4"),
    ]);
    assert_eq!(from_headers(&map, SystemTime::now()), Some(Duration::from_millis(250)));
    // The gateway's own header wins over the one it passed through.
    let map = headers(&[("retry-after", "1"), ("llm_provider-retry-after", "4")]);
    assert_eq!(from_headers(&map, SystemTime::now()), Some(Duration::from_secs(1)));
    // An unreadable value falls through to the next variant.
    let map = headers(&[("retry-after-ms", "soon"), ("retry-after", "2")]);
    assert_eq!(from_headers(&map, SystemTime::now()), Some(Duration::from_secs(2)));
}

#[test]
fn reset_durations_in_openai_form_and_in_seconds() {
    assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
    assert_eq!(parse_reset("6ms"), Some(Duration::from_millis(6)));
    assert_eq!(parse_reset("0.5s"), Some(Duration::from_millis(500)));
    assert_eq!(parse_reset("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_reset("1m6s"), Some(Duration::from_secs(66)));
    assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
    assert_eq!(parse_reset("1h2m3s"), Some(Duration::from_secs(3723)));
    assert_eq!(parse_reset("7"), Some(Duration::from_secs(7)));
    assert_eq!(parse_reset("0.5"), Some(Duration::from_millis(500)));
    for bad in ["soon", "5x", "", "s", "1m5", "-3s", "-1", "1e400"] {
        assert_eq!(parse_reset(bad), None, "{bad:?}");
    }
}

#[test]
fn limits_remaining_and_resets_under_both_names() {
    let map = headers(&[
        ("x-ratelimit-limit-requests", "3000"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1.2s"),
        ("llm_provider-x-ratelimit-limit-tokens", "90000"),
        ("llm_provider-x-ratelimit-remaining-tokens", "5000"),
        ("llm_provider-x-ratelimit-reset-tokens", "30"),
    ]);
    let parsed = RateLimitHeaders::from_headers(&map);
    assert_eq!(parsed.limit_requests, Some(3000));
    assert_eq!(parsed.limit_tokens, Some(90000));
    assert_eq!(parsed.remaining_tokens, Some(5000));
    assert_eq!(parsed.reset_tokens, Some(Duration::from_secs(30)));
    assert_eq!(parsed.exhausted_for(), Some(Duration::from_millis(1200)));
    assert!(RateLimitHeaders::default().is_empty());
    // Each name alone is found, under its own name or LiteLLM's; other headers are not read.
    for name in [
        "x-ratelimit-remaining-requests",
        "llm_provider-x-ratelimit-remaining-requests",
    ] {
        let one = RateLimitHeaders::from_headers(&headers(&[("content-type", "application/json"), (name, "7")]));
        assert_eq!(one.remaining_requests, Some(7), "{name}");
    }
    let none = RateLimitHeaders::from_headers(&headers(&[("x-request-id", "1"), ("ratelimit-remaining", "7")]));
    assert!(none.is_empty());
    assert_eq!(RateLimitHeaders::default().exhausted_for(), None);
}

proptest! {
    #[test]
    fn retry_after_never_panics_and_reads_only_sane_waits(text in "\\PC{0,40}") {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        if let Some(wait) = parse(&text, now) {
            // Whatever was read is a real, finite wait; a plain number is read as seconds.
            if let Ok(number) = text.trim().parse::<f64>() {
                prop_assert!((wait.as_secs_f64() - number).abs() <= 1e-6 * number.max(1.0));
            }
        }
    }

    #[test]
    fn reset_never_panics(text in "\\PC{0,40}") {
        let _ = parse_reset(&text);
    }

    #[test]
    fn reset_reads_every_openai_duration(h in 0u64..48, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
        let read = parse_reset(&text);
        prop_assert!(read.is_some(), "{}", text);
        let read = read.unwrap_or_default();
        prop_assert!((read.as_secs_f64() - expected.as_secs_f64()).abs() < 1e-6, "{}: {:?}", text, read);
    }

    #[test]
    fn header_values_of_any_bytes_never_panic(bytes in proptest::collection::vec(0x20u8..0x7f, 0..30)) {
        let mut map = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            for name in ["retry-after", "retry-after-ms", "llm_provider-retry-after", "x-ratelimit-reset-requests",
                         "x-ratelimit-remaining-requests", "x-ratelimit-limit-requests"] {
                map.insert(name, value.clone());
            }
        }
        let _ = from_headers(&map, SystemTime::now());
        let _ = RateLimitHeaders::from_headers(&map);
    }
}
