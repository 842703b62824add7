//! The error of an item that no target could take names what killed the targets.

use super::*;
use crate::input::parse_line;
use crate::provider::{Endpoint, RequestError};

fn target(name: &str) -> RouteTarget {
    let endpoint = Endpoint::new("p", "http://127.0.0.1:9/v1", None);
    RouteTarget::new(name.into(), Some("m".into()), endpoint, None)
}

fn dispatcher(route: Vec<RouteTarget>) -> Arc<Dispatcher> {
    let options = DispatchOptions {
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        },
        timeout: Duration::from_secs(1),
        prices: PriceTable::new(),
        settings: DispatchSettings::default(),
        run_limits: None,
        concurrency: 1,
        metrics: None,
        output_check: None,
        budget: None,
    };
    Dispatcher::new(Client::new(1).unwrap(), route, options, CancellationToken::new())
}

#[tokio::test]
async fn an_item_after_every_target_died_is_failed_with_what_killed_them() {
    let d = dispatcher(vec![target("first"), target("second")]);
    for (t, class) in d.route.iter().zip([ErrorClass::Connect, ErrorClass::Auth]) {
        assert!(t.breaker.kill());
        t.note_given_up(class);
    }
    let item = parse_line(br#"{"id":"a","prompt":"hi"}"#, 1).unwrap();
    let outcome = d.try_process(item).await.expect("the run was not stopped");
    assert!(outcome.attempts.is_empty());
    let error = outcome.result.unwrap_err();
    assert_eq!(
        error.class,
        ErrorClass::Connect,
        "the first target's reason, not always auth"
    );
    assert!(
        error.message.contains("first (connect)") && error.message.contains("second (auth)"),
        "{}",
        error.message
    );
}

#[test]
fn a_broken_exchange_is_not_a_connect_error() {
    assert_eq!(
        RequestError::Other("connection reset".into()).class(),
        ErrorClass::Transport
    );
    assert!(ErrorClass::Transport.is_retryable());
}
