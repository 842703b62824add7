//! The pieces of the resolution that [`super::build`] applies: base URLs, keys, limits, the
//! mock's settings, and limits shared between shards.

use super::*;
use crate::mock::{Latency, MockConfig};

/// Divides every rpm, tpm and max_concurrency of `config` by the shard `count` (see
/// [`crate::shard::share`]). Whether any limit was configured.
pub(super) fn divide_limits(config: &mut Config, count: u32) -> bool {
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

pub(super) fn plain_target(name: String, provider: usize, model: Option<String>) -> Target {
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

pub(super) fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
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
pub(super) fn parse_endpoint(base_url: &str) -> Result<Endpoint, String> {
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
pub(super) fn check_keys(
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

pub(super) fn check_limits(
    rpm: Option<u32>,
    tpm: Option<u64>,
    conc: Option<usize>,
) -> Result<(), (&'static str, String)> {
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

pub(super) fn mock_config(m: file::MockEntry) -> Result<MockConfig, (&'static str, String)> {
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
