//! An HTTP/1 answer's head, and how its body is framed (RFC 9112, sections 4 to 7).

use std::io;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Most header lines an answer may have (hyper's default).
const MAX_HEADERS: usize = 100;

/// Most bytes an answer's head may take (hyper's default buffer limit is far larger; a chat
/// answer's head is a few hundred bytes).
pub(super) const MAX_HEAD: usize = 64 << 10;

/// An answer's head, read whole.
#[derive(Debug)]
pub(super) struct Head {
    pub status: u16,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request after this answer's body.
    pub keep_alive: bool,
    /// The head's length in bytes: where the body starts.
    pub len: usize,
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// `Content-Length` bytes (0 for the statuses that have no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The server closes the connection at its end.
    Close,
}

/// A broken answer, as an I/O error of kind `InvalidData`.
pub(super) fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Parses `bytes` as an answer's head: `None` while it is incomplete. Informational answers
/// (`1xx`) are not taken here: the caller skips them ([`Head::informational`]).
pub(super) fn parse(bytes: &[u8]) -> io::Result<Option<Head>> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut lines);
    let len = match answer.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD => {
            return Err(invalid(format!("the answer's head is longer than {MAX_HEAD} bytes")))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("the answer's head is not HTTP/1: {e}"))),
    };
    let status = answer.code.unwrap_or_default();
    let version = answer.version.unwrap_or_default();
    let mut headers = HeaderMap::with_capacity(answer.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut close = version == 0;
    for line in answer.headers.iter() {
        let name = HeaderName::from_bytes(line.name.as_bytes())
            .map_err(|_| invalid(format!("the answer's header name {:?} is not valid", line.name)))?;
        let value = HeaderValue::from_bytes(line.value)
            .map_err(|_| invalid(format!("the answer's header {:?} has an invalid value", line.name)))?;
        if name == reqwest::header::CONTENT_LENGTH {
            let this = content_length(line.value)?;
            if length.is_some_and(|seen| seen != this) {
                return Err(invalid("the answer has two different Content-Length headers"));
            }
            length = Some(this);
        } else if name == reqwest::header::TRANSFER_ENCODING {
            // The last coding decides: chunked is always last when it is there at all.
            let last = line.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name == reqwest::header::CONNECTION {
            for token in line.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if version == 0 && token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        headers.append(name, value);
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::Close,
            (None, Some(length)) => Framing::Length(length),
            (None, None) => Framing::Close,
        }
    };
    // A body framed both ways may be a smuggling attempt on the way: its connection is not
    // used again (RFC 9112, section 6.3).
    let keep_alive = !close && framing != Framing::Close && !(chunked.is_some() && length.is_some());
    Ok(Some(Head {
        status,
        headers,
        framing,
        keep_alive,
        len,
    }))
}

impl Head {
    /// An informational answer (`100 Continue`, `103 Early Hints`): the real one follows.
    pub fn informational(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

fn content_length(value: &[u8]) -> io::Result<u64> {
    let text = std::str::from_utf8(value).unwrap_or_default();
    // Several values in one line ("42, 42") are allowed when they agree.
    let mut length = None;
    for part in text.split(',') {
        let part = part.trim();
        let this = (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| invalid(format!("the answer's Content-Length {text:?} is not a length")))?;
        if length.is_some_and(|seen| seen != this) {
            return Err(invalid(format!(
                "the answer's Content-Length {text:?} is not one length"
            )));
        }
        length = Some(this);
    }
    length.ok_or_else(|| invalid("the answer's Content-Length is empty"))
}

/// Most bytes of chunk extensions and trailers together, per answer.
const MAX_CHUNK_OVERHEAD: usize = 64 << 10;

/// Decodes a chunked body as its bytes arrive.
#[derive(Debug, Default)]
pub(super) struct Chunked {
    state: State,
    /// Extension and trailer bytes seen so far.
    overhead: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk's size: the value so far and whether a digit was seen.
    #[default]
    Start,
    Size(u64),
    /// After the size: an extension, up to the line's end.
    Extension(u64),
    /// The size line's LF.
    SizeLf(u64),
    /// Data bytes still to come.
    Data(u64),
    /// The CR, then the LF after a chunk's data.
    DataCr,
    DataLf,
    /// After the last chunk: a trailer line (`true` once it has bytes), or the final CRLF.
    Trailer(bool),
    TrailerLf(bool),
    Done,
}

impl Chunked {
    /// Decodes what it can of `input`, appending the data to `out`: the bytes taken. Stops
    /// at the body's end ([`Chunked::done`]); the bytes after it are not taken.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut at = 0;
        while at < input.len() {
            let byte = input[at];
            self.state = match self.state {
                State::Done => return Ok(at),
                State::Data(left) => {
                    let take = (input.len() - at).min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[at..at + take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = if left == 0 { State::DataCr } else { State::Data(left) };
                    continue;
                }
                State::Start | State::Size(_) => {
                    let value = match self.state {
                        State::Size(value) => Some(value),
                        _ => None,
                    };
                    match (char::from(byte).to_digit(16), value) {
                        (Some(digit), _) => {
                            let value = value
                                .unwrap_or(0)
                                .checked_mul(16)
                                .and_then(|v| v.checked_add(u64::from(digit)))
                                .ok_or_else(|| invalid("a chunk of the answer is too large"))?;
                            State::Size(value)
                        }
                        (None, Some(value)) if byte == b';' || byte == b' ' || byte == b'\t' => State::Extension(value),
                        (None, Some(value)) if byte == b'\r' => State::SizeLf(value),
                        _ => return Err(invalid("a chunk size of the answer is not hexadecimal")),
                    }
                }
                State::Extension(value) => match self.line_byte(byte, "chunk extensions")? {
                    true => State::SizeLf(value),
                    false => State::Extension(value),
                },
                State::SizeLf(value) => match (byte, value) {
                    (b'\n', 0) => State::Trailer(false),
                    (b'\n', value) => State::Data(value),
                    _ => return Err(invalid("a chunk size line of the answer ends without LF")),
                },
                State::DataCr => match byte {
                    b'\r' => State::DataLf,
                    _ => return Err(invalid("a chunk of the answer is longer than its size")),
                },
                State::DataLf => match byte {
                    b'\n' => State::Start,
                    _ => return Err(invalid("a chunk of the answer ends without CRLF")),
                },
                State::Trailer(seen) => match self.line_byte(byte, "trailers")? {
                    true => State::TrailerLf(seen),
                    false => State::Trailer(true),
                },
                State::TrailerLf(seen) => match (byte, seen) {
                    (b'\n', false) => State::Done,
                    (b'\n', true) => State::Trailer(false),
                    _ => return Err(invalid("a trailer line of the answer ends without LF")),
                },
            };
            at += 1;
        }
        Ok(at)
    }

    /// One byte of an extension or a trailer line (`what`), counted against their limit:
    /// whether it is the line's CR.
    fn line_byte(&mut self, byte: u8, what: &str) -> io::Result<bool> {
        self.overhead += 1;
        if self.overhead > MAX_CHUNK_OVERHEAD {
            return Err(invalid(format!("the answer's {what} are too long")));
        }
        match byte {
            b'\r' => Ok(true),
            b'\n' => Err(invalid(format!("a line of the answer's {what} ends without CR"))),
            _ => Ok(false),
        }
    }

    /// Whether the body ended (the last chunk and the trailers were read).
    pub fn done(&self) -> bool {
        self.state == State::Done
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
