//! Number formatting and table helpers shared by the human-readable reports.

use std::fmt::Write as _;
use std::time::Duration;

use crate::stats::summary::{Cost, ErrorCount, ErrorScope};

/// An integer with thousands separators: `1234567` → `1,234,567`.
pub(crate) fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// US dollars with enough precision for tiny runs: `$0.001234`, `$1.2345`, `$1234.57`.
pub(crate) fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 100.0 {
        2
    } else if a >= 1.0 {
        4
    } else {
        // Four significant digits.
        ((-a.log10().floor()) as usize + 3).min(12)
    };
    format!("${v:.decimals$}")
}

/// A share as a percentage, truncated (not rounded) so 99.96% never shows as 100%.
pub(crate) fn pct(rate: f64) -> String {
    if !rate.is_finite() {
        return "n/a".to_string();
    }
    let tenths = (rate * 1000.0).floor() / 10.0;
    format!("{tenths:.1}%")
}

/// A rate per second.
pub(crate) fn per_s(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Milliseconds as a bare number for tables with a "(ms)" header.
pub(crate) fn ms_number(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Milliseconds with a unit, compact: `0.84ms`, `20.0ms`, `512ms`, `1.20s`, `125s`.
pub(crate) fn ms_short(v: f64) -> String {
    if !v.is_finite() {
        "n/a".to_string()
    } else if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else if v < 1000.0 {
        format!("{v:.0}ms")
    } else if v < 100_000.0 {
        format!("{:.2}s", v / 1000.0)
    } else {
        format!("{:.0}s", v / 1000.0)
    }
}

/// Wall time: `2.35 s` under a minute, `1h 2m 3s` above.
pub(crate) fn duration_s(secs: f64) -> String {
    match Duration::try_from_secs_f64(secs) {
        Ok(_) if secs < 60.0 => format!("{secs:.2} s"),
        Ok(d) => humantime::format_duration(Duration::from_secs(d.as_secs())).to_string(),
        Err(_) => "n/a".to_string(),
    }
}

/// `1 request`, `2 requests`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", int(n), if n == 1 { one } else { many })
}

/// The run's cost, never `$0` for requests without a price.
pub(crate) fn cost(cost: &Cost) -> String {
    let unpriced = cost.unpriced_requests;
    if unpriced == 0 {
        return usd(cost.total_usd);
    }
    let models = if cost.unpriced_models.is_empty() {
        String::new()
    } else {
        format!(" ({})", cost.unpriced_models.join(", "))
    };
    let no_price = format!("no price for {}{models}", count(unpriced, "request", "requests"));
    if cost.total_usd == 0.0 {
        no_price
    } else {
        format!("{} + {no_price}", usd(cost.total_usd))
    }
}

/// A target's cost: `-` when it was never asked, `no price` when unknown.
pub(crate) fn target_cost(target: &crate::stats::summary::TargetSummary) -> String {
    if target.requests == 0 {
        return "-".to_string();
    }
    target.cost_usd.map_or_else(|| "no price".to_string(), usd)
}

/// The error rows of one scope, in the summary's order.
pub(crate) fn errors_of(errors: &[ErrorCount], scope: ErrorScope) -> Vec<&ErrorCount> {
    errors.iter().filter(|e| e.scope == scope).collect()
}

/// `rate_limited 429` or `timeout`.
pub(crate) fn error_label(e: &ErrorCount) -> String {
    match e.status {
        Some(status) => format!("{} {status}", e.class),
        None => e.class.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_keeps_small_amounts_readable() {
        assert_eq!(usd(0.001234), "$0.001234");
        assert_eq!(usd(0.0075), "$0.007500");
        assert_eq!(usd(0.5), "$0.5000");
        assert_eq!(usd(12.34567), "$12.3457");
        assert_eq!(usd(1234.567), "$1234.57");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(f64::NAN), "n/a");
    }

    #[test]
    fn integers_get_separators() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
    }

    #[test]
    fn percentages_never_round_up_to_100() {
        assert_eq!(pct(0.99999), "99.9%");
        assert_eq!(pct(1.0), "100.0%");
        assert_eq!(pct(5.0 / 7.0), "71.4%");
        assert_eq!(pct(0.0), "0.0%");
    }

    #[test]
    fn durations_and_latencies() {
        assert_eq!(duration_s(2.0), "2.00 s");
        assert_eq!(duration_s(3723.4), "1h 2m 3s");
        assert_eq!(duration_s(f64::NAN), "n/a");
        assert_eq!(duration_s(-1.0), "n/a");
        assert_eq!(ms_short(0.84), "0.84ms");
        assert_eq!(ms_short(512.3), "512ms");
        assert_eq!(ms_short(1200.0), "1.20s");
    }

    #[test]
    fn cost_says_no_price_instead_of_zero() {
        let mut c = Cost {
            total_usd: 0.0,
            unpriced_requests: 2,
            unpriced_models: vec!["m1".into()],
        };
        assert_eq!(cost(&c), "no price for 2 requests (m1)");
        c.total_usd = 0.0025;
        assert_eq!(cost(&c), "$0.002500 + no price for 2 requests (m1)");
        c.unpriced_requests = 0;
        assert_eq!(cost(&c), "$0.002500");
    }

    #[test]
    fn target_cost_is_a_dash_when_never_asked_and_no_price_when_unknown() {
        let mut t = crate::stats::summary::TargetSummary {
            name: "t".into(),
            provider: "p".into(),
            model: "m".into(),
            requests: 0,
            succeeded: 0,
            failed_requests: 0,
            failed_items: 0,
            retries: 0,
            latency_ms: Default::default(),
            tokens: Default::default(),
            cost_usd: Some(0.0),
            fallbacks_in: 0,
            fallbacks_out: 0,
            breaker_openings: 0,
            slowdowns: 0,
            pacing: Default::default(),
        };
        assert_eq!(target_cost(&t), "-");
        t.requests = 3;
        t.cost_usd = None;
        assert_eq!(target_cost(&t), "no price");
        t.cost_usd = Some(0.0025);
        assert_eq!(target_cost(&t), "$0.002500");
    }
}

/// Which rendering of a table-shaped report (`estimate`, `compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Text,
    Markdown,
    Json,
}

/// Terminal columns: the first left-aligned, the others right-aligned, two spaces apart.
pub(crate) fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, (c, &w)) in row.iter().zip(&widths).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            if i == 0 {
                let _ = write!(line, "  {c}{pad}");
            } else {
                let _ = write!(line, "  {pad}{c}");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// Text made safe for one Markdown table cell or one line: pipes escaped, line breaks as spaces.
pub(crate) fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
