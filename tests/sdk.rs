//! The official OpenAI Python SDK against the mock: `tests/sdk/openai_sdk.py` calls chat (plain,
//! streamed, `parse` with a pydantic model, tools), completions, embeddings (float and base64),
//! responses (plain and streamed), moderations, and the Files and Batches APIs, and checks every
//! answer against the SDK's own types. `.ci/run` installs the pinned SDK into
//! `target/openai-sdk` (a virtual environment); `SHEEPDOG_OPENAI_PYTHON` names another Python
//! that has it. Without it the test fails under CI and is skipped, saying so, elsewhere.

mod common;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sheepdog::mock::BatchSettings;
use sheepdog::MockConfig;

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A Python that can `import openai`: `SHEEPDOG_OPENAI_PYTHON`, the virtual environment of
/// `.ci/run`, or `python3`.
fn python_with_sdk() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("SHEEPDOG_OPENAI_PYTHON") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![repo("target/openai-sdk/bin/python3"), PathBuf::from("python3")],
    };
    candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import openai, pydantic"])
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_sdk_calls_every_endpoint_of_the_mock() {
    let Some(python) = python_with_sdk() else {
        tools::missing(
            "the_official_openai_python_sdk_calls_every_endpoint_of_the_mock",
            "no python3 with the openai package (bash .ci/run installs it into target/openai-sdk)",
        );
        return;
    };
    let server = common::start_mock(MockConfig {
        batch: BatchSettings {
            duration: Duration::from_millis(200),
            ..BatchSettings::default()
        },
        ..MockConfig::default()
    })
    .await;
    let base_url = server.base_url();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    let script = repo("tests/sdk/openai_sdk.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(base_url)
            // No proxy, no key or base URL of the user's own reaches the script.
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env("NO_PROXY", "127.0.0.1")
            .env("no_proxy", "127.0.0.1")
            .output()
    })
    .await
    .expect("join")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all 11 checks passed"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("FAIL"), "{stdout}");

    // The SDK's calls reached the mock: chat, stream, parse, tools, completions, 3 embeddings,
    // 2 responses, 2 streamed responses, moderations, 3 batch lines; 2 uploads, 2 batches.
    let stats = server.stats();
    assert_eq!((stats.files_uploaded, stats.batches_created), (2, 2), "{stats:?}");
    assert!(stats.requests >= 16, "{stats:?}");
}
