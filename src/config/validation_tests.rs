//! Provider settings refused when the job is loaded: keys that cannot be sent as a header and
//! base URLs that cannot be reached as written, each naming the variable or key path.

use std::collections::HashMap;

use super::*;

const FILE: &str = "job.toml";

struct FakeEnv(HashMap<String, String>);

impl Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.is_empty()).cloned()
    }

    fn raw(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn env(vars: &[(&str, &str)]) -> FakeEnv {
    FakeEnv(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

fn job(base_url: &str) -> String {
    format!(
        "[[providers]]\nname = \"p\"\nbase_url = \"{base_url}\"\napi_key_env = \"P_KEY\"\n\n\
         [[targets]]\nname = \"t\"\nprovider = \"p\"\nmodel = \"m\"\n"
    )
}

fn resolve(toml: &str, env: &dyn Env) -> Result<Config, ConfigError> {
    build(file::parse(toml, FILE)?, FILE, &Overrides::default(), env)
}

fn refused(toml: &str, env: &dyn Env, key: &str) -> String {
    match resolve(toml, env) {
        Ok(_) => panic!("accepted, expected an error at {key}"),
        Err(e) => {
            assert_eq!(e.key, key, "{e}");
            e.to_string()
        }
    }
}

#[test]
fn keys_that_cannot_be_sent_name_the_variable_and_never_show_the_key() {
    let ok = job("https://llm.example.test/v1");
    for (value, says) in [
        ("sk-secret-123\r", "carriage return"),
        ("sk-secret-123\n", "line break"),
        ("sk-secret-123 ", "space"),
        ("sk-sécret-123", "not ASCII"),
        ("sk-secret\u{7}123", "control character"),
    ] {
        let message = refused(&ok, &env(&[("P_KEY", value)]), "providers[0].api_key_env");
        assert!(message.contains("$P_KEY") && message.contains(says), "{message}");
        assert!(!message.contains("secret"), "the key is never shown: {message}");
    }
    assert!(
        resolve(&ok, &env(&[("P_KEY", "")])).is_ok(),
        "set but empty is said when the run starts"
    );
    assert!(resolve(&ok, &env(&[("P_KEY", "sk-fine_KEY.123")])).is_ok());
    assert!(resolve(&ok, &env(&[])).is_ok(), "not set is said when the run starts");
}

#[test]
fn the_default_openai_key_is_checked_too() {
    let vars = env(&[
        ("OPENAI_API_KEY", "sk-x\r"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
    ]);
    let message = refused("", &vars, "OPENAI_API_KEY");
    assert!(message.contains("carriage return"), "{message}");
}

#[test]
fn base_urls_that_cannot_be_reached_as_written_are_refused() {
    for (url, says) in [
        ("http://127.0.0.1:99999/v1", "invalid port"),
        ("https://host.test/v1?api-version=1", "query or fragment"),
        ("https://host.test/v1#x", "query or fragment"),
        ("http:///v1", "no host"),
        ("https://", "not a URL"),
    ] {
        let message = refused(&job(url), &env(&[]), "providers[0].base_url");
        assert!(message.contains(says), "{url}: {message}");
    }
    let message = refused(
        &job("https://user:hunter2@host.test/v1"),
        &env(&[]),
        "providers[0].base_url",
    );
    assert!(message.contains("api_key_env"), "{message}");
    assert!(
        !message.contains("hunter2") && !message.contains("user:"),
        "never echoed: {message}"
    );
    let vars = env(&[("OPENAI_BASE_URL", "http://localhost:70000/v1")]);
    let message = refused("", &vars, "OPENAI_BASE_URL");
    assert!(message.contains("invalid port"), "{message}");
    assert!(resolve(&job("http://localhost:8000/v1/"), &env(&[])).is_ok());
}
