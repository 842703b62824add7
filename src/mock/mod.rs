//! The built-in mock OpenAI-compatible server.
//!
//! It speaks enough of the chat-completions protocol (plain and SSE streaming, `/v1/models`,
//! OpenAI-shaped errors) that real clients and sheepdog's own client work against it unchanged,
//! with configurable latency and injected faults. Replies are deterministic functions of the
//! messages, so tests can compare runs; fault injection and latency sampling are seeded.
//!
//! Endpoints:
//! - `POST /v1/chat/completions` (also `/chat/completions`): the answer, or an error (checked
//!   in this order: API key, request body, model, RPM limit, injected faults).
//! - `POST /v1/completions`, `/v1/embeddings`, `/v1/responses`, `/v1/moderations` (also
//!   without `/v1`): the same checks, latency, faults and limits, answers of their own shape
//!   (see [`api`]).
//! - `GET /v1/models`, `GET /v1/models/{id}`: the configured (or default) model list.
//! - the Files and Batches APIs (`/v1/files`, `/v1/batches`), see [`batch`].
//! - `GET /mock/stats[?log=true]`: [`MockStats`] as JSON, no key needed.
//!
//! The server is built for throughput: counters are atomics, the only lock (the request log) is
//! held for a push and never across an await, and it sleeps only when a latency is configured.

mod api;
mod batch;
mod faults;
mod handlers;
mod limits;
mod models;
mod prefix_cache;
mod queue;
mod reply;
mod request;
mod schema;
mod stats;
mod stream;
mod stream_faults;
mod structured;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use batch::{parse_batch_numbers, BatchSettings, BATCH_ENDPOINTS};
pub use faults::{parse_fail_models, parse_failures};
pub use limits::parse_rpm_schedule;
pub use stats::{LoggedRequest, MockStats};
pub use stream_faults::{parse_stream_faults, StreamFaultKind};

/// How long `shutdown` waits for open requests (e.g. a slow stream) before it stops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Models listed by `GET /v1/models` when [`MockConfig::models`] is not set.
pub const DEFAULT_MODELS: &[&str] = &[
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4o-mini",
    "deepseek-chat",
    "claude-sonnet-4-5",
    "gemini-2.5-flash",
];

/// How the mock server behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct MockConfig {
    /// Delay before a non-streamed answer.
    pub latency: Latency,
    /// Streamed answers: delay before the first content chunk (the role chunk goes at once).
    pub ttft: Latency,
    /// Streamed answers: delay between content chunks.
    pub itl: Latency,
    /// Fixed reply length in tokens; `None` = derived from the prompt (16..=64).
    pub output_tokens: Option<u32>,
    /// HTTP statuses to inject with their probabilities, e.g. `[(429, 0.1), (500, 0.05)]`.
    pub failures: Vec<(u16, f64)>,
    /// What injected 429s ask the client to wait (`retry-after`, `retry-after-ms`).
    pub retry_after: Duration,
    /// If set, requests without `Authorization: Bearer <key>` get 401.
    pub require_key: Option<String>,
    /// If set, any other model gets 404 `model_not_found`.
    pub models: Option<Vec<String>>,
    /// Seeds fault injection and latency sampling.
    pub seed: u64,
    /// Requests per minute the server admits (any key, any model); beyond it, 429
    /// `rate_limit_exceeded` with the exact wait in `retry-after`/`retry-after-ms`. `None` = no limit.
    pub rpm: Option<u32>,
    /// The most allowance `rpm`/`tpm` accumulate: this long's worth (default 60 s, a whole
    /// minute). Providers enforce per-minute limits over shorter windows; `1s` is like them.
    pub burst: Duration,
    /// The request limit changing during the run: `(from, rpm)`, the first from 0 s
    /// (overrides `rpm`). Empty: `rpm` throughout.
    pub rpm_schedule: Vec<(Duration, u32)>,
    /// Streamed answers that break, by kind, with their probabilities (sum <= 1): after some
    /// content chunks (fewer than the reply has) the stream is cut, dropped, stalled, sent a
    /// non-JSON line or an error event. See [`StreamFaultKind`].
    pub stream_faults: Vec<(StreamFaultKind, f64)>,
    /// How long a `stall` stream fault sends nothing (longer than a client's idle timeout).
    pub stream_stall: Duration,
    /// Standard deviation of the reply length around `output_tokens` (normal distribution,
    /// drawn per prompt, so the same messages still get the same reply). 0 = fixed.
    pub output_tokens_std: f64,
    /// Requests handled at once; more wait in a queue server-side (their wait counts in their
    /// latency and TTFT), to show saturation. `None` = no limit.
    pub max_concurrency: Option<usize>,
    /// A server-wide stall: the request after this many stops the server, and every request
    /// arriving during the next `stall_for` waits until it ends (for coordinated-omission tests).
    pub stall_after: Option<u64>,
    pub stall_for: Duration,
    /// Tokens per minute per key (prompt + completion of each answer); beyond it, 429.
    pub tpm: Option<u64>,
    /// Models that always fail with a status, e.g. `[("gpt-4.1", 404)]`.
    pub fail_models: Vec<(String, u16)>,
    /// After this many answered requests every request gets 429 `insufficient_quota`.
    pub quota: Option<u64>,
    /// Probability that a request is never answered (the client's timeout must end it).
    pub hang: f64,
    /// Whether answers carry `x-ratelimit-*` headers when `rpm`/`tpm` are set (default true).
    pub ratelimit_headers: bool,
    /// The Files and Batches APIs: processing time, failed lines, expired and failed batches.
    pub batch: BatchSettings,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency: Latency::default(),
            ttft: Latency::default(),
            itl: Latency::default(),
            output_tokens: None,
            failures: Vec::new(),
            retry_after: Duration::from_secs(1),
            require_key: None,
            models: None,
            seed: 0,
            rpm: None,
            burst: Duration::from_secs(60),
            rpm_schedule: Vec::new(),
            stream_faults: Vec::new(),
            stream_stall: Duration::from_secs(60),
            output_tokens_std: 0.0,
            max_concurrency: None,
            stall_after: None,
            stall_for: Duration::ZERO,
            tpm: None,
            fail_models: Vec::new(),
            quota: None,
            hang: 0.0,
            ratelimit_headers: true,
            batch: BatchSettings::default(),
        }
    }
}

impl MockConfig {
    /// Checks the fault list (statuses 100..=599, probabilities 0..=1, sum <= 1), `rpm` (at
    /// least 1), the stream faults (0..=1, sum <= 1), `output_tokens_std` and `max_concurrency`.
    pub fn validate(&self) -> Result<(), String> {
        faults::validate_failures(&self.failures)?;
        if self.burst.is_zero() {
            return Err("burst must be longer than 0".to_owned());
        }
        if self.rpm_schedule.iter().any(|(_, n)| *n == 0) {
            return Err("every rate of the rpm schedule must be at least 1".to_owned());
        }
        if self.rpm == Some(0) {
            return Err("rpm must be at least 1 (leave it out for no limit)".to_owned());
        }
        if self.tpm == Some(0) {
            return Err("tpm must be at least 1 (leave it out for no limit)".to_owned());
        }
        if !(self.hang.is_finite() && (0.0..=1.0).contains(&self.hang)) {
            return Err(format!("hang probability {} is not in 0..=1", self.hang));
        }
        for (model, status) in &self.fail_models {
            if !(400..=599).contains(status) {
                return Err(format!("fail-model {model}={status}: the status must be in 400..=599"));
            }
        }
        stream_faults::validate_stream_faults(&self.stream_faults)?;
        self.batch.validate()?;
        if !(self.output_tokens_std.is_finite() && self.output_tokens_std >= 0.0) {
            return Err(format!(
                "output tokens standard deviation {} must be 0 or more",
                self.output_tokens_std
            ));
        }
        if self.output_tokens_std > 0.0 && self.output_tokens.is_none() {
            return Err("output tokens standard deviation needs a mean (output tokens)".to_owned());
        }
        if self.max_concurrency == Some(0) {
            return Err("max_concurrency must be at least 1 (leave it out for no limit)".to_owned());
        }
        Ok(())
    }
}

/// A delay: fixed, or drawn from a normal distribution clamped at zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    Fixed(Duration),
    Normal { mean: Duration, std: Duration },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed(Duration::ZERO)
    }
}

impl Latency {
    /// Whether this latency can never be more than zero (so nothing needs to sleep).
    pub fn is_zero(&self) -> bool {
        match *self {
            Latency::Fixed(d) => d.is_zero(),
            Latency::Normal { mean, std } => mean.is_zero() && std.is_zero(),
        }
    }

    /// Draws one delay. A normal draw below zero is zero.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Normal { mean, std } => {
                if std.is_zero() {
                    return mean;
                }
                // Box-Muller; `1 - u` keeps the logarithm's argument in (0, 1].
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let secs = mean.as_secs_f64() + z * std.as_secs_f64();
                Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(mean)
            }
        }
    }
}

/// Parses `50ms` (fixed) or `200ms±50ms` / `200ms+-50ms` (normal: mean ± standard deviation),
/// durations in humantime form.
impl FromStr for Latency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let parse = |part: &str| {
            humantime::parse_duration(part.trim())
                .map_err(|e| format!("`{}` is not a duration like 50ms or 1.5s: {e}", part.trim()))
        };
        let split = s.split_once('±').or_else(|| s.split_once("+-"));
        match split {
            Some((mean, std)) => Ok(Latency::Normal {
                mean: parse(mean)?,
                std: parse(std)?,
            }),
            None => Ok(Latency::Fixed(parse(s)?)),
        }
    }
}

/// Pending connections the listen queue holds (the kernel caps it at `net.core.somaxconn`).
///
/// tokio's `TcpListener::bind` asks for 1024. A client that opens 2,000 connections at once then
/// overflows the queue: the kernel drops the extra SYNs and the client resends them a second
/// later, which showed up as a p99 one second above the mock's latency at `--concurrency 2000`.
pub const LISTEN_BACKLOG: u32 = 8192;

/// Binds `addr` with a listen queue of [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A running mock server. Dropping it without [`MockServer::shutdown`] still stops it.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<handlers::Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl MockServer {
    /// Binds `addr` (tests use 127.0.0.1:0) and serves in a background tokio task.
    ///
    /// Fails with `InvalidInput` when the config is invalid (see [`MockConfig::validate`]).
    pub async fn start(config: MockConfig, addr: SocketAddr) -> std::io::Result<MockServer> {
        config
            .validate()
            .map_err(|msg| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))?;
        let listener = listen(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(handlers::Shared::new(config));
        let router = handlers::router(shared.clone());
        // Batch lines are answered by the live routes, in process.
        let batches = batch::BatchApi::new(&shared.config, shared.recorder.clone(), router.clone());
        let router = batch::router(batches).merge(router);
        let stop = CancellationToken::new();

        use axum::serve::ListenerExt;
        // Small SSE chunks must leave at once, or Nagle's algorithm distorts inter-token timing.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move { serve.await });
        Ok(MockServer {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The address actually bound (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients use, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// A snapshot of the counters, the same data as `GET /mock/stats?log=true`.
    pub fn stats(&self) -> MockStats {
        self.shared.recorder.snapshot(true)
    }

    /// Stops accepting connections, lets open requests finish (for at most a few seconds),
    /// then returns.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
