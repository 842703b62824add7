//! Every numeric flag of every command, fed 0, 1, u64::MAX, a negative number and a non-number:
//! sheepdog never panics (exit 101), and a value it refuses ends with exit 2 and a message that
//! names the flag, before any run folder is made.
//!
//! The flags are read from the command-line definition itself (`Cli::command()`), so a numeric
//! flag added later is fuzzed without touching this file. Each invocation is as short as it can
//! be: one input line, the built-in mock server, `bench` with one request; the `mock` command is
//! stopped once it serves (after one request to it, on 127.0.0.1).

mod common;

#[allow(dead_code, unused_imports)]
#[path = "../src/cli/mod.rs"]
mod cli;

use std::any::TypeId;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Arg, Command, CommandFactory};

use common::Scratch;

/// Values fed to every numeric flag.
const VALUES: [&str; 5] = ["0", "1", "18446744073709551615", "-1", "abc"];
/// Extra values fed to flags that take a floating-point number.
const FLOAT_VALUES: [&str; 3] = ["NaN", "inf", "1e308"];
/// An invocation still running after this long accepted its value (it is stopped there).
const STILL_RUNNING: Duration = Duration::from_secs(8);

/// The arguments every invocation of a command starts with. `{input}` and `{out}` are replaced.
fn base(command: &str) -> Vec<Vec<&'static str>> {
    match command {
        "run" => vec![vec!["{input}"], vec!["--quiet"], vec!["--out", "{out}"]],
        "bench" => vec![
            vec!["--synthetic", "in=32,out=4"],
            vec!["--concurrency", "1"],
            vec!["--requests", "1"],
            vec!["--quiet"],
            vec!["--out", "{out}"],
        ],
        "estimate" => vec![vec!["{input}"]],
        "mock" => vec![vec!["--port", "0"], vec!["--host", "127.0.0.1"]],
        _ => Vec::new(),
    }
}

/// Flags that only mean something with another one.
fn companions(flag: &str) -> &'static [&'static str] {
    match flag {
        "--reorder-window" => &["--ordered"],
        "--error-window" => &["--max-error-rate", "50%"],
        "--stream-idle-timeout" => &["--stream"],
        "--latency-std" => &["--latency-mean", "1ms"],
        "--ttft-std" => &["--ttft", "1ms"],
        "--itl-std" => &["--itl", "1ms"],
        "--output-tokens-std" => &["--output-tokens", "4"],
        "--stall-after" => &["--stall-for", "1ms"],
        "--stall-for" => &["--stall-after", "1000"],
        _ => &[],
    }
}

fn is_float(arg: &Arg) -> bool {
    arg.get_value_parser().type_id() == TypeId::of::<f64>()
}

/// Integers, floats and durations.
fn is_numeric(arg: &Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i64>(),
        TypeId::of::<f64>(),
        TypeId::of::<Duration>(),
    ]
    .iter()
    .any(|t| id == *t)
}

/// Whether base argument `other` cannot be given with `arg` (conflicts either way, or one of
/// a group of which only one is allowed).
fn excludes(command: &Command, arg: &Arg, other: &str) -> bool {
    let Some(other_arg) = command
        .get_arguments()
        .find(|a| a.get_long() == other.strip_prefix("--"))
    else {
        return false;
    };
    if other_arg.get_id() == arg.get_id() {
        return true;
    }
    let conflicts = |a: &Arg, b: &Arg| {
        command
            .get_arg_conflicts_with(a)
            .iter()
            .any(|c| c.get_id() == b.get_id())
    };
    let same_group = command.get_groups().any(|g| {
        let ids: Vec<_> = g.get_args().collect();
        !g.clone().is_multiple() && ids.contains(&arg.get_id()) && ids.contains(&other_arg.get_id())
    });
    conflicts(arg, other_arg) || conflicts(other_arg, arg) || same_group
}

struct Case {
    command: String,
    flag: String,
    value: String,
    args: Vec<String>,
}

fn cases() -> Vec<Case> {
    let mut root = cli::Cli::command();
    root.build();
    let mut cases = Vec::new();
    for command in root.get_subcommands() {
        let name = command.get_name().to_string();
        for arg in command.get_arguments().filter(|a| is_numeric(a)) {
            let Some(long) = arg.get_long() else { continue };
            let flag = format!("--{long}");
            let mut values: Vec<&str> = VALUES.to_vec();
            if is_float(arg) {
                values.extend(FLOAT_VALUES);
            }
            for value in values {
                let mut args = vec![name.clone()];
                for group in base(&name) {
                    if !excludes(command, arg, group[0]) {
                        args.extend(group.iter().map(|s| s.to_string()));
                    }
                }
                let companions = companions(&flag);
                let has = |f: &str| command.get_arguments().any(|a| a.get_long() == f.strip_prefix("--"));
                if companions.first().is_some_and(|f| has(f)) {
                    args.extend(companions.iter().map(|s| s.to_string()));
                }
                args.push(format!("{flag}={value}"));
                cases.push(Case {
                    command: name.clone(),
                    flag: flag.clone(),
                    value: value.to_string(),
                    args,
                });
            }
        }
    }
    cases
}

/// What one invocation did.
struct Outcome {
    /// `None`: still running (it accepted the value), stopped by the test.
    code: Option<i32>,
    stderr: String,
    out_dir_made: bool,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One request to the mock server that said it serves at `url` (always on 127.0.0.1).
fn poke(stderr: &str) {
    let Some(rest) = stderr.split("serving http://127.0.0.1:").nth(1) else {
        return;
    };
    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(mut stream) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return;
    };
    let body = r#"{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"hello there"}]}"#;
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn invoke(scratch: &Scratch, index: usize, case: &Case) -> Outcome {
    let input = scratch.path().join("in.jsonl");
    let out = scratch.path().join(format!("out-{index}"));
    let err_file = scratch.path().join(format!("stderr-{index}"));
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            a.replace("{input}", &input.display().to_string())
                .replace("{out}", &out.display().to_string())
        })
        .collect();
    let stderr = std::fs::File::create(&err_file).expect("stderr file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sheepdog"))
        .args(&args)
        .current_dir(scratch.path())
        .env_clear()
        .env("JOB_COMPLETION_INDEX", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("sheepdog starts");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait for sheepdog") {
            break status.code();
        }
        if case.command == "mock" && read(&err_file).contains("serving http://") {
            poke(&read(&err_file));
            // Give a panicking request handler time to say so.
            std::thread::sleep(Duration::from_millis(100));
            stop(&mut child);
            break None;
        }
        if started.elapsed() > STILL_RUNNING {
            stop(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        code,
        stderr: read(&err_file),
        out_dir_made: out.exists(),
    }
}

/// What is wrong with `outcome`, if anything.
fn judge(case: &Case, outcome: &Outcome) -> Option<String> {
    let stderr = &outcome.stderr;
    if outcome.code == Some(101) || stderr.contains("panicked") {
        return Some(format!("panicked:\n{stderr}"));
    }
    let refused = outcome.code == Some(2);
    if refused && !stderr.contains(&case.flag) {
        return Some(format!("exit 2 without naming {}:\n{stderr}", case.flag));
    }
    if refused && outcome.out_dir_made {
        return Some("exit 2 but a run folder was made".into());
    }
    let must_refuse = matches!(case.value.as_str(), "-1" | "abc" | "NaN" | "inf" | "1e308") || must_refuse_max(case);
    if must_refuse && !refused {
        return Some(format!("accepted (exit {:?}):\n{stderr}", outcome.code));
    }
    match outcome.code {
        None | Some(0) | Some(1) | Some(2) => None,
        Some(code) => Some(format!("exit {code}:\n{stderr}")),
    }
}

/// u64::MAX is out of range for every numeric flag but these, which count things a user may
/// want unbounded (or are seeds; `--max-response-size` of u64::MAX is "no limit", asked for).
fn must_refuse_max(case: &Case) -> bool {
    let unbounded = [
        "--seed",
        "--tpm",
        "--stall-after",
        "--quota",
        "--requests",
        "--per-month",
        "--max-response-size",
    ];
    case.value == "18446744073709551615" && !unbounded.contains(&case.flag.as_str())
}

#[test]
fn no_value_of_any_numeric_flag_panics_and_refusals_name_the_flag() {
    let cases = cases();
    let flags: std::collections::BTreeSet<_> = cases.iter().map(|c| format!("{} {}", c.command, c.flag)).collect();
    for expected in [
        "run --reorder-window",
        "run --error-window",
        "run --concurrency",
        "bench --max-in-flight",
        "mock --hang",
        "estimate --output-tokens",
    ] {
        assert!(flags.contains(expected), "{expected} is not fuzzed; found {flags:?}");
    }
    let scratch = Scratch::new();
    scratch.write("in.jsonl", "{\"id\":\"a\",\"prompt\":\"hello\"}\n");
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let index = {
                    let mut next = next.lock().expect("case counter");
                    *next += 1;
                    *next - 1
                };
                let Some(case) = cases.get(index) else { break };
                let outcome = invoke(&scratch, index, case);
                if let Some(problem) = judge(case, &outcome) {
                    failures.lock().expect("failures").push(format!(
                        "sheepdog {} {}={}: {problem}",
                        case.command, case.flag, case.value
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} of {} invocations went wrong:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    eprintln!("{} flags fuzzed in {} invocations", flags.len(), cases.len());
}

#[test]
fn huge_windows_exit_2_before_the_run_folder_is_made() {
    let scratch = Scratch::new();
    let input = scratch.write("in.jsonl", "{\"id\":\"a\",\"prompt\":\"hello\"}\n");
    let input = input.to_str().expect("utf-8 path");
    for flags in [
        &["--ordered", "--reorder-window", "18446744073709551615"][..],
        &["--max-error-rate", "5%", "--error-window", "18446744073709551615"][..],
    ] {
        let mut args = vec!["run", input, "--quiet", "--out", "run"];
        args.extend_from_slice(flags);
        let finished = scratch.run_blocking(&args, &[]);
        finished.assert_code(2);
        let flag = flags[flags.len() - 2];
        assert!(finished.stderr.contains(flag), "{flag} not named:\n{}", finished.stderr);
        assert!(!scratch.path().join("run").exists(), "a run folder was made");
    }
}

/// Found by the fuzzing: two lines asking for u64::MAX output tokens overflowed the estimate's
/// sums and, with a TPM limit, the dispatcher's token estimate (a panic in debug builds, a
/// wrapped, wrong figure in release). Sums now saturate.
#[test]
fn lines_asking_for_u64_max_tokens_never_overflow() {
    let scratch = Scratch::new();
    let line = |id: &str| {
        format!(
            "{{\"id\":\"{id}\",\"prompt\":\"hi\",\"model\":\"gpt-4.1-mini\",\"max_tokens\":18446744073709551615}}\n"
        )
    };
    let input = scratch.write("in.jsonl", &(line("a") + &line("b")));
    let input = input.to_str().expect("utf-8 path");
    let estimate = scratch.run_blocking(&["estimate", input, "--format", "json"], &[]);
    assert!(!estimate.stderr.contains("panicked"), "{}", estimate.stderr);
    estimate.assert_code(0);
    assert!(estimate.stdout.contains("18446744073709551615"), "{}", estimate.stdout);
    let run = scratch.run_blocking(&["run", input, "--quiet", "--out", "run", "--tpm", "1000000"], &[]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_ne!(run.code, Some(101), "{}", run.stderr);
}
