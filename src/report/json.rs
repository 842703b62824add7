//! `summary.json`: the [`Summary`] itself, pretty-printed, versioned.

use serde::Deserialize;

use crate::stats::summary::{Summary, SCHEMA_VERSION};

/// Why a `summary.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("not a sheepdog summary: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a sheepdog summary: no schema_version field")]
    MissingVersion,
    #[error(
        "summary has schema_version {found}, but this sheepdog ({ours}) reads version {supported}: \
         re-render it with the sheepdog version that wrote it",
        ours = env!("CARGO_PKG_VERSION")
    )]
    UnsupportedVersion { found: u64, supported: u32 },
}

/// Pretty JSON with a trailing newline.
pub fn render(summary: &Summary) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(summary)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Reads a `summary.json`, refusing a schema version this build does not know.
pub fn parse(bytes: &[u8]) -> Result<Summary, ParseError> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<u64>,
    }
    // Look at the version first, so a newer file gets a clear message rather than
    // "missing field" errors from its changed layout.
    let version: Version = serde_json::from_slice(bytes)?;
    match version.schema_version {
        None => Err(ParseError::MissingVersion),
        Some(found) if found != u64::from(SCHEMA_VERSION) => Err(ParseError::UnsupportedVersion {
            found,
            supported: SCHEMA_VERSION,
        }),
        Some(_) => Ok(serde_json::from_slice(bytes)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::fixture;

    #[test]
    fn round_trip_is_equal() {
        let summary = fixture::summary();
        let bytes = render(&summary).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'));
        assert_eq!(parse(&bytes).unwrap(), summary);

        let empty = fixture::empty_summary();
        assert_eq!(parse(&render(&empty).unwrap()).unwrap(), empty);
    }

    #[test]
    fn round_trip_keeps_optional_fields() {
        let mut summary = fixture::summary();
        summary.job.aborted = Some("auth: invalid_api_key on every target".into());
        let back = parse(&render(&summary).unwrap()).unwrap();
        assert_eq!(back.job.aborted, summary.job.aborted);
        assert!(back.ttft_ms.is_some());
        assert_eq!(back, summary);
    }

    #[test]
    fn unknown_schema_version_is_refused() {
        let mut value = serde_json::to_value(fixture::summary()).unwrap();
        value["schema_version"] = serde_json::json!(99);
        value["totals"] = serde_json::json!("changed meaning");
        let bytes = serde_json::to_vec(&value).unwrap();
        let err = parse(&bytes).unwrap_err();
        assert!(matches!(err, ParseError::UnsupportedVersion { found: 99, .. }));
        let message = err.to_string();
        assert!(message.contains("schema_version 99"), "{message}");
        assert!(message.contains("reads version 1"), "{message}");
    }

    #[test]
    fn missing_version_and_garbage_are_refused() {
        assert!(matches!(parse(br#"{"totals": {}}"#), Err(ParseError::MissingVersion)));
        let err = parse(b"not json").unwrap_err();
        assert!(err.to_string().starts_with("not a sheepdog summary"), "{err}");
    }
}
