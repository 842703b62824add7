//! A [`Comparison`] as a terminal table, Markdown or JSON. The better value of a row is marked
//! with `*` (terminal) or in bold (Markdown); JSON lists the indices in `best`.

use std::fmt::Write as _;

use super::{Comparison, Row};
use crate::report::fmt::{aligned, md_cell};

pub use crate::report::TableFormat as Format;

pub fn render(c: &Comparison, format: Format) -> String {
    match format {
        Format::Text => text(c),
        Format::Markdown => markdown(c),
        Format::Json => {
            // Serializing plain data to a String cannot fail.
            let mut text = serde_json::to_string_pretty(c).unwrap_or_default();
            text.push('\n');
            text
        }
    }
}

fn text(c: &Comparison) -> String {
    let mut out = String::from("sheepdog compare\n");
    for (i, run) in c.runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  [{}] {}  {}  input {}  targets {}",
            i + 1,
            run.label,
            run.dir,
            run.input,
            if run.targets.is_empty() {
                "-".to_string()
            } else {
                run.targets.join(", ")
            }
        );
    }
    out.push('\n');
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["metric".to_string()];
    header.extend((1..=c.runs.len()).map(|i| format!("[{i}]")));
    table.push(header);
    let mut section = "";
    for row in &c.rows {
        if row.section != section && !section.is_empty() {
            table.push(Vec::new());
        }
        section = row.section;
        let mut cells = vec![row.metric.clone()];
        cells.extend(marked(row, |v| format!("{v} *"), |v| format!("{v}  ")));
        table.push(cells);
    }
    out.push_str(&aligned(&table));
    out.push_str("\n* the better value in the row\n");
    for note in &c.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

/// Each shown value, through `best` or `other`.
fn marked(row: &Row, best: impl Fn(&str) -> String, other: impl Fn(&str) -> String) -> Vec<String> {
    row.shown
        .iter()
        .enumerate()
        .map(|(i, v)| if row.best.contains(&i) { best(v) } else { other(v) })
        .collect()
}

fn markdown(c: &Comparison) -> String {
    let mut out = String::from("# sheepdog compare\n\n");
    out.push_str("| run | folder | input | targets |\n|---|---|---|---|\n");
    for (i, run) in c.runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "| [{}] {} | `{}` | `{}` | {} |",
            i + 1,
            md_cell(&run.label),
            md_cell(&run.dir),
            md_cell(&run.input),
            md_cell(&run.targets.join(", "))
        );
    }
    out.push_str("\n| metric |");
    for i in 1..=c.runs.len() {
        let _ = write!(out, " [{i}] |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(c.runs.len()));
    out.push('\n');
    for row in &c.rows {
        let cells = marked(row, |v| format!("**{}**", md_cell(v)), md_cell);
        let _ = writeln!(out, "| {} | {} |", md_cell(&row.metric), cells.join(" | "));
    }
    out.push_str("\nThe better value of each row is in **bold**. ");
    out.push_str(
        "Latency is request sent → last byte of the final successful attempt; cost per 1,000 requests \
         divides the cost by the items attempted; the output token ratio compares each item's output \
         tokens with the first run's, over the items both answered (matched by `custom_id`).\n",
    );
    for note in &c.notes {
        let _ = writeln!(out, "\n> {}", md_cell(note));
    }
    out
}
