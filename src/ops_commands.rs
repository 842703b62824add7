//! `sheepdog merge`, and the metrics endpoint of `run` and `bench`.

use sheepdog::merge::{MergeOptions, MergeOutput};
use sheepdog::metrics::{Metrics, MetricsServer};

use crate::cli::{MergeArgs, MetricsArgs};

/// Starts the `/metrics` endpoint when `--metrics-addr` is given, and says where it is.
pub async fn start_metrics(args: &MetricsArgs) -> Result<Option<MetricsServer>, u8> {
    let Some(addr) = args.metrics_addr else {
        return Ok(None);
    };
    match MetricsServer::start(Metrics::new(), addr).await {
        Ok(server) => {
            eprintln!("sheepdog: metrics at {}", server.url());
            Ok(Some(server))
        }
        Err(e) => {
            eprintln!("sheepdog: --metrics-addr {addr}: cannot listen: {e}");
            Err(crate::EXIT_USAGE)
        }
    }
}

pub fn merge(args: MergeArgs) -> u8 {
    let options = MergeOptions {
        dirs: args.dirs,
        out: args.out,
        partial: args.partial,
        ordered: args.ordered,
    };
    match sheepdog::merge::merge(&options) {
        Ok(output) => {
            report(&output, args.quiet);
            output.status.exit_code() as u8
        }
        Err(e) => {
            eprintln!("sheepdog: {e}");
            e.exit_code() as u8
        }
    }
}

fn report(output: &MergeOutput, quiet: bool) {
    let count = output.shards.first().map_or(0, |f| f.shard.count);
    for f in &output.shards {
        let t = &f.summary.totals;
        eprintln!(
            "sheepdog: shard {}/{count}: {} lines, {} ok, {} failed, {} rejected, {} unsent  ({})",
            f.shard.index,
            t.lines,
            t.succeeded,
            t.failed,
            t.rejected,
            t.unsent,
            f.dir.display()
        );
    }
    if !output.missing.is_empty() {
        let missing: Vec<String> = output.missing.iter().map(|i| format!("{i}/{count}")).collect();
        eprintln!(
            "sheepdog: warning: partial merge, missing shard(s) {}",
            missing.join(", ")
        );
    }
    if !quiet {
        println!("{}", sheepdog::report::terminal::render(&output.summary));
        println!("Merged folder: {}", output.out_dir.display());
    }
}
