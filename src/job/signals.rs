//! Stop signals: SIGINT (Ctrl-C) and SIGTERM, as one stream. The binary decides what each
//! means (the first stops dispatching, the second quits at once).

/// Listens from creation on, so a signal that arrives before the first `next` is not lost.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Must be called inside a Tokio runtime.
    pub fn listen() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// The name of the next stop signal; `None` if signals can no longer be received.
    pub async fn next(&mut self) -> Option<&'static str> {
        #[cfg(unix)]
        {
            tokio::select! {
                got = self.interrupt.recv() => got.map(|_| "interrupted (SIGINT)"),
                got = self.terminate.recv() => got.map(|_| "terminated (SIGTERM)"),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok().map(|_| "interrupted (Ctrl-C)")
        }
    }
}
