//! `deploy/kubernetes/` is valid Kubernetes YAML (checked against the official schemas with
//! PyPI's kubernetes-validate, which bundles them and works offline; `.ci/run` installs it into
//! `target/kubernetes-validate`), and the Indexed Job agrees with sheepdog's command line.
//! Without the validator the test fails under CI and is skipped, saying so, elsewhere.

mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const KUBERNETES_VERSION: &str = "1.33.0";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The validator, and the Python of its virtual environment (which has PyYAML).
fn validator() -> Option<(PathBuf, PathBuf)> {
    let bin = match std::env::var_os("SHEEPDOG_KUBERNETES_VALIDATE") {
        Some(path) => PathBuf::from(path),
        None => repo("target/kubernetes-validate/bin/kubernetes-validate"),
    };
    let python = bin.with_file_name("python");
    (bin.is_file() && python.is_file()).then_some((bin, python))
}

fn validate(bin: &Path, files: &[PathBuf]) -> std::process::Output {
    Command::new(bin)
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .args(files)
        .output()
        .expect("kubernetes-validate runs")
}

/// Every document of a YAML file, as JSON.
fn documents(python: &Path, file: &Path) -> Vec<Value> {
    let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let output = Command::new(python)
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("YAML as JSON")
}

#[test]
fn manifests_are_valid_kubernetes_and_match_the_command_line() {
    let Some((bin, python)) = validator() else {
        tools::missing(
            "manifests_are_valid_kubernetes_and_match_the_command_line",
            "kubernetes-validate is not installed (bash .ci/run installs it into target/)",
        );
        return;
    };
    let dir = repo("deploy/kubernetes");
    let files: Vec<PathBuf> = ["job.yaml", "merge-job.yaml", "storage.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let output = validate(&bin, &files);
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert_eq!(text.matches("passed for resource").count(), 4, "{text}");

    // The validator does refuse a broken Job (so its "passed" means something).
    let scratch = tempfile::tempdir().expect("temporary directory");
    let broken = scratch.path().join("broken.yaml");
    let job_text = std::fs::read_to_string(&files[0]).expect("job.yaml");
    std::fs::write(
        &broken,
        job_text.replace("completionMode: Indexed", "completionMode: Indexed\n  shardz: 8"),
    )
    .expect("write");
    assert!(!validate(&bin, &[broken]).status.success());

    // The Indexed Job runs `sheepdog run --shards N` with N = completions = parallelism.
    let docs = documents(&python, &files[0]);
    let job = docs.iter().find(|d| d["kind"] == "Job").expect("a Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let count = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(count));
    let container = &spec["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "run");
    let after = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1))
            .copied()
    };
    assert_eq!(after("--shards"), Some(count.to_string().as_str()));
    assert!(after("--out").is_some_and(|o| o.contains("$(SHARD_INDEX)")));
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        env.contains(&"OPENAI_API_KEY") && env.contains(&"SHARD_INDEX"),
        "{env:?}"
    );
    let key = &container["env"][0]["valueFrom"]["secretKeyRef"];
    assert_eq!(key["name"], "sheepdog-api-key", "the key comes from a Secret");

    // The merge Job names every shard folder once.
    let merge = &documents(&python, &files[1])[0]["spec"]["template"]["spec"]["containers"][0]["args"];
    let folders: Vec<String> = merge
        .as_array()
        .expect("merge args")
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| a.contains("/runs/shard-"))
        .map(str::to_string)
        .collect();
    let expected: Vec<String> = (0..count).map(|i| format!("/data/runs/shard-{i}")).collect();
    assert_eq!(folders, expected);
}
