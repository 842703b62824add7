//! Which step a bench runs next: the next load of the sweep, or the next probe of a
//! `--find-max` search. A saturated step ends the heavier part of a sweep: steps at its load or
//! above are not run (they would only queue more).

use super::saturation;
use super::search::Search;
use super::spec::BenchSpec;
use super::summary::StepReport;
use crate::load::Load;

pub(crate) enum Plan {
    Sweep {
        steps: Vec<Load>,
        next: usize,
        /// Steps at this load or above are skipped (a lighter one saturated).
        ceiling: Option<f64>,
    },
    Search(Search),
}

/// The offered load of a step: its rate, or its concurrency.
fn value(load: &Load) -> f64 {
    match load {
        Load::Open { rate, .. } => *rate,
        Load::Closed { concurrency } => *concurrency as f64,
    }
}

impl Plan {
    pub fn new(spec: &BenchSpec) -> Plan {
        match (spec.find_max, spec.slo) {
            (Some(find), Some(slo)) => Plan::Search(Search::new(find, slo)),
            _ => Plan::Sweep {
                steps: spec.steps.clone(),
                next: 0,
                ceiling: None,
            },
        }
    }

    /// Steps planned in all, when known in advance.
    pub fn planned(&self) -> Option<usize> {
        match self {
            Plan::Sweep { steps, .. } => Some(steps.len()),
            Plan::Search(_) => None,
        }
    }

    /// The load of the next step, or `None` when the bench is done.
    pub fn next(&mut self) -> Option<Load> {
        match self {
            Plan::Search(search) => search.next(),
            Plan::Sweep { steps, next, ceiling } => {
                while let Some(load) = steps.get(*next).copied() {
                    *next += 1;
                    if ceiling.is_some_and(|c| value(&load) >= c) {
                        continue;
                    }
                    return Some(load);
                }
                None
            }
        }
    }

    /// Marks `step` saturated or not (against `earlier` steps; `warmup`: seconds, when steps have
    /// fixed `--duration` windows) and lets the plan read it. Returns a note when the sweep will
    /// skip heavier steps.
    pub fn record(&mut self, step: &mut StepReport, earlier: &[StepReport], warmup: Option<f64>) -> Option<String> {
        let load = step.load_value();
        let lighter = earlier
            .iter()
            .filter(|s| s.load.mode == step.load.mode && s.load_value() < load)
            .max_by(|a, b| a.load_value().total_cmp(&b.load_value()));
        step.saturated = saturation::saturated(step, lighter, warmup);
        match self {
            Plan::Search(search) => {
                search.record(step);
                None
            }
            Plan::Sweep {
                steps, next, ceiling, ..
            } => {
                let reason = step.saturated.as_ref()?;
                let heavier = steps[*next..].iter().filter(|l| value(l) >= load).count();
                *ceiling = Some(ceiling.map_or(load, |c: f64| c.min(load)));
                (heavier > 0).then(|| {
                    format!(
                        "step {} ({}) {reason}: {heavier} heavier step(s) not run",
                        step.step, step.load.label
                    )
                })
            }
        }
    }
}
