//! sheepdog: herds large numbers of LLM chat-completion requests through rate limits, retries
//! and fallbacks, and measures what it saw.
//!
//! The binary is a thin shell around these modules; see `DESIGN.md` for the data flow.

pub mod check;
pub mod config;
pub mod dispatch;
pub mod input;
pub mod job;
pub mod mock;
pub mod output;
pub mod pricing;
pub mod progress;
pub mod provider;
pub mod record;
pub mod report;
pub mod stats;
pub mod tokens;

pub use check::check;
pub use config::Config;
pub use job::{dry_run, run_job, RunOptions, RunOutput, RunStatus};
pub use mock::{MockConfig, MockServer};
