//! The lines of an input, taken where they were read.
//!
//! `BufReader::read_until` copies every line out of its buffer into the caller's. A 400 KB
//! prompt was read by the kernel into the buffer, copied into the line, then parsed into its
//! string and written into its request: three copies of the prompt before the socket's. Here a
//! line is a slice of the buffer the kernel wrote into. The start of a line that a read cut is
//! moved to the front before the next read, the only other copy. So that this stays a small
//! part of a line, the buffer holds [`LINES_AHEAD`] of the longest lines met (up to
//! [`AHEAD_AT_MOST`]): one line in that many is cut, half of it moved on average. Newlines are
//! found with `memchr`'s vector search.

use std::io::{ErrorKind, Read};
use std::ops::Range;

/// The first size of the buffer; it doubles while a line does not fit.
const FIRST: usize = 256 * 1024;

/// The buffer grows to hold this many of the longest lines met...
const LINES_AHEAD: usize = 8;

/// ...as long as that is at most this many bytes (a line longer than that still fits).
const AHEAD_AT_MOST: usize = 16 * 1024 * 1024;

pub struct Lines<R> {
    inner: R,
    buffer: Vec<u8>,
    /// The bytes read and not yet returned: `buffer[start..end]`.
    start: usize,
    end: usize,
    /// The input ended.
    done: bool,
    /// Lines returned so far, blank ones included.
    number: u64,
    /// The longest line returned so far.
    longest: usize,
    /// Bytes moved to the front of the buffer so far.
    #[cfg(test)]
    moved: usize,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R) -> Lines<R> {
        Lines {
            inner,
            buffer: vec![0; FIRST],
            start: 0,
            end: 0,
            done: false,
            number: 0,
            longest: 0,
            #[cfg(test)]
            moved: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The number of the last line returned (blank lines count); 0 before the first.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Bytes read from the input and not yet returned as lines.
    pub fn ahead(&self) -> usize {
        self.end - self.start
    }

    /// The next line, with its `\n` when it has one (the last line may not); `None` at the end.
    pub fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        Ok(self.next_range()?.map(|range| &self.buffer[range]))
    }

    /// The next line that is not blank (only ASCII white space), with its number.
    pub fn next_filled(&mut self) -> std::io::Result<Option<(u64, &[u8])>> {
        while let Some(range) = self.next_range()? {
            if !self.buffer[range.clone()].iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.number, &self.buffer[range])));
            }
        }
        Ok(None)
    }

    /// Where the next line is in the buffer.
    fn next_range(&mut self) -> std::io::Result<Option<Range<usize>>> {
        let mut searched = self.start;
        loop {
            if let Some(at) = memchr::memchr(b'\n', &self.buffer[searched..self.end]) {
                return Ok(Some(self.take(searched + at + 1)));
            }
            searched = self.end;
            if self.done {
                return Ok((self.start < self.end).then(|| self.take(self.end)));
            }
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                #[cfg(test)]
                {
                    self.moved += self.end - self.start;
                }
                self.end -= self.start;
                searched -= self.start;
                self.start = 0;
            }
            let ahead = (LINES_AHEAD * self.longest).min(AHEAD_AT_MOST);
            if self.end == self.buffer.len() || self.buffer.len() < ahead {
                let size = (2 * self.buffer.len()).max(ahead.next_power_of_two());
                self.buffer.resize(size, 0);
            }
            match self.inner.read(&mut self.buffer[self.end..]) {
                Ok(0) => self.done = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes `buffer[start..end]` as the next line.
    fn take(&mut self, end: usize) -> Range<usize> {
        self.number += 1;
        let start = std::mem::replace(&mut self.start, end);
        self.longest = self.longest.max(end - start);
        start..end
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Hands out its bytes in reads of the sizes given, in turn, with an `Interrupted` error
    /// before each read of size 0.
    struct Pieces {
        bytes: Vec<u8>,
        at: usize,
        sizes: Vec<usize>,
        turn: usize,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let size = self.sizes[self.turn % self.sizes.len()];
            self.turn += 1;
            if size == 0 {
                return Err(ErrorKind::Interrupted.into());
            }
            let n = size.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn all_lines(lines: &mut Lines<impl Read>) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            all.push(line.to_vec());
        }
        all
    }

    proptest! {
        #[test]
        fn lines_come_whole_however_the_reads_cut_them(
            text in "([a-z ]{0,40}\n){0,30}[a-z]{0,5}",
            sizes in prop::collection::vec(0usize..50, 1..8),
        ) {
            let sizes = if sizes.iter().all(|&s| s == 0) { vec![1] } else { sizes };
            let mut lines = Lines::new(Pieces { bytes: text.clone().into_bytes(), at: 0, sizes, turn: 0 });
            let expected: Vec<Vec<u8>> = text.split_inclusive('\n').map(|l| l.as_bytes().to_vec()).collect();
            prop_assert_eq!(all_lines(&mut lines), expected.clone());
            prop_assert_eq!(lines.number(), expected.len() as u64);
            prop_assert!(lines.next_line().unwrap().is_none(), "the end stays the end");
        }
    }

    #[test]
    fn lines_longer_than_the_buffer_come_whole_between_short_ones() {
        let long = |c: u8, n: usize| {
            let mut line = vec![c; n];
            line.push(b'\n');
            line
        };
        let (first, second) = (long(b'a', FIRST + 17), long(b'b', 3 * FIRST));
        let text = [
            b"short\n".to_vec(),
            first.clone(),
            b"x\n".to_vec(),
            second.clone(),
            b"end".to_vec(),
        ]
        .concat();
        let mut lines = Lines::new(Pieces {
            bytes: text,
            at: 0,
            sizes: vec![100_000, 7, FIRST],
            turn: 0,
        });
        let all = all_lines(&mut lines);
        assert_eq!(all.len(), 5);
        assert_eq!(
            (&all[0][..], &all[2][..], &all[4][..]),
            (&b"short\n"[..], &b"x\n"[..], &b"end"[..])
        );
        assert!(all[1] == first && all[3] == second, "the long lines are whole");
    }

    #[test]
    fn lines_of_a_long_context_are_rarely_cut_by_a_read() {
        let mut line = vec![b'x'; 300_000];
        line.push(b'\n');
        let lines_in = 40;
        let mut lines = Lines::new(Pieces {
            bytes: line.repeat(lines_in),
            at: 0,
            sizes: vec![usize::MAX],
            turn: 0,
        });
        assert_eq!(all_lines(&mut lines).len(), lines_in);
        assert!(
            lines.buffer.len() >= LINES_AHEAD * line.len(),
            "the buffer holds several lines"
        );
        let per_line = lines.moved as f64 / (lines_in * line.len()) as f64;
        assert!(per_line < 0.2, "{per_line:.2} of each line was moved");
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        let mut lines = Lines::new(&b"\n  \t\n{\"a\":1}\n\r\n \nlast"[..]);
        assert_eq!(lines.next_filled().unwrap(), Some((3, &b"{\"a\":1}\n"[..])));
        assert_eq!(lines.next_filled().unwrap(), Some((6, &b"last"[..])));
        assert_eq!(lines.next_filled().unwrap(), None);
        let mut trailing = Lines::new(&b"x\n\n\n"[..]);
        assert_eq!(trailing.next_filled().unwrap(), Some((1, &b"x\n"[..])));
        assert_eq!(trailing.next_filled().unwrap(), None);
        assert_eq!(trailing.number(), 3, "the blank lines at the end were read");
    }

    #[test]
    fn a_read_error_is_returned_after_the_lines_before_it() {
        let failing = (&b"one\ntw"[..]).chain(Failing);
        let mut lines = Lines::new(failing);
        assert_eq!(lines.next_line().unwrap(), Some(&b"one\n"[..]));
        let error = lines.next_line().unwrap_err();
        assert_eq!(error.to_string(), "disk gone");
        assert_eq!(lines.number(), 1);
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
}
