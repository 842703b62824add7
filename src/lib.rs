//! sheepdog: herds large numbers of LLM chat-completion requests through rate limits, retries
//! and fallbacks, and measures what it saw.
//!
//! The binary is a thin shell around these modules; see `DESIGN.md` for the data flow.

pub mod batch_api;
pub mod bench;
pub mod cache;
pub mod check;
pub mod compare;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod estimate;
pub mod exit;
pub mod export;
pub mod folder_report;
pub mod input;
pub mod job;
pub mod json_map;
pub mod json_text;
pub mod lines;
pub mod load;
pub mod logging;
pub mod merge;
pub mod metrics;
pub mod mock;
pub mod models;
pub mod output;
pub mod pricing;
pub mod progress;
pub mod provider;
pub mod record;
pub mod report;
pub mod shard;
pub mod stats;
pub mod threshold;
pub mod tokens;
pub mod validate;

pub use bench::{run_bench, BenchOutput, BenchSpec};
pub use check::check;
pub use config::Config;
pub use exit::Exit;
pub use job::{dry_run, run_job, RunOptions, RunOutput, RunStatus};
pub use mock::{MockConfig, MockServer};
