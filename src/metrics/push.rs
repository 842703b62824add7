//! `--pushgateway URL`: the run's metrics pushed to a Prometheus Pushgateway during the run
//! (every `--push-interval`) and once at the end, so a run shorter than a scrape interval is
//! still seen. The group is `job="sheepdog"` with the run folder and the shard as grouping
//! labels; each push replaces the group (PUT) in the classic text format.

use std::time::Duration;

use base64::Engine as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Format, Metrics};

/// The Pushgateway job label.
pub const JOB: &str = "sheepdog";

/// Longest a push may take before it is given up (the run never waits longer on one).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a push failed (the run goes on; the failure is said once per push).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot reach the Pushgateway: {0}")]
    Unreachable(String),
    #[error("the Pushgateway answered HTTP {status}: {body}")]
    Refused { status: u16, body: String },
}

/// The grouping key of a run's metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The run folder, as given.
    pub run: String,
    /// `I/N` of a sharded run, else `0/1`.
    pub shard: String,
}

impl Grouping {
    /// `/metrics/job/sheepdog/run@base64/<run>/shard@base64/<shard>` (base64url, as the
    /// Pushgateway reads label values that may hold `/`).
    pub fn path(&self) -> String {
        let encode = |value: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value);
        let value = |v: &str| if v.is_empty() { "=".to_string() } else { encode(v) };
        format!(
            "/metrics/job/{JOB}/run@base64/{}/shard@base64/{}",
            value(&self.run),
            value(&self.shard)
        )
    }
}

/// Pushes a [`Metrics`] while the run lasts; [`Pusher::finish`] makes the last push.
pub struct Pusher {
    client: reqwest::Client,
    url: String,
    metrics: Metrics,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Pusher {
    /// Starts pushing to `base` (the Pushgateway's URL) every `interval`.
    pub fn start(metrics: Metrics, base: &str, grouping: &Grouping, interval: Duration) -> Pusher {
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let url = format!("{}{}", base.trim_end_matches('/'), grouping.path());
        let stop = CancellationToken::new();
        let task = {
            let (client, url, metrics, stop) = (client.clone(), url.clone(), metrics.clone(), stop.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = stop.cancelled() => return,
                    }
                    if let Err(e) = push(&client, &url, &metrics).await {
                        tracing::warn!(error = %e, "pushgateway push failed");
                    }
                }
            })
        };
        Pusher {
            client,
            url,
            metrics,
            stop,
            task: Some(task),
        }
    }

    /// Stops the periodic pushes and makes the final one.
    pub async fn finish(mut self) -> Result<(), PushError> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        push(&self.client, &self.url, &self.metrics).await
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn push(client: &reqwest::Client, url: &str, metrics: &Metrics) -> Result<(), PushError> {
    let body = metrics.render_as(Format::Classic);
    let response = client
        .put(url)
        .header(reqwest::header::CONTENT_TYPE, super::format::CLASSIC)
        .body(body)
        .send()
        .await
        .map_err(|e| PushError::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body: String = response.text().await.unwrap_or_default().chars().take(300).collect();
    Err(PushError::Refused {
        status: status.as_u16(),
        body: body.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_labels_are_base64url_so_paths_survive() {
        let grouping = Grouping {
            run: "reports/run-1".into(),
            shard: "0/4".into(),
        };
        assert_eq!(
            grouping.path(),
            "/metrics/job/sheepdog/run@base64/cmVwb3J0cy9ydW4tMQ/shard@base64/MC80"
        );
    }
}
