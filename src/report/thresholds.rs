//! The `--threshold` verdicts in `report.md` (runs and benches).

use std::fmt::Write as _;

use super::fmt::md_cell;
use crate::stats::summary::ThresholdCheck;

/// The `## Thresholds` section of `report.md`: one row per check, crossed ones first. Empty when
/// no threshold was given.
pub fn markdown(checks: &[ThresholdCheck]) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let crossed = checks.iter().filter(|c| !c.passed).count();
    let mut out = String::from("## Thresholds\n\n");
    let _ = writeln!(
        out,
        "{} of {} checks crossed{}.\n",
        crossed,
        checks.len(),
        if crossed > 0 { " (exit code 1)" } else { "" }
    );
    out.push_str("| Threshold | Where | Verdict |\n|---|---|---|\n");
    let (failed, passed): (Vec<_>, Vec<_>) = checks.iter().partition(|c| !c.passed);
    for check in failed.into_iter().chain(passed) {
        let verdict = check.message.split_once(": ").map_or("", |(_, what)| what);
        let _ = writeln!(
            out,
            "| `{}` | {} | {} {} |",
            md_cell(&check.threshold),
            md_cell(&check.scope),
            if check.passed { "holds:" } else { "**crossed**:" },
            md_cell(verdict)
        );
    }
    out.push('\n');
    out
}
