//! HdrHistograms of microseconds: creation, recording, percentiles, and the V2 + base64 encoding
//! stored in `summary.json` so runs can be merged exactly.

use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{DeserializeError, Deserializer, Serializer as _, V2SerializeError, V2Serializer};
use hdrhistogram::Histogram;

use super::summary::Percentiles;

/// Significant figures kept by every histogram: values are exact to 0.1%.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// Why a histogram could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramCodecError {
    #[error("cannot serialize histogram: {0}")]
    Serialize(#[from] V2SerializeError),
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram is not a valid HdrHistogram V2 encoding: {0}")]
    Deserialize(#[from] DeserializeError),
}

/// An empty, auto-resizing histogram of microseconds with [`SIGNIFICANT_FIGURES`].
pub fn new_histogram() -> Histogram<u64> {
    // Only an out-of-range sigfig (> 5) can make this fail, and ours is a constant.
    Histogram::new(SIGNIFICANT_FIGURES).expect("3 significant figures is a valid histogram")
}

/// Records a duration in microseconds; never fails.
pub fn record_duration(h: &mut Histogram<u64>, d: Duration) {
    record_us(h, u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
}

/// Records a value, growing the histogram as needed; a value it cannot grow to (or any value,
/// if auto-resize is off) is clamped to the trackable range instead of being lost.
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    // Not `saturating_record` first: it clamps before it would resize.
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// Base64 (standard alphabet) of the histogram's V2 serialization (uncompressed).
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, HistogramCodecError> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The inverse of [`encode_histogram`] (also reads the compressed V2 variant). The histogram
/// comes back auto-resizing so that others can be added to it.
pub fn decode_histogram(s: &str) -> Result<Histogram<u64>, HistogramCodecError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s.trim())?;
    let mut h: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice())?;
    h.auto(true);
    Ok(h)
}

/// Percentiles of a histogram of microseconds, in milliseconds. All zero when it is empty.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        min: ms(h.min()),
        mean: h.mean() / 1000.0,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        // HdrHistogram with 3 significant figures: within 0.1%, plus a rounding step.
        (actual - expected).abs() <= expected.abs() * 0.002 + 0.001
    }

    #[test]
    fn percentiles_of_known_latencies() {
        let mut h = new_histogram();
        for ms in 1..=1000u64 {
            record_duration(&mut h, Duration::from_millis(ms));
        }
        let p = percentiles(&h);
        assert_eq!(p.count, 1000);
        assert!(close(p.min, 1.0), "min {}", p.min);
        assert!(close(p.mean, 500.5), "mean {}", p.mean);
        assert!(close(p.p50, 500.0), "p50 {}", p.p50);
        assert!(close(p.p90, 900.0), "p90 {}", p.p90);
        assert!(close(p.p95, 950.0), "p95 {}", p.p95);
        assert!(close(p.p99, 990.0), "p99 {}", p.p99);
        assert!(close(p.p999, 999.0), "p999 {}", p.p999);
        assert!(close(p.max, 1000.0), "max {}", p.max);
    }

    #[test]
    fn percentiles_of_empty_histogram_are_zero_not_nan() {
        let p = percentiles(&new_histogram());
        assert_eq!(p, Percentiles::default());
        assert_eq!(p.max, 0.0);
    }

    #[test]
    fn huge_durations_are_recorded_not_lost() {
        let mut h = new_histogram();
        record_duration(&mut h, Duration::from_secs(3600 * 24 * 365));
        record_duration(&mut h, Duration::MAX);
        assert_eq!(h.len(), 2);
        // A year is kept to 3 significant figures, not clamped to a tiny range.
        let year_ms = 3600.0 * 24.0 * 365.0 * 1000.0;
        assert!(percentiles(&h).p50 >= year_ms * 0.999, "{:?}", percentiles(&h));

        let mut fixed = Histogram::<u64>::new_with_max(1000, 3).unwrap();
        record_us(&mut fixed, 5000);
        assert_eq!(fixed.len(), 1, "clamped, not lost, when resizing is off");
    }

    #[test]
    fn encode_decode_round_trip_is_equal() {
        let mut h = new_histogram();
        for us in [0u64, 1, 7, 1_234, 56_789, 3_000_000, 120_000_000] {
            record_us(&mut h, us);
        }
        let encoded = encode_histogram(&h).unwrap();
        let decoded = decode_histogram(&encoded).unwrap();
        assert_eq!(decoded, h);
        assert_eq!(percentiles(&decoded), percentiles(&h));

        let empty = new_histogram();
        let decoded_empty = decode_histogram(&encode_histogram(&empty).unwrap()).unwrap();
        assert!(decoded_empty.is_empty());
    }

    #[test]
    fn decoded_histogram_accepts_merges() {
        let mut a = new_histogram();
        record_us(&mut a, 10);
        let mut b = decode_histogram(&encode_histogram(&a).unwrap()).unwrap();
        let mut big = new_histogram();
        record_us(&mut big, 10_000_000_000);
        b.add(&big).unwrap();
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn decode_refuses_garbage() {
        assert!(matches!(
            decode_histogram("not base64!"),
            Err(HistogramCodecError::Base64(_))
        ));
        assert!(matches!(
            decode_histogram("aGVsbG8gd29ybGQ="),
            Err(HistogramCodecError::Deserialize(_))
        ));
    }
}
