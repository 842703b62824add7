//! `--dry-run`, `sheepdog check`, and runs without any job file (built-in mock, or the
//! OpenAI SDK variables pointing at the test's mock server).

mod common;

use common::{job, read_jsonl, repo_file, start_mock, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing_and_lists_counts_and_invalid_lines() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let job_file = scratch.write(
        "job.toml",
        &job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], ""),
    );
    let input = repo_file("jobs/with-errors.jsonl");

    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--config",
                job_file.to_str().expect("utf-8 path"),
                "--dry-run",
            ],
            &[(KEY_ENV, "k")],
        )
        .await;

    finished.assert_code(1);
    assert_eq!(server.stats().requests, 0, "a dry run sends nothing");
    let out = &finished.stdout;
    assert!(out.contains("nothing sent"), "{out}");
    let count = |label: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"))
    };
    assert_eq!(count("lines"), "12");
    assert_eq!(count("valid items"), "8");
    assert_eq!(count("invalid lines"), "4");
    for line in ["line 3:", "line 6:", "line 8:", "line 10:"] {
        assert!(out.contains(line), "dry run shows {line}\n{out}");
    }
    assert!(
        !scratch.path().join("reports").exists(),
        "a dry run writes no run folder"
    );
}

/// `sheepdog check` with a job file of one target, key given in the environment.
async fn check(model: &str, key: &str) -> (common::Finished, u64) {
    let config = MockConfig {
        models: Some(vec!["gpt-4.1-mini".into()]),
        require_key: Some("right-key".into()),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let job_file = scratch.write("job.toml", &job(&server.base_url(), KEY_ENV, &[("main", model)], ""));
    let finished = scratch
        .run(
            &["check", "--config", job_file.to_str().expect("utf-8 path")],
            &[(KEY_ENV, key)],
        )
        .await;
    (finished, server.stats().requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_for_a_good_target() {
    let (finished, requests) = check("gpt-4.1-mini", "right-key").await;
    finished.assert_code(0);
    assert_eq!(requests, 1, "one tiny request per target");
    assert!(
        finished.stdout.contains("main") && finished.stdout.contains("ok"),
        "{}",
        finished.stdout
    );
    assert!(!finished.stdout.contains("FAIL"), "{}", finished.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_naming_the_model_for_an_unknown_model() {
    let (finished, _) = check("gpt-9-imaginary", "right-key").await;
    finished.assert_code(1);
    let out = format!("{}{}", finished.stdout, finished.stderr);
    assert!(out.contains("FAIL"), "{out}");
    assert!(
        out.contains("\"gpt-9-imaginary\" does not exist"),
        "the message names the model: {out}"
    );
    assert!(
        out.contains("gpt-4.1-mini"),
        "the message lists the models the server has: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_fails_saying_the_key_was_rejected_for_a_wrong_key() {
    let (finished, _) = check("gpt-4.1-mini", "wrong-key").await;
    finished.assert_code(1);
    let out = format!("{}{}", finished.stdout, finished.stderr);
    assert!(out.contains("key rejected"), "{out}");
    assert!(out.contains(KEY_ENV), "the message says which variable to check: {out}");
    assert!(!out.contains("wrong-key"), "the key itself is never shown: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_missing_key_per_target() {
    let (finished, requests) = check("gpt-4.1-mini", "").await;
    finished.assert_code(1);
    assert_eq!(requests, 0, "nothing is sent without a key");
    assert!(
        finished.stdout.contains(&format!("no key: set ${KEY_ENV}")),
        "{}",
        finished.stdout
    );
}

#[test]
fn run_without_config_or_openai_variables_uses_the_built_in_mock() {
    let scratch = Scratch::new();
    let input = repo_file("jobs/example.jsonl");
    let lines = std::fs::read_to_string(&input)
        .expect("example input")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();

    let finished = scratch.run_blocking(&["run", input.to_str().expect("utf-8 path"), "--out", "run"], &[]);

    finished.assert_code(0);
    assert!(
        finished.stderr.contains("built-in mock server"),
        "the user is told: {}",
        finished.stderr
    );
    assert!(finished.stdout.contains("Run folder:"), "{}", finished.stdout);
    let results = read_jsonl(&scratch.path().join("run/results.jsonl"));
    assert_eq!(results.len(), lines);
    assert!(results.iter().all(|l| l["response"]["status_code"] == 200));
    assert!(read_jsonl(&scratch.path().join("run/errors.jsonl")).is_empty());
}

#[test]
fn run_without_out_writes_under_reports_of_the_working_directory() {
    let scratch = Scratch::new();
    let input = repo_file("jobs/with-errors.jsonl");

    let finished = scratch.run_blocking(&["run", input.to_str().expect("utf-8 path"), "--quiet"], &[]);

    finished.assert_code(1);
    let runs: Vec<_> = std::fs::read_dir(scratch.path().join("reports"))
        .expect("reports/ created")
        .collect();
    assert_eq!(runs.len(), 1);
    let dir = runs[0].as_ref().expect("entry").path();
    assert!(
        dir.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("with-errors-")),
        "{dir:?}"
    );
    assert_eq!(read_jsonl(&dir.join("results.jsonl")).len(), 8);
    assert_eq!(read_jsonl(&dir.join("errors.jsonl")).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_variables_without_config_reach_that_server() {
    let config = MockConfig {
        require_key: Some("sk-test-openai".into()),
        ..MockConfig::default()
    };
    let server = start_mock(config).await;
    let scratch = Scratch::new();
    let input = repo_file("jobs/example.jsonl");
    let base_url = server.base_url();

    let finished = scratch
        .run(
            &[
                "run",
                input.to_str().expect("utf-8 path"),
                "--model",
                "gpt-4.1-mini",
                "--out",
                "run",
                "--quiet",
            ],
            &[("OPENAI_BASE_URL", &base_url), ("OPENAI_API_KEY", "sk-test-openai")],
        )
        .await;

    finished.assert_code(0);
    let results = read_jsonl(&scratch.path().join("run/results.jsonl"));
    let stats = server.stats();
    assert_eq!(
        stats.requests,
        results.len() as u64,
        "every request went to the test's mock"
    );
    assert_eq!(
        stats.by_status.get(&200).copied(),
        Some(results.len() as u64),
        "the key was sent"
    );
    assert!(
        stats.log.iter().all(|r| r.model == "gpt-4.1-mini"),
        "--model is sent for every line"
    );
    assert!(results.iter().all(|l| l["sheepdog"]["target"] == "gpt-4.1-mini"));
}

#[test]
fn flags_beat_environment_beats_job_file_as_echoed_in_summary() {
    let scratch = Scratch::new();
    let job_file = scratch.write(
        "job.toml",
        "[[providers]]\nname = \"p\"\nbase_url = \"mock\"\n\n[[targets]]\nname = \"mini\"\nprovider = \"p\"\n\
         model = \"gpt-4.1-mini\"\n\n[run]\nconcurrency = 2\ntimeout = \"20s\"\n\n[retry]\nmax_attempts = 2\n",
    );
    let input = repo_file("jobs/with-errors.jsonl");
    let env = [
        ("SHEEPDOG_CONCURRENCY", "6"),
        ("SHEEPDOG_TIMEOUT", "30s"),
        ("SHEEPDOG_MAX_ATTEMPTS", "5"),
    ];
    let echo = |out: &str, flags: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["run", input.to_str().expect("utf-8 path"), "--quiet", "--out", out];
        args.extend_from_slice(&["--config", job_file.to_str().expect("utf-8 path")]);
        args.extend_from_slice(flags);
        scratch.run_blocking(&args, env).assert_code(1);
        let summary = std::fs::read_to_string(scratch.path().join(out).join("summary.json")).expect("summary.json");
        let summary: serde_json::Value = serde_json::from_str(&summary).expect("summary.json is JSON");
        let config = &summary["job"]["config"];
        (
            config["concurrency"].as_u64(),
            config["timeout_ms"].as_u64(),
            config["retry"]["max_attempts"].as_u64(),
        )
    };

    assert_eq!(echo("file", &[], &[]), (Some(2), Some(20_000), Some(2)));
    assert_eq!(echo("env", &[], &env), (Some(6), Some(30_000), Some(5)));
    let flags = ["--concurrency", "3", "--timeout", "40s", "--max-attempts", "4"];
    assert_eq!(echo("flags", &flags, &env), (Some(3), Some(40_000), Some(4)));
}
