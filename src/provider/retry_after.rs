//! How long a provider asked us to wait, and what its `x-ratelimit-*` headers say is left.
//!
//! Read from OpenAI's names and from the variants gateways send: `retry-after-ms`, then
//! `retry-after` (seconds or an HTTP date), then LiteLLM's `llm_provider-retry-after-ms` and
//! `llm_provider-retry-after`; `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with or
//! without LiteLLM's `llm_provider-` prefix, resets in OpenAI's `1m6s` / `6ms` / `0.5s` form
//! or in plain seconds. The value is honoured exactly (the dispatcher caps it at
//! `retry.max_retry_after`). No header value, however odd, makes these parsers panic: what
//! cannot be read is `None`.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName};

/// LiteLLM's prefix for the headers it passes through from the provider behind it.
const LITELLM_PREFIX: &str = "llm_provider-";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Seconds as a duration: `None` when negative, not finite or beyond what a duration holds.
pub fn seconds(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value).ok()
}

/// Reads the wait a response asks for; `now` is the current wall-clock time (for HTTP dates).
pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for prefix in ["", LITELLM_PREFIX] {
        let ms = header(headers, &format!("{prefix}retry-after-ms")).and_then(|v| v.parse::<f64>().ok());
        if let Some(wait) = ms.and_then(|ms| seconds(ms / 1000.0)) {
            return Some(wait);
        }
        if let Some(wait) = header(headers, &format!("{prefix}retry-after")).and_then(|v| parse(v, now)) {
            return Some(wait);
        }
    }
    None
}

/// Parses a `Retry-After` value: delta-seconds (fractions accepted) or an HTTP date. A date in
/// the past is a wait of zero; anything else (negative, not a number, too large) is `None`.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(number) = value.parse::<f64>() {
        return seconds(number);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What `x-ratelimit-*` headers say about the provider's allowance (OpenAI's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// The allowance per minute (OpenAI: requests and tokens per minute).
    pub limit_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Time until the request allowance is back to full.
    pub reset_requests: Option<Duration>,
    pub reset_tokens: Option<Duration>,
}

/// A header's own name and LiteLLM's, made once: read for every answer, so without building
/// and checking the names each time.
struct Names(HeaderName, HeaderName);

impl Names {
    fn value<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        text(&self.0).or_else(|| text(&self.1))
    }
}

macro_rules! names {
    ($name:literal) => {
        Names(
            HeaderName::from_static($name),
            HeaderName::from_static(concat!("llm_provider-", $name)),
        )
    };
}

static LIMIT_REQUESTS: Names = names!("x-ratelimit-limit-requests");
static LIMIT_TOKENS: Names = names!("x-ratelimit-limit-tokens");
static REMAINING_REQUESTS: Names = names!("x-ratelimit-remaining-requests");
static REMAINING_TOKENS: Names = names!("x-ratelimit-remaining-tokens");
static RESET_REQUESTS: Names = names!("x-ratelimit-reset-requests");
static RESET_TOKENS: Names = names!("x-ratelimit-reset-tokens");

/// Whether `name` is one of the `x-ratelimit-*` headers, under its own name or LiteLLM's.
fn is_rate_limit(name: &HeaderName) -> bool {
    let name = name.as_str();
    let name = name.strip_prefix("llm_provider-").unwrap_or(name);
    name.starts_with("x-ratelimit-")
}

impl RateLimitHeaders {
    pub fn from_headers(headers: &HeaderMap) -> RateLimitHeaders {
        // Most answers of a server without these headers have four or five: one look at each
        // name instead of twelve lookups of names that are not there.
        if !headers.keys().any(is_rate_limit) {
            return RateLimitHeaders::default();
        }
        let number = |names: &Names| names.value(headers).and_then(parse_count);
        let reset = |names: &Names| names.value(headers).and_then(parse_reset);
        RateLimitHeaders {
            limit_requests: number(&LIMIT_REQUESTS),
            limit_tokens: number(&LIMIT_TOKENS),
            remaining_requests: number(&REMAINING_REQUESTS),
            remaining_tokens: number(&REMAINING_TOKENS),
            reset_requests: reset(&RESET_REQUESTS),
            reset_tokens: reset(&RESET_TOKENS),
        }
    }

    /// Whether the answer carried any of these headers.
    pub fn is_empty(&self) -> bool {
        *self == RateLimitHeaders::default()
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

/// A count such as `60` (some gateways send `60.0`): whole, not negative.
fn parse_count(text: &str) -> Option<u64> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(n);
    }
    let n = text.parse::<f64>().ok()?;
    (n.is_finite() && n >= 0.0 && n < u64::MAX as f64).then_some(n as u64)
}

/// Parses a reset duration: OpenAI's `20ms`, `1.5s`, `6m0s`, `1h2m3s`, or plain seconds (`7`,
/// `0.5`). `None` for anything else, for negative values and for values beyond a duration.
pub fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(number) = text.parse::<f64>() {
        return seconds(number);
    }
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
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
    seconds(total)
}

#[cfg(test)]
#[path = "retry_after_tests.rs"]
mod tests;
