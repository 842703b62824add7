//! The connections to plain-HTTP endpoints, kept open between requests, in a pool of
//! sheepdog's own: the sockets of sheepdog's HTTP/1.1 exchange ([`super::wire::Wire`]),
//! opened by [`Connector`]. The pool only needs to know whether a connection is closed
//! ([`Reusable`]).
//!
//! Why not hyper-util's pool: per request it hashed its key (the scheme and the authority,
//! byte by byte through SipHash), raced a checkout against a lazy connect, and spawned a
//! task to put the connection back once it was ready again; with its request wrapper that was
//! about a tenth of a short request's instructions. Here a request takes an idle connection of
//! its target from a short list under a lock, or opens one, and gives it back once its answer
//! has been read to the end ([`Pool::put`]).
//!
//! What hyper-util did that still holds: at most `max_idle` idle connections per target; a
//! closed idle connection is dropped when it is next looked at, and so is one idle for more
//! than [`MAX_IDLE_TIME`] (a NAT or a load balancer on the way may have forgotten it without a
//! word, and a request written into it would wait for its whole timeout); a request that a reused
//! connection could not take (its write failed) goes on a new connection, so a server that
//! closes idle connections causes no error (see [`super::wire`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::stamp::Connector;

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

/// Why a request got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// No connection could be opened (refused, unreachable, the connect timeout).
    Connect(Box<dyn std::error::Error + Send + Sync>),
    /// The exchange broke on an open connection.
    Exchange(Box<dyn std::error::Error + Send + Sync>),
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
impl<C: Reusable> Pool<C> {
    /// The idle connections kept, of every target.
    pub fn idle_count(&self) -> usize {
        self.inner
            .idle
            .lock()
            .map_or(0, |idle| idle.iter().map(|(_, c)| c.len()).sum())
    }

    /// Whether every idle connection kept is known to be closed.
    pub fn all_idle_closed(&self) -> bool {
        self.inner
            .idle
            .lock()
            .is_ok_and(|idle| idle.iter().flat_map(|(_, c)| c).all(|i| i.conn.is_closed()))
    }
}

fn same(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hyper_util::client::legacy::connect::HttpConnector;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpListener;

    use super::*;
    use crate::provider::body::BodyLimit;
    use crate::provider::wire::{self, Wire};

    /// A server on loopback that answers every request `{}`; the count of connections it
    /// accepted.
    async fn server() -> (hyper::Uri, Arc<AtomicUsize>) {
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
                    loop {
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

    fn pool(max_idle_time: Duration) -> Pool<Wire> {
        Pool::new(Connector::new(HttpConnector::new(), false), 4, max_idle_time)
    }

    fn key(uri: &hyper::Uri) -> Arc<str> {
        format!("http://{}", uri.authority().unwrap()).into()
    }

    const HEAD: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n";

    /// Sends one request and reads its answer whole.
    async fn exchange(pool: &Pool<Wire>, uri: &hyper::Uri) -> Vec<u8> {
        let reply = wire::exchange(pool, &key(uri), uri, HEAD, b"{}", &BodyLimit::default()).await;
        reply.unwrap_or_else(|e| panic!("{e:?}")).bytes
    }

    #[tokio::test]
    async fn a_connection_whose_answer_was_not_read_to_its_end_is_not_reused() {
        let (uri, accepted) = server().await;
        let pool = pool(MAX_IDLE_TIME);
        let opened = wire::open(&pool, &key(&uri), &uri, HEAD, b"{}").await;
        drop(opened.unwrap_or_else(|e| panic!("{e:?}")).body);
        exchange(&pool, &uri).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        exchange(&pool, &uri).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "the one read to its end is reused");
    }

    #[tokio::test]
    async fn requests_at_once_open_connections_and_at_most_max_idle_stay() {
        let (uri, accepted) = server().await;
        let pool = pool(MAX_IDLE_TIME);
        let answers = futures::future::join_all((0..6).map(|_| exchange(&pool, &uri))).await;
        assert!(answers.iter().all(|a| a == b"{}"));
        assert_eq!(accepted.load(Ordering::SeqCst), 6);
        assert_eq!(pool.idle_count(), 4);
    }

    #[tokio::test]
    async fn a_connection_idle_for_too_long_is_not_used_again() {
        let (uri, accepted) = server().await;
        // Reuse while fresh is `wire::tests::one_connection_carries_answers_of_every_framing_one_after_another`'s (90 s).
        let pool = pool(Duration::from_millis(50));
        exchange(&pool, &uri).await;
        tokio::time::sleep(Duration::from_millis(120)).await;
        exchange(&pool, &uri).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "a new connection after the idle time"
        );
        assert_eq!(pool.idle_count(), 1, "the stale one is gone, the new one waits");
    }
}
