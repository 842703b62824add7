//! What a run or a check needs before the first request: keys present, the in-process mock
//! server started when a provider uses it, and the route ready to send to.

use std::net::{Ipv4Addr, SocketAddr};

use crate::config::{Config, ConfigError, Endpoint};
use crate::dispatch::{Limits, RouteTarget};
use crate::mock::MockServer;
use crate::provider;

use super::EngineError;

/// The route with live endpoints; keeps the embedded mock server alive while it exists.
pub struct Prepared {
    pub route: Vec<RouteTarget>,
    pub mock: Option<MockServer>,
}

impl Prepared {
    pub async fn shutdown(self) {
        if let Some(mock) = self.mock {
            mock.shutdown().await;
        }
    }
}

/// Checks that every provider of the route has its key and starts the mock server if needed.
pub async fn prepare(config: &Config) -> Result<Prepared, EngineError> {
    check_keys(config)?;
    let mock = if config.uses_mock() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let server = MockServer::start(config.mock.clone(), addr)
            .await
            .map_err(EngineError::MockServer)?;
        Some(server)
    } else {
        None
    };
    // One set of provider limits, shared by every target of that provider.
    let provider_limits: Vec<_> = config
        .providers
        .iter()
        .map(|p| Limits::new(format!("provider {}", p.name), p.max_concurrency, p.rpm, p.tpm))
        .collect();
    let route = config
        .route
        .iter()
        .map(|&t| {
            let target = &config.targets[t];
            let provider = config.provider_of(target);
            let base_url = match (&provider.endpoint, &mock) {
                (Endpoint::Url(url), _) => url.clone(),
                (Endpoint::Mock, Some(server)) => server.base_url(),
                (Endpoint::Mock, None) => String::new(),
            };
            let endpoint = provider::Endpoint::new(provider.name.clone(), base_url, provider.api_key.clone());
            let mut route_target = RouteTarget::new(
                target.name.clone(),
                target.model.clone(),
                endpoint,
                provider.api_key_env.clone(),
            );
            route_target.default_model = target.default_model.clone();
            route_target.limits = provider_limits[target.provider]
                .iter()
                .cloned()
                .chain(Limits::new(
                    format!("target {}", target.name),
                    target.max_concurrency,
                    target.rpm,
                    target.tpm,
                ))
                .collect();
            route_target
        })
        .collect();
    Ok(Prepared { route, mock })
}

/// Every provider of the route has its key (when it names a variable for one).
pub fn check_keys(config: &Config) -> Result<(), EngineError> {
    let file = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for &t in &config.route {
        let provider = config.provider_of(&config.targets[t]);
        if let (Some(env), None) = (&provider.api_key_env, &provider.api_key) {
            let index = config
                .providers
                .iter()
                .position(|p| p.name == provider.name)
                .unwrap_or(0);
            return Err(EngineError::Config(ConfigError::new(
                &file,
                &format!("providers[{index}].api_key_env"),
                format!(
                    "provider {:?} needs its key in ${env}, which is {} (in the environment or .env)",
                    provider.name,
                    if std::env::var_os(env).is_some() {
                        "set but empty"
                    } else {
                        "not set"
                    }
                ),
            )));
        }
    }
    Ok(())
}
