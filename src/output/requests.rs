//! `requests.csv`: one row per request, written as a run or bench goes. A run's rows are
//! [`RequestRow`]s (one per attempt, see [`rows_of`]); a bench's are its own rows (one per
//! request, retries inside it). Both go through the one writer, [`RequestsCsv`], whose header is
//! the row struct's field names.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use super::files::REQUESTS_FILE;
use super::WriteError;
use crate::record::{ErrorClass, Outcome};

/// One request. The CSV header is these field names, in this order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// `S` is `String` for a row read back, `&str` for one written (borrowed from the outcome).
pub struct RequestRow<S = String> {
    /// The item's id (`custom_id` / `id` / `line-<n>`).
    pub id: S,
    /// 1-based input line of the item.
    pub line: u64,
    pub target: S,
    pub model: S,
    /// 1-based number of this try at this target (a fallback starts again at 1).
    pub attempt: u32,
    /// HTTP status, when one arrived.
    pub status: Option<u16>,
    /// Empty when the request succeeded.
    pub error_class: Option<ErrorClass>,
    /// When the request was sent, in ms after the start of the run (`job.started_at`).
    #[serde(serialize_with = "ms3")]
    pub sent_at_ms: Option<f64>,
    /// Request sent → first content chunk (streamed requests).
    #[serde(serialize_with = "ms3")]
    pub ttft_ms: Option<f64>,
    /// Inter-token latency (streamed requests that succeeded with 2 or more output tokens).
    #[serde(serialize_with = "ms3")]
    pub itl_ms: Option<f64>,
    /// Request sent → last byte of the answer or the failure.
    #[serde(serialize_with = "ms3")]
    pub latency_ms: Option<f64>,
    pub input_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// USD; empty when the request reported no usage or its model has no price.
    #[serde(serialize_with = "dollars")]
    pub cost_usd: Option<f64>,
}

/// Whole microseconds (truncated, as the histograms record them) in milliseconds, so a summary
/// rebuilt from this file has the very same percentiles.
fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

/// Milliseconds with at most 3 decimals, never in exponent notation.
fn ms3<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    decimals(v, 3, s)
}

/// Dollars with at most 12 decimals, never in exponent notation (`0.0000756`, not `7.56e-5`).
fn dollars<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    decimals(v, 12, s)
}

/// `v` with at most `places` decimals, trailing zeros dropped; its digits written on the stack
/// with `itoa` (this runs for every figure of every request), or through a `String` for a
/// figure the integer path cannot print exactly.
fn decimals<S: Serializer>(v: &Option<f64>, places: usize, s: S) -> Result<S::Ok, S::Error> {
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return s.serialize_none();
    };
    match scaled(v, places) {
        Some((whole, fraction)) => {
            let mut text = FixedPoint::default();
            s.serialize_str(text.write(whole, fraction, places))
        }
        None => s.serialize_str(trim_zeros(&format!("{v:.places$}"))),
    }
}

/// A whole part and `places` decimals written without trailing zeros, on the stack: at most
/// 20 digits, the point and 15 decimals.
struct FixedPoint {
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
fn scaled(v: f64, places: usize) -> Option<(u64, u64)> {
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

fn trim_zeros(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// The rows of one finished item, one per request, in the order they were sent.
pub fn rows_of(outcome: &Outcome) -> impl Iterator<Item = RequestRow<&str>> {
    outcome.attempts.iter().map(|a| RequestRow {
        id: outcome.id.as_str(),
        line: outcome.line,
        target: a.target.as_str(),
        model: a.model.as_str(),
        attempt: a.number,
        status: a.status.or(a.error.as_ref().and_then(|e| e.status)),
        error_class: a.error.as_ref().map(|e| e.class),
        sent_at_ms: Some(ms(a.sent_at)),
        ttft_ms: a.ttft.map(ms),
        itl_ms: a.stream.and_then(|s| s.itl).map(ms),
        latency_ms: Some(ms(a.latency)),
        input_tokens: a.usage.map(|u| u.input_tokens),
        cached_input_tokens: a.usage.map(|u| u.cached_input_tokens),
        output_tokens: a.usage.map(|u| u.output_tokens),
        cost_usd: a.usage.and(a.cost_usd),
    })
}

/// The open `requests.csv` of a run folder.
pub struct RequestsCsv {
    path: PathBuf,
    writer: ::csv::Writer<File>,
}

impl RequestsCsv {
    /// Opens (creating or appending to) `dir/requests.csv`; the header is written when the file
    /// is new or empty. A run appends: each part of a resumed job adds its rows.
    pub fn open(dir: &Path) -> io::Result<RequestsCsv> {
        let path = dir.join(REQUESTS_FILE);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let empty = file.metadata()?.len() == 0;
        Ok(RequestsCsv::over(path, file, empty))
    }

    /// Creates `dir/requests.csv` afresh (emptied if it exists), header first. A bench starts
    /// a new folder each time.
    pub fn create(dir: &Path) -> Result<RequestsCsv, WriteError> {
        let path = dir.join(REQUESTS_FILE);
        let file = File::create(&path).map_err(|source| WriteError {
            path: path.clone(),
            source,
        })?;
        Ok(RequestsCsv::over(path, file, true))
    }

    fn over(path: PathBuf, file: File, header: bool) -> RequestsCsv {
        let writer = ::csv::WriterBuilder::new()
            .has_headers(header)
            .buffer_capacity(256 * 1024)
            .from_writer(file);
        RequestsCsv { path, writer }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One row; its struct's field names are the header.
    pub fn write<R: Serialize>(&mut self, row: &R) -> Result<(), WriteError> {
        self.writer.serialize(row).map_err(|e| self.fail(io::Error::from(e)))
    }

    /// One row per request of `outcome`.
    pub fn write_outcome(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        for row in rows_of(outcome) {
            self.write(&row)?;
        }
        Ok(())
    }

    /// `count` rows of requests sent whose answers were lost (class `lost`, no item: see
    /// [`crate::output::journal`]).
    pub fn write_lost(&mut self, count: u64) -> Result<(), WriteError> {
        let row = RequestRow {
            id: "",
            line: 0,
            target: "",
            model: "",
            attempt: 0,
            status: None,
            error_class: Some(ErrorClass::Lost),
            sent_at_ms: None,
            ttft_ms: None,
            itl_ms: None,
            latency_ms: None,
            input_tokens: None,
            cached_input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        };
        for _ in 0..count {
            self.write(&row)?;
        }
        Ok(())
    }

    /// Pushes buffered rows to the operating system.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.writer.flush().map_err(|e| self.fail(e))
    }

    fn fail(&self, source: io::Error) -> WriteError {
        WriteError {
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    fn render(outcomes: &[Outcome]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = RequestsCsv::open(dir.path()).unwrap();
        for o in outcomes {
            csv.write_outcome(o).unwrap();
        }
        csv.flush().unwrap();
        std::fs::read_to_string(dir.path().join(REQUESTS_FILE)).unwrap()
    }

    #[test]
    fn one_row_per_attempt_with_the_header_from_the_struct() {
        let text = render(&fixture::outcomes());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "id,line,target,model,attempt,status,error_class,sent_at_ms,ttft_ms,itl_ms,latency_ms,\
             input_tokens,cached_input_tokens,output_tokens,cost_usd"
        );
        // 11 requests in the fixture.
        assert_eq!(lines.len(), 12, "{text}");
        assert_eq!(
            lines[1],
            "a1,1,deepseek,deepseek-chat,1,200,,0,20,,100,1000,200,100,0.001"
        );
        let a4: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("a4,")).collect();
        assert_eq!(a4.len(), 3);
        assert_eq!(a4[0], "a4,1,deepseek,deepseek-chat,1,503,server_error,0,,,50,,,,");
        // The fallback's first try at gpt41 is try 1 there.
        assert!(a4[2].starts_with("a4,1,gpt41,gpt-4.1,1,200,,"), "{}", a4[2]);
        // The unpriced answer has tokens but no cost, never 0.
        let a5 = lines.iter().find(|l| l.starts_with("a5,")).unwrap();
        assert!(a5.ends_with(",300,0,30,"), "{a5}");
    }

    #[test]
    fn small_costs_are_not_written_in_exponent_notation() {
        let mut outcome = fixture::outcomes().remove(0);
        outcome.attempts[0].cost_usd = Some(0.0000756);
        let text = render(&[outcome]);
        assert!(text.contains(",0.0000756\n"), "{text}");
        assert!(!text.contains("e-"), "{text}");
    }

    #[test]
    fn figures_too_long_for_the_stack_buffer_are_written_whole() {
        let mut outcome = fixture::outcomes().remove(0);
        outcome.attempts[0].cost_usd = Some(1e60);
        outcome.attempts[0].latency = Duration::from_micros(1_234_500);
        let text = render(&[outcome]);
        // 61 digits and 12 decimals do not fit in 64 bytes: the whole figure still goes out.
        assert!(text.contains(&format!(",{:.0}\n", 1e60)), "{text}");
        assert!(text.contains(",1234.5,"), "{text}");
    }

    /// The integer path prints what the float formatter prints, for the figures a row holds
    /// (whole microseconds as milliseconds, costs) and for values near a rounding half.
    #[test]
    fn decimals_match_the_exact_formatting() {
        fn written(v: f64, places: usize) -> String {
            let mut out = Vec::new();
            {
                let mut w = ::csv::Writer::from_writer(&mut out);
                w.serialize((Wrapped(v, places),)).unwrap();
                w.flush().unwrap();
            }
            String::from_utf8(out).unwrap().trim_end().to_string()
        }
        struct Wrapped(f64, usize);
        impl Serialize for Wrapped {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                decimals(&Some(self.0), self.1, s)
            }
        }
        let exact = |v: f64, places: usize| trim_zeros(&format!("{v:.places$}")).to_string();
        let mut values: Vec<(f64, usize)> = Vec::new();
        for micros in (0..200_000u64)
            .step_by(7)
            .chain([999_999, 1_000_000, 86_400_000_000, 1 << 39])
        {
            values.push((micros as f64 / 1e3, 3));
        }
        for &cost in &[
            0.0000756,
            6e-5,
            1.2345678901234e-5,
            0.000_000_000_000_4,
            0.5,
            0.0625,
            12.5,
            1e-13,
        ] {
            values.push((cost, 12));
        }
        for places in [0, 1, 2, 3, 12] {
            for half in [0.5f64, 2.5, 0.125, 0.0005, 1.0005, 0.0015] {
                values.push((half, places));
            }
        }
        values.extend([(-0.0, 3), (-1.5, 3), (1e15, 3), (f64::MAX, 3)]);
        for (v, places) in values {
            assert_eq!(written(v, places), exact(v, places), "{v} at {places} places");
        }
        assert_eq!(scaled(1234.567, 3), Some((1234, 567)));
        assert_eq!(scaled(0.0005, 3), None, "a half goes to the exact formatter");
    }

    #[test]
    fn appending_to_an_existing_file_writes_no_second_header() {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..2 {
            let mut csv = RequestsCsv::open(dir.path()).unwrap();
            csv.write_outcome(&fixture::outcomes()[0]).unwrap();
            csv.flush().unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(REQUESTS_FILE)).unwrap();
        assert_eq!(text.matches("id,line,").count(), 1, "{text}");
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn rows_parse_back_into_the_struct() {
        let text = render(&fixture::outcomes());
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<RequestRow> = reader.deserialize().collect::<Result<_, _>>().unwrap();
        let outcomes = fixture::outcomes();
        let expected: Vec<RequestRow<&str>> = outcomes.iter().flat_map(rows_of).collect();
        assert_eq!(rows.len(), expected.len());
        for (row, written) in rows.iter().zip(&expected) {
            let borrowed = RequestRow {
                id: row.id.as_str(),
                target: row.target.as_str(),
                model: row.model.as_str(),
                line: row.line,
                attempt: row.attempt,
                status: row.status,
                error_class: row.error_class,
                sent_at_ms: row.sent_at_ms,
                ttft_ms: row.ttft_ms,
                itl_ms: row.itl_ms,
                latency_ms: row.latency_ms,
                input_tokens: row.input_tokens,
                cached_input_tokens: row.cached_input_tokens,
                output_tokens: row.output_tokens,
                cost_usd: row.cost_usd,
            };
            assert_eq!(&borrowed, written);
        }
    }
}
