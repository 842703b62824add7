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

/// What `x-ratelimit-*` headers say is left of the provider's allowance (OpenAI's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Time until the request allowance is back to full.
    pub reset_requests: Option<Duration>,
    pub reset_tokens: Option<Duration>,
}

impl RateLimitHeaders {
    pub fn from_headers(headers: &HeaderMap) -> RateLimitHeaders {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        RateLimitHeaders {
            remaining_requests: get("x-ratelimit-remaining-requests").and_then(|v| v.parse().ok()),
            remaining_tokens: get("x-ratelimit-remaining-tokens").and_then(|v| v.parse().ok()),
            reset_requests: get("x-ratelimit-reset-requests").and_then(parse_reset),
            reset_tokens: get("x-ratelimit-reset-tokens").and_then(parse_reset),
        }
    }

    /// How long the target must pause because an allowance is used up, if one is.
    pub fn exhausted_for(&self) -> Option<Duration> {
        let requests = (self.remaining_requests == Some(0))
            .then_some(self.reset_requests)
            .flatten();
        let tokens = (self.remaining_tokens == Some(0))
            .then_some(self.reset_tokens)
            .flatten();
        requests.max(tokens)
    }
}

/// Parses OpenAI's reset durations: `20ms`, `1.5s`, `6m0s`, `1h2m3s` (a plain number is seconds).
pub fn parse_reset(text: &str) -> Option<Duration> {
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod rate_limit_tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reset_durations_in_openai_form() {
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_reset("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_reset("soon"), None);
        assert_eq!(parse_reset("5x"), None);
    }

    #[test]
    fn exhausted_allowance_says_how_long_to_pause() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining-requests", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset-requests", HeaderValue::from_static("1.2s"));
        headers.insert("x-ratelimit-remaining-tokens", HeaderValue::from_static("5000"));
        headers.insert("x-ratelimit-reset-tokens", HeaderValue::from_static("30s"));
        let parsed = RateLimitHeaders::from_headers(&headers);
        assert_eq!(parsed.remaining_tokens, Some(5000));
        assert_eq!(parsed.exhausted_for(), Some(Duration::from_millis(1200)));
        assert_eq!(RateLimitHeaders::default().exhausted_for(), None);
    }
}
