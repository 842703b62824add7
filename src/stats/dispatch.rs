//! What only the dispatcher saw during a run, handed to [`super::Collector::finish`]: per target,
//! breaker openings, rate-controller decisions and time spent waiting.

use serde::{Deserialize, Serialize};

use super::summary::TargetPacing;
use crate::pricing::currency::Money;

/// The dispatcher's figures of one run (see `dispatch::Dispatcher::report`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchReport {
    pub targets: Vec<TargetDispatch>,
    /// The run's budget (`--max-cost`), when it has one.
    pub budget: Option<BudgetReport>,
}

/// The dispatcher's figures of one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetDispatch {
    /// The target's name, as in [`super::TargetInfo::name`].
    pub name: String,
    pub breaker_openings: u64,
    /// Times the rate controller slowed the target down.
    pub slowdowns: u64,
    pub pacing: TargetPacing,
}

impl DispatchReport {
    /// The figures of target `name`, if the dispatcher routed to it.
    pub fn target(&self, name: &str) -> Option<&TargetDispatch> {
        self.targets.iter().find(|t| t.name == name)
    }
}

/// What `summary.json` and the reports say about the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// The budget, in `currency`.
    pub limit: f64,
    pub currency: String,
    /// Spent by the whole job (earlier parts of a resumed job included), in `currency`.
    pub spent: f64,
    /// Of `spent`, what earlier parts of a resumed job spent.
    pub spent_before: f64,
    /// The budget stopped the run: the next request could have passed it.
    pub reached: bool,
}

impl BudgetReport {
    /// `$24.91 of $25.00 spent; reached: sending stopped` (for the reports).
    pub fn describe(&self) -> String {
        let money = Money {
            currency: self.currency.clone(),
            fx: 1.0,
        };
        let mut text = format!("{} of {} spent", money.format(self.spent), money.format(self.limit));
        if self.spent_before > 0.0 {
            text.push_str(&format!(" ({} by earlier parts)", money.format(self.spent_before)));
        }
        if self.reached {
            text.push_str("; reached: the next request could have passed it, so sending stopped");
        }
        text
    }
}
