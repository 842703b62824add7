//! The HTTP endpoint: `GET /metrics` on the address given with `--metrics-addr`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// How long a shutdown waits for a scrape in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves a [`Metrics`] until [`MetricsServer::shutdown`] (or until dropped).
pub struct MetricsServer {
    addr: SocketAddr,
    metrics: Metrics,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free port; [`MetricsServer::addr`] tells which).
    pub async fn start(metrics: Metrics, addr: SocketAddr) -> std::io::Result<MetricsServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let served = metrics.clone();
        let router = Router::new().route(
            "/metrics",
            get(move |headers: HeaderMap| {
                let metrics = served.clone();
                async move {
                    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
                    let format = super::Format::negotiate(accept);
                    ([(CONTENT_TYPE, format.content_type())], metrics.render_as(format))
                }
            }),
        );
        let stop = CancellationToken::new();
        let serve = axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move { serve.await });
        Ok(MetricsServer {
            addr,
            metrics,
            stop,
            task: Some(task),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// The metrics served (a handle sharing their values).
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
