//! What a test does when an external tool it needs (Chromium, kubernetes-validate) is missing:
//! under CI (`CI` set, as `.ci/run` runs) the test fails, so a green CI always means the tool ran;
//! on a developer's machine it is skipped with a message on the real stderr.

use std::io::Write as _;

/// Says the test is skipped outside CI; panics under CI.
pub fn missing(test: &str, why: &str) {
    let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty() && value != "false");
    assert!(
        !ci,
        "{test}: {why}; under CI a missing tool is a failure (bash .ci/run installs it)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
