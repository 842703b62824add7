//! Sharding: `--shard I/N` and `--shards N` with `JOB_COMPLETION_INDEX` split the input
//! deterministically, and `sheepdog merge` of all shards equals one run over the same input.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{generated_input, start_mock, RunFolder, Scratch};
use hdrhistogram::Histogram;
use serde_json::Value;
use sheepdog::stats::{decode_histogram, new_histogram, percentiles};
use sheepdog::MockConfig;

/// `(custom_id or line, ok?)` of every line in a run folder.
fn items(folder: &RunFolder) -> BTreeSet<(String, bool)> {
    let key = |line: &Value| match line["custom_id"].as_str() {
        Some(id) => id.to_string(),
        None => format!("line {}", line["sheepdog"]["line"]),
    };
    folder
        .results
        .iter()
        .map(|l| (key(l), true))
        .chain(folder.errors.iter().map(|l| (key(l), false)))
        .collect()
}

fn decoded(summary: &Value, pointer: &str) -> Histogram<u64> {
    let text = summary
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer}"));
    decode_histogram(text).expect("a valid histogram")
}

fn percentiles_json(h: &Histogram<u64>) -> Value {
    serde_json::to_value(percentiles(h)).expect("percentiles serialize")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_plus_merge_equal_a_single_run_over_the_same_input() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let (text, _) = generated_input(300, 25);
    let input = scratch.write("input.jsonl", &text);
    let input = input.to_str().expect("utf-8 path");
    let envs = [
        ("OPENAI_BASE_URL", server.base_url()),
        ("OPENAI_API_KEY", "sk-test-shard".to_string()),
    ];
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |out: &'static str, shard: Option<&'static str>| {
        let mut args = vec!["run", input, "--model", "gpt-4.1-mini", "--quiet", "--out", out];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        args
    };
    // The generated input has invalid lines: every run exits 1.
    scratch.run(&run("single", None), &envs).await.assert_code(1);
    scratch.run(&run("s0", Some("0/2")), &envs).await.assert_code(1);
    scratch.run(&run("s1", Some("1/2")), &envs).await.assert_code(1);
    let merged = scratch
        .run(&["merge", "s1", "s0", "--out", "merged", "--ordered"], &[])
        .await;
    merged.assert_code(1);
    assert!(merged.stdout.contains("Merged folder: merged"), "{}", merged.stdout);

    let dir = scratch.path();
    let (single, s0, s1, all) = (
        RunFolder::read(&dir.join("single")),
        RunFolder::read(&dir.join("s0")),
        RunFolder::read(&dir.join("s1")),
        RunFolder::read(&dir.join("merged")),
    );
    // Each line in exactly one shard, both used, and together the single run's lines.
    let (a, b) = (items(&s0), items(&s1));
    assert!(a.len() > 100 && b.len() > 100, "{} + {}", a.len(), b.len());
    assert!(a.is_disjoint(&b));
    assert_eq!(items(&all), items(&single));
    assert_eq!(a.union(&b).cloned().collect::<BTreeSet<_>>(), items(&single));
    let lines: Vec<u64> = all.all_lines().map(|l| common::block_u64(l, "line")).collect();
    assert!(all
        .results
        .windows(2)
        .all(|w| w[0]["sheepdog"]["line"].as_u64() < w[1]["sheepdog"]["line"].as_u64()));
    assert_eq!(lines.len() as u64, single.summary_u64("/totals/lines"));

    // The same counts, tokens and cost.
    for pointer in [
        "/totals/lines",
        "/totals/rejected",
        "/totals/attempted",
        "/totals/succeeded",
        "/totals/failed",
        "/totals/unsent",
        "/totals/requests",
        "/totals/retries",
        "/tokens/input",
        "/tokens/output",
        "/latency_ms/count",
    ] {
        assert_eq!(all.summary_u64(pointer), single.summary_u64(pointer), "{pointer}");
    }
    let cost = |f: &RunFolder| f.summary["cost"]["total_usd"].as_f64().expect("cost");
    assert!(
        (cost(&all) - cost(&single)).abs() < 1e-9,
        "{} vs {}",
        cost(&all),
        cost(&single)
    );
    assert_eq!(all.summary["errors"], single.summary["errors"]);

    // The same percentiles: those of the shards' recorded latencies taken together, read from
    // their serialized histograms (and, in the unit tests, equal to one collector's).
    let mut together = new_histogram();
    for shard in [&s0, &s1] {
        together
            .add(decoded(&shard.summary, "/histograms/latency_us"))
            .expect("add");
    }
    assert_eq!(together.len(), single.summary_u64("/latency_ms/count"));
    assert_eq!(all.summary["latency_ms"], percentiles_json(&together));
    assert_eq!(decoded(&all.summary, "/histograms/latency_us"), together);
    assert_eq!(all.summary["targets"][0]["latency_ms"], percentiles_json(&together));

    // requests.csv holds every request once.
    let rows = |d: &str| {
        std::fs::read_to_string(dir.join(d).join("requests.csv"))
            .expect("csv")
            .lines()
            .count()
    };
    assert_eq!(rows("merged"), rows("single"));
    server.shutdown().await;
}

fn ids_of(folder: &Path) -> BTreeSet<String> {
    let f = RunFolder::read(folder);
    f.all_lines()
        .filter_map(|l| l["custom_id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_completion_index_selects_the_shard() {
    let server = start_mock(MockConfig::default()).await;
    let scratch = Scratch::new();
    let (text, lines) = generated_input(120, 0);
    let input = scratch.write("input.jsonl", &text);
    let input = input.to_str().expect("utf-8 path");
    let base = server.base_url();
    let mut envs = vec![("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", "sk-test-index")];
    let args = [
        "run",
        input,
        "--model",
        "gpt-4.1-mini",
        "--quiet",
        "--shards",
        "3",
        "--out",
        "pod",
    ];
    let missing = scratch.run(&args, &envs).await;
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("JOB_COMPLETION_INDEX is not set"),
        "{}",
        missing.stderr
    );

    envs.push(("JOB_COMPLETION_INDEX", "2"));
    scratch.run(&args, &envs).await.assert_code(0);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(scratch.path().join("pod/run.json")).expect("run.json"))
            .expect("json");
    assert_eq!(
        (manifest["shard"]["index"].as_u64(), manifest["shard"]["count"].as_u64()),
        (Some(2), Some(3))
    );
    let ids = ids_of(&scratch.path().join("pod"));
    let expected: BTreeSet<String> = lines
        .values()
        .filter_map(|line| line.id.clone())
        .filter(|id| sheepdog::shard::shard_of(id, 3) == 2)
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(manifest["shard"]["lines"].as_u64(), Some(expected.len() as u64));
    let summary = RunFolder::read(&scratch.path().join("pod"));
    assert_eq!(
        summary.summary_u64("/totals/unsent"),
        0,
        "other shards' lines are not unsent"
    );

    // The folder belongs to shard 2/3: resuming it as another shard is refused.
    envs.pop();
    let other = scratch
        .run(
            &[
                "run",
                input,
                "--model",
                "gpt-4.1-mini",
                "--quiet",
                "--shard",
                "0/3",
                "--resume",
                "pod",
            ],
            &envs,
        )
        .await;
    other.assert_code(2);
    assert!(
        other.stderr.contains("shard 2/3") && other.stderr.contains("shard 0/3"),
        "{}",
        other.stderr
    );
    server.shutdown().await;
}
