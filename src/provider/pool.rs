//! The connections to plain-HTTP endpoints, kept open between requests, in a pool of
//! sheepdog's own: hyper's HTTP/1 connections over [`Connector`]'s sockets for streamed
//! answers ([`Http1`]), and sockets of sheepdog's own exchange for whole ones
//! ([`super::wire::Wire`]). The pool only needs to know whether a connection is closed
//! ([`Reusable`]).
//!
//! Why not hyper-util's pool: per request it hashed its key (the scheme and the authority,
//! byte by byte through SipHash), raced a checkout against a lazy connect, and spawned a
//! task to put the connection back once it was ready again; with its request wrapper that was
//! about a tenth of a short request's instructions. Here a request takes an idle connection of
//! its target from a short list under a lock, or opens one, and gives it back once its answer
//! has been read to the end ([`Lease::release`]).
//!
//! What hyper-util did that still holds: at most `max_idle` idle connections per target; a
//! closed idle connection is dropped when it is next looked at, and so is one idle for more
//! than [`MAX_IDLE_TIME`] (a NAT or a load balancer on the way may have forgotten it without a
//! word, and a request written into it would wait for its whole timeout); a request that a reused
//! connection could not take (it closed before the request was written) goes on a new
//! connection, so a server that closes idle connections causes no error; the answer of a
//! connection opened for it is waited for on that connection alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use tower::Service as _;

use super::stamp::{Connector, RxClock};

/// A connection a pool can keep: whether it is known to be closed (then it is dropped).
pub(super) trait Reusable: Send + 'static {
    fn is_closed(&self) -> bool;
}

/// The pool of connections of kind `C`; clones share its connections.
pub(super) struct Pool<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            inner: self.inner.clone(),
        }
    }
}

/// How long a connection may wait idle and still be used (hyper-util's default).
pub(super) const MAX_IDLE_TIME: Duration = Duration::from_secs(90);

struct Inner<C> {
    connector: Connector,
    max_idle: usize,
    max_idle_time: Duration,
    /// Each target's idle connections, the most recently used last.
    idle: Mutex<Vec<Target<C>>>,
}

/// A target's key (`scheme://authority`) and its idle connections.
type Target<C> = (Arc<str>, Vec<Idle<C>>);

/// An idle connection and when it was given back.
struct Idle<C> {
    conn: C,
    since: Instant,
}

/// One open hyper connection: where requests are handed to its task, and the clock of its
/// reads (when the kernel stamps them).
pub(super) struct Http1 {
    sender: SendRequest<Full<Bytes>>,
    clock: Option<RxClock>,
}

impl Reusable for Http1 {
    fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// No connection could be opened (refused, unreachable, the connect timeout).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The exchange broke on an open connection.
    Exchange(Box<dyn std::error::Error + Send + Sync>),
}

/// A connection lent to one request until its answer has been read.
pub(super) struct Lease {
    pool: Pool<Http1>,
    key: Arc<str>,
    conn: Option<Http1>,
}

impl Lease {
    /// The connection's clock of arrivals, when the kernel stamps its reads.
    pub fn clock(&self) -> Option<RxClock> {
        self.conn.as_ref().and_then(|c| c.clock.clone())
    }

    /// The answer was read to its end: the connection goes back to the pool for the next
    /// request (a lease dropped without this closes its connection, whose answer may be
    /// half read).
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put(&self.key, conn);
        }
    }
}

impl<C: Reusable> Pool<C> {
    /// A pool keeping at most `max_idle` idle connections per target, each for at most
    /// `max_idle_time`.
    pub fn new(connector: Connector, max_idle: usize, max_idle_time: Duration) -> Pool<C> {
        Pool {
            inner: Arc::new(Inner {
                connector,
                max_idle: max_idle.max(1),
                max_idle_time,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// How this pool opens connections.
    pub fn connector(&self) -> &Connector {
        &self.inner.connector
    }

    /// The most recently used idle connection to `key` that is still open and has not waited
    /// too long. Those that have are dropped (the older ones below it with them).
    pub fn take(&self, key: &Arc<str>) -> Option<C> {
        let mut idle = self.inner.idle.lock().ok()?;
        let (_, conns) = idle.iter_mut().find(|(k, _)| same(k, key))?;
        while let Some(idle) = conns.pop() {
            if idle.since.elapsed() > self.inner.max_idle_time {
                conns.clear();
                return None;
            }
            if !idle.conn.is_closed() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Gives `conn`, whose last answer was read to its end, back for the next request.
    pub fn put(&self, key: &Arc<str>, conn: C) {
        if conn.is_closed() {
            return;
        }
        let since = Instant::now();
        let Ok(mut idle) = self.inner.idle.lock() else {
            return;
        };
        let at = match idle.iter().position(|(k, _)| same(k, key)) {
            Some(at) => at,
            None => {
                idle.push((key.clone(), Vec::new()));
                idle.len() - 1
            }
        };
        let conns = &mut idle[at].1;
        if conns.len() < self.inner.max_idle {
            conns.push(Idle { conn, since });
        }
    }
}

#[cfg(test)]
impl<C> Pool<C> {
    /// The idle connections kept, of every target.
    pub fn idle_count(&self) -> usize {
        self.inner
            .idle
            .lock()
            .map_or(0, |idle| idle.iter().map(|(_, c)| c.len()).sum())
    }
}

impl Pool<Http1> {
    /// Sends `request` on a connection to `key` (the target's `scheme://authority`; `uri` is
    /// where a new connection goes), and returns the answer's head with the lease of its
    /// connection.
    pub async fn send(
        &self,
        key: &Arc<str>,
        uri: &hyper::Uri,
        mut request: hyper::Request<Full<Bytes>>,
    ) -> Result<(hyper::Response<Incoming>, Lease), Failure> {
        while let Some(mut conn) = self.take(key) {
            if conn.sender.ready().await.is_err() {
                continue;
            }
            match conn.sender.try_send_request(request).await {
                Ok(response) => return Ok((response, self.lease(key, conn))),
                Err(mut error) => match error.take_message() {
                    // Closed before the request was written: it goes on another connection.
                    Some(unsent) => request = unsent,
                    None => return Err(Failure::Exchange(Box::new(error.into_error()))),
                },
            }
        }
        let mut conn = self.connect(uri).await?;
        match conn.sender.send_request(request).await {
            Ok(response) => Ok((response, self.lease(key, conn))),
            Err(error) => Err(Failure::Exchange(Box::new(error))),
        }
    }

    fn lease(&self, key: &Arc<str>, conn: Http1) -> Lease {
        Lease {
            pool: self.clone(),
            key: key.clone(),
            conn: Some(conn),
        }
    }

    /// A new connection to `uri`, its HTTP/1 task running on the runtime.
    async fn connect(&self, uri: &hyper::Uri) -> Result<Http1, Failure> {
        let mut connector = self.inner.connector.clone();
        let io = connector
            .call(uri.clone())
            .await
            .map_err(|e| Failure::Connect(Box::new(e)))?;
        let clock = io.clock();
        let (sender, connection) = http1::handshake(io).await.map_err(|e| Failure::Connect(Box::new(e)))?;
        // The task ends when the connection closes, or once its last sender is dropped; the
        // request on it sees any failure.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http1 { sender, clock })
    }
}

fn same(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use http_body_util::BodyExt as _;
    use hyper_util::client::legacy::connect::HttpConnector;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on loopback that answers every request `{}` and closes each connection after
    /// `answers` answers (without saying so, as a server closing idle connections does); the
    /// count of connections it accepted.
    async fn server(answers: usize) -> (hyper::Uri, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: hyper::Uri = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    for _ in 0..answers {
                        // Each request here is a head and a two-byte body.
                        while !buffer.windows(4).any(|w| w == b"\r\n\r\n") || !buffer.ends_with(b"{}") {
                            let mut chunk = [0u8; 4096];
                            match socket.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buffer.clear();
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (uri, accepted)
    }

    fn pool() -> Pool<Http1> {
        Pool::new(Connector::new(HttpConnector::new(), false), 4, MAX_IDLE_TIME)
    }

    fn request(uri: &hyper::Uri) -> hyper::Request<Full<Bytes>> {
        let mut request = hyper::Request::new(Full::new(Bytes::from_static(b"{}")));
        *request.method_mut() = hyper::Method::POST;
        *request.uri_mut() = uri.path().parse().unwrap();
        let host = uri.authority().unwrap().as_str().parse().unwrap();
        request.headers_mut().insert(hyper::header::HOST, host);
        request
    }

    fn key(uri: &hyper::Uri) -> Arc<str> {
        format!("http://{}", uri.authority().unwrap()).into()
    }

    /// Sends one request and reads its answer whole; the lease is released when `release`.
    async fn exchange(pool: &Pool<Http1>, uri: &hyper::Uri, release: bool) -> Bytes {
        let (response, lease) = pool.send(&key(uri), uri, request(uri)).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        if release {
            lease.release();
        }
        body
    }

    /// Waits (5 s at most) until every idle connection to `uri` has been seen closed.
    async fn idle_closed(pool: &Pool<Http1>, uri: &hyper::Uri) {
        for _ in 0..500 {
            let open = {
                let idle = pool.inner.idle.lock().unwrap();
                idle.iter().flat_map(|(_, c)| c).filter(|c| !c.conn.is_closed()).count()
            };
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("an idle connection to {uri} stayed open");
    }

    #[tokio::test]
    async fn one_connection_serves_requests_one_after_another() {
        let (uri, accepted) = server(usize::MAX).await;
        let pool = pool();
        for _ in 0..5 {
            assert_eq!(exchange(&pool, &uri, true).await, "{}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_an_error() {
        let (uri, accepted) = server(1).await;
        let pool = pool();
        for n in 1..=3 {
            assert_eq!(exchange(&pool, &uri, true).await, "{}");
            assert_eq!(accepted.load(Ordering::SeqCst), n);
            idle_closed(&pool, &uri).await;
        }
    }

    #[tokio::test]
    async fn a_connection_whose_answer_was_not_read_to_its_end_is_not_reused() {
        let (uri, accepted) = server(usize::MAX).await;
        let pool = pool();
        exchange(&pool, &uri, false).await;
        exchange(&pool, &uri, true).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        exchange(&pool, &uri, true).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "the released one is reused");
    }

    #[tokio::test]
    async fn requests_at_once_open_connections_and_at_most_max_idle_stay() {
        let (uri, accepted) = server(usize::MAX).await;
        let pool = pool();
        let key = key(&uri);
        let leases: Vec<_> = futures::future::join_all((0..6).map(|_| pool.send(&key, &uri, request(&uri))))
            .await
            .into_iter()
            .map(|sent| sent.unwrap())
            .collect();
        assert_eq!(accepted.load(Ordering::SeqCst), 6);
        for (response, lease) in leases {
            response.into_body().collect().await.unwrap();
            lease.release();
        }
        let idle: usize = pool.inner.idle.lock().unwrap().iter().map(|(_, c)| c.len()).sum();
        assert_eq!(idle, 4);
    }

    #[tokio::test]
    async fn a_connection_idle_for_too_long_is_not_used_again() {
        let (uri, accepted) = server(usize::MAX).await;
        // Reuse while fresh is `one_connection_serves_requests_one_after_another`'s (90 s).
        let pool: Pool<Http1> = Pool::new(
            Connector::new(HttpConnector::new(), false),
            4,
            Duration::from_millis(50),
        );
        exchange(&pool, &uri, true).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        exchange(&pool, &uri, true).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "a new connection after the idle time"
        );
        let idle: usize = pool.inner.idle.lock().unwrap().iter().map(|(_, c)| c.len()).sum();
        assert_eq!(idle, 1, "the stale one is gone, the new one waits");
    }

    #[tokio::test]
    async fn a_port_without_a_server_is_a_connect_failure() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: hyper::Uri = format!("http://{}/v1", listener.local_addr().unwrap()).parse().unwrap();
        drop(listener);
        let failure = pool().send(&key(&uri), &uri, request(&uri)).await.err().unwrap();
        assert!(matches!(failure, Failure::Connect(_)), "{failure:?}");
    }
}
