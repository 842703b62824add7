//! The one setup of `run` and `bench`: the HTTP client and the dispatcher over the prepared
//! route, from a [`Config`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::EngineError;
use crate::config::Config;
use crate::dispatch::{DispatchOptions, Dispatcher, RouteTarget};
use crate::output::journal::SentJournal;
use crate::provider::Client;
use crate::stats::TargetInfo;

/// What differs between the commands.
#[derive(Default)]
pub struct Setup {
    /// Requests in flight at most: connections of the client's pool, and the dispatcher's
    /// concurrency.
    pub slots: usize,
    /// Prometheus metrics the dispatcher reports to.
    pub metrics: Option<crate::metrics::Metrics>,
    /// Every request noted before it is sent (a run; a bench keeps no journal).
    pub journal: Option<SentJournal>,
}

/// The dispatcher of a run or a bench over `route` (from [`super::prepare`]).
pub fn dispatcher(
    config: &Config,
    route: Vec<RouteTarget>,
    setup: Setup,
    stop: &CancellationToken,
) -> Result<Arc<Dispatcher>, EngineError> {
    let slots = setup.slots.max(1);
    let mut client = Client::new(slots)
        .map_err(|e| EngineError::Client(e.to_string()))?
        .max_response_size(config.max_response_size);
    if let Some(journal) = setup.journal {
        client = client.journal(journal);
    }
    if let Some(settings) = config.stream {
        client = client.streaming(settings);
    }
    let mut options = DispatchOptions::from_config(config);
    options.concurrency = slots;
    options.metrics = setup.metrics;
    Ok(Dispatcher::new(client, route, options, stop.clone()))
}

/// The targets of `route` as reports name them.
pub fn targets_of(route: &[RouteTarget]) -> Vec<TargetInfo> {
    route
        .iter()
        .map(|t| TargetInfo {
            name: t.name.clone(),
            provider: t.endpoint.provider.clone(),
            model: t.model.clone().unwrap_or_else(|| "(per line)".into()),
        })
        .collect()
}
