//! The `[run]` job settings (`fsync`, `ordered`, `reorder_window`, `cache`, `drain_timeout`)
//! follow the same rule as every key: flag > `SHEEPDOG_*` variable > job file > default. The
//! run's summary echoes the settings that differ from the defaults.

mod common;

use common::{generated_input, job, start_mock, RunFolder, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Runs 20 lines with `[run]` set to `run_table`, `extra` flags and `envs`; returns the folder.
async fn run_with(run_table: &str, extra: &[&str], envs: &[(&str, &str)]) -> (Scratch, RunFolder) {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(20, 0);
    let job_text = job(
        &server.base_url(),
        KEY_ENV,
        &[("mini", "gpt-4.1-mini")],
        &format!("[run]\n{run_table}"),
    );
    let mut all_envs = vec![(KEY_ENV, "k")];
    all_envs.extend_from_slice(envs);
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    let (out, finished) = scratch.run_job(&text, &job_text, &args, &all_envs).await;
    finished.assert_code(0);
    let folder = RunFolder::read(&out);
    (scratch, folder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_file_sets_the_run_settings() {
    let (scratch, folder) = run_with(
        "fsync = \"always\"\nordered = true\nreorder_window = 32\ncache = \"answers.db\"\ndrain_timeout = \"5s\"",
        &[],
        &[],
    )
    .await;
    let config = &folder.summary["job"]["config"];
    assert_eq!(config["fsync"], "always", "{config}");
    assert_eq!(config["ordered"], true, "{config}");
    assert_eq!(config["reorder_window"], 32, "{config}");
    assert_eq!(config["drain_timeout_ms"], 5000, "{config}");
    // The cache named in the job file (relative to where sheepdog runs) was created.
    assert!(
        config["cache"].as_str().is_some_and(|c| c.ends_with("answers.db")),
        "{config}"
    );
    assert!(
        scratch.path().join("answers.db").exists(),
        "the cache of the job file was opened"
    );
    // --ordered from the file: results in input order.
    let lines: Vec<u64> = folder.results.iter().map(|l| common::block_u64(l, "line")).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variable_beats_the_job_file() {
    let (_, folder) = run_with(
        "fsync = \"never\"\ndrain_timeout = \"5s\"",
        &[],
        &[("SHEEPDOG_FSYNC", "always"), ("SHEEPDOG_DRAIN_TIMEOUT", "7s")],
    )
    .await;
    let config = &folder.summary["job"]["config"];
    assert_eq!(config["fsync"], "always", "{config}");
    assert_eq!(config["drain_timeout_ms"], 7000, "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_beats_the_variable() {
    let (_, folder) = run_with(
        "fsync = \"never\"\ndrain_timeout = \"5s\"",
        &["--fsync", "never", "--drain-timeout", "9s"],
        &[("SHEEPDOG_FSYNC", "always"), ("SHEEPDOG_DRAIN_TIMEOUT", "7s")],
    )
    .await;
    let config = &folder.summary["job"]["config"];
    assert_eq!(config["fsync"], "never", "{config}");
    assert_eq!(config["drain_timeout_ms"], 9000, "{config}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_run_key_is_refused_naming_it() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(2, 0);
    let job_text = job(
        &server.base_url(),
        KEY_ENV,
        &[("mini", "gpt-4.1-mini")],
        "[run]\nfsynk = \"always\"",
    );
    let (_, finished) = scratch.run_job(&text, &job_text, &["--quiet"], &[(KEY_ENV, "k")]).await;
    finished.assert_code(2);
    assert!(finished.stderr.contains("run.fsynk"), "{}", finished.stderr);
}
