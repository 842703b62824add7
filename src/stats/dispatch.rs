//! What only the dispatcher saw during a run, handed to [`super::Collector::finish`]: per target,
//! breaker openings, rate-controller decisions and time spent waiting.

use super::summary::TargetPacing;

/// The dispatcher's figures of one run (see `dispatch::Dispatcher::report`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DispatchReport {
    pub targets: Vec<TargetDispatch>,
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
