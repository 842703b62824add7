//! The single owner of a run's results: writes each line, feeds the collector and the
//! progress display. If a write fails it stops the run at once.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::output::{ResultsWriter, WriteError};
use crate::progress::Progress;
use crate::record::{Outcome, Rejected};
use crate::stats::Collector;

/// What workers and the reader report.
#[derive(Debug)]
pub enum Event {
    Done(Box<Outcome>),
    Rejected(Rejected),
}

pub struct Owned {
    pub collector: Collector,
    pub write_error: Option<WriteError>,
}

pub async fn run(
    mut events: mpsc::Receiver<Event>,
    mut writer: ResultsWriter,
    mut collector: Collector,
    mut progress: Progress,
    stop: CancellationToken,
) -> Owned {
    let mut write_error: Option<WriteError> = None;
    while let Some(first) = events.recv().await {
        let mut next = Some(first);
        // Write everything already waiting, then flush once.
        while let Some(event) = next {
            if write_error.is_none() {
                let written = match &event {
                    Event::Done(outcome) => writer.write_outcome(outcome),
                    Event::Rejected(rejected) => writer.write_rejected(rejected),
                };
                match written {
                    Ok(()) => match &event {
                        Event::Done(outcome) => collector.record(outcome),
                        Event::Rejected(rejected) => collector.record_rejected(rejected),
                    },
                    Err(e) => {
                        write_error = Some(e);
                        stop.cancel();
                    }
                }
            }
            progress.update(&collector.live());
            next = events.try_recv().ok();
        }
        if write_error.is_none() {
            if let Err(e) = writer.flush() {
                write_error = Some(e);
                stop.cancel();
            }
        }
    }
    progress.finish();
    Owned { collector, write_error }
}
