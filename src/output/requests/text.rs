//! A run's `requests.csv` row written by hand: the bytes csv's serializer writes for a
//! [`RequestRow`] (a test compares the two over the rows of every kind of outcome), without
//! its per-field calls through serde and csv's quoting state machine; and the figures' decimals,
//! which both writers use.

use super::RequestRow;

/// Appends `row` and its line break to `out`.
pub(super) fn write_row(out: &mut Vec<u8>, row: &RequestRow<&str>) {
    let mut number = itoa::Buffer::new();
    let mut fixed = FixedPoint::default();
    field(out, row.id);
    out.push(b',');
    out.extend_from_slice(number.format(row.line).as_bytes());
    out.push(b',');
    field(out, row.target);
    out.push(b',');
    field(out, row.model);
    out.push(b',');
    out.extend_from_slice(number.format(row.attempt).as_bytes());
    out.push(b',');
    if let Some(status) = row.status {
        out.extend_from_slice(number.format(status).as_bytes());
    }
    out.push(b',');
    if let Some(class) = row.error_class {
        out.extend_from_slice(class.as_str().as_bytes());
    }
    for (figure, places) in [
        (row.sent_at_ms, 3),
        (row.ttft_ms, 3),
        (row.itl_ms, 3),
        (row.latency_ms, 3),
    ] {
        out.push(b',');
        if let Some(text) = decimal_text(figure, places, &mut fixed) {
            out.extend_from_slice(text.as_bytes());
        }
    }
    for count in [row.input_tokens, row.cached_input_tokens, row.output_tokens] {
        out.push(b',');
        if let Some(count) = count {
            out.extend_from_slice(number.format(count).as_bytes());
        }
    }
    out.push(b',');
    if let Some(text) = decimal_text(row.cost_usd, 12, &mut fixed) {
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b'\n');
}

/// A text field, in double quotes (its quotes doubled) when it holds a comma, a quote or a line
/// break, as csv writes it by default.
fn field(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `v` with at most `places` decimals, trailing zeros dropped, or `None` for no figure (absent
/// or not finite); its digits written on the stack with `itoa` (this runs for every figure of
/// every request), or through a `String` for a figure the integer path cannot print exactly.
pub(super) fn decimal_text(v: Option<f64>, places: usize, text: &mut FixedPoint) -> Option<std::borrow::Cow<'_, str>> {
    let v = v.filter(|v| v.is_finite())?;
    Some(match scaled(v, places) {
        Some((whole, fraction)) => text.write(whole, fraction, places).into(),
        None => trim_zeros(&format!("{v:.places$}")).to_string().into(),
    })
}

/// A whole part and `places` decimals written without trailing zeros, on the stack: at most
/// 20 digits, the point and 15 decimals.
pub(super) struct FixedPoint {
    whole: itoa::Buffer,
    fraction: itoa::Buffer,
    text: [u8; 40],
}

impl Default for FixedPoint {
    fn default() -> FixedPoint {
        FixedPoint {
            whole: itoa::Buffer::new(),
            fraction: itoa::Buffer::new(),
            text: [b'0'; 40],
        }
    }
}

impl FixedPoint {
    fn write(&mut self, whole: u64, mut fraction: u64, mut places: usize) -> &str {
        let whole = self.whole.format(whole);
        if fraction == 0 {
            return whole;
        }
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            places -= 1;
        }
        let digits = self.fraction.format(fraction).as_bytes();
        let zeros = places.saturating_sub(digits.len());
        let (head, tail) = (whole.len(), whole.len() + 1 + zeros);
        let end = tail + digits.len();
        self.text[..head].copy_from_slice(whole.as_bytes());
        self.text[head] = b'.';
        self.text[head + 1..tail].fill(b'0');
        self.text[tail..end].copy_from_slice(digits);
        // ASCII digits and a point: always UTF-8.
        std::str::from_utf8(&self.text[..end]).unwrap_or_default()
    }
}

/// `v` rounded to `places` decimals as its whole part and its decimals (an integer below
/// 10^places), when that is sure to be what `format!("{v:.places$}")` prints.
///
/// `x = v × 10^places` is computed within half a unit in its last place; below 2^40 that is
/// under 0.0003, so when `x` is more than 0.01 away from a half the exact product rounds to the
/// same integer as `x`. Otherwise (near a half, too large, negative, or too many places) `None`.
pub(super) fn scaled(v: f64, places: usize) -> Option<(u64, u64)> {
    const LIMIT: f64 = (1u64 << 40) as f64;
    let places = u32::try_from(places).ok().filter(|&p| p <= 15)?;
    let x = v * 10f64.powi(places as i32);
    if !v.is_sign_positive() || x >= LIMIT {
        return None;
    }
    let n = x.round();
    if (x - n).abs() > 0.49 {
        return None;
    }
    let unit = 10u64.pow(places);
    let n = n as u64;
    Some((n / unit, n % unit))
}

pub(super) fn trim_zeros(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::output::requests::rows_of;
    use crate::record::ErrorClass;
    use crate::stats::fixture;

    fn by_csv(rows: &[RequestRow<&str>]) -> String {
        let mut writer = ::csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        for row in rows {
            writer.serialize(row).unwrap();
        }
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }

    fn by_hand(rows: &[RequestRow<&str>]) -> String {
        let mut out = Vec::new();
        for row in rows {
            write_row(&mut out, row);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_by_hand_are_the_bytes_csv_writes() {
        let mut outcomes = fixture::outcomes();
        // Figures on each path of the decimals: whole, tiny, huge, near a half, not finite.
        let first = &mut outcomes[0].attempts[0];
        first.cost_usd = Some(0.0000756);
        first.latency = Duration::from_micros(1_234_567);
        let second = &mut outcomes[1].attempts[0];
        second.cost_usd = Some(1e60);
        second.ttft = Some(Duration::from_micros(500));
        let third = &mut outcomes[2].attempts[0];
        third.cost_usd = Some(f64::NAN);
        // Ids and targets that need quotes.
        outcomes[3].id = "a,\"quoted\"\nid\r".to_string();
        outcomes[4].attempts[0].target = "comma,target".to_string();
        outcomes[4].attempts[0].model = "\"".to_string();
        outcomes[5].id = String::new();
        let mut rows: Vec<RequestRow<&str>> = outcomes.iter().flat_map(rows_of).collect();
        rows.push(RequestRow::lost());
        // Classes by their serde names: the hand writer writes `as_str`.
        for name in [
            "rate_limited",
            "insufficient_quota",
            "response_too_large",
            "invalid_input",
        ] {
            let class: ErrorClass = serde_json::from_value(serde_json::json!(name)).unwrap();
            rows.push(RequestRow {
                error_class: Some(class),
                ..RequestRow::lost()
            });
        }
        assert!(rows.len() > 10);
        assert_eq!(by_hand(&rows), by_csv(&rows));
    }
}
