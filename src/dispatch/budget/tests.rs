use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

fn budget(limit: f64) -> Arc<Budget> {
    let max = MaxCost {
        amount: limit,
        currency: "USD".into(),
        fx: None,
        key: "--max-cost".into(),
    };
    let factors = HashMap::from([("t".to_string(), Ok(1.0)), ("cny".to_string(), Ok(7.0))]);
    Arc::new(Budget::new(&max, factors))
}

#[tokio::test]
async fn reservations_fit_then_the_budget_is_reached() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    let first = b.reserve(4.0, &stop).await.unwrap();
    first.settle(3.0);
    let second = b.reserve(4.0, &stop).await.unwrap();
    second.settle(4.0);
    assert_eq!(b.spent(), 7.0);
    // 7 spent + 4 could pass 10: denied, and every later request too.
    assert_eq!(b.reserve(4.0, &stop).await.unwrap_err(), Denied::Reached);
    assert_eq!(b.reserve(0.5, &stop).await.unwrap_err(), Denied::Reached);
    let report = b.report();
    assert!(report.reached);
    assert_eq!((report.limit, report.spent), (10.0, 7.0));
    assert!(
        b.reason().starts_with("budget reached: spent $7.00 of $10.00"),
        "{}",
        b.reason()
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_fits_once_others_settle_waits_for_them() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    let in_flight = b.reserve(6.0, &stop).await.unwrap();
    let waiting = {
        let b = b.clone();
        let stop = stop.clone();
        tokio::spawn(async move { b.reserve(6.0, &stop).await.map(|r| r.settle(1.0)) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "6 + 6 reserved would pass 10: the second waits");
    in_flight.settle(2.0);
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(b.spent(), 3.0);
    assert!(!b.reached());
}

#[tokio::test(start_paused = true)]
async fn a_waiting_request_goes_nowhere_when_the_settled_cost_leaves_no_room() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    let in_flight = b.reserve(6.0, &stop).await.unwrap();
    let waiting = {
        let b = b.clone();
        let stop = stop.clone();
        tokio::spawn(async move { b.reserve(6.0, &stop).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    in_flight.settle(5.0);
    assert_eq!(waiting.await.unwrap(), Err(Denied::Reached));
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_wait() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    let _in_flight = b.reserve(6.0, &stop).await.unwrap();
    let waiting = {
        let b = b.clone();
        let stop = stop.clone();
        tokio::spawn(async move { b.reserve(6.0, &stop).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.cancel();
    assert_eq!(waiting.await.unwrap(), Err(Denied::Stopped));
}

#[tokio::test]
async fn an_abandoned_request_counts_its_whole_reservation() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    drop(b.reserve(2.5, &stop).await.unwrap());
    assert_eq!(b.spent(), 2.5);
}

#[tokio::test]
async fn answers_costlier_than_reserved_scale_later_reservations_up() {
    let b = budget(10.0);
    let stop = CancellationToken::new();
    b.reserve(1.0, &stop).await.unwrap().settle(2.0);
    // 2 spent; a reservation of 1 now counts 2 (the estimate ran low by half).
    let r = b.reserve(1.0, &stop).await.unwrap();
    assert_eq!(r.amount, 2.0);
    r.settle(2.0);
    b.reserve(3.0, &stop).await.unwrap().settle(0.0);
    // 4 spent + 2 × 3.5 would pass 10.
    assert_eq!(b.reserve(3.5, &stop).await.unwrap_err(), Denied::Reached);
}

#[test]
fn estimates_use_the_targets_price_and_rate() {
    let b = budget(10.0);
    let price = crate::pricing::Price {
        input: 1.0,
        cached_input: None,
        output: 4.0,
        batch_input: None,
        batch_output: None,
        source: String::new(),
        date: String::new(),
        origin: crate::pricing::PriceOrigin::job_file(""),
        cache_write: None,
        tiers: Vec::new(),
        provider: None,
    };
    let usd = b.estimate("t", "m", Some(&price), 1_000_000, 500_000).unwrap();
    assert!((usd - 3.0).abs() < 1e-12);
    let cny = b.estimate("cny", "m", Some(&price), 1_000_000, 500_000).unwrap();
    assert!((cny - 21.0).abs() < 1e-12);
    assert!(b
        .estimate("t", "m", None, 1, 1)
        .unwrap_err()
        .contains("no price for model \"m\""));
    b.carry([("cny".to_string(), 1.0), ("t".to_string(), 0.5)]);
    assert_eq!(b.report().spent_before, 7.5);
}
