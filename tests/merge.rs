//! `sheepdog merge` refuses what cannot be merged exactly and says why: shards of different
//! jobs, a shard given twice, a missing shard (unless --partial), a folder that is no shard.

mod common;

use common::{generated_input, start_mock, Finished, Scratch};
use sheepdog::MockConfig;

/// Runs shard `shard` of `input` into `out` against `base_url`.
async fn shard(scratch: &Scratch, base_url: &str, input: &str, shard: &str, out: &str) {
    let args = [
        "run",
        input,
        "--model",
        "gpt-4.1-mini",
        "--quiet",
        "--shard",
        shard,
        "--out",
        out,
    ];
    let finished = scratch
        .run(
            &args,
            &[("OPENAI_BASE_URL", base_url), ("OPENAI_API_KEY", "sk-test-merge")],
        )
        .await;
    finished.assert_code(0);
}

async fn merge(scratch: &Scratch, args: &[&str]) -> Finished {
    let mut all = vec!["merge"];
    all.extend_from_slice(args);
    scratch.run(&all, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_refuses_mismatched_jobs_and_reports_missing_or_repeated_shards() {
    let server = start_mock(MockConfig::default()).await;
    let base = server.base_url();
    let scratch = Scratch::new();
    let a = scratch.write("a.jsonl", &generated_input(60, 0).0);
    let b = scratch.write("b.jsonl", &generated_input(61, 0).0);
    let (a, b) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    shard(&scratch, &base, a, "0/3", "a0").await;
    shard(&scratch, &base, a, "2/3", "a2").await;
    shard(&scratch, &base, b, "1/3", "b1").await;

    let mismatched = merge(&scratch, &["a0", "b1", "--out", "m1"]).await;
    mismatched.assert_code(2);
    assert!(
        mismatched
            .stderr
            .contains("a0 and b1 are not shards of the same job: the input file differs"),
        "{}",
        mismatched.stderr
    );
    assert!(
        !scratch.path().join("m1").exists(),
        "nothing is written for a refused merge"
    );

    let missing = merge(&scratch, &["a0", "a2", "--out", "m2"]).await;
    missing.assert_code(2);
    assert!(
        missing.stderr.contains("missing 1 of this job's 3 shards: 1/3"),
        "{}",
        missing.stderr
    );

    let twice = merge(&scratch, &["a0", "a2", "a0", "--out", "m3"]).await;
    twice.assert_code(2);
    assert!(twice.stderr.contains("shard 0/3 is given twice"), "{}", twice.stderr);

    // --partial merges what there is, says what is missing, and exits 1.
    let partial = merge(&scratch, &["a0", "a2", "--out", "m4", "--partial", "--quiet"]).await;
    partial.assert_code(1);
    assert!(partial.stderr.contains("missing shard(s) 1/3"), "{}", partial.stderr);
    let summary = std::fs::read_to_string(scratch.path().join("m4/summary.json")).expect("summary");
    assert!(summary.contains("partial merge: shard(s) 1/3 missing"), "{summary}");

    // A run without --shard is not a shard.
    let args = ["run", a, "--model", "gpt-4.1-mini", "--quiet", "--out", "plain"];
    scratch
        .run(
            &args,
            &[("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", "sk-test-merge")],
        )
        .await
        .assert_code(0);
    let plain = merge(&scratch, &["plain", "--out", "m5"]).await;
    plain.assert_code(2);
    assert!(plain.stderr.contains("plain: not a shard"), "{}", plain.stderr);
    let nothing = merge(&scratch, &["nowhere", "--out", "m6"]).await;
    nothing.assert_code(2);
    assert!(
        nothing.stderr.contains("nowhere: not a sheepdog run folder"),
        "{}",
        nothing.stderr
    );
    server.shutdown().await;
}
