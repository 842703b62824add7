//! Structured logs (tracing) on stderr: `--log-format text|json` and `RUST_LOG`.
//!
//! Logs are off unless `RUST_LOG` or a log format is given; `RUST_LOG` then picks what is
//! logged (default `info`). stdout (the final table) and the progress display are untouched.
//!
//! No secret reaches a log line: sheepdog never logs a key, and as a second line of defence
//! every line is scrubbed of the API keys in use ([`redact`], called for each key read) before
//! it is written, so even a dependency's trace output cannot leak one.

use std::io::Write;
use std::sync::RwLock;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Keys shorter than this are not scrubbed from log lines or provider text (they would mask
/// ordinary text); no real provider key is this short.
pub const MIN_REDACTED_LEN: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// How the binary asked for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// `--log-format` was given: log at `info` even without `RUST_LOG`.
    pub requested: bool,
}

/// Installs the global subscriber. `rust_log` is the value of `RUST_LOG`.
pub fn init(settings: LogSettings, rust_log: Option<&str>) -> Result<(), String> {
    let rust_log = rust_log.map(str::trim).filter(|v| !v.is_empty());
    if rust_log.is_none() && !settings.requested {
        return Ok(());
    }
    let filter = match rust_log {
        Some(text) => EnvFilter::try_new(text).map_err(|e| format!("RUST_LOG={text:?}: {e}"))?,
        None => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_ansi(false);
    let installed = if settings.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))
}

/// Scrubs `secret` from every log line written from now on.
pub fn redact(secret: &str) {
    if secret.len() < MIN_REDACTED_LEN {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write() {
        if !secrets.iter().any(|s| s == secret) {
            secrets.push(secret.to_string());
        }
    }
}

/// `text` with every registered secret replaced by `[redacted]`.
pub fn scrub(text: &str) -> std::borrow::Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        return text.into();
    };
    let mut text: std::borrow::Cow<'_, str> = text.into();
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[redacted]").into();
        }
    }
    text
}

/// Stderr, scrubbed. The fmt layer writes each event with one `write`, so a key never spans
/// two calls.
struct RedactingStderr;

struct Redacting;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = Redacting;

    fn make_writer(&'a self) -> Redacting {
        Redacting
    }
}

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_scrubbed_and_short_ones_ignored() {
        redact("sk-logging-test-0123456789abcdef");
        redact("short");
        let line = "auth sk-logging-test-0123456789abcdef failed; short text stays";
        assert_eq!(scrub(line), "auth [redacted] failed; short text stays");
        assert_eq!(scrub("nothing secret"), "nothing secret");
    }

    #[test]
    fn a_bad_rust_log_is_an_error_that_names_it() {
        let settings = LogSettings::default();
        let error = init(settings, Some("sheepdog=loud")).err().unwrap_or_default();
        assert!(error.contains("RUST_LOG"), "{error}");
        assert_eq!(init(settings, None), Ok(()));
    }
}
