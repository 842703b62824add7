//! A streamed answer on the exchange: its head read, its body handed on as the bytes arrive.
//! The request's task reads the socket itself, so each read wakes one task (hyper woke its
//! connection's task and then the request's); the connection's reads are stamped by the
//! kernel when the client streams ([`super::super::stamp`]).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use super::head::{Chunked, Framing};
use super::{cut_short, exchange_failed, send, Broken, Pool, Wire};
use crate::provider::stamp::RxClock;

/// A streamed answer as it starts: its head, and its body to be read.
pub(in crate::provider) struct Opened {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body's declared length, if any.
    pub length: Option<u64>,
    pub body: Body,
}

/// A body being read. Its connection goes back to the pool once the body has been read to its
/// end; a body dropped before (a time-out, a broken stream) closes it.
pub(in crate::provider) struct Body {
    conn: Option<Wire>,
    pool: Pool<Wire>,
    key: Arc<str>,
    /// Where the body's next bytes start in the connection's buffer.
    from: usize,
    framing: State,
    keep_alive: bool,
}

enum State {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunked),
    Close,
}

/// Sends the request and reads its answer's head.
pub(in crate::provider) async fn open(
    pool: &Pool<Wire>,
    key: &Arc<str>,
    uri: &hyper::Uri,
    head: &[u8],
    body: &[u8],
) -> Result<Opened, Broken> {
    let (mut conn, failed_write) = send(pool, key, uri, head, body).await?;
    let head = match conn.read_head().await {
        Ok(head) => head,
        Err(broken) => return Err(failed_write.map_or(broken, exchange_failed)),
    };
    let (framing, length) = match head.framing {
        Framing::Length(length) => (State::Length(length), Some(length)),
        Framing::Chunked => (State::Chunked(Chunked::default()), None),
        Framing::Close => (State::Close, None),
    };
    Ok(Opened {
        status: head.status,
        headers: head.headers,
        length,
        body: Body {
            conn: Some(conn),
            pool: pool.clone(),
            key: key.clone(),
            from: head.len,
            framing,
            keep_alive: head.keep_alive && failed_write.is_none(),
        },
    })
}

impl Body {
    /// The clock of the connection's reads, when the kernel stamps them.
    pub fn clock(&self) -> Option<RxClock> {
        self.conn.as_ref().and_then(|conn| conn.clock.clone())
    }

    /// The body's next bytes as they arrived; `None` at its end.
    pub async fn next(&mut self) -> Option<io::Result<Bytes>> {
        loop {
            let conn = self.conn.as_mut()?;
            let pending = &conn.buf[self.from..];
            match &mut self.framing {
                State::Length(0) => {
                    let clean = pending.is_empty();
                    self.finish(clean);
                    return None;
                }
                State::Length(left) => {
                    if !pending.is_empty() {
                        let take = pending.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                        let bytes = Bytes::copy_from_slice(&pending[..take]);
                        self.from += take;
                        *left -= take as u64;
                        return Some(Ok(bytes));
                    }
                }
                State::Chunked(chunked) => {
                    let mut data = Vec::new();
                    let taken = match chunked.decode(pending, &mut data) {
                        Ok(taken) => taken,
                        Err(e) => return Some(Err(self.broken(e))),
                    };
                    self.from += taken;
                    if !data.is_empty() {
                        return Some(Ok(data.into()));
                    }
                    if chunked.done() {
                        let clean = taken == pending.len();
                        self.finish(clean);
                        return None;
                    }
                }
                State::Close => {
                    if !pending.is_empty() {
                        let bytes = Bytes::copy_from_slice(pending);
                        self.from += bytes.len();
                        return Some(Ok(bytes));
                    }
                }
            }
            // Everything read so far is taken: read more.
            conn.buf.clear();
            self.from = 0;
            match conn.read_some().await {
                Ok(0) if matches!(self.framing, State::Close) => {
                    self.finish(false);
                    return None;
                }
                Ok(0) => return Some(Err(self.broken(cut_short("body")))),
                Ok(_) => {}
                Err(e) => return Some(Err(self.broken(e))),
            }
        }
    }

    /// The body ended: its connection goes back to the pool when nothing followed it and the
    /// answer did not close it.
    fn finish(&mut self, clean: bool) {
        if let Some(conn) = self.conn.take() {
            if clean && self.keep_alive {
                self.pool.put(&self.key, conn);
            }
        }
    }

    /// The body broke: its connection is closed.
    fn broken(&mut self, error: io::Error) -> io::Error {
        self.conn = None;
        error
    }
}
