//! A [`BenchComparison`] as a terminal table, Markdown or JSON.

use std::fmt::Write as _;

use super::bench::{BenchComparison, Change, Verdict, MIN_CHANGE};
use crate::report::fmt::{md_cell, ms_short};

pub use crate::report::TableFormat as Format;

pub fn render(c: &BenchComparison, format: Format) -> String {
    match format {
        Format::Json => {
            // Serializing plain data to a String cannot fail.
            let mut text = serde_json::to_string_pretty(c).unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Text => table(c, false),
        Format::Markdown => table(c, true),
    }
}

const HEADER: [&str; 8] = [
    "step",
    "load",
    "metric",
    "baseline p50",
    "p50",
    "change",
    "99% interval",
    "verdict",
];

fn signed(share: f64) -> String {
    format!("{:+.1}%", share * 100.0)
}

fn verdict(c: &Change) -> String {
    match c.verdict {
        Verdict::Slower => format!("SLOWER (confidence {:.1}%)", c.confidence * 100.0),
        Verdict::Faster => format!("faster (confidence {:.1}%)", c.confidence * 100.0),
        Verdict::NoChange => "no significant change".into(),
        Verdict::Unknown => "too few requests".into(),
    }
}

fn cells(c: &Change) -> Vec<String> {
    vec![
        c.step.to_string(),
        c.load.clone(),
        c.metric.to_string(),
        ms_short(c.baseline_p50_ms),
        ms_short(c.other_p50_ms),
        signed(c.change),
        format!("{} .. {}", signed(c.interval.0), signed(c.interval.1)),
        verdict(c),
    ]
}

fn table(c: &BenchComparison, markdown: bool) -> String {
    let mut out = String::new();
    let title = if markdown {
        "# sheepdog compare (bench)\n"
    } else {
        "sheepdog compare (bench)\n"
    };
    out.push_str(title);
    let _ = writeln!(out, "baseline: {}", c.baseline);
    for other in &c.others {
        let _ = writeln!(out, "\n{}against: {}\n", if markdown { "## " } else { "" }, other.dir);
        let rows: Vec<Vec<String>> = other.changes.iter().map(cells).collect();
        if markdown {
            let _ = writeln!(out, "| {} |", HEADER.join(" | "));
            let _ = writeln!(out, "|---:|---|---|---:|---:|---:|---|---|");
            for row in &rows {
                let row: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
        } else {
            let widths: Vec<usize> = (0..HEADER.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([HEADER[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: Vec<&str>| {
                let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
                padded.join("  ").trim_end().to_string()
            };
            let _ = writeln!(out, "{}", line(HEADER.to_vec()));
            for row in &rows {
                let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
            }
        }
        for note in &other.notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    let _ = writeln!(
        out,
        "\nMedians of measured, succeeded requests from requests.csv. A change is marked when the 99% \
         bootstrap interval of the change in the median excludes 0 and the change is at least {:.0}%.",
        MIN_CHANGE * 100.0
    );
    out
}
