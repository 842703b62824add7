//! Ctrl-C and SIGTERM, the same for `run` and `bench`: the first stops sending and lets the
//! requests in flight finish (up to the drain timeout); the second drops them and quits at once.
//! Either way the run folder keeps everything already answered and can be resumed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use sheepdog::engine::Stop;
use sheepdog::job::signals::StopSignals;
use sheepdog::Exit;

use super::Failure;

/// Starts listening before anything is sent, so an early signal is never lost.
pub fn watch(drain: Duration) -> Result<Stop, Failure> {
    let signals = StopSignals::listen()
        .map_err(|e| Failure::new(format!("cannot listen for Ctrl-C / SIGTERM: {e}"), Exit::Aborted))?;
    let stop = Stop::default();
    tokio::spawn(on_stop_signals(signals, stop.stop.clone(), stop.abandon.clone(), drain));
    Ok(stop)
}

async fn on_stop_signals(
    mut signals: StopSignals,
    stop: CancellationToken,
    abandon: CancellationToken,
    drain: Duration,
) {
    let Some(what) = signals.next().await else { return };
    eprintln!(
        "sheepdog: {what}: sending nothing new; waiting up to {} for requests in flight (Ctrl-C again to quit at once)",
        humantime::format_duration(drain)
    );
    stop.cancel();
    if signals.next().await.is_some() {
        eprintln!("sheepdog: quitting now; the run folder can be resumed");
        abandon.cancel();
        // Writing what is already answered takes milliseconds; never hang on it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        std::process::exit(i32::from(Exit::Aborted.code()));
    }
}
