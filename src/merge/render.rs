//! What `sheepdog merge` tells about the shards it read (the merged report itself is the run's
//! terminal table).

use super::MergeOutput;

/// One line per shard read, and a warning when the merge is partial.
pub fn shard_lines(output: &MergeOutput) -> Vec<String> {
    let count = output.shards.first().map_or(0, |f| f.shard.count);
    let mut lines: Vec<String> = output
        .shards
        .iter()
        .map(|f| {
            let t = &f.summary.totals;
            format!(
                "shard {}/{count}: {} lines, {} ok, {} failed, {} rejected, {} unsent  ({})",
                f.shard.index,
                t.lines,
                t.succeeded,
                t.failed,
                t.rejected,
                t.unsent,
                f.dir.display()
            )
        })
        .collect();
    if !output.missing.is_empty() {
        let missing: Vec<String> = output.missing.iter().map(|i| format!("{i}/{count}")).collect();
        lines.push(format!(
            "warning: partial merge, missing shard(s) {}",
            missing.join(", ")
        ));
    }
    lines
}
