//! Progress of a run, for the person watching: an indicatif bar on a terminal, a plain line
//! every few seconds when stderr is a file or a pipe, nothing with `--quiet`. Only a consumer
//! of the collector's counts.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::stats::LiveCounts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live bar (stderr is a terminal).
    Bar,
    /// A log line every `LOG_EVERY` (stderr is not a terminal).
    Log,
    Quiet,
}

impl ProgressMode {
    /// The mode for this process's stderr.
    pub fn detect(quiet: bool) -> ProgressMode {
        use std::io::IsTerminal;
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Log
        }
    }
}

const LOG_EVERY: Duration = Duration::from_secs(10);
const BAR_EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    /// `None` for an input read from a pipe: its length is not known until its end.
    total: Option<u64>,
    started: Instant,
    last: Instant,
}

impl Progress {
    /// `total`: items expected (non-blank input lines); `None` when not known (a pipe).
    pub fn new(mode: ProgressMode, total: Option<u64>) -> Progress {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr_with_hz(10));
            let template = match total {
                Some(_) => "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} ETA {eta} {msg}",
                None => "{spinner} [{elapsed_precise}] {pos} items {per_sec} {msg}",
            };
            let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            mode,
            bar,
            total,
            started: now,
            last: now,
        }
    }

    /// Called by the owner of the statistics after each finished item.
    pub fn update(&mut self, counts: &LiveCounts) {
        let now = Instant::now();
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Bar => {
                if now.duration_since(self.last) >= BAR_EVERY {
                    self.last = now;
                    if let Some(bar) = &self.bar {
                        bar.set_position(counts.done);
                        bar.set_message(format!(
                            "ok {} failed {} {}",
                            counts.succeeded,
                            counts.failed + counts.rejected,
                            money(counts.cost_usd)
                        ));
                    }
                }
            }
            ProgressMode::Log => {
                if now.duration_since(self.last) >= LOG_EVERY {
                    self.last = now;
                    eprintln!("sheepdog: {}", self.line(counts));
                }
            }
        }
    }

    /// Removes the bar (the final table follows).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, c: &LiveCounts) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { c.done as f64 / elapsed } else { 0.0 };
        let Some(total) = self.total else {
            return format!(
                "{} items (input from a pipe: total not known), {} ok, {} failed, {} rejected, {rate:.1} items/s, {}",
                c.done,
                c.succeeded,
                c.failed,
                c.rejected,
                money(c.cost_usd)
            );
        };
        let eta = if rate > 0.0 && total > c.done {
            format!(
                ", ETA {}",
                humantime::format_duration(Duration::from_secs(((total - c.done) as f64 / rate) as u64))
            )
        } else {
            String::new()
        };
        let percent = if total > 0 {
            100.0 * c.done as f64 / total as f64
        } else {
            100.0
        };
        format!(
            "{}/{total} items ({percent:.1}%), {} ok, {} failed, {} rejected, {rate:.1} items/s, {}{eta}",
            c.done,
            c.succeeded,
            c.failed,
            c.rejected,
            money(c.cost_usd)
        )
    }
}

fn money(usd: f64) -> String {
    format!("${usd:.4}")
}
