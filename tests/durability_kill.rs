//! The crash test: a 20,000-line job against the mock (a few ms per answer) is killed with
//! SIGKILL at random moments and resumed each time; in the end every input line has exactly one
//! output line, none twice, every line valid JSON, and the summary covers every part.
//! (Alone in its binary: it is the heaviest test, and must not compete for the two cores.)

mod common;
mod durability_support;

use std::time::{Duration, Instant};

use common::{generated_input, start_mock, RunFolder};
use durability_support::{assert_exactly_one_line_each, Job};
use rand::{Rng, SeedableRng};
use sheepdog::mock::Latency;
use sheepdog::MockConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_then_resume_gives_exactly_one_line_per_input_line() {
    let server = start_mock(MockConfig {
        latency: Latency::Fixed(Duration::from_millis(3)),
        // Short answers: the test is about the files, not the bytes (debug builds are slow).
        output_tokens: Some(2),
        ..MockConfig::default()
    })
    .await;
    let (text, expected) = generated_input(20_000, 97);
    let job = Job::new(&server, &text);
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let started = Instant::now();

    let mut kills = 0;
    for _ in 0..3 {
        let mut child = job.spawn(&["--concurrency", "64"]);
        let wait = Duration::from_millis(rng.random_range(150..800));
        tokio::time::sleep(wait).await;
        if child.try_wait().expect("child status").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
    let finished = job.run(&["--concurrency", "64"]).await;
    finished.assert_code(1); // the input has invalid lines

    assert!(kills >= 1, "seed {seed}: no run was killed (every run finished first)");
    assert_exactly_one_line_each(&job.out, &expected, false);
    let folder = RunFolder::read(&job.out);
    assert_eq!(folder.summary_u64("/totals/lines"), 20_000, "seed {seed}");
    assert_eq!(folder.summary_u64("/totals/unsent"), 0, "seed {seed}");
    let finished_lines = folder.summary_u64("/totals/succeeded")
        + folder.summary_u64("/totals/failed")
        + folder.summary_u64("/totals/rejected");
    assert_eq!(finished_lines, 20_000, "the summary covers every part; seed {seed}");
    assert!(folder.summary_u64("/job/parts") >= 2, "seed {seed}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
