//! The JSONL reader: streams the input file line by line (never loading it whole), detects the
//! format of each line, and turns it into a [`WorkItem`] or a [`Rejected`] line with its reason.
//!
//! Any readable input works: a regular file, `-` for stdin, a pipe, a FIFO, or a process
//! substitution (`<(zcat big.jsonl.gz)`). A regular file is fingerprinted before the run (see
//! [`crate::output::manifest`]); anything else is read once, and [`Reader::hashing`] takes its
//! fingerprint while the lines are read and sent.
//!
//! Two formats, auto-detected per line:
//! - OpenAI Batch API: `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}`,
//!   for any endpoint a Batch file may name (see [`ApiEndpoint`]);
//! - short form: `{"id", "prompt": "text"}`, `{"id", "messages": [...]}` or `{"id", "input": ...}`
//!   plus any body field, for the endpoint of `--endpoint` (chat by default).

mod parse;

mod idset;
mod key;
mod repeats;
mod source;
pub mod table;
pub mod template;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::record::Rejected;

pub use key::{count_shard_lines, line_key, owns_line, LineKey};
pub use parse::{parse_line, parse_line_for, LineFormat};

use crate::provider::ApiEndpoint;
pub use source::{is_stdin, is_streamed, Tally};

use crate::lines::Lines;
use idset::IdSet;
pub use repeats::Repeats;

/// One valid input line, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub id: String,
    /// 1-based line number in the input file.
    pub line: u64,
    pub format: LineFormat,
    /// Where the request goes: the Batch line's `url`, or `--endpoint` for a short line.
    pub endpoint: ApiEndpoint,
    /// The request body of that endpoint (without `model` when the line named none); shared, so
    /// a bench that cycles its prompts does not copy them per request.
    pub body: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    /// Short form `metadata`, kept out of the request and echoed in the result.
    pub metadata: Option<serde_json::Value>,
}

impl WorkItem {
    /// The model the line asked for, if any.
    pub fn model(&self) -> Option<&str> {
        crate::json_map::get(&self.body, "model").and_then(|m| m.as_str())
    }
}

/// What one non-blank line became.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Item(WorkItem),
    Rejected(Rejected),
}

/// The input file could not be opened or read. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: cannot open input file: {source}", .path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{}: read error after line {line}: {source}", .path.display())]
    Read {
        path: PathBuf,
        line: u64,
        source: std::io::Error,
    },
    #[error("{}: the input has no lines, so there is nothing to send (give --allow-empty to accept an empty input)", .path.display())]
    Empty { path: PathBuf },
}

/// Streams entries from a JSONL input. Catches repeated ids by a 64-bit hash of each: with the
/// [`Repeats`] a preflight scan found, memory does not grow with the input; without them (a
/// pipe, read once) it grows by about 8 bytes per item ([`IdSet`]), never with line length.
pub struct Reader {
    path: PathBuf,
    lines: Lines<Tally>,
    seen: Seen,
    /// Lines of other shards are skipped unparsed (see [`crate::shard`]).
    shard: Option<crate::shard::Shard>,
    /// The endpoint of short-form lines (`--endpoint`).
    short: ApiEndpoint,
}

impl Reader {
    /// Opens `path` (`-`: stdin). Opening a FIFO waits until a writer opens it: call this on a
    /// thread that may block.
    pub fn open(path: &Path) -> Result<Reader, InputError> {
        let input = source::open(path)?;
        Ok(Reader {
            path: path.to_path_buf(),
            lines: Lines::new(Tally::new(input)),
            seen: Seen::All(IdSet::default()),
            shard: None,
            short: ApiEndpoint::Chat,
        })
    }

    /// Takes the SHA-256 of the bytes read (see [`Reader::fingerprint`]).
    pub fn hashing(mut self) -> Reader {
        self.lines.get_mut().hash();
        self
    }

    /// Size and SHA-256 (hex) of what was read so far; the hash only after [`Reader::hashing`].
    pub fn fingerprint(&self) -> (u64, Option<String>) {
        self.lines.get_ref().fingerprint()
    }

    /// Reads only the lines of `shard` (all of them with `None`); the others are skipped
    /// silently, their line numbers still counted.
    pub fn with_shard(mut self, shard: Option<crate::shard::Shard>) -> Reader {
        self.shard = shard;
        self
    }

    /// Sends short-form lines to `endpoint` (`--endpoint`; chat when not called). Batch lines
    /// name their own.
    pub fn with_endpoint(mut self, endpoint: ApiEndpoint) -> Reader {
        self.short = endpoint;
        self
    }

    /// Sizes the table of ids for `lines` items at once: growing it while reading would hold
    /// the old and the new table together, near the end of a long file, for nothing.
    pub fn expecting(mut self, lines: u64) -> Reader {
        if let Seen::All(ids) = &mut self.seen {
            ids.reserve(lines);
        }
        self
    }

    /// Catches repeated ids with what a scan of the same input found ([`Repeats::scan`], with
    /// the same shard): nothing is kept per line.
    pub fn with_repeats(mut self, repeats: Repeats) -> Reader {
        self.seen = Seen::Candidates(repeats);
        self
    }

    /// Lines read so far (blank lines included: the number of the last line read).
    pub fn line(&self) -> u64 {
        self.lines.number()
    }

    /// Bytes of the input's lines returned so far, blank and skipped ones included. The read
    /// buffer holds more (up to eight of the longest lines, see [`crate::lines`]); a batch is
    /// bounded by what it holds, so that is not counted.
    pub fn bytes_taken(&self) -> u64 {
        self.lines.get_ref().size() - self.lines.ahead() as u64
    }

    /// The next entry, `Ok(None)` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, InputError> {
        loop {
            let (line, bytes) = match self.lines.next_filled() {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(None),
                Err(source) => {
                    return Err(InputError::Read {
                        path: self.path.clone(),
                        line: self.lines.number(),
                        source,
                    })
                }
            };
            if self.shard.is_some_and(|shard| !owns_line(shard, bytes, line)) {
                continue;
            }
            let entry = match parse_line_for(bytes, line, self.short) {
                Ok(item) => {
                    if self.seen.insert(id_hash(&item.id)) {
                        Entry::Item(item)
                    } else {
                        Entry::Rejected(Rejected {
                            reason: format!("id {:?} repeats an earlier line's id", item.id),
                            id: Some(item.id),
                            line,
                        })
                    }
                }
                Err(rejected) => Entry::Rejected(rejected),
            };
            return Ok(Some(entry));
        }
    }
}

impl Iterator for Reader {
    type Item = Result<Entry, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// How the reader tells a repeated id.
#[derive(Debug)]
enum Seen {
    /// Every id's hash so far.
    All(IdSet),
    /// Only the candidates a scan before the run found.
    Candidates(Repeats),
}

impl Seen {
    /// `false` when `hash` was met before.
    fn insert(&mut self, hash: u64) -> bool {
        match self {
            Seen::All(ids) => ids.insert(hash),
            Seen::Candidates(repeats) => repeats.insert(hash),
        }
    }
}

fn id_hash(id: &str) -> u64 {
    // SipHash with fixed keys: stable across runs and machines.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}
