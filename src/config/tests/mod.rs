//! Tests of config resolution: precedence, routes, shard limits, the echo (error messages in `errors`).

use std::collections::HashMap;

use super::*;
use crate::mock::Latency;

const FILE: &str = "job.toml";

/// An environment made of the given variables only.
struct FakeEnv(HashMap<String, String>);

impl FakeEnv {
    fn new(vars: &[(&str, &str)]) -> FakeEnv {
        FakeEnv(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
}

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn no_env() -> FakeEnv {
    FakeEnv::new(&[])
}

const ONE_TARGET: &str = r#"
[[providers]]
name = "p"
base_url = "https://llm.example.test/v1/"
api_key_env = "P_KEY"

[[targets]]
name = "mini"
provider = "p"
model = "gpt-4.1-mini"
"#;

fn resolve(toml: &str, overrides: &Overrides, env: &dyn Env) -> Result<Config, ConfigError> {
    let job = file::parse(toml, FILE)?;
    build(job, FILE, overrides, env)
}

fn config(toml: &str, overrides: &Overrides, env: &dyn Env) -> Config {
    resolve(toml, overrides, env).unwrap_or_else(|e| panic!("config error: {e}"))
}

/// The error of `toml`, checked to name the file and `key`; returns the full message.
fn error(toml: &str, overrides: &Overrides, key: &str) -> String {
    let e = match resolve(toml, overrides, &no_env()) {
        Ok(config) => panic!("accepted, expected an error at {key}: {config:?}"),
        Err(e) => e,
    };
    assert_eq!(e.file, FILE, "{e}");
    assert_eq!(e.key, key, "{e}");
    let text = e.to_string();
    assert!(text.starts_with(&format!("{FILE}: {key}: ")), "{text}");
    text
}

fn with_run(concurrency: usize, timeout: &str, max_attempts: u32) -> String {
    format!("{ONE_TARGET}\n[run]\nconcurrency = {concurrency}\ntimeout = \"{timeout}\"\n\n[retry]\nmax_attempts = {max_attempts}\n")
}
#[test]
fn defaults_apply_when_neither_file_nor_flags_say() {
    let c = config(ONE_TARGET, &Overrides::default(), &no_env());
    assert_eq!(c.out, None);
    assert!(
        c.providers[0].api_key.is_none(),
        "a missing key is for the run to report, not config"
    );
    assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.retry.max_attempts, DEFAULT_MAX_ATTEMPTS);
    assert_eq!(c.retry.base_delay, DEFAULT_BASE_DELAY);
    assert_eq!(c.retry.max_delay, DEFAULT_MAX_DELAY);
}

#[test]
fn file_values_beat_defaults() {
    let toml = with_run(7, "45s", 5).replace("[run]\n", "[run]\nout = \"reports/nightly\"\n");
    let c = config(&toml, &Overrides::default(), &no_env());
    assert_eq!(c.out, Some(PathBuf::from("reports/nightly")));
    assert_eq!(c.concurrency, 7);
    assert_eq!(c.timeout, Duration::from_secs(45));
    assert_eq!(c.retry.max_attempts, 5);
}

#[test]
fn overrides_beat_file_values() {
    let o = Overrides {
        concurrency: Some(3),
        timeout: Some(Duration::from_millis(1500)),
        max_attempts: Some(9),
        out: Some(PathBuf::from("elsewhere")),
        ..Overrides::default()
    };
    let toml = with_run(7, "45s", 5).replace("[run]\n", "[run]\nout = \"reports/x\"\n");
    let c = config(&toml, &o, &no_env());
    assert_eq!(c.concurrency, 3);
    assert_eq!(c.timeout, Duration::from_millis(1500));
    assert_eq!(c.retry.max_attempts, 9);
    assert_eq!(c.out, Some(PathBuf::from("elsewhere")));
}

#[test]
fn provider_key_is_read_from_its_variable_and_never_echoed() {
    let env = FakeEnv::new(&[("P_KEY", "sk-unit-secret-123"), ("OPENAI_API_KEY", "sk-openai-ignored")]);
    let c = config(ONE_TARGET, &Overrides::default(), &env);
    assert_eq!(
        c.providers.len(),
        1,
        "OPENAI_* are not used when the file has providers"
    );
    let key = c.providers[0].api_key.as_ref().expect("key read from P_KEY");
    assert_eq!(key.expose(), "sk-unit-secret-123");
    assert_eq!(
        c.providers[0].endpoint,
        Endpoint::Url("https://llm.example.test/v1".into()),
        "trailing / trimmed"
    );
    let echo = c.echo().to_string();
    assert!(!echo.contains("sk-unit-secret"), "{echo}");
    assert!(echo.contains("P_KEY"), "{echo}");
    assert!(
        !format!("{c:?}").contains("sk-unit-secret"),
        "Debug of Config shows no key"
    );
}

#[test]
fn no_config_with_openai_base_url_uses_an_openai_provider_there() {
    let env = FakeEnv::new(&[("OPENAI_BASE_URL", "http://127.0.0.1:9999/v1")]);
    let c = config(
        "",
        &Overrides {
            model: Some("gpt-4.1-mini".into()),
            ..Overrides::default()
        },
        &env,
    );
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].name, "openai");
    assert_eq!(
        c.providers[0].endpoint,
        Endpoint::Url("http://127.0.0.1:9999/v1".into())
    );
    assert!(c.providers[0].api_key.is_none() && c.providers[0].api_key_env.is_none());
    assert_eq!(c.primary().model.as_deref(), Some("gpt-4.1-mini"));
    assert!(!c.uses_mock());
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn no_config_with_openai_api_key_uses_the_openai_api() {
    let env = FakeEnv::new(&[("OPENAI_API_KEY", "sk-from-env")]);
    let c = config("", &Overrides::default(), &env);
    assert_eq!(c.providers[0].name, "openai");
    assert_eq!(c.providers[0].endpoint, Endpoint::Url(OPENAI_BASE_URL.into()));
    assert_eq!(c.providers[0].api_key.as_ref().map(|k| k.expose()), Some("sk-from-env"));
    assert_eq!(c.providers[0].api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(c.route.len(), 1);
    assert_eq!(c.primary().model, None, "each line's own model is sent");
}

#[test]
fn no_config_and_no_openai_variables_uses_the_built_in_mock_and_says_so() {
    let c = config("", &Overrides::default(), &no_env());
    assert_eq!(c.providers.len(), 1);
    assert_eq!(c.providers[0].endpoint, Endpoint::Mock);
    assert!(c.uses_mock());
    assert_eq!(c.primary().default_model.as_deref(), Some(MOCK_DEFAULT_MODEL));
    assert!(
        c.notices.iter().any(|n| n.contains("built-in mock server")),
        "{:?}",
        c.notices
    );
}

const TWO_TARGETS: &str = r#"
[[providers]]
name = "p"
base_url = "mock"

[[targets]]
name = "fast"
provider = "p"
model = "gpt-4.1-mini"

[[targets]]
name = "smart"
provider = "p"
model = "gpt-4.1"

[route]
targets = ["smart", "fast"]
"#;

#[test]
fn route_order_is_the_route_table_order() {
    let c = config(TWO_TARGETS, &Overrides::default(), &no_env());
    let names: Vec<&str> = c.route.iter().map(|&t| c.targets[t].name.as_str()).collect();
    assert_eq!(names, ["smart", "fast"]);
    assert_eq!(c.primary().name, "smart");
}

#[test]
fn model_flag_naming_a_target_routes_to_that_target_only() {
    let c = config(
        TWO_TARGETS,
        &Overrides {
            model: Some("fast".into()),
            ..Overrides::default()
        },
        &no_env(),
    );
    assert_eq!(c.route.len(), 1);
    assert_eq!(c.primary().name, "fast");
    assert_eq!(c.primary().model.as_deref(), Some("gpt-4.1-mini"));
    assert_eq!(c.targets.len(), 2, "no new target");
}

#[test]
fn model_flag_naming_a_model_adds_a_target_on_the_primary_provider() {
    let c = config(
        TWO_TARGETS,
        &Overrides {
            model: Some("deepseek-chat".into()),
            ..Overrides::default()
        },
        &no_env(),
    );
    assert_eq!(c.route.len(), 1);
    let target = c.primary();
    assert_eq!(target.model.as_deref(), Some("deepseek-chat"));
    assert_eq!(c.provider_of(target).name, "p");
}

#[test]
fn mock_settings_are_read_and_checked() {
    let toml =
        format!("{TWO_TARGETS}\n[mock]\nlatency = \"20ms\"\nfail = \"429=0.1\"\nmodels = [\"gpt-4.1\"]\nseed = 9\n");
    let c = config(&toml, &Overrides::default(), &no_env());
    assert_eq!(c.mock.latency, Latency::Fixed(Duration::from_millis(20)));
    assert_eq!(c.mock.failures, vec![(429, 0.1)]);
    assert_eq!(c.mock.models, Some(vec!["gpt-4.1".to_string()]));
    assert_eq!(c.mock.seed, 9);
    let both = format!("{TWO_TARGETS}\n[mock]\nlatency = \"20ms\"\nlatency_mean = \"20ms\"\n");
    error(&both, &Overrides::default(), "mock.latency");
    let bad_fail = format!("{TWO_TARGETS}\n[mock]\nfail = \"429=lots\"\n");
    error(&bad_fail, &Overrides::default(), "mock.fail");
}

#[test]
fn resolve_reads_the_job_file_and_records_its_path() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("job.toml");
    std::fs::write(&path, TWO_TARGETS).expect("write job file");
    let o = Overrides {
        config: Some(path.clone()),
        ..Overrides::default()
    };
    let c = Config::resolve(&o, &no_env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.source, Some(path.clone()));
    assert_eq!(c.targets.len(), 2);
    let broken = TWO_TARGETS.replace("provider = \"p\"", "provider = \"q\"");
    std::fs::write(dir.path().join("job.toml"), broken).expect("write job file");
    let e = Config::resolve(&o, &no_env()).expect_err("unknown provider");
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.key, "targets[0].provider");
}

#[test]
fn limits_are_divided_by_the_shard_count_rounded_down_never_to_zero() {
    use crate::shard::{Shard, ShardLimits, ShardRequest};
    let env = FakeEnv::new(&[]);
    let job = r#"
[[providers]]
name = "p"
base_url = "mock"
rpm = 500
tpm = 90000
max_concurrency = 2

[[targets]]
name = "t"
provider = "p"
model = "m"
rpm = 3
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, job).unwrap();
    let mut o = Overrides {
        config: Some(path.clone()),
        rpm: Some(1000),
        shard: Some(ShardRequest::Fixed(Shard { index: 1, count: 4 })),
        ..Default::default()
    };
    let config = Config::resolve(&o, &env).unwrap();
    assert_eq!(config.dispatch.rpm, Some(250));
    let p = &config.providers[0];
    assert_eq!((p.rpm, p.tpm, p.max_concurrency), (Some(125), Some(22500), Some(1)));
    assert_eq!(config.targets[0].rpm, Some(1));
    assert!(config.notices.iter().any(|n| n.contains("divided by 4")));
    assert_eq!(config.echo()["shard"], "1/4");

    o.shard_limits = Some(ShardLimits::Full);
    let full = Config::resolve(&o, &env).unwrap();
    assert_eq!((full.dispatch.rpm, full.providers[0].rpm), (Some(1000), Some(500)));

    std::fs::write(&path, format!("{job}\n[run]\nshard_limits = \"half\"\n")).unwrap();
    o.shard_limits = None;
    let error = Config::resolve(&o, &env).unwrap_err().to_string();
    assert!(
        error.contains("run.shard_limits") && error.contains("divide"),
        "{error}"
    );
}

/// The echo is hashed into `run.json`'s `config_sha256`, which a resume compares: its bytes must
/// not change when the code that builds it does.
#[test]
fn config_echo_bytes_are_pinned() {
    use crate::shard::{Shard, ShardRequest};
    let job = r#"
[[providers]]
name = "p"
base_url = "https://llm.example.test/v1/"
api_key_env = "P_KEY"
rpm = 600
billing = { currency = "cny", per_usd = 7.5 }

[[providers]]
name = "local"
base_url = "mock"
max_concurrency = 4

[[targets]]
name = "mini"
provider = "p"
model = "gpt-4.1-mini"
tpm = 90000

[[targets]]
name = "free"
provider = "local"
model = "llama"

[route]
targets = ["mini", "free"]
"#;
    let o = Overrides {
        config: Some("jobs/sample.toml".into()),
        shard: Some(ShardRequest::Fixed(Shard { index: 1, count: 2 })),
        stream: Some(true),
        ..Default::default()
    };
    let echo = config(job, &o, &FakeEnv::new(&[("P_KEY", "sk-unit-secret-123")])).echo();
    assert_eq!(
        echo.to_string(),
        r#"{"config_file":"jobs/sample.toml","providers":[{"name":"p","base_url":"https://llm.example.test/v1","api_key_env":"P_KEY","rpm":300,"tpm":null,"max_concurrency":null,"billing":{"currency":"CNY","per_usd":7.5}},{"name":"local","base_url":"mock","api_key_env":null,"rpm":null,"tpm":null,"max_concurrency":2,"billing":null}],"targets":[{"name":"mini","provider":"p","model":"gpt-4.1-mini","rpm":null,"tpm":45000,"max_concurrency":null},{"name":"free","provider":"local","model":"llama","rpm":null,"tpm":null,"max_concurrency":null}],"route":["mini","free"],"retry":{"max_attempts":3,"base_delay_ms":500,"max_delay_ms":30000},"concurrency":16,"timeout_ms":60000,"stream":true,"stream_idle_timeout_ms":30000,"max_response_size":33554432,"shard":"1/2","shard_limits":"divide"}"#
    );
    let plain = config(ONE_TARGET, &Overrides::default(), &no_env()).echo();
    assert_eq!(
        plain.to_string(),
        r#"{"config_file":null,"providers":[{"name":"p","base_url":"https://llm.example.test/v1","api_key_env":"P_KEY","rpm":null,"tpm":null,"max_concurrency":null,"billing":null}],"targets":[{"name":"mini","provider":"p","model":"gpt-4.1-mini","rpm":null,"tpm":null,"max_concurrency":null}],"route":["mini"],"retry":{"max_attempts":3,"base_delay_ms":500,"max_delay_ms":30000},"concurrency":16,"timeout_ms":60000,"stream":false,"stream_idle_timeout_ms":null,"max_response_size":33554432}"#
    );
}

mod errors;
