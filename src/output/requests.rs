//! `requests.csv`: one row per request, written as a run or bench goes. A run's rows are
//! [`RequestRow`]s (one per attempt, see [`rows_of`]); a bench's are its own rows (one per
//! request, retries inside it). Both go through the one writer, [`RequestsCsv`], whose header is
//! the row struct's field names.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

mod text;

use text::{decimal_text, FixedPoint};

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

impl RequestRow<&'static str> {
    /// The row of a request sent whose answer was lost: class `lost`, nothing else known.
    pub fn lost() -> RequestRow<&'static str> {
        RequestRow {
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
        }
    }
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

/// `v` with at most `places` decimals, trailing zeros dropped (see [`decimal_text`]).
fn decimals<S: Serializer>(v: &Option<f64>, places: usize, s: S) -> Result<S::Ok, S::Error> {
    let mut text = FixedPoint::default();
    match decimal_text(*v, places, &mut text) {
        Some(text) => s.serialize_str(&text),
        None => s.serialize_none(),
    }
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
///
/// Rows gather in a buffer that goes to the file once it holds 256 KiB (and on
/// [`RequestsCsv::flush`]). csv's serializer writes rows of any shape (a bench's, the header);
/// a run's rows after the first are written by hand ([`text`]), with the same bytes at a third
/// of the cost: this runs on the owner's one thread for every request.
pub struct RequestsCsv {
    path: PathBuf,
    file: File,
    rows: Vec<u8>,
    /// The header is still to be written (by csv's serializer, from the first row's struct).
    header_due: bool,
}

/// The buffer's size before it goes to the file.
const BUFFERED: usize = 256 * 1024;

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
        RequestsCsv {
            path,
            file,
            rows: Vec::with_capacity(BUFFERED + 4 * 1024),
            header_due: header,
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One row; its struct's field names are the header.
    pub fn write<R: Serialize>(&mut self, row: &R) -> Result<(), WriteError> {
        let mut csv = ::csv::WriterBuilder::new()
            .has_headers(self.header_due)
            .buffer_capacity(1024)
            .from_writer(&mut self.rows);
        let written = csv.serialize(row).and_then(|()| Ok(csv.flush()?));
        drop(csv);
        written.map_err(|e| self.fail(io::Error::from(e)))?;
        self.header_due = false;
        self.spill(BUFFERED)
    }

    /// One row per request of `outcome`.
    pub fn write_outcome(&mut self, outcome: &Outcome) -> Result<(), WriteError> {
        for row in rows_of(outcome) {
            if self.header_due {
                self.write(&row)?;
            } else {
                text::write_row(&mut self.rows, &row);
            }
        }
        self.spill(BUFFERED)
    }

    /// `count` rows of requests sent whose answers were lost (class `lost`, no item: see
    /// [`crate::output::journal`]).
    pub fn write_lost(&mut self, count: u64) -> Result<(), WriteError> {
        let row = RequestRow::lost();
        for _ in 0..count {
            self.write(&row)?;
        }
        Ok(())
    }

    /// Pushes buffered rows to the operating system.
    pub fn flush(&mut self) -> Result<(), WriteError> {
        self.spill(0)
    }

    /// Writes the buffer to the file once it holds `at_least` bytes.
    fn spill(&mut self, at_least: usize) -> Result<(), WriteError> {
        if self.rows.is_empty() || self.rows.len() < at_least {
            return Ok(());
        }
        let written = (&self.file).write_all(&self.rows);
        self.rows.clear();
        written.map_err(|e| self.fail(e))
    }

    fn fail(&self, source: io::Error) -> WriteError {
        WriteError {
            path: self.path.clone(),
            source,
        }
    }
}

/// Rows still buffered go to the file, as csv's own writer does when it is dropped (a
/// failure here is the caller's to see through [`RequestsCsv::flush`]).
impl Drop for RequestsCsv {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::text::{scaled, trim_zeros};
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
