//! `--find-max`: the highest load at which at least `--goodput` of measured requests meet every
//! objective. A geometric ramp (×2 per probe) until a probe fails (goodput short, or the server
//! saturated), then a bisection between the highest load that passed and the lowest that failed,
//! until they are within `--precision` of each other. Each probe is a short bench step.
//!
//! [`Search`] is the pure decision part: it proposes the next load and reads each probe's
//! report; the bench loop runs the steps.

use serde::{Deserialize, Serialize};

use super::spec::{Slo, SloMetric};
use super::summary::StepReport;
use crate::load::{trim_float, Arrivals, Load};

/// What the search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchBy {
    /// Open loop: requests started per second.
    Rate,
    /// Closed loop: requests in flight.
    Concurrency,
}

/// A validated `--find-max` request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FindMax {
    pub by: SearchBy,
    /// Share of measured requests that must meet every objective (0..1].
    pub goodput: f64,
    /// Stop when (failed − passed) / passed is at most this.
    pub precision: f64,
    /// The first load tried.
    pub start: f64,
    /// The heaviest load tried.
    pub ceiling: f64,
    /// Open loop spacing.
    pub arrivals: Arrivals,
}

impl FindMax {
    pub const DEFAULT_GOODPUT: f64 = 0.95;
    pub const DEFAULT_PRECISION: f64 = 0.10;
    /// The heaviest load a search tries when not told: 10,000 req/s or 1,024 in flight.
    pub fn default_ceiling(by: SearchBy) -> f64 {
        match by {
            SearchBy::Rate => 10_000.0,
            SearchBy::Concurrency => 1024.0,
        }
    }

    /// The unit of a load: `req/s` or `in flight`.
    pub fn unit(&self) -> &'static str {
        match self.by {
            SearchBy::Rate => "req/s",
            SearchBy::Concurrency => "in flight",
        }
    }

    fn load(&self, value: f64) -> Load {
        match self.by {
            SearchBy::Rate => Load::Open {
                rate: value,
                arrivals: self.arrivals,
            },
            SearchBy::Concurrency => Load::Closed {
                concurrency: value as usize,
            },
        }
    }

    /// A load as the search can run it: whole concurrencies, rates to 0.01 req/s.
    fn round(&self, value: f64) -> f64 {
        match self.by {
            SearchBy::Rate => (value * 100.0).round().max(1.0) / 100.0,
            SearchBy::Concurrency => value.round().max(1.0),
        }
    }
}

/// One probe of the search, as `summary.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The bench step that ran it.
    pub step: usize,
    pub load: f64,
    /// Share of measured requests meeting every objective.
    pub goodput: f64,
    pub achieved_rps: f64,
    pub saturated: bool,
    pub passed: bool,
}

/// The outcome of `--find-max`: `summary.json` `find_max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindMaxReport {
    pub by: SearchBy,
    /// The goodput share every probe had to reach.
    pub goodput: f64,
    pub precision: f64,
    /// The highest load that passed (`None`: even the lightest probe failed).
    pub max_load: Option<f64>,
    pub passed_at: Option<f64>,
    /// The lowest load that failed (`None`: the ceiling passed).
    pub failed_at: Option<f64>,
    pub probes: Vec<Probe>,
    /// `max 18.4 req/s meets ttft ≤ 300ms for 95%: passed at 18.4, failed at 20.1`.
    pub answer: String,
}

/// The state of a search.
#[derive(Debug, Clone)]
pub struct Search {
    spec: FindMax,
    slo: Slo,
    passed: Option<f64>,
    failed: Option<f64>,
    probes: Vec<Probe>,
}

impl Search {
    pub fn new(spec: FindMax, slo: Slo) -> Search {
        Search {
            spec,
            slo,
            passed: None,
            failed: None,
            probes: Vec::new(),
        }
    }

    /// The load of the next probe, or `None` when the answer is found.
    pub fn next(&self) -> Option<Load> {
        let s = &self.spec;
        let value = match (self.passed, self.failed) {
            (None, None) => s.start,
            (Some(passed), None) if passed >= s.ceiling => return None,
            (Some(passed), None) => (passed * 2.0).min(s.ceiling),
            (None, Some(failed)) => {
                let lower = s.round(failed / 2.0);
                if lower >= failed {
                    return None;
                }
                lower
            }
            (Some(passed), Some(failed)) => {
                if (failed - passed) / passed <= s.precision {
                    return None;
                }
                let mid = s.round((passed + failed) / 2.0);
                if mid <= passed || mid >= failed {
                    return None;
                }
                mid
            }
        };
        Some(s.load(s.round(value)))
    }

    /// Reads the report of the probe just run (at the load [`Search::next`] gave).
    pub fn record(&mut self, step: &StepReport) {
        let load = step.load_value();
        let goodput = step.slo.as_ref().map_or(0.0, |slo| slo.met_all);
        let saturated = step.saturated.is_some();
        let passed = goodput >= self.spec.goodput && !saturated;
        if passed {
            self.passed = Some(self.passed.map_or(load, |p| p.max(load)));
        } else {
            self.failed = Some(self.failed.map_or(load, |f| f.min(load)));
        }
        self.probes.push(Probe {
            step: step.step,
            load,
            goodput,
            achieved_rps: step.achieved_rps,
            saturated,
            passed,
        });
    }

    pub fn report(&self) -> FindMaxReport {
        let s = &self.spec;
        let show = |v: Option<f64>| v.map_or_else(|| "none".to_string(), trim_float);
        let objectives: Vec<String> = SloMetric::ALL
            .into_iter()
            .filter_map(|m| {
                self.slo
                    .bound(m)
                    .map(|d| format!("{m} ≤ {}", humantime::format_duration(d)))
            })
            .collect();
        let head = match (s.by, self.passed) {
            (_, None) => "no load".to_string(),
            (SearchBy::Rate, Some(v)) => format!("max {} req/s", trim_float(v)),
            (SearchBy::Concurrency, Some(v)) => format!("max concurrency {}", trim_float(v)),
        };
        let answer = format!(
            "{head} meets {} for {}%: passed at {}, failed at {}",
            objectives.join(", "),
            trim_float(s.goodput * 100.0),
            show(self.passed),
            show(self.failed)
        );
        FindMaxReport {
            by: s.by,
            goodput: s.goodput,
            precision: s.precision,
            max_load: self.passed,
            passed_at: self.passed,
            failed_at: self.failed,
            probes: self.probes.clone(),
            answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(by: SearchBy) -> FindMax {
        FindMax {
            by,
            goodput: 0.95,
            precision: 0.1,
            start: 1.0,
            ceiling: FindMax::default_ceiling(by),
            arrivals: Arrivals::Even,
        }
    }

    /// Runs a search against a server whose goodput holds up to `capacity`.
    fn search(by: SearchBy, capacity: f64) -> (Vec<f64>, FindMaxReport) {
        let mut search = Search::new(spec(by), "ttft=300ms".parse().unwrap());
        let mut loads = Vec::new();
        while let Some(load) = search.next() {
            let value = match load {
                Load::Open { rate, .. } => rate,
                Load::Closed { concurrency } => concurrency as f64,
            };
            loads.push(value);
            assert!(loads.len() < 40, "the search ends: {loads:?}");
            let passed = value <= capacity;
            search.passed = if passed {
                Some(search.passed.map_or(value, |p: f64| p.max(value)))
            } else {
                search.passed
            };
            search.failed = if passed {
                search.failed
            } else {
                Some(search.failed.map_or(value, |f: f64| f.min(value)))
            };
        }
        (loads, search.report())
    }

    #[test]
    fn ramps_then_bisects_to_the_precision() {
        let (loads, report) = search(SearchBy::Rate, 19.5);
        assert_eq!(&loads[..6], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]);
        let (passed, failed) = (report.passed_at.unwrap(), report.failed_at.unwrap());
        assert!(passed <= 19.5 && failed > 19.5, "{passed} {failed}");
        assert!((failed - passed) / passed <= 0.1, "{loads:?}");
        assert!(report
            .answer
            .starts_with(&format!("max {} req/s meets ttft ≤ 300ms for 95%", trim_float(passed))));
    }

    #[test]
    fn concurrency_ends_on_neighbours() {
        let (loads, report) = search(SearchBy::Concurrency, 8.0);
        assert_eq!(report.passed_at, Some(8.0), "{loads:?}");
        assert_eq!(report.failed_at, Some(9.0), "{loads:?}");
    }

    #[test]
    fn a_failing_first_probe_goes_down_and_can_find_nothing() {
        let (loads, report) = search(SearchBy::Concurrency, 0.0);
        assert_eq!(loads, vec![1.0]);
        assert_eq!(report.max_load, None);
        assert!(report.answer.starts_with("no load meets"), "{}", report.answer);
        let (_, report) = search(SearchBy::Rate, 0.3);
        assert!(
            report.passed_at.unwrap() <= 0.3 && report.failed_at.unwrap() > 0.3,
            "{report:?}"
        );
    }
}
