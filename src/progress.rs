//! Progress of a run, for the person watching: an indicatif bar on a terminal, a plain line
//! every few seconds when stderr is a file or a pipe, nothing with `--quiet`. Only a consumer
//! of the collector's counts.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use std::sync::Arc;

use crate::dispatch::budget::Budget;
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
    /// `--max-cost`: spent / budget and the projected total are shown instead of the cost.
    budget: Option<Arc<Budget>>,
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
            budget: None,
        }
    }

    /// Shows what the run spent of its budget, and what the whole job would cost at the
    /// current rate.
    pub fn with_budget(mut self, budget: Option<Arc<Budget>>) -> Progress {
        self.budget = budget;
        self
    }

    /// `$0.0123` without a budget; `$3.20 of $25.00, projected $41.10` with one.
    fn cost(&self, c: &LiveCounts) -> String {
        let Some(budget) = &self.budget else {
            return money(c.cost_usd);
        };
        let spent = budget.spent();
        let mut text = format!("{} of {}", budget.format(spent), budget.format(budget.limit()));
        if let Some(projected) = projected(spent, c.done, self.total) {
            text.push_str(&format!(", projected {}", budget.format(projected)));
        }
        text
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
                            self.cost(counts)
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
                self.cost(c)
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
            self.cost(c)
        )
    }
}

/// The whole job's cost if the items left cost what the finished ones did on average.
fn projected(spent: f64, done: u64, total: Option<u64>) -> Option<f64> {
    let total = total?;
    (done > 0 && total >= done).then(|| spent / done as f64 * total as f64)
}

fn money(usd: f64) -> String {
    format!("${usd:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_scales_the_spend_to_every_item() {
        assert_eq!(projected(2.0, 10, Some(100)), Some(20.0));
        assert_eq!(projected(2.0, 0, Some(100)), None);
        assert_eq!(projected(2.0, 10, None), None);
    }

    #[tokio::test]
    async fn the_log_line_shows_spent_of_budget_and_the_projection() {
        let config = crate::config::Config::resolve(
            &crate::config::Overrides {
                max_cost: Some("25".into()),
                ..Default::default()
            },
            &NoEnv,
        )
        .unwrap();
        let budget = Budget::from_config(&config).unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        budget.reserve(3.0, &stop).await.unwrap().settle(2.0);
        let progress = Progress::new(ProgressMode::Quiet, Some(100)).with_budget(Some(budget));
        let counts = LiveCounts {
            done: 10,
            succeeded: 10,
            ..Default::default()
        };
        let line = progress.line(&counts);
        assert!(line.contains("$2.00 of $25.00, projected $20.00"), "{line}");
    }

    struct NoEnv;
    impl crate::config::Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }
}
