//! Upload, create, poll and collect: every step's id written to the state file the moment the
//! provider returns it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::client::{BatchClient, CallError};
use super::state::{is_final, now_ms, BatchState, Counts};
use super::{collect, save, BatchError};
use crate::output::lineset::LineSet;
use crate::output::ResultsWriter;
use crate::progress::Progress;
use crate::stats::{Collector, LiveCounts};

/// Polls that fail in a row before the run stops (the batches keep running).
const MAX_POLL_FAILURES: u32 = 20;
const LONGEST_POLL_WAIT: Duration = Duration::from_secs(600);

pub struct Poller {
    pub client: BatchClient,
    pub dir: PathBuf,
    pub state: BatchState,
    pub writer: ResultsWriter,
    pub collector: Collector,
    pub done: LineSet,
    pub progress: Progress,
    pub poll_interval: Duration,
    pub target: String,
    pub prices: crate::pricing::PriceTable,
}

impl Poller {
    pub async fn run(&mut self) -> Result<(), BatchError> {
        for i in 0..self.state.parts.len() {
            if !self.state.parts[i].written {
                self.submit(i).await?;
            }
        }
        let mut failures = 0;
        let mut wait = self.poll_interval;
        loop {
            let mut failed_poll = None;
            for i in 0..self.state.parts.len() {
                let part = &self.state.parts[i];
                if !part.is_running() {
                    continue;
                }
                let Some(id) = part.batch_id.clone() else { continue };
                match self.client.retrieve(&id).await {
                    Ok(batch) => self.update(i, &batch)?,
                    Err(CallError::Transient { message, wait }) => {
                        tracing::warn!(%message, "polling a batch failed; trying again later");
                        failed_poll = Some(wait);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            for i in 0..self.state.parts.len() {
                let part = &self.state.parts[i];
                if !part.written && part.status.as_deref().is_some_and(is_final) {
                    self.collect(i).await?;
                }
            }
            self.show();
            if !self.state.parts.iter().any(|p| p.is_running()) {
                return Ok(());
            }
            match failed_poll {
                Some(asked) => {
                    failures += 1;
                    if failures >= MAX_POLL_FAILURES {
                        return Err(BatchError::Provider(format!(
                            "{failures} polls in a row failed; the batches keep running (resume to continue)"
                        )));
                    }
                    wait = asked.unwrap_or(wait * 2).max(self.poll_interval).min(LONGEST_POLL_WAIT);
                }
                None => {
                    failures = 0;
                    wait = self.poll_interval;
                }
            }
            self.client.pause(wait).await?;
        }
    }

    /// Uploads the part's file and creates its batch, unless the state says they exist.
    async fn submit(&mut self, i: usize) -> Result<(), BatchError> {
        let name = self.state.parts[i].upload_name.clone();
        let tag = name.trim_end_matches(".jsonl").to_string();
        if self.state.parts[i].input_file_id.is_none() {
            // An upload cut short may have reached the provider: look for it by its name.
            let found = if self.state.parts[i].uploading {
                self.find(self.client.find_file(&name).await)?
            } else {
                None
            };
            let id = match found {
                Some(id) => id,
                None => {
                    self.state.parts[i].uploading = true;
                    save(&self.state, &self.dir)?;
                    let path = self.dir.join(&self.state.parts[i].file);
                    let content = tokio::fs::read(&path)
                        .await
                        .map_err(|e| BatchError::Setup(format!("{}: cannot read: {e}", path.display())))?;
                    self.client.upload(&name, content.into()).await?
                }
            };
            self.state.parts[i].input_file_id = Some(id);
            save(&self.state, &self.dir)?;
        }
        if self.state.parts[i].batch_id.is_none() {
            let found = if self.state.parts[i].creating {
                self.find(self.client.find_batch(&tag).await)?
            } else {
                None
            };
            let batch = match found {
                Some(batch) => batch,
                None => {
                    self.state.parts[i].creating = true;
                    save(&self.state, &self.dir)?;
                    let part = &self.state.parts[i];
                    let file = part.input_file_id.clone().unwrap_or_default();
                    self.client
                        .create(&file, part.endpoint.batch_url(), &self.state.completion_window, &tag)
                        .await?
                }
            };
            let Some(id) = batch["id"].as_str() else {
                return Err(BatchError::Provider("create batch: the answer has no id".into()));
            };
            let part = &mut self.state.parts[i];
            part.batch_id = Some(id.to_string());
            part.created_ms = Some(now_ms());
            save(&self.state, &self.dir)?;
            self.update(i, &batch)?;
        }
        Ok(())
    }

    /// A look-up the provider may not support: refused is "not found" (with a warning).
    fn find<T>(&self, found: Result<Option<T>, CallError>) -> Result<Option<T>, BatchError> {
        match found {
            Ok(found) => Ok(found),
            Err(CallError::Refused { message, .. }) => {
                tracing::warn!(%message, "cannot look up an earlier upload or batch; sending it again");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Takes what the provider says about part `i`'s batch; saves the state when it changed.
    fn update(&mut self, i: usize, batch: &Value) -> Result<(), BatchError> {
        let part = &mut self.state.parts[i];
        let before = (part.status.clone(), part.counts);
        let counts = &batch["request_counts"];
        let count = |name: &str| counts[name].as_u64().unwrap_or(0);
        part.counts = Counts {
            total: count("total"),
            completed: count("completed"),
            failed: count("failed"),
        };
        let text = |name: &str| batch[name].as_str().map(str::to_string);
        part.status = text("status").or(part.status.take());
        part.output_file_id = text("output_file_id").or(part.output_file_id.take());
        part.error_file_id = text("error_file_id").or(part.error_file_id.take());
        part.provider_created_at = batch["created_at"].as_u64().or(part.provider_created_at);
        part.provider_completed_at = ["completed_at", "failed_at", "expired_at", "cancelled_at"]
            .iter()
            .find_map(|k| batch[*k].as_u64())
            .or(part.provider_completed_at);
        if let Some(errors) = batch["errors"]["data"].as_array() {
            let said: Vec<String> = errors
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect();
            if !said.is_empty() {
                part.failure = Some(said.join("; "));
            }
        }
        let ended = part.status.as_deref().is_some_and(is_final);
        if ended && part.ended_ms.is_none() {
            part.ended_ms = Some(now_ms());
        }
        if (part.status.clone(), part.counts) != before {
            save(&self.state, &self.dir)?;
        }
        Ok(())
    }

    /// Downloads the output and error files of part `i` and writes a line per item.
    async fn collect(&mut self, i: usize) -> Result<(), BatchError> {
        let part = self.state.parts[i].clone();
        let mut files = Vec::new();
        for id in [&part.output_file_id, &part.error_file_id] {
            files.push(match id {
                Some(id) => self.client.content(id).await?.to_vec(),
                None => Vec::new(),
            });
        }
        let context = collect::Context {
            target: &self.target,
            prices: &self.prices,
        };
        collect::collect(
            &self.dir,
            &part,
            &files[0],
            &files[1],
            &context,
            &mut self.writer,
            &mut self.collector,
            &mut self.done,
        )?;
        self.state.parts[i].written = true;
        save(&self.state, &self.dir)
    }

    fn show(&mut self) {
        let live = self.collector.live();
        let (mut completed, mut failed) = (0, 0);
        for part in self.state.parts.iter().filter(|p| !p.written) {
            completed += part.counts.completed;
            failed += part.counts.failed;
        }
        self.progress.update(&LiveCounts {
            done: live.done + completed + failed,
            succeeded: live.succeeded + completed,
            failed: live.failed + failed,
            ..live
        });
    }
}
