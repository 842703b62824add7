//! Output tokens measured in an earlier run (`sheepdog estimate --from-run DIR`): the
//! distribution of `output_tokens` over the answered items of its `results.jsonl`, or the
//! average from its `summary.json` when the results file is gone.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::stats::{new_histogram, record_us};

/// Output tokens per answered item of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// The run folder.
    pub run: String,
    /// Answered items measured.
    pub items: u64,
    pub mean: f64,
    /// `None` when only the summary was available.
    pub p50: Option<u64>,
    pub p90: Option<u64>,
}

/// Reads the run folder `dir`. Errors name the folder and what is missing.
pub fn measure(dir: &Path) -> Result<Measured, String> {
    // Answered items: results.jsonl, or the sidecar of an `openai` folder.
    let results = crate::output::format::block_files(dir).swap_remove(0);
    let is_answer = crate::output::format::is_answer;
    let run = dir.display().to_string();
    if results.is_file() {
        let file = File::open(&results).map_err(|e| format!("{}: {e}", results.display()))?;
        let mut histogram = new_histogram();
        let (mut items, mut total) = (0u64, 0u64);
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: line {}: {e}", results.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| format!("{}: line {}: not JSON: {e}", results.display(), i + 1))?;
            if let Some(tokens) = value["sheepdog"]["output_tokens"]
                .as_u64()
                .filter(|_| is_answer(&value))
            {
                items += 1;
                total += tokens;
                record_us(&mut histogram, tokens);
            }
        }
        if items == 0 {
            return Err(format!(
                "{}: no answered item with output_tokens to measure",
                results.display()
            ));
        }
        return Ok(Measured {
            run,
            items,
            mean: total as f64 / items as f64,
            p50: Some(histogram.value_at_quantile(0.5)),
            p90: Some(histogram.value_at_quantile(0.9)),
        });
    }
    let summary_path = dir.join(crate::report::SUMMARY_FILE);
    let bytes = std::fs::read(&summary_path).map_err(|_| {
        format!(
            "{run}: no {} or {}: not a sheepdog run folder",
            crate::output::RESULTS_FILE,
            crate::report::SUMMARY_FILE
        )
    })?;
    let summary = crate::report::json::parse(&bytes).map_err(|e| format!("{}: {e}", summary_path.display()))?;
    if summary.totals.succeeded == 0 {
        return Err(format!("{run}: no item was answered in that run: nothing to measure"));
    }
    Ok(Measured {
        run,
        items: summary.totals.succeeded,
        mean: summary.tokens.output as f64 / summary.totals.succeeded as f64,
        p50: None,
        p90: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_give_the_distribution() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for tokens in [10u64, 20, 30, 40] {
            text.push_str(&format!(
                "{{\"custom_id\":\"x\",\"sheepdog\":{{\"output_tokens\":{tokens}}}}}\n"
            ));
        }
        text.push_str("{\"custom_id\":\"rejected\",\"sheepdog\":{\"line\":9}}\n");
        std::fs::write(dir.path().join("results.jsonl"), text).unwrap();
        let m = measure(dir.path()).unwrap();
        assert_eq!((m.items, m.mean, m.p50, m.p90), (4, 25.0, Some(20), Some(40)));
    }

    #[test]
    fn a_folder_without_results_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let err = measure(dir.path()).unwrap_err();
        assert!(err.contains("not a sheepdog run folder"), "{err}");
        std::fs::write(dir.path().join("results.jsonl"), "{\"sheepdog\":{}}\n").unwrap();
        assert!(measure(dir.path()).unwrap_err().contains("no answered item"));
    }
}
