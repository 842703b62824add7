//! Whole answers from plain-HTTP endpoints on an HTTP/1.1 exchange of sheepdog's own: the
//! request written with one `writev`, the answer's head parsed by `httparse`, its body read
//! by its `Content-Length`, its chunks or up to the connection's close.
//!
//! Why not hyper's client connection: each of its connections runs as a task of its own that
//! the request hands its message to and waits on, so every answer wakes two tasks and crosses
//! a channel; with hyper's general buffers and its dispatch that was the largest single part
//! of a short request's instructions (14,300 of 76,200). Here the request's own task writes
//! and reads the socket. One reader of bodies ([`body`]) serves whole answers, read to their
//! end, and streams, handed on as their bytes arrive; a streaming client's reads are stamped
//! by the kernel ([`super::stamp`]).
//!
//! What is kept from hyper: a connection is used again only after an answer read to its end
//! that does not close it (`Connection: close`, HTTP/1.0 without `keep-alive`, a body framed
//! by the close, or framed both ways); informational answers (`100 Continue`, `103 Early
//! Hints`) are skipped; a head of more than 100 lines or 64 KiB, a broken chunk or a
//! `Content-Length` that is not one number is an error. A connection the server closed while
//! it was idle is found before it is used ([`Wire::is_closed`]); a request that a reused
//! connection could not take (the write failed, so the server never read it whole) goes on
//! another connection.

pub(super) mod body;
mod head;

use std::io::{self, IoSlice};
use std::sync::Arc;

use reqwest::header::HeaderMap;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::TcpStream;

use super::body::{BodyLimit, BodyMeter, SMALL_BODY};
use super::pool::{Failure, Pool, Reusable};
use super::stamp::{self, RxClock};
use super::RequestError;
use body::Body;
use head::{Framing, Head};

/// Bytes asked of the socket per read.
const READ_SIZE: usize = 16 << 10;

/// One open connection, the bytes read from it that no answer has taken yet, and the clock
/// of its reads when the kernel stamps them (a streaming client's connections).
pub(super) struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    clock: Option<RxClock>,
}

impl Reusable for Wire {
    /// Whether the server closed the connection (or sent bytes no request asked for) while it
    /// was idle. The runtime notes when the socket becomes readable; until it does this costs
    /// no system call.
    fn is_closed(&self) -> bool {
        let mut byte = [0u8; 1];
        !matches!(self.stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// An answer read whole: its status, headers and body, and the body's meter (which holds its
/// memory share while the caller parses it).
pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub meter: BodyMeter,
}

/// Why an exchange failed: the connection, or the body's limit.
#[derive(Debug)]
pub(super) enum Broken {
    Failure(Failure),
    Limit(RequestError),
}

impl From<RequestError> for Broken {
    fn from(error: RequestError) -> Self {
        Broken::Limit(error)
    }
}

fn exchange_failed(error: io::Error) -> Broken {
    Broken::Failure(Failure::Exchange(Box::new(error)))
}

/// The connection's end before the answer's `part` (head or body) was whole.
fn cut_short(part: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the connection closed before the answer's {part} was complete"),
    )
}

/// An answer as it starts: its head, and its body to be read.
pub(in crate::provider) struct Opened {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body's declared length, if any.
    pub length: Option<u64>,
    pub body: Body,
}

/// Sends the request (`head`, then `body`) on a connection to `key` (a new one goes to
/// `uri`) and reads its answer's head; its body is read from [`Opened::body`].
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
    let length = match head.framing {
        Framing::Length(length) => Some(length),
        Framing::Chunked | Framing::Close => None,
    };
    let keep_alive = head.keep_alive && failed_write.is_none();
    Ok(Opened {
        status: head.status,
        headers: head.headers,
        length,
        body: Body::new(conn, pool, key, head.framing, head.len, keep_alive),
    })
}

/// Sends the request and reads its answer whole under `limit` (see [`open`]).
pub(super) async fn exchange(
    pool: &Pool<Wire>,
    key: &Arc<str>,
    uri: &hyper::Uri,
    head: &[u8],
    body: &[u8],
    limit: &BodyLimit,
) -> Result<Reply, Broken> {
    let Opened {
        status,
        headers,
        length,
        mut body,
    } = open(pool, key, uri, head, body).await?;
    limit.check_declared(length)?;
    let mut meter = limit.meter();
    let small = length.map_or(0, |length| length.min(SMALL_BODY));
    let mut bytes = Vec::with_capacity(usize::try_from(small).unwrap_or(0));
    while let Some(read) = body.next_into(&mut bytes).await {
        meter.add(read.map_err(exchange_failed)?).await?;
    }
    Ok(Reply {
        status,
        headers,
        bytes,
        meter,
    })
}

/// Writes the request on a connection to `key`: the connection, and the write's error when it
/// failed on a new connection. A server may answer before it has read the whole body (413 to a
/// long prompt) and close; that answer, when it came, says more than the write, so the caller
/// reads it and reports the write's error only when there is none.
async fn send(
    pool: &Pool<Wire>,
    key: &Arc<str>,
    uri: &hyper::Uri,
    head: &[u8],
    body: &[u8],
) -> Result<(Wire, Option<io::Error>), Broken> {
    while let Some(mut conn) = pool.take(key) {
        // A write that failed was not read whole: the request goes on another connection.
        if conn.write(head, body).await.is_ok() {
            return Ok((conn, None));
        }
    }
    let mut conn = Wire::connect(pool, uri).await?;
    let failed = conn.write(head, body).await.err();
    Ok((conn, failed))
}

impl Wire {
    /// A new connection to `uri`, by the pool's connector (connect timeout, no delay, the
    /// kernel's receive stamps when the client streams).
    async fn connect(pool: &Pool<Wire>, uri: &hyper::Uri) -> Result<Wire, Broken> {
        let (stream, clock) = pool
            .connector()
            .tcp(uri.clone())
            .await
            .map_err(|e| Broken::Failure(Failure::Connect(Box::new(e))))?;
        Ok(Wire {
            stream,
            buf: Vec::with_capacity(READ_SIZE),
            clock,
        })
    }

    /// Writes `head` and `body`, in one system call when the socket takes them.
    async fn write(&mut self, mut head: &[u8], mut body: &[u8]) -> io::Result<()> {
        while !head.is_empty() || !body.is_empty() {
            let written = if head.is_empty() {
                self.stream.write(body).await?
            } else {
                self.stream
                    .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
                    .await?
            };
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            let of_head = written.min(head.len());
            head = &head[of_head..];
            body = &body[written - of_head..];
        }
        Ok(())
    }

    /// Reads what the socket holds onto the end of `buf` (stamped when the connection is): the
    /// bytes read, 0 at the connection's end.
    async fn read_some(&mut self) -> io::Result<usize> {
        match &self.clock {
            None => {
                self.buf.reserve(READ_SIZE);
                self.stream.read_buf(&mut self.buf).await
            }
            Some(clock) => {
                let (stream, buf) = (&self.stream, &mut self.buf);
                stream
                    .async_io(Interest::READABLE, || stamp::receive(stream, buf, clock))
                    .await
            }
        }
    }

    /// Reads more bytes into `buf`; the end of the connection is an error that says what was
    /// being read.
    async fn fill(&mut self, reading: &str) -> io::Result<()> {
        match self.read_some().await? {
            0 => Err(cut_short(reading)),
            _ => Ok(()),
        }
    }

    /// Reads the answer's head, skipping informational ones; its body starts at `head.len`
    /// in `buf`.
    async fn read_head(&mut self) -> Result<Head, Broken> {
        self.buf.clear();
        loop {
            if self.buf.is_empty() {
                self.fill("head").await.map_err(exchange_failed)?;
            }
            match head::parse(&self.buf).map_err(exchange_failed)? {
                Some(head) if head.informational() => {
                    self.buf.drain(..head.len);
                }
                Some(head) => return Ok(head),
                None => self.fill("head").await.map_err(exchange_failed)?,
            }
        }
    }
}

#[cfg(test)]
mod tests;
