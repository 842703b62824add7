//! A proxy named in the environment is honoured: with `HTTP_PROXY` set, a plain-HTTP endpoint's
//! requests, plain and streamed, go through it (on reqwest, the path HTTPS requests always
//! take); without one they go straight to the server (on hyper's client, `provider::plain`). The proxy here is the mock
//! itself, which answers requests written in a proxy's absolute form.

mod common;

use common::{job, start_mock, RunFolder, Scratch};
use sheepdog::MockConfig;

const KEY_ENV: &str = "SHEEPDOG_TEST_KEY";
const INPUT: &str = "{\"id\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n\
                     {\"id\":\"b\",\"messages\":[{\"role\":\"user\",\"content\":\"ho\"}]}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_through_a_proxy_named_in_the_environment() {
    let server = start_mock(MockConfig::default()).await;
    let proxy = server.base_url().trim_end_matches("/v1").to_string();
    // Nothing listens at this base URL (port 9 on loopback): only the proxy can answer.
    let job_text = job("http://127.0.0.1:9/v1", KEY_ENV, &[("mini", "gpt-4.1-mini")], "");
    // Plain and streamed requests both take the proxy.
    for (extra, sent) in [(None, 2), (Some("--stream"), 4)] {
        let scratch = Scratch::new();
        let args: Vec<&str> = ["--quiet"].into_iter().chain(extra).collect();
        let env = [(KEY_ENV, "any-key"), ("HTTP_PROXY", proxy.as_str())];
        let (out, finished) = scratch.run_job(INPUT, &job_text, &args, &env).await;
        finished.assert_code(0);
        let folder = RunFolder::read(&out);
        assert_eq!(folder.results.len(), 2, "{extra:?}: {:?}", folder.errors);
        assert_eq!(server.stats().requests, sent, "{extra:?}");
    }

    // Without the proxy the same job cannot reach its server.
    let scratch = Scratch::new();
    let (out, finished) = scratch
        .run_job(INPUT, &job_text, &["--quiet"], &[(KEY_ENV, "any-key")])
        .await;
    assert_ne!(finished.code, Some(0));
    let folder = RunFolder::read(&out);
    assert!(folder.results.is_empty());
    assert_eq!(server.stats().requests, 4, "nothing more reached the mock");
}
