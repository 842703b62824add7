//! Prometheus both ways, against the real tools: the live endpoint negotiates OpenMetrics or
//! the classic text format and passes `promtool check metrics`; `--pushgateway` pushes to a real
//! `prometheus-pushgateway` started here on 127.0.0.1, during the run and once at the end, also
//! when the run fails (exit 1) or is aborted (exit 3). Under CI a missing tool fails the test.

mod common;
mod tools;

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{generated_input, job, start_mock, Scratch};
use sheepdog::config::{Config, Env, Overrides};
use sheepdog::metrics::{Metrics, MetricsServer};
use sheepdog::{MockConfig, RunOptions};
use tokio_util::sync::CancellationToken;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `promtool check metrics` on `text`: its exit code and what it said.
fn promtool_check(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool ends");
    let said = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), said)
}

struct TestEnv(Vec<(&'static str, String)>);

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_endpoint_negotiates_and_passes_promtool() {
    if !installed("promtool") {
        tools::missing(
            "the_live_endpoint_negotiates_and_passes_promtool",
            "promtool is not installed (apt-get install prometheus)",
        );
        return;
    }
    let mock = start_mock(MockConfig {
        failures: vec![(503, 0.2)],
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(60, 20);
    let input = scratch.write("input.jsonl", &text);
    let env = TestEnv(vec![
        ("OPENAI_BASE_URL", mock.base_url()),
        ("OPENAI_API_KEY", "sk-test".into()),
    ]);
    let overrides = Overrides {
        model: Some("gpt-4.1-mini".into()),
        out: Some(scratch.path().join("run")),
        ..Overrides::default()
    };
    let config = Config::resolve(&overrides, &env).expect("valid config");
    let server = MetricsServer::start(Metrics::new(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("metrics server on port 0");
    let mut options = RunOptions::new(input);
    options.metrics = Some(server.metrics());
    sheepdog::run_job(&config, &options, CancellationToken::new())
        .await
        .expect("run finished");

    let client = reqwest::Client::new();
    let get = |accept: Option<&'static str>| {
        let mut request = client.get(server.url());
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.expect("scrape answered");
            let content_type = response.headers()["content-type"].to_str().unwrap_or("").to_owned();
            (content_type, response.text().await.expect("body"))
        }
    };
    let (classic_type, classic) = get(Some("text/plain;version=0.0.4")).await;
    assert_eq!(classic_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(classic.contains("# TYPE sheepdog_requests_total counter"), "{classic}");
    assert!(!classic.contains("# EOF"));
    let (code, said) = promtool_check(&classic);
    assert_eq!(code, 0, "promtool check metrics: {said}\n{classic}");
    let (plain_type, _) = get(None).await;
    assert!(plain_type.starts_with("text/plain; version=0.0.4"), "{plain_type}");

    let prometheus = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (om_type, om) = get(Some(prometheus)).await;
    assert!(om_type.starts_with("application/openmetrics-text"), "{om_type}");
    assert!(om.ends_with("# EOF\n"));
    server.shutdown().await;
    mock.shutdown().await;
}

/// A Pushgateway on a free 127.0.0.1 port, killed when dropped.
struct Pushgateway {
    child: Child,
    url: String,
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_pushgateway() -> Pushgateway {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("prometheus-pushgateway")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-pushgateway starts");
    let gateway = Pushgateway {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{}/-/ready", gateway.url)).await.is_err() {
        assert!(Instant::now() < deadline, "the Pushgateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway
}

/// The Pushgateway's metrics of the sheepdog job, as text.
async fn pushed(gateway: &Pushgateway) -> String {
    reqwest::get(format!("{}/metrics", gateway.url))
        .await
        .expect("pushgateway answers")
        .text()
        .await
        .expect("text")
        .lines()
        .filter(|l| l.starts_with("sheepdog_") && l.contains("job=\"sheepdog\""))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_push_to_the_pushgateway_even_when_they_fail_or_abort() {
    if !installed("prometheus-pushgateway") {
        tools::missing(
            "runs_push_to_the_pushgateway_even_when_they_fail_or_abort",
            "prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)",
        );
        return;
    }
    let gateway = start_pushgateway().await;
    let mock = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let (input, _) = generated_input(30, 10);
    let job_file = job(&mock.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    let (out, finished) = scratch
        .run_job(
            &input,
            &job_file,
            &["--pushgateway", &gateway.url, "--shard", "0/1", "--quiet"],
            &[(KEY_ENV, "k")],
        )
        .await;
    // Invalid lines: exit 1, and the final push still happened.
    finished.assert_code(1);
    let text = pushed(&gateway).await;
    let run_label = format!("run=\"{}\"", out.display());
    let items = text
        .lines()
        .find(|l| l.starts_with("sheepdog_items_total{") && l.contains("result=\"succeeded\""))
        .unwrap_or_else(|| panic!("no items pushed:\n{text}"));
    assert!(items.contains(&run_label), "{items}");
    assert!(items.contains("shard=\"0/1\""), "{items}");
    // 30 lines, every 10th invalid.
    assert!(items.ends_with(" 27"), "{items}");

    // A key the server refuses on every request: exit 3, pushed too.
    let strict = start_mock(MockConfig {
        require_key: Some("right".into()),
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let job_file = job(&strict.base_url(), KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    let (out, finished) = scratch
        .run_job(
            &input,
            &job_file,
            &["--pushgateway", &gateway.url, "--quiet"],
            &[(KEY_ENV, "wrong")],
        )
        .await;
    finished.assert_code(3);
    let text = pushed(&gateway).await;
    let run_label = format!("run=\"{}\"", out.display());
    assert!(
        text.lines().any(|l| l.starts_with("sheepdog_requests_total{")
            && l.contains(&run_label)
            && l.contains("class=\"auth\"")),
        "no push from the aborted run:\n{text}"
    );
    mock.shutdown().await;
    strict.shutdown().await;
}
