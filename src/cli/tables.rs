//! Arguments about the shape of a run's files: a table in (`--template`, `--system`,
//! `--id-column`) and the result format (`--output-format`).

use std::path::{Path, PathBuf};

use clap::Args;

use sheepdog::config::{Config, Overrides};
use sheepdog::input::table::{self, TableInfo, TableSpec};
use sheepdog::input::template::TemplateSource;
use sheepdog::output::OutputFormat;

use super::Failure;

/// How the run reads its input and writes its lines.
#[derive(Debug, Args, Default)]
pub struct TableArgs {
    /// The input is a table (CSV, TSV, or JSONL objects): each row renders this Jinja template
    /// (a file, or the text itself: 'Summarize: {{ text }}') into the user message, with the
    /// row's columns as variables; `model` and `max_tokens` columns are used when present.
    #[arg(long, value_name = "FILE|TEXT")]
    pub template: Option<String>,
    /// With --template: the system message, a template too (file or text).
    #[arg(long, value_name = "FILE|TEXT", requires = "template")]
    pub system: Option<String>,
    /// With --template: the column holding each row's id [default: `id` if the table has it,
    /// otherwise line-<n>].
    #[arg(long, value_name = "COLUMN", requires = "template")]
    pub id_column: Option<String>,
    /// Result lines: `sheepdog` (OpenAI's Batch output plus a `sheepdog` block per line) or
    /// `openai` (exactly OpenAI's Batch output; the blocks go to sheepdog.jsonl) [default: sheepdog].
    #[arg(long, value_name = "FORMAT")]
    pub output_format: Option<OutputFormat>,
}

impl TableArgs {
    pub fn apply(&self, o: &mut Overrides) {
        o.output_format = self.output_format;
    }

    fn spec(&self) -> Result<Option<TableSpec>, Failure> {
        let Some(template) = &self.template else {
            return Ok(None);
        };
        let source = |flag: &str, value: &str| TemplateSource::from_arg(flag, value).map_err(Failure::usage);
        Ok(Some(TableSpec {
            template: source("--template", template)?,
            system: self.system.as_deref().map(|s| source("--system", s)).transpose()?,
            id_column: self.id_column.clone(),
        }))
    }
}

/// The file a run reads: the input itself, or with `--template` the requests rendered from the
/// table into the run folder (which becomes `config.out`, unless resuming).
pub struct RunInput {
    pub path: PathBuf,
    pub table: Option<TableInfo>,
    /// A dry run's rendered requests, removed when this is dropped.
    temporary: bool,
}

impl Drop for RunInput {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub fn run_input(
    args: &TableArgs,
    input: &Path,
    resume: Option<&Path>,
    dry_run: bool,
    config: &mut Config,
) -> Result<RunInput, Failure> {
    let Some(spec) = args.spec()? else {
        return Ok(RunInput {
            path: input.to_path_buf(),
            table: None,
            temporary: false,
        });
    };
    if dry_run {
        let path = std::env::temp_dir().join(format!("sheepdog-dry-run-{}.jsonl", std::process::id()));
        let mut rendered = RunInput {
            path,
            table: None,
            temporary: true,
        };
        rendered.table = Some(table::render_to(&spec, input, &rendered.path).map_err(Failure::usage)?);
        return Ok(rendered);
    }
    let dir = match (resume, &config.out) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(out)) => out.clone(),
        (None, None) => {
            let stem = input
                .file_stem()
                .map_or_else(|| "table".into(), |s| s.to_string_lossy().into_owned());
            let dir = sheepdog::output::fresh_run_dir(&stem);
            config.out = Some(dir.clone());
            dir
        }
    };
    let (path, info) = table::render_into(&spec, input, &dir).map_err(Failure::usage)?;
    Ok(RunInput {
        path,
        table: Some(info),
        temporary: false,
    })
}

/// The first rendered prompts, for `--dry-run`.
pub fn preview(info: &TableInfo) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "Table {}: {} rows, columns: {}\n",
        info.source,
        info.rows,
        info.columns.join(", ")
    );
    for (i, messages) in info.preview.iter().enumerate() {
        let _ = writeln!(out, "  prompt {}:", i + 1);
        for message in messages.as_array().into_iter().flatten() {
            let role = message["role"].as_str().unwrap_or_default();
            let content = message["content"].as_str().unwrap_or_default();
            for (j, line) in content.lines().enumerate() {
                let label = if j == 0 { format!("{role}:") } else { String::new() };
                let _ = writeln!(out, "    {label:<8}{line}");
            }
        }
    }
    out
}
