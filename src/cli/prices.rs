//! `sheepdog models`.

use clap::Args;

use super::ConfigArgs;

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub target: ConfigArgs,
    /// List every price in effect, grouped by where it comes from (else only the route's
    /// targets and a count per source).
    #[arg(long)]
    pub all: bool,
}
