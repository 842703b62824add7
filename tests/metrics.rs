//! `/metrics` while a job runs: scraped mid-run, the exposition is valid OpenMetrics text and
//! the counters grow; at the end they agree with the run's summary. `bench` feeds them too.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{generated_input, start_mock, Scratch};
use sheepdog::config::{Config, Env, Overrides};
use sheepdog::load::Load;
use sheepdog::metrics::{Metrics, MetricsServer};
use sheepdog::{BenchSpec, MockConfig, RunOptions};
use tokio_util::sync::CancellationToken;

struct TestEnv(Vec<(&'static str, String)>);

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }
}

fn config(base_url: String, overrides: Overrides) -> Config {
    let env = TestEnv(vec![
        ("OPENAI_BASE_URL", base_url),
        ("OPENAI_API_KEY", "sk-test-metrics".into()),
    ]);
    Config::resolve(&overrides, &env).expect("valid config")
}

/// Parses OpenMetrics text strictly: `# TYPE`/`# HELP`/`# UNIT` lines, samples of declared
/// families only (with their type's suffixes), well-formed names, labels and values, cumulative
/// histogram buckets ending in `+Inf` = `_count`, and `# EOF` last. Returns value by series.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, f64>, String> {
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.last() != Some(&"# EOF") || !text.ends_with('\n') {
        return Err("the exposition does not end with \"# EOF\\n\"".into());
    }
    for (i, line) in lines[..lines.len() - 1].iter().enumerate() {
        let fail = |why: &str| Err(format!("line {}: {why}: {line}", i + 1));
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !name_ok(name) {
                return fail("bad metric name");
            }
            match kind {
                Some("TYPE") => {
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "unknown",
                        "info",
                        "stateset",
                        "gaugehistogram",
                    ];
                    if !known.contains(&rest) {
                        return fail("unknown type");
                    }
                    if types.insert(name.to_string(), rest.to_string()).is_some() {
                        return fail("family declared twice");
                    }
                }
                Some("HELP") | Some("UNIT") => {}
                _ => return fail("unknown comment"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or("a sample without a value")?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| format!("line {}: bad value {v:?}", i + 1))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').ok_or("unclosed labels")?),
            None => (series, ""),
        };
        if !name_ok(name) {
            return fail("bad sample name");
        }
        let mut rest = labels;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
            if !name_ok(key) {
                return fail("bad label name");
            }
            let mut end = None;
            let mut escaped = false;
            for (j, c) in after.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(j);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated label value")?;
            rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
        }
        let family = types
            .iter()
            .find(|(f, t)| {
                let suffixes: &[&str] = match t.as_str() {
                    "counter" => &["_total", "_created"],
                    "histogram" => &["_bucket", "_sum", "_count", "_created"],
                    _ => &[""],
                };
                suffixes.iter().any(|s| name.strip_suffix(s) == Some(f.as_str()))
            })
            .map(|(f, _)| f.clone());
        if family.is_none() {
            return fail("a sample of no declared family");
        }
        samples.insert(series.to_string(), value);
    }
    // Histograms: buckets cumulative, +Inf bucket = count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let counts: Vec<(&String, &f64)> = samples
            .iter()
            .filter(|(s, _)| s.starts_with(&format!("{family}_count")))
            .collect();
        for (count_series, count) in counts {
            let labels = count_series.trim_start_matches(&format!("{family}_count"));
            let inner = labels.trim_start_matches('{').trim_end_matches('}');
            let mut buckets: Vec<(f64, f64)> = samples
                .iter()
                .filter_map(|(s, v)| {
                    let labels = s.strip_prefix(&format!("{family}_bucket{{"))?.strip_suffix('}')?;
                    let le = labels.split("le=\"").nth(1)?.split('"').next()?;
                    let others: Vec<&str> = labels.split(',').filter(|l| !l.starts_with("le=")).collect();
                    if others.join(",") != inner {
                        return None;
                    }
                    let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                    Some((le, *v))
                })
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[0].1 > w[1].1)
                || buckets.last().map(|b| (b.0, b.1)) != Some((f64::INFINITY, *count))
            {
                return Err(format!(
                    "histogram {count_series}: buckets not cumulative up to +Inf = count"
                ));
            }
        }
    }
    Ok(samples)
}

fn sum(samples: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    samples
        .iter()
        .filter(|(s, _)| s.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

async fn scrape(client: &reqwest::Client, url: &str) -> BTreeMap<String, f64> {
    // What a Prometheus server asks for.
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = client
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .expect("scrape answered");
    let content_type = response.headers()["content-type"].to_str().unwrap_or("").to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("scrape body");
    parse_exposition(&text).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_scraped_during_a_run_are_valid_and_growing() {
    let mock = start_mock(MockConfig {
        latency: sheepdog::mock::Latency::Fixed(Duration::from_millis(15)),
        ..MockConfig::default()
    })
    .await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(240, 40);
    let input = scratch.write("input.jsonl", &text);
    let config = config(
        mock.base_url(),
        Overrides {
            model: Some("gpt-4.1-mini".into()),
            concurrency: Some(4),
            out: Some(scratch.path().join("run")),
            ..Overrides::default()
        },
    );
    let server = MetricsServer::start(Metrics::new(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("metrics server on port 0");
    assert_ne!(server.addr().port(), 0);
    let mut options = RunOptions::new(input);
    options.metrics = Some(server.metrics());
    let job = tokio::spawn(async move { sheepdog::run_job(&config, &options, CancellationToken::new()).await });

    let (client, url) = (reqwest::Client::new(), server.url());
    let mut requests_seen = Vec::new();
    let mut in_flight_seen = 0.0f64;
    while !job.is_finished() {
        let samples = scrape(&client, &url).await;
        requests_seen.push(sum(&samples, "sheepdog_requests_total"));
        in_flight_seen = in_flight_seen.max(sum(&samples, "sheepdog_requests_in_flight"));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let output = job.await.expect("run task").expect("run finished");
    let last = scrape(&client, &url).await;

    let mid_run: Vec<f64> = requests_seen.iter().copied().filter(|&n| n > 0.0).collect();
    assert!(mid_run.len() >= 3, "too few mid-run scrapes: {requests_seen:?}");
    assert!(
        mid_run.windows(2).all(|w| w[0] <= w[1]),
        "counters went down: {requests_seen:?}"
    );
    assert!(
        mid_run.first() < mid_run.last(),
        "counters did not grow: {requests_seen:?}"
    );
    assert!(in_flight_seen >= 1.0, "no request seen in flight");
    let totals = &output.summary.totals;
    assert_eq!(sum(&last, "sheepdog_requests_total") as u64, totals.requests);
    assert_eq!(
        last[r#"sheepdog_items_total{result="succeeded"}"#] as u64,
        totals.succeeded
    );
    assert_eq!(
        last[r#"sheepdog_items_total{result="rejected"}"#] as u64,
        totals.rejected
    );
    assert_eq!(last["sheepdog_input_lines"] as u64, totals.lines);
    assert_eq!(sum(&last, "sheepdog_requests_in_flight"), 0.0);
    let count = last[r#"sheepdog_request_duration_seconds_count{target="gpt-4.1-mini"}"#];
    assert_eq!(count as u64, output.summary.latency_ms.count);
    server.shutdown().await;
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_feeds_the_metrics_too() {
    let mock = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let config = config(
        mock.base_url(),
        Overrides {
            model: Some("gpt-4.1-mini".into()),
            out: Some(scratch.path().join("bench")),
            stream: Some(true),
            ..Overrides::default()
        },
    );
    let metrics = Metrics::new();
    let spec = BenchSpec {
        steps: vec![Load::Closed { concurrency: 4 }],
        stop_at: sheepdog::bench::StopAt::Requests(30),
        metrics: Some(metrics.clone()),
        ..BenchSpec::default()
    };
    let output = sheepdog::run_bench(&config, &spec, &sheepdog::engine::Stop::default(), &mut |_| {})
        .await
        .expect("bench ran");
    let samples = parse_exposition(&metrics.render()).expect("valid exposition");
    let requests: u64 = output.summary.steps.iter().map(|s| s.requests).sum();
    assert!(requests >= 30);
    assert!(sum(&samples, "sheepdog_requests_total") as u64 >= requests);
    assert!(sum(&samples, "sheepdog_time_to_first_token_seconds_count") >= 30.0);
    mock.shutdown().await;
}

#[test]
fn the_validator_refuses_broken_expositions() {
    assert!(parse_exposition("# TYPE a counter\na_total 1\n# EOF\n").is_ok());
    assert!(parse_exposition("# TYPE a counter\na_total 1\n").is_err(), "no EOF");
    assert!(parse_exposition("b_total 1\n# EOF\n").is_err(), "undeclared family");
    assert!(
        parse_exposition("# TYPE a counter\na_total{x=\"1} 1\n# EOF\n").is_err(),
        "bad label"
    );
    assert!(
        parse_exposition("# TYPE a counter\na_total one\n# EOF\n").is_err(),
        "bad value"
    );
    let broken_histogram =
        "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n# EOF\n";
    assert!(parse_exposition(broken_histogram).is_err(), "not cumulative");
}
