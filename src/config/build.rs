//! Resolution of the job file, the environment and the flags into a validated [`Config`].

use std::path::PathBuf;

use super::*;
use crate::mock::{Latency, MockConfig};
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
        (None, Some(text)) => text.parse().map_err(|m| err("run.shard_limits", m))?,
        (None, None) => crate::shard::ShardLimits::default(),
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
        max_response_size,
        out,
        mock,
        prices,
        notices,
        shard,
        shard_limits,
        output_check,
    };
    if let (Some(shard), crate::shard::ShardLimits::Divide) = (shard, shard_limits) {
        if shard.count > 1 && divide_limits(&mut config, shard.count) {
            config.notices.push(crate::shard::divided_notice(shard.count));
        }
    }
    Ok(config)
}

/// Divides every rpm, tpm and max_concurrency of `config` by the shard `count` (see
/// [`crate::shard::share`]). Whether any limit was configured.
fn divide_limits(config: &mut Config, count: u32) -> bool {
    use crate::shard::share;
    // Each share is at most the limit it divides, so the casts back never truncate.
    let rpm = |v: &mut Option<u32>| v.iter_mut().for_each(|v| *v = share(u64::from(*v), count) as u32);
    let tpm = |v: &mut Option<u64>| v.iter_mut().for_each(|v| *v = share(*v, count));
    let conc = |v: &mut Option<usize>| v.iter_mut().for_each(|v| *v = share(*v as u64, count) as usize);
    let mut any = config.dispatch.rpm.is_some() || config.dispatch.tpm.is_some();
    rpm(&mut config.dispatch.rpm);
    tpm(&mut config.dispatch.tpm);
    for p in &mut config.providers {
        any |= p.rpm.is_some() || p.tpm.is_some() || p.max_concurrency.is_some();
        rpm(&mut p.rpm);
        tpm(&mut p.tpm);
        conc(&mut p.max_concurrency);
    }
    for t in &mut config.targets {
        any |= t.rpm.is_some() || t.tpm.is_some() || t.max_concurrency.is_some();
        rpm(&mut t.rpm);
        tpm(&mut t.tpm);
        conc(&mut t.max_concurrency);
    }
    any
}

fn plain_target(name: String, provider: usize, model: Option<String>) -> Target {
    Target {
        name,
        provider,
        model,
        default_model: None,
        rpm: None,
        tpm: None,
        max_concurrency: None,
    }
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if names.is_empty() {
        " (none is defined)".to_string()
    } else {
        format!(" (defined: {})", names.join(", "))
    }
}

/// A base URL that can be reached as written: http(s), a host, a port in range, no query or
/// fragment, and no credentials (those belong in `api_key_env`; the URL with them is never
/// echoed).
fn parse_endpoint(base_url: &str) -> Result<Endpoint, String> {
    let url = base_url.trim();
    if url == "mock" {
        return Ok(Endpoint::Mock);
    }
    let example = "write e.g. \"https://api.openai.com/v1\", or \"mock\" for the built-in mock server";
    let has_scheme = url.starts_with("http://") || url.starts_with("https://");
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
    if has_scheme && authority.contains('@') {
        return Err(
            "has credentials in it (a name and password before @): put the key in the environment variable named \
             by api_key_env instead (the URL is not shown here, to keep the password out of logs)"
                .into(),
        );
    }
    if !has_scheme || url.len() <= "https://".len() {
        return Err(format!("{base_url:?} is not a URL: {example}"));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("{base_url:?} is not a URL that can be reached ({e}): {example}"))?;
    if authority.is_empty() || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{base_url:?} has no host: {example}"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{base_url:?} has a query or fragment (?... or #...): requests are sent to base_url + \"/chat/completions\", so give the path only, e.g. \"https://host/v1\""
        ));
    }
    Ok(Endpoint::Url(url.trim_end_matches('/').to_string()))
}

/// The API keys of the providers the route uses must be sendable as an HTTP header: refused
/// here, naming the variable, rather than found later as "connect" errors. The key is never
/// shown.
fn check_keys(
    providers: &[Provider],
    targets: &[Target],
    route: &[usize],
    env: &dyn Env,
    file: &str,
) -> Result<(), ConfigError> {
    for (index, provider) in providers.iter().enumerate() {
        if !route
            .iter()
            .any(|&t| targets.get(t).is_some_and(|t| t.provider == index))
        {
            continue;
        }
        let (key, name) = match &provider.api_key_env {
            Some(name) if provider.name != "openai" || provider.api_key_env.as_deref() != Some("OPENAI_API_KEY") => {
                (format!("providers[{index}].api_key_env"), name.clone())
            }
            Some(name) => (name.clone(), name.clone()),
            None => continue,
        };
        // Not set, or set but empty: said when the run starts (`sheepdog check` reports it
        // per target instead).
        let Some(value) = env.raw(&name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if let Some((position, c)) = value.chars().enumerate().find(|(_, c)| !c.is_ascii_graphic()) {
            let what = match c {
                '\r' => "a carriage return (\\r; a .env file saved with Windows line endings?)".to_string(),
                '\n' => "a line break (\\n)".to_string(),
                ' ' | '\t' => "a space or tab".to_string(),
                c if c.is_ascii() => format!("a control character (U+{:04X})", u32::from(c)),
                _ => "a character that is not ASCII".to_string(),
            };
            return Err(ConfigError::new(
                file,
                &key,
                format!(
                    "${name} contains {what} at character {} of {}: an API key is sent in an HTTP header and must be visible ASCII; fix the variable (the key is not shown)",
                    position + 1,
                    value.chars().count()
                ),
            ));
        }
    }
    Ok(())
}

fn check_limits(rpm: Option<u32>, tpm: Option<u64>, conc: Option<usize>) -> Result<(), (&'static str, String)> {
    if rpm == Some(0) {
        return Err(("rpm", "must be at least 1 (leave it out for no limit)".into()));
    }
    if tpm == Some(0) {
        return Err(("tpm", "must be at least 1 (leave it out for no limit)".into()));
    }
    if conc == Some(0) {
        return Err((
            "max_concurrency",
            "must be at least 1 (leave it out for no limit)".into(),
        ));
    }
    if conc.is_some_and(|n| n > MAX_CONCURRENCY) {
        return Err(("max_concurrency", format!("must be at most {MAX_CONCURRENCY}")));
    }
    Ok(())
}

fn mock_config(m: file::MockEntry) -> Result<MockConfig, (&'static str, String)> {
    let mut config = MockConfig::default();
    config.latency = match (m.latency, m.latency_mean, m.latency_std) {
        (Some(_), Some(_), _) => return Err(("latency", "give either latency or latency_mean, not both".into())),
        (Some(d), None, None) => Latency::Fixed(d.0),
        (None, Some(mean), std) => Latency::Normal {
            mean: mean.0,
            std: std.map(|s| s.0).unwrap_or_default(),
        },
        (_, None, Some(_)) => return Err(("latency_std", "needs latency_mean".into())),
        (None, None, None) => config.latency,
    };
    let spread = |mean: Duration, std: Option<file::Dur>| match std {
        Some(std) => Latency::Normal { mean, std: std.0 },
        None => Latency::Fixed(mean),
    };
    match (m.ttft, m.ttft_std) {
        (Some(d), std) => config.ttft = spread(d.0, std),
        (None, Some(_)) => return Err(("ttft_std", "needs ttft".into())),
        (None, None) => {}
    }
    match (m.itl, m.itl_std) {
        (Some(d), std) => config.itl = spread(d.0, std),
        (None, Some(_)) => return Err(("itl_std", "needs itl".into())),
        (None, None) => {}
    }
    config.output_tokens = m.output_tokens.or(config.output_tokens);
    if m.output_tokens_std.is_some() && m.output_tokens.is_none() {
        return Err(("output_tokens_std", "needs output_tokens".into()));
    }
    config.output_tokens_std = m.output_tokens_std.unwrap_or(config.output_tokens_std);
    if m.max_concurrency == Some(0) || m.max_concurrency.is_some_and(|n| n > MAX_CONCURRENCY) {
        return Err(("max_concurrency", format!("must be between 1 and {MAX_CONCURRENCY}")));
    }
    config.max_concurrency = m.max_concurrency.or(config.max_concurrency);
    if m.stall_after.is_some() != m.stall_for.is_some() {
        return Err(("stall_after", "give both stall_after and stall_for".into()));
    }
    config.stall_after = m.stall_after.or(config.stall_after);
    config.stall_for = m.stall_for.map(|d| d.0).unwrap_or(config.stall_for);
    config.stream_stall = m.stream_stall.map(|d| d.0).unwrap_or(config.stream_stall);
    if let Some(fail) = m.fail {
        config.failures = crate::mock::parse_failures(&fail).map_err(|e| ("fail", e))?;
    }
    if let Some(d) = m.retry_after {
        config.retry_after = d.0;
    }
    config.models = m.models.or(config.models);
    config.rpm = m.rpm.or(config.rpm);
    config.tpm = m.tpm.or(config.tpm);
    if let Some(models) = m.fail_model {
        config.fail_models = crate::mock::parse_fail_models(&models).map_err(|e| ("fail_model", e))?;
    }
    config.quota = m.quota.or(config.quota);
    config.hang = m.hang.unwrap_or(config.hang);
    if !(config.hang.is_finite() && (0.0..=1.0).contains(&config.hang)) {
        return Err(("hang", "must be a probability between 0 and 1".into()));
    }
    if config.rpm == Some(0) || config.tpm == Some(0) {
        let key = if config.rpm == Some(0) { "rpm" } else { "tpm" };
        return Err((key, "must be at least 1 (leave it out for no limit)".into()));
    }
    config.ratelimit_headers = m.ratelimit_headers.unwrap_or(config.ratelimit_headers);
    if let Some(fault) = m.stream_fault {
        config.stream_faults = crate::mock::parse_stream_faults(&fault).map_err(|e| ("stream_fault", e))?;
    }
    config.seed = m.seed.unwrap_or(config.seed);
    // Whatever else the mock server itself refuses is said now, with the file and line.
    config.validate().map_err(|e| ("", e))?;
    Ok(config)
}
