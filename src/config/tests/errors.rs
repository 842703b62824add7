//! Tests of config errors: each message names the file and the key path (or the variable).

use super::*;

#[test]
fn bad_openai_base_url_names_the_variable() {
    let env = FakeEnv::new(&[("OPENAI_BASE_URL", "api.openai.com")]);
    let e = resolve("", &Overrides::default(), &env).expect_err("not a URL");
    assert_eq!(e.key, "OPENAI_BASE_URL");
    assert!(e.to_string().contains("is not a URL"), "{e}");
}

#[test]
fn duplicate_provider_name_is_an_error_at_the_second() {
    let toml = "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\n[[providers]]\nname = \"p\"\nbase_url = \"mock\"\n";
    assert!(error(toml, &Overrides::default(), "providers[1].name").contains("already defined"));
}

#[test]
fn duplicate_target_name_is_an_error_at_the_second() {
    let toml = TWO_TARGETS.replace("name = \"smart\"", "name = \"fast\"");
    assert!(error(&toml, &Overrides::default(), "targets[1].name").contains("already defined"));
}

#[test]
fn bad_base_url_names_the_provider_key() {
    let toml = ONE_TARGET.replace("https://llm.example.test/v1/", "llm.example.test");
    assert!(error(&toml, &Overrides::default(), "providers[0].base_url").contains("is not a URL"));
}

#[test]
fn target_with_unknown_provider_lists_the_known_ones() {
    let toml = ONE_TARGET.replace("provider = \"p\"", "provider = \"holysheeep\"");
    let text = error(&toml, &Overrides::default(), "targets[0].provider");
    assert!(
        text.contains("no provider named \"holysheeep\" (defined: \"p\")"),
        "{text}"
    );
}

#[test]
fn route_errors_name_the_index() {
    let unknown = TWO_TARGETS.replace("[\"smart\", \"fast\"]", "[\"smart\", \"sonet\"]");
    assert!(error(&unknown, &Overrides::default(), "route.targets[1]").contains("no target named \"sonet\""));
    let twice = TWO_TARGETS.replace("[\"smart\", \"fast\"]", "[\"fast\", \"fast\"]");
    assert!(error(&twice, &Overrides::default(), "route.targets[1]").contains("twice"));
    let empty = TWO_TARGETS.replace("[\"smart\", \"fast\"]", "[]");
    error(&empty, &Overrides::default(), "route.targets");
}

#[test]
fn empty_names_and_models_are_errors() {
    error(
        &ONE_TARGET.replace("name = \"p\"", "name = \" \""),
        &Overrides::default(),
        "providers[0].name",
    );
    error(
        &ONE_TARGET.replace("name = \"mini\"", "name = \"\""),
        &Overrides::default(),
        "targets[0].name",
    );
    error(
        &ONE_TARGET.replace("model = \"gpt-4.1-mini\"", "model = \"\""),
        &Overrides::default(),
        "targets[0].model",
    );
}

#[test]
fn zero_limits_name_their_key() {
    let provider_rpm = ONE_TARGET.replace("api_key_env = \"P_KEY\"", "api_key_env = \"P_KEY\"\nrpm = 0");
    error(&provider_rpm, &Overrides::default(), "providers[0].rpm");
    let target_conc = format!("{ONE_TARGET}max_concurrency = 0\n");
    error(&target_conc, &Overrides::default(), "targets[0].max_concurrency");
}

#[test]
fn zero_values_name_the_file_key_or_the_flag() {
    error(&with_run(0, "30s", 3), &Overrides::default(), "run.concurrency");
    error(&with_run(4, "0s", 3), &Overrides::default(), "run.timeout");
    error(&with_run(4, "30s", 0), &Overrides::default(), "retry.max_attempts");
    let zero_flag = Overrides {
        concurrency: Some(0),
        ..Overrides::default()
    };
    error(&with_run(4, "30s", 3), &zero_flag, "--concurrency");
    let zero_flag = Overrides {
        max_attempts: Some(0),
        ..Overrides::default()
    };
    error(&with_run(4, "30s", 3), &zero_flag, "--max-attempts");
    let zero_flag = Overrides {
        timeout: Some(Duration::ZERO),
        ..Overrides::default()
    };
    error(&with_run(4, "30s", 3), &zero_flag, "--timeout");
}

#[test]
fn base_delay_above_max_delay_is_an_error() {
    let toml = format!("{ONE_TARGET}\n[retry]\nbase_delay = \"5s\"\nmax_delay = \"1s\"\n");
    error(&toml, &Overrides::default(), "retry.base_delay");
}

#[test]
fn unknown_key_is_named_with_its_path() {
    let toml = ONE_TARGET.replace("name = \"p\"", "nme = \"p\"");
    let text = error(&toml, &Overrides::default(), "providers[0].nme");
    assert!(text.contains("unknown field `nme`"), "{text}");
    let toml = format!("{ONE_TARGET}\n[retry]\nmax_attempt = 3\n");
    error(&toml, &Overrides::default(), "retry.max_attempt");
}

#[test]
fn bad_duration_names_its_key_and_line() {
    let toml = format!("{ONE_TARGET}\n[run]\ntimeout = \"soon\"\n");
    let text = error(&toml, &Overrides::default(), "run.timeout");
    assert!(
        text.contains("\"soon\" is not a duration") && text.contains("(line 13)"),
        "{text}"
    );
}

#[test]
fn wrong_type_names_its_key() {
    let toml = format!("{ONE_TARGET}\n[run]\nconcurrency = \"many\"\n");
    error(&toml, &Overrides::default(), "run.concurrency");
}

#[test]
fn resolve_names_a_missing_job_file() {
    let o = Overrides {
        config: Some(PathBuf::from("/nonexistent/dir/job.toml")),
        ..Overrides::default()
    };
    let e = Config::resolve(&o, &no_env()).expect_err("no such file");
    assert_eq!(e.file, "/nonexistent/dir/job.toml");
    assert!(e.to_string().contains("cannot read"), "{e}");
}
