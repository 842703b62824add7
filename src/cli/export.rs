//! `sheepdog export`: a run folder as one table, one row per input line.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use sheepdog::export::{export as export_rows, ExportFormat};

use super::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A run folder.
    pub dir: PathBuf,
    /// csv (one header line, for spreadsheets, pandas, duckdb) or jsonl (one object per row).
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Write to this file [default: DIR/export.csv or DIR/export.jsonl]; `-`: standard output.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

pub fn export(args: ExportArgs) -> Outcome {
    let (format, name) = match args.format {
        Format::Csv => (ExportFormat::Csv, "export.csv"),
        Format::Jsonl => (ExportFormat::Jsonl, "export.jsonl"),
    };
    let out = args.out.clone().unwrap_or_else(|| args.dir.join(name));
    if out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        export_rows(&args.dir, format, &mut lock).map_err(Failure::usage)?;
        lock.flush().map_err(|e| Failure::new(e, sheepdog::Exit::Aborted))?;
        return Ok(sheepdog::Exit::Success);
    }
    let write_failed =
        |e: std::io::Error| Failure::new(format!("{}: cannot write: {e}", out.display()), sheepdog::Exit::Aborted);
    let tmp = out.with_extension("partial");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(write_failed)?);
    let rows = export_rows(&args.dir, format, &mut file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::usage(e)
    })?;
    file.flush().map_err(write_failed)?;
    drop(file);
    std::fs::rename(&tmp, &out).map_err(write_failed)?;
    eprintln!("sheepdog: {rows} rows written to {}", out.display());
    Ok(sheepdog::Exit::Success)
}
