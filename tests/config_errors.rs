//! Every bad configuration or usage ends with exit code 2 and a message that names the file and
//! the key path (or the variable, or the input file) the user has to fix. Nothing is sent: the
//! job files point at the built-in mock (`base_url = "mock"`), which is never reached either.

mod common;

use common::{repo_file, Finished, Scratch};

const PROVIDER: &str = "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\n";
const TARGET: &str = "[[targets]]\nname = \"mini\"\nprovider = \"p\"\nmodel = \"gpt-4.1-mini\"\n";

/// `sheepdog run` of the example input with `job.toml` holding `toml`, plus `args`.
async fn run_with_job(toml: &str, args: &[&str], envs: &[(&str, &str)]) -> Finished {
    let scratch = Scratch::new();
    let input = std::fs::read_to_string(repo_file("jobs/with-errors.jsonl")).expect("example input");
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    let (out, finished) = scratch.run_job(&input, toml, &all, envs).await;
    assert!(
        !out.join("results.jsonl").exists(),
        "a run folder was written despite the error"
    );
    finished
}

/// Exit code 2 and every one of `parts` in stderr.
fn assert_usage_error(finished: &Finished, parts: &[&str]) {
    finished.assert_code(2);
    for part in parts {
        assert!(
            finished.stderr.contains(part),
            "stderr should contain {part:?}:\n{}",
            finished.stderr
        );
    }
}

#[tokio::test]
async fn target_naming_an_unknown_provider_names_file_and_key_path() {
    let toml =
        format!("{PROVIDER}\n[[targets]]\nname = \"mini\"\nprovider = \"holysheeep\"\nmodel = \"gpt-4.1-mini\"\n");
    let finished = run_with_job(&toml, &[], &[]).await;
    assert_usage_error(&finished, &["job.toml", "targets[0].provider", "holysheeep", "\"p\""]);
}

#[tokio::test]
async fn unknown_key_in_a_provider_is_named() {
    let toml = format!("[[providers]]\nnme = \"p\"\nbase_url = \"mock\"\n\n{TARGET}");
    let finished = run_with_job(&toml, &[], &[]).await;
    assert_usage_error(&finished, &["job.toml", "providers[0].nme", "unknown field"]);
}

#[tokio::test]
async fn bad_duration_names_run_timeout() {
    let toml = format!("{PROVIDER}\n{TARGET}\n[run]\ntimeout = \"soon\"\n");
    let finished = run_with_job(&toml, &[], &[]).await;
    assert_usage_error(&finished, &["job.toml", "run.timeout", "soon"]);
}

#[tokio::test]
async fn route_naming_an_unknown_target_names_its_index() {
    let toml = format!("{PROVIDER}\n{TARGET}\n[route]\ntargets = [\"mini\", \"sonet\"]\n");
    let finished = run_with_job(&toml, &[], &[]).await;
    assert_usage_error(&finished, &["job.toml", "route.targets[1]", "sonet"]);
}

#[tokio::test]
async fn provider_key_variable_not_set_names_the_variable() {
    let toml = format!(
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\napi_key_env = \"SHEEPDOG_TEST_UNSET_KEY\"\n\n{TARGET}"
    );
    let finished = run_with_job(&toml, &[], &[]).await;
    assert_usage_error(
        &finished,
        &["job.toml", "providers[0].api_key_env", "SHEEPDOG_TEST_UNSET_KEY"],
    );
}

#[tokio::test]
async fn provider_key_variable_set_to_empty_is_said_as_such() {
    let toml = format!(
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\napi_key_env = \"SHEEPDOG_TEST_EMPTY_KEY\"\n\n{TARGET}"
    );
    let finished = run_with_job(&toml, &[], &[("SHEEPDOG_TEST_EMPTY_KEY", "")]).await;
    assert_usage_error(
        &finished,
        &["providers[0].api_key_env", "SHEEPDOG_TEST_EMPTY_KEY", "set but empty"],
    );
}

#[test]
fn missing_input_file_exits_2_and_names_the_file() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("no-such-prompts.jsonl");
    let finished = scratch.run_blocking(&["run", missing.to_str().expect("utf-8 path"), "--quiet"], &[]);
    assert_usage_error(&finished, &["no-such-prompts.jsonl"]);
    assert!(
        !scratch.path().join("reports").exists(),
        "no run folder for a missing input"
    );
}

#[tokio::test]
async fn zero_concurrency_exits_2_and_names_the_flag() {
    let finished = run_with_job(&format!("{PROVIDER}\n{TARGET}"), &["--concurrency", "0"], &[]).await;
    assert_usage_error(&finished, &["--concurrency", "not in 1..=100000"]);
}

#[tokio::test]
async fn zero_concurrency_in_the_environment_exits_2() {
    let finished = run_with_job(&format!("{PROVIDER}\n{TARGET}"), &[], &[("SHEEPDOG_CONCURRENCY", "0")]).await;
    finished.assert_code(2);
}

#[test]
fn missing_config_file_exits_2_and_names_it() {
    let scratch = Scratch::new();
    let input = repo_file("jobs/with-errors.jsonl");
    let config = scratch.path().join("nowhere.toml");
    let finished = scratch.run_blocking(
        &[
            "run",
            input.to_str().expect("utf-8 path"),
            "--config",
            config.to_str().expect("utf-8 path"),
            "--quiet",
        ],
        &[],
    );
    assert_usage_error(&finished, &["nowhere.toml"]);
}

#[tokio::test]
async fn toml_syntax_error_names_the_file_and_line() {
    let finished = run_with_job(&format!("{PROVIDER}\n{TARGET}\n[retry\nmax_attempts = 2\n"), &[], &[]).await;
    assert_usage_error(&finished, &["job.toml", "line 10"]);
}

#[tokio::test]
async fn unparsable_duration_flag_exits_2() {
    let finished = run_with_job(&format!("{PROVIDER}\n{TARGET}"), &["--timeout", "soon"], &[]).await;
    assert_usage_error(&finished, &["--timeout", "soon"]);
}

#[test]
fn input_that_is_a_directory_exits_2_and_names_it() {
    let scratch = Scratch::new();
    let dir = scratch.path().join("prompts.jsonl");
    std::fs::create_dir(&dir).expect("create directory");
    let finished = scratch.run_blocking(&["run", dir.to_str().expect("utf-8 path"), "--quiet"], &[]);
    assert_usage_error(&finished, &["prompts.jsonl", "directory"]);
}

#[test]
fn run_folder_of_another_input_is_refused_and_left_untouched() {
    let scratch = Scratch::new();
    let first = repo_file("jobs/with-errors.jsonl");
    let other = repo_file("jobs/example.jsonl");
    let args = |input: &std::path::Path| {
        let input = input.to_str().expect("utf-8 path").to_string();
        vec!["run".to_string(), input, "--out".into(), "run".into(), "--quiet".into()]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        scratch.run_blocking(&args, &[])
    };
    run(args(&first)).assert_code(1);
    let before = std::fs::read(scratch.path().join("run/results.jsonl")).expect("results of the first run");

    let finished = run(args(&other));

    assert_usage_error(&finished, &["run", "another input file", "example.jsonl", "--out"]);
    let after = std::fs::read(scratch.path().join("run/results.jsonl")).expect("results still there");
    assert_eq!(before, after, "the first run's results are untouched");
}

#[test]
fn folder_with_results_but_no_run_manifest_is_refused() {
    let scratch = Scratch::new();
    scratch.write("results.jsonl", "{\"custom_id\":\"x\"}\n");
    let input = repo_file("jobs/with-errors.jsonl");
    let finished = scratch.run_blocking(
        &["run", input.to_str().expect("utf-8 path"), "--out", ".", "--quiet"],
        &[],
    );
    assert_usage_error(&finished, &["cannot be resumed safely", "--out"]);
    let results = std::fs::read_to_string(scratch.path().join("results.jsonl")).expect("results.jsonl");
    assert_eq!(
        results, "{\"custom_id\":\"x\"}\n",
        "a foreign results file is not appended to"
    );
}

/// Bug: `Semaphore::new(config.concurrency)` in src/job/mod.rs panics above tokio's
/// MAX_PERMITS (2^61 - 1); config accepts any value >= 1.
#[test]
fn huge_concurrency_is_a_usage_error_not_a_panic() {
    let scratch = Scratch::new();
    let input = repo_file("jobs/with-errors.jsonl");
    let output = scratch
        .command(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--quiet",
                "--concurrency",
                "3000000000000000000",
            ],
            &[],
        )
        .output()
        .expect("sheepdog could not be run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "sheepdog panicked:\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--concurrency"), "{stderr}");
}

/// Bug: `Semaphore::new(n)` in src/dispatch/limits.rs panics for a provider's or target's
/// `max_concurrency` above tokio's MAX_PERMITS (2^61 - 1); `check_limits` accepts any value >= 1.
#[test]
fn huge_max_concurrency_in_the_job_file_is_a_config_error_not_a_panic() {
    let toml = format!("{PROVIDER}max_concurrency = 3000000000000000000\n\n{TARGET}");
    let scratch = Scratch::new();
    let job_file = scratch.write("job.toml", &toml);
    let input = repo_file("jobs/with-errors.jsonl");
    let args = [
        "run",
        input.to_str().expect("utf-8 path"),
        "--config",
        job_file.to_str().expect("utf-8 path"),
        "-q",
    ];
    let output = scratch.command(&args, &[]).output().expect("sheepdog could not be run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "sheepdog panicked:\n{stderr}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("providers[0].max_concurrency"), "{stderr}");
}

/// No environment: no key variable, no `OPENAI_*`, no shard index.
struct NoEnv;

impl sheepdog::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

/// Every setting the job file can get wrong, each with the line marked `# <-` where the error
/// must point, and the key path it must name.
const BAD_SETTINGS: &[(&str, &str)] = &[
    (
        "providers[0].name",
        "[[providers]]\nname = \" \" # <-\nbase_url = \"mock\"\n",
    ),
    (
        "providers[1].name",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\n[[providers]]\nname = \"p\" # <-\nbase_url = \"mock\"\n",
    ),
    (
        "providers[0].base_url",
        "[[providers]]\nname = \"p\"\nbase_url = \"ftp://x\" # <-\n",
    ),
    (
        "providers[0].rpm",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\nrpm = 0 # <-\n",
    ),
    (
        "providers[0].tpm",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\ntpm = 0 # <-\n",
    ),
    (
        "providers[0].max_concurrency",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\nmax_concurrency = 0 # <-\n",
    ),
    (
        "providers[0].billing.currency",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\nbilling = { currency = \"yuan\", per_usd = 1.0 } # <-\n",
    ),
    (
        "targets[1].name",
        "PT[[targets]]\nname = \"\" # <-\nprovider = \"p\"\nmodel = \"m\"\n",
    ),
    (
        "targets[1].name",
        "PT[[targets]]\nname = \"mini\" # <-\nprovider = \"p\"\nmodel = \"m\"\n",
    ),
    (
        "targets[0].provider",
        "P[[targets]]\nname = \"t\"\nprovider = \"nope\" # <-\nmodel = \"m\"\n",
    ),
    (
        "targets[0].model",
        "P[[targets]]\nname = \"t\"\nprovider = \"p\"\nmodel = \" \" # <-\n",
    ),
    (
        "targets[0].rpm",
        "P[[targets]]\nname = \"t\"\nprovider = \"p\"\nmodel = \"m\"\nrpm = 0 # <-\n",
    ),
    (
        "targets[0].max_concurrency",
        "P[[targets]]\nname = \"t\"\nprovider = \"p\"\nmodel = \"m\"\nmax_concurrency = 100001 # <-\n",
    ),
    ("route.targets", "PT[route]\ntargets = [] # <-\n"),
    (
        "route.targets[1]",
        "PT[route]\ntargets = [\n  \"mini\",\n  \"sonet\", # <-\n]\n",
    ),
    ("route.targets[1]", "PT[route]\ntargets = [\"mini\",\n \"mini\"] # <-\n"),
    (
        "route.fallback_on[0]",
        "PT[route]\ntargets = [\"mini\"]\nfallback_on = [\"tiemout\"] # <-\n",
    ),
    ("retry.max_attempts", "PT[retry]\nmax_attempts = 0 # <-\n"),
    ("retry.max_attempts", "PT[retry]\nmax_attempts = 101 # <-\n"),
    ("retry.base_delay", "PT[retry]\nbase_delay = \"1m\" # <-\n"),
    ("retry.base_delay", "PT[retry] # <-\nmax_delay = \"1ms\"\n"),
    ("retry.deadline", "PT[retry]\ndeadline = \"0s\" # <-\n"),
    ("run.concurrency", "PT[run]\nconcurrency = 0 # <-\n"),
    ("run.concurrency", "PT[run]\nconcurrency = 18446744073709551615 # <-\n"),
    ("run.timeout", "PT[run]\ntimeout = \"0s\" # <-\n"),
    (
        "run.stream_idle_timeout",
        "PT[run]\nstream_idle_timeout = \"0s\" # <-\n",
    ),
    ("run.rpm", "PT[run]\nrpm = 0 # <-\n"),
    ("run.tpm", "PT[run]\ntpm = 0 # <-\n"),
    (
        "run.error_window",
        "PT[run]\nmax_error_rate = \"5%\"\nerror_window = 0 # <-\n",
    ),
    (
        "run.error_window",
        "PT[run]\nmax_error_rate = 0.05\nerror_window = 18446744073709551615 # <-\n",
    ),
    ("run.max_error_rate", "PT[run]\nmax_error_rate = 1.5 # <-\n"),
    ("run.shard_limits", "PT[run]\nshard_limits = \"half\" # <-\n"),
    (
        "breaker.consecutive_failures",
        "PT[breaker]\nconsecutive_failures = 0 # <-\n",
    ),
    ("breaker.window", "PT[breaker]\nwindow = 0 # <-\n"),
    ("breaker.window", "PT[breaker]\nwindow = 18446744073709551615 # <-\n"),
    (
        "mock.latency",
        "PT[mock]\nlatency = \"1s\" # <-\nlatency_mean = \"1s\"\n",
    ),
    ("mock.ttft_std", "PT[mock]\nttft_std = \"1s\" # <-\n"),
    ("mock.output_tokens_std", "PT[mock]\noutput_tokens_std = 3.0 # <-\n"),
    (
        "mock.max_concurrency",
        "PT[mock]\nmax_concurrency = 18446744073709551615 # <-\n",
    ),
    ("mock.stall_after", "PT[mock]\nstall_after = 3 # <-\n"),
    ("mock.fail", "PT[mock]\nfail = \"429=2\" # <-\n"),
    ("mock.fail_model", "PT[mock]\nfail_model = \"m\" # <-\n"),
    ("mock.stream_fault", "PT[mock]\nstream_fault = \"melt=0.1\" # <-\n"),
    ("mock.hang", "PT[mock]\nhang = 2.0 # <-\n"),
    ("mock.rpm", "PT[mock]\nrpm = 0 # <-\n"),
    ("prices.\"m\"", "PT[prices.\"m\"] # <-\ninput = -1.0\noutput = 1.0\n"),
    ("retry.max_attempts", "PT[retry]\nmax_attempts = -1 # <-\n"),
    ("run.concurrency", "PT[run]\nconcurrency = \"many\" # <-\n"),
];

/// Issue 11: `retry.max_attempts: must be at least 1` named no line. Every error about a
/// setting of the job file names the file, the key path and the line the user has to fix.
#[test]
fn every_bad_setting_names_file_key_path_and_line() {
    let scratch = Scratch::new();
    let mut wrong = Vec::new();
    for (i, (key, toml)) in BAD_SETTINGS.iter().enumerate() {
        // P: one provider; PT: and one target, so the case starts after them.
        let toml = match toml.strip_prefix("PT") {
            Some(rest) => format!("{PROVIDER}{TARGET}{rest}"),
            None => match toml.strip_prefix('P') {
                Some(rest) => format!("{PROVIDER}{rest}"),
                None => toml.to_string(),
            },
        };
        let line = toml.lines().position(|l| l.contains("# <-")).expect("marked line") + 1;
        let file = scratch.write(&format!("job{i}.toml"), &toml);
        let overrides = sheepdog::config::Overrides {
            config: Some(file.clone()),
            ..Default::default()
        };
        let message = match sheepdog::config::Config::resolve(&overrides, &NoEnv) {
            Ok(_) => {
                wrong.push(format!("accepted:\n{toml}"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        let expected = [
            file.display().to_string(),
            format!(": {key}: "),
            format!("(line {line})"),
        ];
        if expected.iter().any(|part| !message.contains(part.as_str())) {
            wrong.push(format!("{message}\n  wants {key} at line {line} of:\n{toml}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}
