//! `--max-cost` and `--fx` of `run` and `bench`.

use clap::Args;

use sheepdog::config::{Config, Overrides};

use super::Failure;

#[derive(Debug, Args, Default)]
pub struct BudgetArgs {
    /// Stop sending before the job could cost more than this: 25 (USD) or 180CNY (with --fx,
    /// or a provider billed in CNY). Requests in flight finish; exit 3; a resume with a
    /// higher --max-cost finishes the job [default: no budget].
    #[arg(long, env = "SHEEPDOG_MAX_COST", value_name = "AMOUNT")]
    pub max_cost: Option<String>,
    /// Units of the --max-cost currency per 1 USD, e.g. 7.1 (prices are in USD).
    #[arg(long, value_name = "RATE", requires = "max_cost")]
    pub fx: Option<f64>,
}

impl BudgetArgs {
    pub fn apply(&self, o: &mut Overrides) {
        o.max_cost = self.max_cost.clone();
        o.fx = self.fx;
    }
}

/// A budget the configured route cannot run under (a model without a price, no rate to the
/// budget's currency) is a usage error, said before any request.
pub fn check(config: &Config) -> Result<(), Failure> {
    sheepdog::dispatch::budget::Budget::check(config).map_err(Failure::usage)
}
