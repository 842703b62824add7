//! Arguments about the shape of a run's files: the result format (`--output-format`).

use clap::Args;

use sheepdog::config::Overrides;
use sheepdog::output::OutputFormat;

/// How the run reads its input and writes its lines.
#[derive(Debug, Args, Default)]
pub struct TableArgs {
    /// Result lines: `sheepdog` (OpenAI's Batch output plus a `sheepdog` block per line) or
    /// `openai` (exactly OpenAI's Batch output; the blocks go to sheepdog.jsonl) [default: sheepdog].
    #[arg(long, value_name = "FORMAT")]
    pub output_format: Option<OutputFormat>,
}

impl TableArgs {
    pub fn apply(&self, o: &mut Overrides) {
        o.output_format = self.output_format;
    }
}
