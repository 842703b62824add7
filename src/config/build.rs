//! Resolution of the job file, the environment and the flags into a validated [`Config`].

use std::path::PathBuf;

use super::parts::*;
use super::*;
use crate::pricing::{PriceOrigin, PriceTable};
use crate::provider::Secret;

pub(super) fn build(job: file::JobFile, file: &str, o: &Overrides, env: &dyn Env) -> Result<Config, ConfigError> {
    let err = |key: &str, message: String| ConfigError::new(file, key, message);
    let mut notices = Vec::new();

    let mut providers = Vec::new();
    for (i, p) in job.providers.into_iter().enumerate() {
        let key = format!("providers[{i}]");
        if p.name.trim().is_empty() {
            return Err(err(&format!("{key}.name"), "must not be empty".into()));
        }
        if providers.iter().any(|q: &Provider| q.name == p.name) {
            return Err(err(
                &format!("{key}.name"),
                format!("a provider named {:?} is already defined", p.name),
            ));
        }
        let endpoint = parse_endpoint(&p.base_url).map_err(|m| err(&format!("{key}.base_url"), m))?;
        check_limits(p.rpm, p.tpm, p.max_concurrency).map_err(|(k, m)| err(&format!("{key}.{k}"), m))?;
        let api_key = p.api_key_env.as_deref().and_then(|name| env.var(name)).map(Secret::new);
        if p.batch_max_lines == Some(0) || p.batch_max_bytes == Some(0) {
            let k = if p.batch_max_lines == Some(0) {
                "batch_max_lines"
            } else {
                "batch_max_bytes"
            };
            return Err(err(&format!("{key}.{k}"), "must be at least 1".into()));
        }
        let billing = match &p.billing {
            Some(b) => Some(
                crate::pricing::currency::Billing::new(&b.currency, b.per_usd)
                    .map_err(|(k, m)| err(&format!("{key}.billing.{k}"), m))?,
            ),
            None => None,
        };
        providers.push(Provider {
            name: p.name,
            endpoint,
            api_key,
            api_key_env: p.api_key_env,
            rpm: p.rpm,
            tpm: p.tpm,
            max_concurrency: p.max_concurrency,
            billing,
            batch_max_lines: p.batch_max_lines,
            batch_max_bytes: p.batch_max_bytes,
        });
    }

    let mut targets: Vec<Target> = Vec::new();
    for (i, t) in job.targets.into_iter().enumerate() {
        let key = format!("targets[{i}]");
        if t.name.trim().is_empty() {
            return Err(err(&format!("{key}.name"), "must not be empty".into()));
        }
        if targets.iter().any(|u| u.name == t.name) {
            return Err(err(
                &format!("{key}.name"),
                format!("a target named {:?} is already defined", t.name),
            ));
        }
        let provider = providers.iter().position(|p| p.name == t.provider).ok_or_else(|| {
            err(
                &format!("{key}.provider"),
                format!(
                    "no provider named {:?}{}",
                    t.provider,
                    known(providers.iter().map(|p| &p.name))
                ),
            )
        })?;
        if t.model.trim().is_empty() {
            return Err(err(&format!("{key}.model"), "must not be empty".into()));
        }
        check_limits(t.rpm, t.tpm, t.max_concurrency).map_err(|(k, m)| err(&format!("{key}.{k}"), m))?;
        targets.push(Target {
            name: t.name,
            provider,
            model: Some(t.model),
            default_model: None,
            rpm: t.rpm,
            tpm: t.tpm,
            max_concurrency: t.max_concurrency,
        });
    }

    let mut route = Vec::new();
    if let Some(r) = &job.route {
        if r.targets.is_empty() {
            return Err(err("route.targets", "must name at least one target".into()));
        }
        for (i, name) in r.targets.iter().enumerate() {
            let index = targets.iter().position(|t| &t.name == name).ok_or_else(|| {
                err(
                    &format!("route.targets[{i}]"),
                    format!("no target named {name:?}{}", known(targets.iter().map(|t| &t.name))),
                )
            })?;
            if route.contains(&index) {
                return Err(err(
                    &format!("route.targets[{i}]"),
                    format!("target {name:?} is listed twice"),
                ));
            }
            route.push(index);
        }
    } else {
        route = (0..targets.len()).collect();
    }

    // No provider in the file: the OpenAI SDK convention, or the built-in mock server.
    if providers.is_empty() {
        let base_url = env.var("OPENAI_BASE_URL");
        if base_url.is_some() || env.var("OPENAI_API_KEY").is_some() {
            let url = base_url.unwrap_or_else(|| OPENAI_BASE_URL.to_string());
            let endpoint = parse_endpoint(&url).map_err(|m| ConfigError::new("", "OPENAI_BASE_URL", m))?;
            let api_key = env.var("OPENAI_API_KEY").map(Secret::new);
            providers.push(Provider {
                name: "openai".into(),
                endpoint,
                api_key_env: api_key.as_ref().map(|_| "OPENAI_API_KEY".to_string()),
                api_key,
                rpm: None,
                tpm: None,
                max_concurrency: None,
                billing: None,
                batch_max_lines: None,
                batch_max_bytes: None,
            });
        } else {
            notices.push(
                "no provider configured (no --config, OPENAI_BASE_URL or OPENAI_API_KEY): using the built-in mock server"
                    .to_string(),
            );
            providers.push(Provider {
                name: "mock".into(),
                endpoint: Endpoint::Mock,
                api_key_env: None,
                api_key: None,
                rpm: None,
                tpm: None,
                max_concurrency: None,
                billing: None,
                batch_max_lines: None,
                batch_max_bytes: None,
            });
        }
    }

    // --model: a target name picks that target; any other name is a model on the primary's provider.
    if let Some(model) = &o.model {
        if let Some(index) = targets.iter().position(|t| &t.name == model) {
            route = vec![index];
        } else {
            let provider = route.first().map(|&t| targets[t].provider).unwrap_or(0);
            targets.push(plain_target(model.clone(), provider, Some(model.clone())));
            route = vec![targets.len() - 1];
        }
    }
    if route.is_empty() {
        // Each item's own `model` decides; the mock answers for a priced model when none is named.
        let mut target = plain_target(providers[0].name.clone(), 0, None);
        if providers[0].endpoint == Endpoint::Mock {
            target.default_model = Some(MOCK_DEFAULT_MODEL.to_string());
            notices.push(format!(
                "lines without a model are sent as {MOCK_DEFAULT_MODEL:?} and priced at its list price"
            ));
        }
        targets.push(target);
        route = vec![targets.len() - 1];
    }

    check_keys(&providers, &targets, &route, env, file)?;

    let retry_file = job.retry.unwrap_or_default();
    let retry = RetryPolicy {
        max_attempts: o
            .max_attempts
            .or(retry_file.max_attempts)
            .unwrap_or(DEFAULT_MAX_ATTEMPTS),
        base_delay: o
            .base_delay
            .or(retry_file.base_delay.map(|d| d.0))
            .unwrap_or(DEFAULT_BASE_DELAY),
        max_delay: o
            .max_delay
            .or(retry_file.max_delay.map(|d| d.0))
            .unwrap_or(DEFAULT_MAX_DELAY),
    };
    if retry.max_attempts == 0 || retry.max_attempts > MAX_ATTEMPTS {
        let key = if o.max_attempts.is_some() {
            "--max-attempts"
        } else {
            "retry.max_attempts"
        };
        return Err(err(key, format!("must be between 1 and {MAX_ATTEMPTS}")));
    }
    if retry.base_delay > retry.max_delay {
        let (base, max) = match (o.base_delay.is_some(), o.max_delay.is_some()) {
            (true, _) => ("--retry-base-delay", "the longest wait"),
            (false, true) => ("--retry-max-delay", "the first wait"),
            (false, false) => ("retry.base_delay", "retry.max_delay"),
        };
        let message = match base {
            "--retry-max-delay" => format!(
                "{} must not be shorter than {max} ({})",
                humantime::format_duration(retry.max_delay),
                humantime::format_duration(retry.base_delay)
            ),
            _ => format!(
                "{} must not be longer than {max} ({})",
                humantime::format_duration(retry.base_delay),
                humantime::format_duration(retry.max_delay)
            ),
        };
        return Err(err(base, message));
    }

    let run = job.run.unwrap_or_default();
    let run_settings = super::run::resolve(o, &run).map_err(|(key, message)| err(&key, message))?;
    let max_cost = max_cost(o, &run).map_err(|(key, message)| err(key, message))?;
    let dispatch = dispatch::resolve(o, &run, &retry_file, job.route.as_ref(), job.breaker.as_ref())
        .map_err(|(key, message)| err(&key, message))?;
    let concurrency = o.concurrency.or(run.concurrency).unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 || concurrency > MAX_CONCURRENCY {
        let key = if o.concurrency.is_some() {
            "--concurrency"
        } else {
            "run.concurrency"
        };
        let message = if concurrency == 0 {
            "must be at least 1".to_string()
        } else {
            format!("must be at most {MAX_CONCURRENCY}")
        };
        return Err(err(key, message));
    }
    let timeout = o.timeout.or(run.timeout.map(|d| d.0)).unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        let key = if o.timeout.is_some() {
            "--timeout"
        } else {
            "run.timeout"
        };
        return Err(err(key, "must be longer than 0".into()));
    }
    let out = o.out.clone().or(run.out.map(PathBuf::from));
    let idle_timeout = o
        .stream_idle_timeout
        .or(run.stream_idle_timeout.map(|d| d.0))
        .unwrap_or(crate::provider::stream::DEFAULT_IDLE_TIMEOUT);
    if idle_timeout.is_zero() {
        let key = if o.stream_idle_timeout.is_some() {
            "--stream-idle-timeout"
        } else {
            "run.stream_idle_timeout"
        };
        return Err(err(key, "must be longer than 0".into()));
    }
    let stream = o
        .stream
        .or(run.stream)
        .unwrap_or(false)
        .then_some(crate::provider::StreamSettings { idle_timeout });

    let endpoint = match (o.endpoint, &run.endpoint) {
        (Some(endpoint), _) => endpoint,
        (None, Some(text)) => text.parse().map_err(|m| err("run.endpoint", m))?,
        (None, None) => crate::provider::ApiEndpoint::default(),
    };
    if stream.is_some() && !endpoint.streams() {
        notices.push(format!(
            "--stream is ignored for {endpoint}: {} requests are sent without streaming",
            endpoint.batch_url()
        ));
    }

    let max_response_size = o
        .max_response_size
        .or(run.max_response_size.map(|s| s.0))
        .unwrap_or(crate::provider::body::DEFAULT_MAX_RESPONSE_SIZE);

    let mock = mock_config(job.mock.unwrap_or_default())
        .map_err(|(k, m)| err(format!("mock.{k}").trim_end_matches('.'), m))?;

    let mut prices = PriceTable::builtin().map_err(|e| ConfigError::new("built-in price table", "", e.to_string()))?;
    for (model, entry) in job.prices {
        let price = entry.into_price(&PriceOrigin::job_file(file));
        price.validate().map_err(|m| err(&format!("prices.{model:?}"), m))?;
        prices.insert(&model, price);
    }

    let output_check = match (o.validate_json, &o.schema) {
        (false, None) => None,
        (_, schema) => Some(std::sync::Arc::new(
            crate::validate::OutputCheck::new(schema.as_deref())
                .map_err(|e| ConfigError::new("", "", e.to_string()))?,
        )),
    };

    let shard = crate::shard::resolve(o.shard, env.var(crate::shard::INDEX_ENV).as_deref())
        .map_err(|(key, message)| ConfigError::new("", &key, message))?;
    let shard_limits = match (o.shard_limits, &run.shard_limits) {
        (Some(limits), _) => limits,
        (None, Some(text)) => text
            .parse()
            .map_err(|e: crate::shard::ShardError| err("run.shard_limits", e.to_string()))?,
        (None, None) => crate::shard::ShardLimits::default(),
    };
    let output_format = match (o.output_format, &run.output_format) {
        (Some(format), _) => format,
        (None, Some(text)) => text.parse().map_err(|m| err("run.output_format", m))?,
        (None, None) => crate::output::OutputFormat::default(),
    };
    let mut config = Config {
        source: o.config.clone(),
        providers,
        targets,
        route,
        retry,
        dispatch,
        concurrency,
        timeout,
        stream,
        endpoint,
        max_response_size,
        out,
        mock,
        prices,
        notices,
        shard,
        shard_limits,
        output_check,
        run: run_settings,
        max_cost,
        output_format,
    };
    if let (Some(shard), crate::shard::ShardLimits::Divide) = (shard, shard_limits) {
        if shard.count > 1 && divide_limits(&mut config, shard.count) {
            config.notices.push(crate::shard::divided_notice(shard.count));
        }
    }
    Ok(config)
}

/// The budget: `--max-cost` (or `SHEEPDOG_MAX_COST`) over `run.max_cost`; its rate `--fx`
/// over `run.fx`.
fn max_cost(
    o: &Overrides,
    run: &super::file::RunEntry,
) -> Result<Option<super::max_cost::MaxCost>, (&'static str, String)> {
    let (key, text) = match (&o.max_cost, &run.max_cost) {
        (Some(text), _) => ("--max-cost", text.clone()),
        (None, Some(amount)) => ("run.max_cost", amount.0.clone()),
        (None, None) => return Ok(None),
    };
    let (amount, currency) = super::max_cost::MaxCost::parse(&text).map_err(|m| (key, m))?;
    let (fx_key, fx) = match (o.fx, run.fx) {
        (Some(fx), _) => ("--fx", Some(fx)),
        (None, fx) => ("run.fx", fx),
    };
    if let Some(fx) = fx {
        if !fx.is_finite() || fx <= 0.0 {
            return Err((fx_key, format!("{fx} must be a number > 0 ({currency} per 1 USD)")));
        }
    }
    Ok(Some(super::max_cost::MaxCost {
        amount,
        currency,
        fx,
        key: key.to_string(),
    }))
}
