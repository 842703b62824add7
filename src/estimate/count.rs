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

/// Counts of one model's lines (as-written plan).
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
}

/// The result of the pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Non-blank lines.
    pub lines: u64,
    /// Valid lines, over all models.
    pub all: ModelTally,
    pub rejected: u64,
    /// The first rejected lines, in file order.
    pub rejected_shown: Vec<Rejected>,
    /// Every plan: prompt tokens over all valid lines, per encoding counted.
    pub tokens: HashMap<Encoding, u64>,
    /// As-written plan: per model named by the lines (`None`: the line names none).
    pub per_model: HashMap<Option<String>, ModelTally>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.lines += other.lines;
        add(&mut self.all, &other.all);
        self.rejected += other.rejected;
        self.rejected_shown.extend(other.rejected_shown);
        self.rejected_shown.sort_by_key(|r| r.line);
        self.rejected_shown.truncate(SHOWN_REJECTED);
        for (encoding, n) in other.tokens {
            *self.tokens.entry(encoding).or_default() += n;
        }
        for (model, tally) in other.per_model {
            add(self.per_model.entry(model).or_default(), &tally);
        }
    }
}

fn add(into: &mut ModelTally, other: &ModelTally) {
    // Lines may ask for up to u64::MAX tokens each: sums saturate rather than overflow.
    into.items += other.items;
    into.input_tokens = into.input_tokens.saturating_add(other.input_tokens);
    into.max_tokens = into.max_tokens.saturating_add(other.max_tokens);
    into.no_max_tokens += other.no_max_tokens;
    into.input_only += other.input_only;
}

/// A run of whole lines and the 1-based number of its first line.
struct Chunk {
    first_line: u64,
    bytes: Vec<u8>,
}

/// Counts `path` with `threads` workers; short lines are requests to `short` (`--endpoint`).
pub fn count(path: &Path, plan: &Plan, short: ApiEndpoint, threads: usize) -> Result<Tally, InputError> {
    let open_error = |source| InputError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(open_error)?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(open_error(std::io::Error::other("it is a directory")));
    }
    let threads = threads.max(1);
    let (chunks_tx, chunks_rx) = sync_channel::<Chunk>(threads * 2);
    let chunks_rx = Arc::new(Mutex::new(chunks_rx));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&chunks_rx);
                scope.spawn(move || work(&rx, plan, short))
            })
            .collect();
        let read = read_chunks(file, path, |chunk| chunks_tx.send(chunk).is_ok());
        drop(chunks_tx);
        let mut tally = Tally::default();
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

fn work(chunks: &Mutex<Receiver<Chunk>>, plan: &Plan, short: ApiEndpoint) -> Tally {
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
            count_line(&mut tally, bytes, chunk.first_line + i as u64, plan, short);
        }
    }
}

fn count_line(tally: &mut Tally, bytes: &[u8], number: u64, plan: &Plan, short: ApiEndpoint) {
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
    let generates = endpoint.generates();
    let prompt_tokens = |encoding: Encoding, body: &Value| endpoint.prompt_tokens(encoding, body);
    let body = Value::Object(item.body);
    let line = |input_tokens: u64| ModelTally {
        items: 1,
        input_tokens,
        max_tokens: max_tokens.unwrap_or(0),
        no_max_tokens: u64::from(max_tokens.is_none() && generates),
        input_only: u64::from(!generates),
    };
    match plan {
        Plan::Every(encodings) => {
            for &encoding in encodings {
                *tally.tokens.entry(encoding).or_default() += prompt_tokens(encoding, &body);
            }
            add(&mut tally.all, &line(0));
        }
        Plan::AsWritten => {
            let encoding = model
                .as_deref()
                .map_or(Encoding::Cl100kBase, |m| crate::tokens::encoding_for_model(m).0);
            let counted = line(prompt_tokens(encoding, &body));
            add(&mut tally.all, &counted);
            add(tally.per_model.entry(model).or_default(), &counted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn every_line_is_counted_once_whatever_the_chunking() {
        let mut text = String::new();
        for i in 0..5000 {
            if i % 1000 == 7 {
                text.push_str("not json\n\n");
            }
            text.push_str(&format!(
                "{{\"id\":\"i{i}\",\"prompt\":\"hello world number {i}\",\"max_tokens\":{}}}\n",
                i % 3
            ));
        }
        text.push_str("{\"id\":\"last\",\"prompt\":\"no newline at the end\"}");
        let file = write(&text);
        let plan = Plan::Every(vec![Encoding::O200kBase, Encoding::Cl100kBase]);
        let one = count(file.path(), &plan, ApiEndpoint::Chat, 1).unwrap();
        let four = count(file.path(), &plan, ApiEndpoint::Chat, 4).unwrap();
        assert_eq!(one, four);
        assert_eq!(one.lines, 5006);
        assert_eq!(one.all.items, 5001);
        assert_eq!(one.rejected, 5);
        assert_eq!(one.all.no_max_tokens, 1);
        assert_eq!(one.all.max_tokens, (0..5000u64).map(|i| i % 3).sum::<u64>());
        // The first invalid line is line 8 (0-based item 7), the next 1002 lines later.
        let lines: Vec<u64> = one.rejected_shown.iter().map(|r| r.line).collect();
        assert_eq!(lines, [8, 1010, 2012, 3014, 4016]);
        assert!(one.tokens[&Encoding::O200kBase] > 5001 * 9);
    }

    #[test]
    fn as_written_counts_per_model_and_lines_without_one() {
        let file = write(
            "{\"id\":\"a\",\"model\":\"gpt-4.1\",\"prompt\":\"hello world\"}\n\
             {\"id\":\"b\",\"model\":\"deepseek-chat\",\"prompt\":\"hello world\",\"max_tokens\":50}\n\
             {\"id\":\"c\",\"prompt\":\"hello world\"}\n",
        );
        let tally = count(file.path(), &Plan::AsWritten, ApiEndpoint::Chat, 2).unwrap();
        assert_eq!(tally.per_model.len(), 3);
        let gpt = &tally.per_model[&Some("gpt-4.1".to_string())];
        assert_eq!((gpt.items, gpt.input_tokens, gpt.no_max_tokens), (1, 9, 1));
        let deepseek = &tally.per_model[&Some("deepseek-chat".to_string())];
        assert_eq!((deepseek.items, deepseek.max_tokens), (1, 50));
        assert_eq!(tally.per_model[&None].items, 1);
    }

    #[test]
    fn embeddings_and_moderations_count_their_input_and_no_output() {
        let file = write(
            "{\"custom_id\":\"e\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"text-embedding-3-small\",\"input\":[\"hello world\",\"hello world\"]}}\n\
             {\"custom_id\":\"m\",\"url\":\"/v1/moderations\",\"body\":{\"input\":\"hello world\"}}\n\
             {\"id\":\"s\",\"input\":\"hello world\",\"model\":\"text-embedding-3-small\"}\n",
        );
        let tally = count(file.path(), &Plan::AsWritten, ApiEndpoint::Embeddings, 1).unwrap();
        assert_eq!(
            (tally.all.items, tally.all.input_only, tally.all.no_max_tokens),
            (3, 3, 0)
        );
        let small = &tally.per_model[&Some("text-embedding-3-small".to_string())];
        // "hello world" is 2 tokens, with no chat framing.
        assert_eq!((small.items, small.input_tokens), (2, 6));
    }

    #[test]
    fn a_missing_file_is_an_input_error() {
        let err = count(
            Path::new("/nonexistent/x.jsonl"),
            &Plan::AsWritten,
            ApiEndpoint::Chat,
            1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot open input file"), "{err}");
    }
}
