//! Arguments about what answers must look like (`run --validate-json`).

use std::path::PathBuf;

use clap::Args;

use sheepdog::config::Overrides;

/// Checking every answer.
#[derive(Debug, Args, Default)]
pub struct ValidateArgs {
    /// Every answer must be JSON (each choice's content, and tool-call arguments); with the
    /// request's own response_format json_schema (or --schema) it must be valid against it.
    /// A refused answer is an invalid_output error, retried up to --max-attempts.
    #[arg(long)]
    pub validate_json: bool,
    /// JSON Schema file every answer must be valid against (implies --validate-json).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

impl ValidateArgs {
    pub fn apply(&self, o: &mut Overrides) {
        o.validate_json = self.validate_json;
        o.schema = self.schema.clone();
    }
}
