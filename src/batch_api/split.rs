//! Splitting the input into batch files: one endpoint per file (the Batch API requires it),
//! at most `max_lines` lines and `max_bytes` bytes each, every line rewritten with the model the
//! live path would send.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::state::{PartState, PARTS_DIR};
use super::BatchError;
use crate::config::Target;
use crate::input::{Entry, Reader, WorkItem};
use crate::provider::ApiEndpoint;
use crate::record::Rejected;

/// OpenAI's limits per batch file.
pub const DEFAULT_MAX_LINES: u64 = 50_000;
pub const DEFAULT_MAX_BYTES: u64 = 200 * 1000 * 1000;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_lines: u64,
    pub max_bytes: u64,
}

/// What a split made: new parts (their files written and synced) and input lines not sent.
#[derive(Debug, Default)]
pub struct Split {
    pub parts: Vec<PartState>,
    pub rejected: Vec<Rejected>,
}

/// The model the live path sends for `item` to `target`: the target's when it fits the item's
/// endpoint, else the line's own (see [`ApiEndpoint::model_for`]), so an embedding line of a
/// mixed file is not turned into a chat request.
pub fn model_for<'a>(target: &'a Target, item: &'a WorkItem) -> Option<&'a str> {
    item.endpoint
        .model_for(target.model.as_deref(), item.model(), target.default_model.as_deref())
}

struct Open {
    part: PartState,
    lines: BufWriter<File>,
    index: BufWriter<File>,
}

/// Where and how the parts are written.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The run folder.
    pub dir: &'a Path,
    pub target: &'a Target,
    pub limits: Limits,
    /// The endpoint of short-form lines (`--endpoint`); Batch lines name their own.
    pub short: ApiEndpoint,
    /// The number of the first new part.
    pub first: u32,
    pub run_id: &'a str,
    /// `--shard K/N`: only this shard's lines go into the parts (the other shards' processes
    /// send theirs).
    pub shard: Option<crate::shard::Shard>,
}

/// Splits the lines of `input` for which `send(line)` holds into parts (one endpoint per part)
/// numbered from `plan.first`, written under `plan.dir`.
pub fn split(input: &Path, plan: &Plan<'_>, send: impl Fn(u64) -> bool) -> Result<Split, BatchError> {
    let Plan {
        dir,
        target,
        limits,
        short,
        first,
        run_id,
        shard,
    } = *plan;
    std::fs::create_dir_all(dir.join(PARTS_DIR)).map_err(|e| write_error(&dir.join(PARTS_DIR), e))?;
    let mut split = Split::default();
    let mut open: BTreeMap<ApiEndpoint, Open> = BTreeMap::new();
    let mut next = first;
    let reader = Reader::open(input)?.with_shard(shard).with_endpoint(short);
    for entry in reader {
        let item = match entry? {
            Entry::Rejected(rejected) => {
                if send(rejected.line) {
                    split.rejected.push(rejected);
                }
                continue;
            }
            Entry::Item(item) => item,
        };
        if !send(item.line) {
            continue;
        }
        let Some(model) = model_for(target, &item) else {
            split.rejected.push(Rejected {
                id: Some(item.id.clone()),
                line: item.line,
                reason: "no model: give --model, targets in a job file, or \"model\" in the line".into(),
            });
            continue;
        };
        let endpoint = item.endpoint;
        let mut body = (*item.body).clone();
        body.insert("model".into(), Value::String(model.to_string()));
        let line = json!({"custom_id": item.id, "method": "POST", "url": endpoint.batch_url(), "body": body});
        let mut bytes = serde_json::to_vec(&line).map_err(|e| BatchError::Setup(e.to_string()))?;
        bytes.push(b'\n');
        let full = open.get(&endpoint).is_some_and(|o| {
            o.part.lines + 1 > limits.max_lines || o.part.bytes + bytes.len() as u64 > limits.max_bytes
        });
        if full {
            if let Some(done) = open.remove(&endpoint) {
                split.parts.push(close(dir, done)?);
            }
        }
        let current = match open.get_mut(&endpoint) {
            Some(current) => current,
            None => {
                let part = new_part(dir, next, endpoint, run_id)?;
                next += 1;
                open.entry(endpoint).or_insert(part)
            }
        };
        let file = dir.join(&current.part.file);
        current.lines.write_all(&bytes).map_err(|e| write_error(&file, e))?;
        writeln!(current.index, "{}", item.line).map_err(|e| write_error(&file, e))?;
        current.part.lines += 1;
        current.part.bytes += bytes.len() as u64;
    }
    for (_, done) in open {
        split.parts.push(close(dir, done)?);
    }
    split.parts.sort_by_key(|p| p.number);
    Ok(split)
}

fn new_part(dir: &Path, number: u32, endpoint: ApiEndpoint, run_id: &str) -> Result<Open, BatchError> {
    let file = format!("{PARTS_DIR}/part-{number:04}.jsonl");
    let index = format!("{PARTS_DIR}/part-{number:04}.lines");
    let create = |name: &str| {
        File::create(dir.join(name))
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| write_error(&dir.join(name), e))
    };
    Ok(Open {
        lines: create(&file)?,
        index: create(&index)?,
        part: PartState {
            number,
            endpoint,
            upload_name: format!("{run_id}-part-{number:04}.jsonl"),
            file,
            index,
            ..PartState::default()
        },
    })
}

fn close(dir: &Path, open: Open) -> Result<PartState, BatchError> {
    let Open { part, lines, index } = open;
    for (writer, name) in [(lines, &part.file), (index, &part.index)] {
        let path = dir.join(name);
        let file = writer.into_inner().map_err(|e| write_error(&path, e.into_error()))?;
        file.sync_all().map_err(|e| write_error(&path, e))?;
    }
    Ok(part)
}

/// Input line numbers of a part's lines, in file order.
pub fn read_index(dir: &Path, part: &PartState) -> Result<Vec<u64>, BatchError> {
    let path = dir.join(&part.index);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| BatchError::Setup(format!("{}: cannot read: {e}", path.display())))?;
    text.lines()
        .map(|l| {
            l.trim()
                .parse::<u64>()
                .map_err(|_| BatchError::Setup(format!("{}: damaged line number {l:?}", path.display())))
        })
        .collect()
}

pub fn write_error(path: &Path, source: std::io::Error) -> BatchError {
    BatchError::Write(crate::output::WriteError {
        path: path.to_path_buf(),
        source,
    })
}
