//! `report.html` of a real run (streamed, with retries, against a mock server) opened in
//! headless Chromium: every chart is in the rendered page as an `<svg>` with drawn elements, and
//! the page logs no error.
//!
//! Needs Chromium (`.ci/run` installs Debian's `chromium`; set `SHEEPDOG_CHROMIUM` to use another
//! binary). Without it the test fails under CI and is skipped, saying so, elsewhere.

mod common;
mod tools;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{job, start_mock, Scratch};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

/// Charts a streamed run with retries and prices must have.
const EXPECTED: [&str; 10] = [
    "latency-histogram",
    "latency-cdf",
    "ttft-histogram",
    "ttft-cdf",
    "itl-histogram",
    "itl-cdf",
    "throughput-over-time",
    "tokens-over-time",
    "errors-over-time",
    "cost-by-target",
];

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SHEEPDOG_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The DOM Chromium builds from the page, and its log.
fn render(chromium: &Path, page: &Path, profile: &Path) -> (String, String) {
    let url = format!("file://{}", page.display());
    let output = assert_cmd::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {output:?}");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Drawn SVG elements inside the figure `id`, or why there are none.
fn drawn_elements(dom: &str, id: &str) -> Result<usize, String> {
    let start = dom
        .find(&format!("id=\"chart-{id}\""))
        .ok_or_else(|| format!("chart {id} is missing from the page"))?;
    let end = dom[start..]
        .find("</figure>")
        .ok_or_else(|| format!("chart {id} has no end"))?;
    let figure = &dom[start..start + end];
    if figure.contains("class=\"chart-error\"") {
        return Err(format!("chart {id} could not be drawn: {figure}"));
    }
    let svg = figure.find("<svg").ok_or_else(|| format!("chart {id} has no <svg>"))?;
    Ok(["<rect", "<polyline", "<line", "<path", "<text"]
        .iter()
        .map(|tag| figure[svg..].matches(tag).count())
        .sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_html_renders_every_chart_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        tools::missing(
            "report_html_renders_every_chart_in_headless_chromium",
            "chromium is not installed (apt-get install chromium, or set SHEEPDOG_CHROMIUM)",
        );
        return;
    };
    let server = start_mock(MockConfig {
        ttft: Latency::Fixed(Duration::from_millis(3)),
        itl: Latency::Fixed(Duration::from_micros(300)),
        output_tokens: Some(12),
        failures: vec![(503, 0.15)],
        retry_after: Duration::from_millis(1),
        seed: 11,
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let lines: String = (0..60)
        .map(|i| format!("{{\"id\":\"s{i}\",\"prompt\":\"Tell me about item {i}.\"}}\n"))
        .collect();
    let retry = "[retry]\nbase_delay = \"1ms\"\nmax_delay = \"5ms\"\nmax_attempts = 6\n";
    let job_text = job(&server.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], retry);
    let (out, finished) = scratch
        .run_job(&lines, &job_text, &["--stream", "--quiet"], &[(KEY_ENV, "k")])
        .await;
    finished.assert_code(0);
    let page = out.join("report.html");
    let (dom, log) = tokio::task::spawn_blocking({
        let profile = scratch.path().join("chromium-profile");
        move || render(&chromium, &page, &profile)
    })
    .await
    .expect("chromium thread");

    assert!(
        dom.contains("<title>sheepdog report:"),
        "not the report page: {dom:.400}"
    );
    for id in EXPECTED {
        match drawn_elements(&dom, id) {
            Ok(n) => assert!(n >= 10, "chart {id} has only {n} drawn elements"),
            Err(e) => panic!("{e}"),
        }
    }
    for line in log.lines() {
        assert!(
            !line.contains("CONSOLE") && !line.contains("Uncaught"),
            "the page logged an error: {line}"
        );
    }
}
