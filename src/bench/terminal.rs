//! The table `sheepdog bench` prints at the end: the sweep, one row per step, columns aligned.
//! A pure function of [`BenchSummary`].

use std::fmt::Write as _;

use super::markdown::{objectives, sweep_table};
use super::summary::BenchSummary;

/// Renders the terminal summary (no trailing newline).
pub fn render(s: &BenchSummary) -> String {
    let b = &s.bench;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sheepdog bench  {} → {} ({}) · {} · {} · warm-up {} s",
        b.prompts,
        b.target,
        b.model,
        if b.streamed { "streamed" } else { "not streamed" },
        b.stop,
        b.warmup_s
    );
    if let Some(slo) = &b.slo {
        let _ = writeln!(out, "objectives  {}", objectives(slo));
    }
    let (header, rows) = sweep_table(s);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                // The load column reads left-aligned; numbers right-aligned.
                if i == 1 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.iter().map(|h| h.to_string()).collect()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
    if let Some(reason) = &b.aborted {
        let _ = writeln!(out, "aborted: {reason}");
    }
    if let Some(budget) = &b.budget {
        let _ = writeln!(out, "budget: {}", budget.describe());
    }
    out.trim_end().to_string()
}
