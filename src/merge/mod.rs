//! `sheepdog merge DIR... --out DIR`: the run folders of a sharded job (`run --shard I/N`)
//! combined into one, as if one run had done the whole job.
//!
//! Each folder's `run.json` says which job (input SHA-256 and size, configuration fingerprint)
//! and which shard it holds; shards of different jobs are refused, and a missing or repeated
//! shard is reported (a missing one is an error unless `partial`). The statistics are merged
//! exactly from the shards' `summary.json` ([`summary`]), the line files concatenated
//! ([`files`]), and the reports written from the merged summary.

mod files;
pub mod render;
pub mod summary;
pub mod timeline;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::job::RunStatus;
use crate::output::files::REQUESTS_FILE;
use crate::output::manifest::Manifest;
use crate::output::{ERRORS_FILE, RESULTS_FILE};
use crate::shard::ShardInfo;
use crate::stats::summary::{JobInfo, Summary};

pub use crate::output::files::MERGE_FILE;

#[derive(Debug, Clone)]
pub struct MergeOptions {
    pub dirs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Merge even if shards are missing.
    pub partial: bool,
    /// Results and errors in input-line order.
    pub ordered: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The folders cannot be merged (not shards, different jobs, missing or repeated shards).
    #[error("{0}")]
    Refused(String),
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
}

impl MergeError {
    /// Folders that cannot be merged are a usage error; a failed write aborts.
    pub fn exit(&self) -> crate::Exit {
        match self {
            MergeError::Refused(_) => crate::Exit::Usage,
            MergeError::Write { .. } => crate::Exit::Aborted,
        }
    }
}

/// One shard folder, read.
#[derive(Debug, Clone)]
pub struct ShardFolder {
    pub dir: PathBuf,
    pub shard: ShardInfo,
    pub summary: Summary,
    started: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct MergeOutput {
    pub summary: Summary,
    pub out_dir: PathBuf,
    /// In shard order.
    pub shards: Vec<ShardFolder>,
    /// Indices of the job's shards that were not given (only with `partial`).
    pub missing: Vec<u32>,
    pub status: RunStatus,
}

fn refused(message: impl Into<String>) -> MergeError {
    MergeError::Refused(message.into())
}

fn read_folder(dir: &Path) -> Result<(Manifest, ShardFolder), MergeError> {
    let shown = dir.display();
    let manifest = Manifest::read(dir)
        .map_err(refused)?
        .ok_or_else(|| refused(format!("{shown}: not a sheepdog run folder (no run.json)")))?;
    let shard = manifest.shard.ok_or_else(|| {
        refused(format!(
            "{shown}: not a shard: it was run without --shard, so there is nothing to merge it with"
        ))
    })?;
    if crate::shard::Shard::new(shard.index, shard.count).is_err() {
        return Err(refused(format!(
            "{shown}: run.json names shard {}/{}, which does not exist",
            shard.index, shard.count
        )));
    }
    let path = dir.join(crate::report::SUMMARY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refused(format!(
                "{shown}: shard {} has no summary.json: it has not finished; finish it with \
                 `sheepdog run INPUT --shard {} --resume {shown}`",
                shard.shard(),
                shard.shard()
            )))
        }
        Err(e) => return Err(refused(format!("{}: cannot read: {e}", path.display()))),
    };
    let summary = crate::report::json::parse(&bytes).map_err(|e| refused(format!("{}: {e}", path.display())))?;
    let started = humantime::parse_rfc3339_weak(&summary.job.started_at).ok();
    let folder = ShardFolder {
        dir: dir.to_path_buf(),
        shard,
        summary,
        started,
    };
    Ok((manifest, folder))
}

/// Reads and checks the shard folders: one job, no shard twice, none missing (unless `partial`).
/// Returns them in shard order, with the missing indices.
pub fn check(dirs: &[PathBuf], partial: bool) -> Result<(Manifest, Vec<ShardFolder>, Vec<u32>), MergeError> {
    let mut first: Option<(Manifest, PathBuf)> = None;
    let mut folders: Vec<ShardFolder> = Vec::new();
    for dir in dirs {
        let (manifest, folder) = read_folder(dir)?;
        if let Some((job, job_dir)) = &first {
            let other = |what: &str, a: String, b: String| {
                refused(format!(
                    "{} and {} are not shards of the same job: {what} differs ({a} vs {b})",
                    job_dir.display(),
                    dir.display()
                ))
            };
            if job.input.sha256 != manifest.input.sha256 || job.input.size != manifest.input.size {
                let show = |m: &Manifest| {
                    format!(
                        "{} sha256 {}…",
                        m.input.path,
                        &m.input.sha256[..12.min(m.input.sha256.len())]
                    )
                };
                return Err(other("the input file", show(job), show(&manifest)));
            }
            if job.config_sha256 != manifest.config_sha256 {
                return Err(other(
                    "the configuration (providers, targets, route)",
                    job.config.to_string(),
                    manifest.config.to_string(),
                ));
            }
            let count = job.shard.map_or(0, |s| s.count);
            if count != folder.shard.count {
                return Err(other(
                    "the shard count",
                    count.to_string(),
                    folder.shard.count.to_string(),
                ));
            }
        } else {
            first = Some((manifest.clone(), dir.clone()));
        }
        if let Some(twin) = folders.iter().find(|f| f.shard.index == folder.shard.index) {
            return Err(refused(format!(
                "shard {} is given twice: {} and {}",
                folder.shard.shard(),
                twin.dir.display(),
                dir.display()
            )));
        }
        folders.push(folder);
    }
    let (manifest, _) = first.ok_or_else(|| refused("no run folder given"))?;
    folders.sort_by_key(|f| f.shard.index);
    let count = folders[0].shard.count;
    let missing: Vec<u32> = (0..count)
        .filter(|i| !folders.iter().any(|f| f.shard.index == *i))
        .collect();
    if !missing.is_empty() && !partial {
        return Err(refused(format!(
            "missing {} of this job's {count} shards: {}; merge needs them all (or --partial)",
            missing.len(),
            shard_list(&missing, count)
        )));
    }
    Ok((manifest, folders, missing))
}

fn shard_list(indices: &[u32], count: u32) -> String {
    let shown: Vec<String> = indices.iter().take(20).map(|i| format!("{i}/{count}")).collect();
    let more = indices.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Merges the shard folders into `options.out`.
pub fn merge(options: &MergeOptions) -> Result<MergeOutput, MergeError> {
    let (manifest, shards, missing) = check(&options.dirs, options.partial)?;
    let out = &options.out;
    prepare_out(out, &shards)?;
    let write_err = |path: &Path, e: std::io::Error| MergeError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };

    // Each shard's time axis starts at its own job.started_at.
    let start = shards.iter().filter_map(|f| f.started).min();
    let offset = |f: &ShardFolder| match (f.started, start) {
        (Some(s), Some(first)) => s.duration_since(first).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let parts: Vec<summary::Part<'_>> = shards
        .iter()
        .map(|f| summary::Part {
            name: format!("shard {} ({})", f.shard.shard(), f.dir.display()),
            summary: &f.summary,
            offset: offset(f),
        })
        .collect();
    let job = merged_job(&shards, &missing, out, start, &offset);
    let summary = summary::merge(&parts, job).map_err(MergeError::Refused)?;

    let format = shards
        .first()
        .map(|f| crate::output::OutputFormat::of_folder(&f.dir))
        .unwrap_or_default();
    if let Some(other) = shards
        .iter()
        .find(|f| crate::output::OutputFormat::of_folder(&f.dir) != format)
    {
        return Err(refused(format!(
            "{} was written with --output-format {}, and {} with {format}: merge folders of one format",
            other.dir.display(),
            crate::output::OutputFormat::of_folder(&other.dir),
            shards[0].dir.display()
        )));
    }
    let sidecar = (format == crate::output::OutputFormat::OpenAi).then_some(crate::output::format::SIDECAR_FILE);
    for name in [RESULTS_FILE, ERRORS_FILE].into_iter().chain(sidecar) {
        let path = out.join(name);
        let mut file = File::create(&path)
            .map(BufWriter::new)
            .map_err(|e| write_err(&path, e))?;
        for f in &shards {
            files::append_lines(&f.dir, name, &mut file).map_err(|e| write_err(&path, e))?;
        }
        file.flush().map_err(|e| write_err(&path, e))?;
        if options.ordered {
            crate::output::reorder::sort_by_line(out, name).map_err(|e| write_err(&path, e))?;
        }
    }
    let csv_path = out.join(REQUESTS_FILE);
    let file = File::create(&csv_path)
        .map(BufWriter::new)
        .map_err(|e| write_err(&csv_path, e))?;
    let mut csv = csv::Writer::from_writer(file);
    for f in &shards {
        files::append_requests(&f.dir, offset(f), &mut csv).map_err(|e| write_err(&csv_path, e))?;
    }
    csv.flush().map_err(|e| write_err(&csv_path, e))?;

    let record = json!({
        "version": 1,
        "input": manifest.input,
        "config_sha256": manifest.config_sha256,
        "shards": shards.iter().map(|f| json!({
            "index": f.shard.index, "count": f.shard.count, "lines": f.shard.lines,
            "dir": f.dir.display().to_string(),
        })).collect::<Vec<_>>(),
        "missing": missing,
    });
    let bytes = serde_json::to_vec_pretty(&record).map_err(|e| write_err(out, std::io::Error::other(e)))?;
    crate::report::write_atomic(out, MERGE_FILE, &bytes).map_err(|e| write_err(out, e))?;
    crate::report::write_all(out, &summary).map_err(|e| write_err(out, e))?;

    let t = &summary.totals;
    // A shard that stopped early makes the job aborted; missing shards make it incomplete.
    let stopped: Vec<String> = shards
        .iter()
        .filter_map(|f| {
            f.summary
                .job
                .aborted
                .as_ref()
                .map(|r| format!("shard {}: {r}", f.shard.shard()))
        })
        .collect();
    let status = if !stopped.is_empty() {
        RunStatus::Aborted(stopped.join("; "))
    } else if !missing.is_empty() || t.failed + t.rejected + t.unsent > 0 {
        RunStatus::SomeFailed
    } else {
        RunStatus::AllSucceeded
    };
    Ok(MergeOutput {
        summary,
        out_dir: out.clone(),
        shards,
        missing,
        status,
    })
}

/// The merged folder must be new (or empty of results), and none of the shards.
fn prepare_out(out: &Path, shards: &[ShardFolder]) -> Result<(), MergeError> {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if let Some(f) = shards.iter().find(|f| same(&f.dir, out)) {
        return Err(refused(format!(
            "--out {} is the folder of shard {}: choose a new folder",
            out.display(),
            f.shard.shard()
        )));
    }
    for name in [RESULTS_FILE, crate::report::SUMMARY_FILE] {
        if out.join(name).exists() {
            return Err(refused(format!(
                "--out {}: already holds a {name}; choose a new folder",
                out.display()
            )));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| MergeError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    })
}

/// The merged job: earliest start, latest end, and as its running time the span covered by the
/// shards' running times (`[start, start + duration]` each, overlaps counted once).
fn merged_job(
    shards: &[ShardFolder],
    missing: &[u32],
    out: &Path,
    start: Option<SystemTime>,
    offset: &dyn Fn(&ShardFolder) -> Duration,
) -> JobInfo {
    let first = &shards[0].summary.job;
    let mut spans: Vec<(f64, f64)> = shards
        .iter()
        .map(|f| {
            let from = offset(f).as_secs_f64();
            (from, from + f.summary.job.duration_s.max(0.0))
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut covered, mut reach) = (0.0f64, f64::NEG_INFINITY);
    for (from, to) in spans {
        let from = from.max(reach);
        if to > from {
            covered += to - from;
        }
        reach = reach.max(to);
    }
    let mut reasons: Vec<String> = shards
        .iter()
        .filter_map(|f| {
            f.summary
                .job
                .aborted
                .as_ref()
                .map(|r| format!("shard {}: {r}", f.shard.shard()))
        })
        .collect();
    if !missing.is_empty() {
        let count = shards[0].shard.count;
        reasons.push(format!(
            "partial merge: shard(s) {} missing",
            shard_list(missing, count)
        ));
    }
    let mut config = first.config.clone();
    if let Some(object) = config.as_object_mut() {
        object.remove("shard");
        object.insert("shards".into(), shards[0].shard.count.into());
    }
    JobInfo {
        input: first.input.clone(),
        out_dir: out.display().to_string(),
        started_at: start
            .map(|s| humantime::format_rfc3339_millis(s).to_string())
            .unwrap_or_else(|| first.started_at.clone()),
        finished_at: shards
            .iter()
            .map(|f| f.summary.job.finished_at.clone())
            .max()
            .unwrap_or_default(),
        duration_s: covered,
        aborted: (!reasons.is_empty()).then(|| reasons.join("; ")),
        parts: shards.iter().map(|f| f.summary.job.parts).sum(),
        config,
    }
}

#[cfg(test)]
mod tests;
