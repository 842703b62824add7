//! The per-request latency metrics that objectives (`--slo`) and thresholds bound.

use std::str::FromStr;

/// A per-request latency figure an objective can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SloMetric {
    Ttft,
    Itl,
    Tpot,
    E2e,
}

impl SloMetric {
    /// Every metric, in report order.
    pub const ALL: [SloMetric; 4] = [SloMetric::Ttft, SloMetric::Itl, SloMetric::Tpot, SloMetric::E2e];

    /// The name users write (`--slo ttft=500ms`) and reports print.
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::Ttft => "ttft",
            SloMetric::Itl => "itl",
            SloMetric::Tpot => "tpot",
            SloMetric::E2e => "e2e",
        }
    }

    /// Position in [`SloMetric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for SloMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SloMetric {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SloMetric::ALL
            .into_iter()
            .find(|metric| metric.name() == text)
            .ok_or_else(|| format!("unknown metric `{text}`: the metrics are ttft, itl, tpot and e2e"))
    }
}
