//! How long a provider asked us to wait: `retry-after-ms`, or `retry-after` in seconds or as
//! an HTTP date. The value is honoured exactly; it is never undercut.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Reads the wait a response asks for; `now` is the current wall-clock time (for HTTP dates).
pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    parse(get("retry-after")?, now)
}

/// Parses a `Retry-After` value: delta-seconds (fractions accepted) or an HTTP date.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    // An HTTP date has whole seconds: wait until that second has fully begun.
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn milliseconds_win_over_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("2"));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(
            from_headers(&headers, SystemTime::now()),
            Some(Duration::from_millis(1500))
        );
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
    }
}
