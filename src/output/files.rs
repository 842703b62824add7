//! The names of the files in a run folder (of `run`, `bench` and `merge`), in one place.

/// One line per item that succeeded (OpenAI Batch output format plus a `sheepdog` block).
pub const RESULTS_FILE: &str = "results.jsonl";
/// One line per item that failed for good, and per rejected input line.
pub const ERRORS_FILE: &str = "errors.jsonl";
/// Error lines replaced by a resume (`--retry-failed`, or items a stop cut short), kept for the user.
pub const REPLACED_FILE: &str = "errors.replaced.jsonl";
/// One row per request: per attempt for `run`, per request (retries inside) for `bench`.
pub const REQUESTS_FILE: &str = "requests.csv";
/// One byte per request sent (see [`crate::output::journal`]).
pub const SENT_FILE: &str = "requests.sent";
/// The run folder's lock (see [`crate::output::lock`]).
pub const LOCK_FILE: &str = "run.lock";
/// The run's manifest: input fingerprint, configuration hash, parts.
pub const MANIFEST_FILE: &str = "run.json";
/// The machine-readable summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// The Markdown report.
pub const MARKDOWN_FILE: &str = "report.md";
/// The HTML report (self-contained, with charts).
pub const HTML_FILE: &str = "report.html";
/// What `sheepdog merge` merged.
pub const MERGE_FILE: &str = "merge.json";
