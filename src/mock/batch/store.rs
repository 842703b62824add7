//! What the mock's Files and Batches APIs hold: uploaded and produced files, and batches.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// A file: uploaded (`purpose = "batch"`) or written by a batch (`batch_output`).
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub id: String,
    pub filename: String,
    pub purpose: String,
    pub created_at: u64,
    pub content: Bytes,
}

impl StoredFile {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "file",
            "bytes": self.content.len(),
            "created_at": self.created_at,
            "expires_at": null,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": null,
        })
    }
}

/// A batch and where it is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Batch {
    pub id: String,
    /// 1-based, in creation order (what `--batch-expire` / `--batch-failed` name).
    pub number: u64,
    pub endpoint: String,
    pub input_file_id: String,
    pub completion_window: String,
    pub status: String,
    pub errors: Option<Value>,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    pub created_at: u64,
    pub in_progress_at: Option<u64>,
    pub expires_at: u64,
    pub finalizing_at: Option<u64>,
    pub completed_at: Option<u64>,
    pub failed_at: Option<u64>,
    pub expired_at: Option<u64>,
    pub cancelling_at: Option<u64>,
    pub cancelled_at: Option<u64>,
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub metadata: Option<Value>,
    /// `GET /v1/batches/{id}` refused so far (`BatchSettings::poll_429`).
    pub polls: u32,
    /// Cancelled by `POST /v1/batches/{id}/cancel`: no further line is answered.
    pub cancel: CancellationToken,
}

impl Batch {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.expires_at,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub files: HashMap<String, StoredFile>,
    pub batches: HashMap<String, Batch>,
    files_made: u64,
    batches_made: u64,
}

impl Store {
    /// Keeps a new file; returns it.
    pub fn add_file(&mut self, filename: String, purpose: &str, content: Bytes, now: u64) -> StoredFile {
        self.files_made += 1;
        let file = StoredFile {
            id: format!("file-mock{:016x}", self.files_made),
            filename,
            purpose: purpose.to_string(),
            created_at: now,
            content,
        };
        self.files.insert(file.id.clone(), file.clone());
        file
    }

    /// Keeps a new batch made by `make(id, number)`, in status `validating`; returns it.
    pub fn new_batch(&mut self, make: impl FnOnce(String, u64) -> Batch) -> Batch {
        self.batches_made += 1;
        let number = self.batches_made;
        let mut batch = make(format!("batch_mock{number:016x}"), number);
        batch.status = "validating".into();
        self.batches.insert(batch.id.clone(), batch.clone());
        batch
    }
}
