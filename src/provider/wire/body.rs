//! An answer's body as its bytes arrive, framed by its length, its chunks or the connection's
//! close: read whole by [`super::exchange`], handed on chunk by chunk for a stream
//! ([`super::open`]). The request's task reads the socket itself, so each read wakes one task;
//! a streaming client's reads are stamped by the kernel ([`super::super::stamp`]).

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::head::{Chunked, Framing};
use super::{cut_short, Pool, Wire};
use crate::provider::stamp::RxClock;

/// A body being read. Its connection goes back to the pool once the body has been read to its
/// end; a body dropped before (a time-out, a limit, a broken stream) closes it.
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

impl Body {
    /// The body framed by `framing` that starts at `at` in `conn`'s buffer; `keep_alive` when
    /// the connection may carry another request after it.
    pub(super) fn new(
        conn: Wire,
        pool: &Pool<Wire>,
        key: &Arc<str>,
        framing: Framing,
        at: usize,
        keep_alive: bool,
    ) -> Body {
        let framing = match framing {
            Framing::Length(length) => State::Length(length),
            Framing::Chunked => State::Chunked(Chunked::default()),
            Framing::Close => State::Close,
        };
        Body {
            conn: Some(conn),
            pool: pool.clone(),
            key: key.clone(),
            from: at,
            framing,
            keep_alive,
        }
    }

    /// The clock of the connection's reads, when the kernel stamps them.
    pub fn clock(&self) -> Option<RxClock> {
        self.conn.as_ref().and_then(|conn| conn.clock.clone())
    }

    /// The body's next bytes as they arrived; `None` at its end.
    pub async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let mut data = Vec::new();
        Some(self.next_into(&mut data).await?.map(|_| data.into()))
    }

    /// Appends the body's next bytes, as they arrived, to `out`: how many; `None` at its end.
    pub async fn next_into(&mut self, out: &mut Vec<u8>) -> Option<io::Result<usize>> {
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
                        out.extend_from_slice(&pending[..take]);
                        self.from += take;
                        *left -= take as u64;
                        return Some(Ok(take));
                    }
                }
                State::Chunked(chunked) => {
                    let before = out.len();
                    let taken = match chunked.decode(pending, out) {
                        Ok(taken) => taken,
                        Err(e) => return Some(Err(self.broken(e))),
                    };
                    self.from += taken;
                    if out.len() > before {
                        return Some(Ok(out.len() - before));
                    }
                    if chunked.done() {
                        let clean = taken == pending.len();
                        self.finish(clean);
                        return None;
                    }
                }
                State::Close => {
                    if !pending.is_empty() {
                        out.extend_from_slice(pending);
                        self.from += pending.len();
                        return Some(Ok(pending.len()));
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
