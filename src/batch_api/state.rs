//! `batch_api.json`: every batch file of a run and what the provider said about it, written
//! (atomically) the moment the provider returns an id, so a resume never uploads or creates
//! anything twice.
//!
//! Before an upload the part is marked `uploading` with its unique file name, and before a
//! create `creating` with its unique metadata tag: a process killed after the provider acted
//! but before the id was written finds that file or batch again by name on resume.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::provider::ApiEndpoint;

pub const STATE_FILE: &str = "batch_api.json";
/// Folder of the run folder that holds the batch input files.
pub const PARTS_DIR: &str = "batch";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchState {
    /// Names the run at the provider (file names and batch metadata), so its files and batches
    /// can be found again.
    pub run_id: String,
    /// The job file the run was started with, for `sheepdog batch status|cancel`.
    pub config: Option<PathBuf>,
    pub completion_window: String,
    pub parts: Vec<PartState>,
}

/// One batch file and its batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartState {
    /// 1-based.
    pub number: u32,
    /// The endpoint of every line of the file, written as its Batch `url`
    /// (`/v1/embeddings`). Run folders from before mixed files have none: their parts are chat.
    #[serde(default, with = "batch_url")]
    pub endpoint: ApiEndpoint,
    /// Path of the batch input file, relative to the run folder.
    pub file: String,
    /// Input line numbers of the file's lines, relative to the run folder (one per line).
    pub index: String,
    pub lines: u64,
    pub bytes: u64,
    /// The file name given at upload, unique to this run and part.
    pub upload_name: String,
    /// An upload was started (it may have reached the provider before a crash).
    #[serde(default)]
    pub uploading: bool,
    pub input_file_id: Option<String>,
    /// A create was started (it may have reached the provider before a crash).
    #[serde(default)]
    pub creating: bool,
    pub batch_id: Option<String>,
    /// Last status the provider reported.
    pub status: Option<String>,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    /// Unix ms, by sheepdog's clock: when the create returned, when a final status was seen.
    pub created_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// Provider timestamps (unix s).
    pub provider_created_at: Option<u64>,
    pub provider_completed_at: Option<u64>,
    /// The provider's last request counts.
    #[serde(default)]
    pub counts: Counts,
    /// Every line of the part has its line in results.jsonl or errors.jsonl.
    #[serde(default)]
    pub written: bool,
    /// Why a batch failed (its `errors`), for errors.jsonl.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
}

/// Final statuses of a batch: nothing more will happen to it.
pub fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "expired" | "cancelled")
}

impl PartState {
    /// Created at the provider and not in a final status yet.
    pub fn is_running(&self) -> bool {
        self.batch_id.is_some() && !self.status.as_deref().is_some_and(is_final)
    }

    /// Created → final status, as sheepdog saw it.
    pub fn latency_ms(&self) -> Option<u64> {
        Some(self.ended_ms?.saturating_sub(self.created_ms?))
    }
}

impl BatchState {
    pub fn read(dir: &Path) -> Result<Option<BatchState>, String> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: not a batch state file: {e}", path.display()))
    }

    /// Writes the state through a synced temporary file and a rename.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::report::write_atomic(dir, STATE_FILE, &bytes)
    }
}

/// An endpoint in the state file as the Batch API names it (`/v1/chat/completions`), so the
/// file reads the same as the batch objects the provider returns.
mod batch_url {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::provider::ApiEndpoint;

    pub fn serialize<S: Serializer>(endpoint: &ApiEndpoint, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(endpoint.batch_url())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ApiEndpoint, D::Error> {
        let url = String::deserialize(deserializer)?;
        ApiEndpoint::from_batch_url(&url)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown batch endpoint {url:?}")))
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_without_an_endpoint_is_chat_and_endpoints_are_written_as_batch_urls() {
        let old = r#"{"run_id": "r", "config": null, "completion_window": "24h", "parts": [
            {"number": 1, "file": "batch/part-0001.jsonl", "index": "batch/part-0001.lines",
             "lines": 2, "bytes": 10, "upload_name": "r-part-0001.jsonl", "input_file_id": "file-1",
             "batch_id": "batch_1", "status": "in_progress", "output_file_id": null,
             "error_file_id": null, "created_ms": 1, "ended_ms": null, "provider_created_at": null,
             "provider_completed_at": null, "failure": null}]}"#;
        let state: BatchState = serde_json::from_str(old).unwrap();
        assert_eq!(state.parts[0].endpoint, ApiEndpoint::Chat);

        let mut part = state.parts[0].clone();
        part.endpoint = ApiEndpoint::Embeddings;
        let written = serde_json::to_value(&part).unwrap();
        assert_eq!(written["endpoint"], "/v1/embeddings");
        let read: PartState = serde_json::from_value(written).unwrap();
        assert_eq!(read.endpoint, ApiEndpoint::Embeddings);

        let bad = serde_json::json!({"number": 1, "endpoint": "/v1/images", "file": "f", "index": "i",
            "lines": 1, "bytes": 1, "upload_name": "u"});
        let error = serde_json::from_value::<PartState>(bad).unwrap_err().to_string();
        assert!(error.contains("/v1/images"), "{error}");
    }
}
