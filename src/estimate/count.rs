//! The counting pass of `sheepdog estimate`: streams the input in chunks of whole lines to a few
//! worker threads that parse each line and count its prompt tokens once per encoding needed.
//! Memory stays flat: a bounded number of chunks is in flight, and only counters are kept.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::input::{parse_line_for, InputError};
use crate::provider::ApiEndpoint;
use crate::record::Rejected;
use crate::tokens::Encoding;

/// Bytes of input per chunk handed to a worker.
const CHUNK_BYTES: usize = 1 << 20;
/// Rejected lines kept for display (all are counted).
pub const SHOWN_REJECTED: usize = 10;

/// What to count.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Every line for every model: count each line once per encoding.
    Every(Vec<Encoding>),
    /// Each line for the model it names.
    AsWritten,
}

/// Counts of some lines: one model's (as-written plan), one encoding's (every plan), or all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelTally {
    pub items: u64,
    pub input_tokens: u64,
    /// Sum of `max_tokens` / `max_completion_tokens` of the lines that have one.
    pub max_tokens: u64,
    /// Lines without either (of endpoints that generate output).
    pub no_max_tokens: u64,
    /// Lines of endpoints without output tokens (embeddings, moderations).
    pub input_only: u64,
    /// The same counts per prompt size, one band per [`Tally::thresholds`] and one below them:
    /// band `b` holds the lines whose prompt is above `thresholds[b - 1]` tokens (band 0: up to
    /// the lowest), so a price's size tiers apply per request. Empty without thresholds.
    pub bands: Vec<Band>,
}

/// The counts of the lines whose prompt falls in one size band.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Band {
    pub items: u64,
    pub input_tokens: u64,
    pub max_tokens: u64,
    pub input_only: u64,
}

impl Band {
    fn add(&mut self, other: &Band) {
        self.items += other.items;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.max_tokens = self.max_tokens.saturating_add(other.max_tokens);
        self.input_only += other.input_only;
    }
}

/// What one valid line asks for, apart from its prompt tokens.
#[derive(Debug, Clone, Copy)]
struct Line {
    max_tokens: Option<u64>,
    generates: bool,
}

impl ModelTally {
    /// Counts one line of `input_tokens` prompt tokens, in its band of `thresholds`.
    fn add_line(&mut self, line: Line, input_tokens: u64, thresholds: &[u64]) {
        let counted = Band {
            items: 1,
            input_tokens,
            max_tokens: line.max_tokens.unwrap_or(0),
            input_only: u64::from(!line.generates),
        };
        self.add_counts(&counted);
        self.no_max_tokens += u64::from(line.max_tokens.is_none() && line.generates);
        if !thresholds.is_empty() {
            if self.bands.is_empty() {
                self.bands = vec![Band::default(); thresholds.len() + 1];
            }
            let band = thresholds.partition_point(|&t| input_tokens > t);
            if let Some(band) = self.bands.get_mut(band) {
                band.add(&counted);
            }
        }
    }

    fn add_counts(&mut self, counts: &Band) {
        // Lines may ask for up to u64::MAX tokens each: sums saturate rather than overflow.
        self.items += counts.items;
        self.input_tokens = self.input_tokens.saturating_add(counts.input_tokens);
        self.max_tokens = self.max_tokens.saturating_add(counts.max_tokens);
        self.input_only += counts.input_only;
    }

    fn merge(&mut self, other: &ModelTally) {
        self.add_counts(&Band {
            items: other.items,
            input_tokens: other.input_tokens,
            max_tokens: other.max_tokens,
            input_only: other.input_only,
        });
        self.no_max_tokens += other.no_max_tokens;
        if self.bands.is_empty() {
            self.bands = vec![Band::default(); other.bands.len()];
        }
        for (band, theirs) in self.bands.iter_mut().zip(&other.bands) {
            band.add(theirs);
        }
    }
}

/// The result of the pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Non-blank lines.
    pub lines: u64,
    /// Valid lines, over all models (every plan: without input tokens, see `per_encoding`).
    pub all: ModelTally,
    pub rejected: u64,
    /// The first rejected lines, in file order.
    pub rejected_shown: Vec<Rejected>,
    /// Every plan: all valid lines, their prompt tokens counted with each encoding.
    pub per_encoding: HashMap<Encoding, ModelTally>,
    /// As-written plan: per model named by the lines (`None`: the line names none).
    pub per_model: HashMap<Option<String>, ModelTally>,
    /// The prompt sizes (tokens, ascending) that split the bands of every tally but `all`.
    pub thresholds: Vec<u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.lines += other.lines;
        self.all.merge(&other.all);
        self.rejected += other.rejected;
        self.rejected_shown.extend(other.rejected_shown);
        self.rejected_shown.sort_by_key(|r| r.line);
        self.rejected_shown.truncate(SHOWN_REJECTED);
        for (encoding, tally) in other.per_encoding {
            self.per_encoding.entry(encoding).or_default().merge(&tally);
        }
        for (model, tally) in other.per_model {
            self.per_model.entry(model).or_default().merge(&tally);
        }
    }
}

/// A run of whole lines and the 1-based number of its first line.
struct Chunk {
    first_line: u64,
    bytes: Vec<u8>,
}

/// Counts `path` with `threads` workers; short lines are requests to `short` (`--endpoint`).
/// `thresholds` (prompt sizes in tokens: the prices' size tiers) split each tally into bands.
pub fn count(
    path: &Path,
    plan: &Plan,
    thresholds: &[u64],
    short: ApiEndpoint,
    threads: usize,
) -> Result<Tally, InputError> {
    let open_error = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(open_error(std::io::Error::other("it is a directory")));
    }
    let threads = threads.max(1);
    let mut thresholds = thresholds.to_vec();
    thresholds.sort_unstable();
    thresholds.dedup();
    let thresholds = thresholds.as_slice();
    let (chunks_tx, chunks_rx) = sync_channel::<Chunk>(threads * 2);
    let chunks_rx = Arc::new(Mutex::new(chunks_rx));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&chunks_rx);
                scope.spawn(move || work(&rx, plan, thresholds, short))
            })
            .collect();
        let read = read_chunks(file, path, |chunk| chunks_tx.send(chunk).is_ok());
        drop(chunks_tx);
        let mut tally = Tally {
            thresholds: thresholds.to_vec(),
            ..Tally::default()
        };
        for worker in workers {
            // A worker only panics on a bug; its counts are then lost, and the rest still merge.
            if let Ok(part) = worker.join() {
                tally.merge(part);
            }
        }
        read.map(|()| tally)
    })
}

/// Reads whole lines into chunks of about [`CHUNK_BYTES`] and hands each to `send`.
fn read_chunks(file: File, path: &Path, mut send: impl FnMut(Chunk) -> bool) -> Result<(), InputError> {
    let mut reader = BufReader::with_capacity(CHUNK_BYTES, file);
    let mut line = 0u64;
    let mut chunk = Chunk {
        first_line: 1,
        bytes: Vec::with_capacity(CHUNK_BYTES + 4096),
    };
    loop {
        let read = reader
            .read_until(b'\n', &mut chunk.bytes)
            .map_err(|source| InputError::Read {
                path: path.to_path_buf(),
                line,
                source,
            })?;
        if read > 0 {
            line += 1;
            if chunk.bytes.last() != Some(&b'\n') {
                chunk.bytes.push(b'\n');
            }
        }
        if (read == 0 && !chunk.bytes.is_empty()) || chunk.bytes.len() >= CHUNK_BYTES {
            let full = std::mem::replace(
                &mut chunk,
                Chunk {
                    first_line: line + 1,
                    bytes: Vec::with_capacity(CHUNK_BYTES + 4096),
                },
            );
            if !send(full) {
                return Ok(());
            }
        }
        if read == 0 {
            return Ok(());
        }
    }
}

fn work(chunks: &Mutex<Receiver<Chunk>>, plan: &Plan, thresholds: &[u64], short: ApiEndpoint) -> Tally {
    let mut tally = Tally::default();
    loop {
        // The lock is held only to take the next chunk.
        let next = match chunks.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return tally,
        };
        let Ok(chunk) = next else { return tally };
        // Every line of a chunk ends with '\n': the last split is the empty rest.
        let lines = chunk.bytes.iter().filter(|&&b| b == b'\n').count();
        for (i, bytes) in chunk.bytes.split(|&b| b == b'\n').take(lines).enumerate() {
            count_line(&mut tally, bytes, chunk.first_line + i as u64, plan, thresholds, short);
        }
    }
}

fn count_line(tally: &mut Tally, bytes: &[u8], number: u64, plan: &Plan, thresholds: &[u64], short: ApiEndpoint) {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    tally.lines += 1;
    let item = match parse_line_for(bytes, number, short) {
        Ok(item) => item,
        Err(rejected) => {
            tally.rejected += 1;
            if tally.rejected_shown.len() < SHOWN_REJECTED {
                tally.rejected_shown.push(rejected);
            }
            return;
        }
    };
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|key| item.body.get(*key).and_then(Value::as_u64));
    let model = item.model().map(str::to_string);
    let endpoint = item.endpoint;
    let line = Line {
        max_tokens,
        generates: endpoint.generates(),
    };
    let body = &*item.body;
    match plan {
        Plan::Every(encodings) => {
            for &encoding in encodings {
                let tokens = endpoint.prompt_tokens(encoding, body);
                tally
                    .per_encoding
                    .entry(encoding)
                    .or_default()
                    .add_line(line, tokens, thresholds);
            }
            tally.all.add_line(line, 0, &[]);
        }
        Plan::AsWritten => {
            let encoding = model
                .as_deref()
                .map_or(Encoding::Cl100kBase, |m| crate::tokens::encoding_for_model(m).0);
            let tokens = endpoint.prompt_tokens(encoding, body);
            tally.all.add_line(line, tokens, &[]);
            tally
                .per_model
                .entry(model)
                .or_default()
                .add_line(line, tokens, thresholds);
        }
    }
}

#[cfg(test)]
#[path = "count_tests.rs"]
mod tests;
