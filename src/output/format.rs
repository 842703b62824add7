//! How result lines are written: the default format (OpenAI's Batch output plus a `sheepdog`
//! block per line), or `openai`: exactly OpenAI's Batch output, for strict readers, with the
//! `sheepdog` blocks in the sidecar `sheepdog.jsonl` (one line per item, keyed by its input line
//! and naming the file that holds the item's line). Reports, resume, merge and `report` read the
//! blocks from wherever the folder keeps them ([`block_files`]).

use std::path::{Path, PathBuf};

use super::{ERRORS_FILE, RESULTS_FILE};

/// The sidecar of a folder written in the `openai` format.
pub const SIDECAR_FILE: &str = "sheepdog.jsonl";
/// Sidecar lines of items a resume sends again (the partner of `errors.replaced.jsonl`).
pub const SIDECAR_REPLACED_FILE: &str = "sheepdog.replaced.jsonl";

/// `--output-format` / `[run] output_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// OpenAI's Batch output lines with sheepdog's own `sheepdog` block in each.
    #[default]
    Sheepdog,
    /// OpenAI's Batch output lines and nothing else; the blocks go to `sheepdog.jsonl`.
    OpenAi,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "sheepdog" => Ok(OutputFormat::Sheepdog),
            "openai" => Ok(OutputFormat::OpenAi),
            other => Err(format!("{other:?}: write sheepdog (the default) or openai")),
        }
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OutputFormat::Sheepdog => "sheepdog",
            OutputFormat::OpenAi => "openai",
        })
    }
}

impl OutputFormat {
    /// The format a run folder was written in: `openai` when it has a sidecar.
    pub fn of_folder(dir: &Path) -> OutputFormat {
        if dir.join(SIDECAR_FILE).exists() {
            OutputFormat::OpenAi
        } else {
            OutputFormat::Sheepdog
        }
    }

    /// Refuses to continue a folder written in another format (its lines would mix).
    pub fn check_resume(self, dir: &Path) -> Result<(), String> {
        let has_lines = |name: &str| dir.join(name).metadata().is_ok_and(|m| m.len() > 0);
        let was = OutputFormat::of_folder(dir);
        if was == self || (was == OutputFormat::Sheepdog && !has_lines(RESULTS_FILE) && !has_lines(ERRORS_FILE)) {
            return Ok(());
        }
        Err(format!(
            "{} was written with --output-format {was}, and this run asks for {self}: resume with \
             --output-format {was}, or choose another --out",
            dir.display()
        ))
    }
}

/// The files of `dir` that hold the `sheepdog` blocks, in reading order: `results.jsonl` and
/// `errors.jsonl`, or the sidecar of an `openai` folder.
pub fn block_files(dir: &Path) -> Vec<PathBuf> {
    match OutputFormat::of_folder(dir) {
        OutputFormat::Sheepdog => vec![dir.join(RESULTS_FILE), dir.join(ERRORS_FILE)],
        OutputFormat::OpenAi => vec![dir.join(SIDECAR_FILE)],
    }
}

/// Whether a line read from a [`block_files`] file is an answered item (a `results.jsonl` line).
pub fn is_answer(line: &serde_json::Value) -> bool {
    match line.get("file").and_then(|f| f.as_str()) {
        Some(file) => file == "results",
        None => line["error"].is_null(),
    }
}

/// The input line of an `openai` result line, from its `id` (`sheepdog-<line>`).
pub fn line_of_id(id: &str) -> Option<u64> {
    id.strip_prefix("sheepdog-")?.parse().ok()
}
