//! What a streamed answer is put back together with, whatever its endpoint.

use std::time::Duration;

use super::{Assembler, ResponsesAssembler};

/// What a stream is being put back together into.
pub(super) enum Collect {
    /// Chat or legacy completions chunks, up to `[DONE]`.
    Choices(Box<Assembler>),
    /// Responses API events, up to `response.completed`.
    Responses(ResponsesAssembler),
}

/// When tokens arrived in a streamed answer, whatever its endpoint.
pub trait TokenTimes {
    /// When the first and the last token-carrying event arrived.
    fn token_times(&self) -> Option<(Duration, Duration)>;
    /// Events that carried tokens.
    fn content_chunks(&self) -> u32;
}

impl TokenTimes for Assembler {
    fn token_times(&self) -> Option<(Duration, Duration)> {
        Assembler::token_times(self)
    }

    fn content_chunks(&self) -> u32 {
        Assembler::content_chunks(self)
    }
}

impl TokenTimes for Collect {
    fn token_times(&self) -> Option<(Duration, Duration)> {
        match self {
            Collect::Choices(a) => a.token_times(),
            Collect::Responses(a) => a.token_times(),
        }
    }

    fn content_chunks(&self) -> u32 {
        match self {
            Collect::Choices(a) => a.content_chunks(),
            Collect::Responses(a) => a.content_chunks(),
        }
    }
}

impl Collect {
    pub(super) fn generated_text(&self) -> String {
        match self {
            Collect::Choices(a) => a.generated_text(),
            Collect::Responses(a) => a.generated_text().to_string(),
        }
    }
}
