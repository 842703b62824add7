use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

#[test]
fn even_spacing_is_one_over_rate() {
    let mut schedule = Schedule::new(10.0, Arrivals::Even);
    let offsets: Vec<u128> = (0..4).map(|_| schedule.next_offset().as_millis()).collect();
    assert_eq!(offsets, [0, 100, 200, 300]);
}

#[test]
fn poisson_gaps_have_mean_one_over_rate_and_are_exponential() {
    let rate = 40.0;
    let mut schedule = Schedule::new(rate, Arrivals::Poisson { seed: 11 });
    let n = 20_000;
    let mut previous = 0.0;
    let gaps: Vec<f64> = (0..n)
        .map(|_| {
            let at = schedule.next_offset().as_secs_f64();
            let gap = at - previous;
            previous = at;
            gap
        })
        .collect();
    let mean = gaps.iter().sum::<f64>() / n as f64;
    let std = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // The standard error of the mean is (1/rate)/sqrt(n), under 1%: 3% is far outside chance.
    assert!(
        (mean * rate - 1.0).abs() < 0.03,
        "mean gap {mean}s, expected {}s",
        1.0 / rate
    );
    // An exponential distribution's standard deviation equals its mean.
    assert!((std / mean - 1.0).abs() < 0.05, "std/mean {}", std / mean);
    assert!(gaps.iter().all(|&g| g >= 0.0));
}

#[test]
fn poisson_schedules_are_seeded() {
    let offsets = |seed| {
        let mut s = Schedule::new(5.0, Arrivals::Poisson { seed });
        (0..5).map(|_| s.next_offset()).collect::<Vec<_>>()
    };
    assert_eq!(offsets(1), offsets(1));
    assert_ne!(offsets(1), offsets(2));
}

#[test]
fn sweeps_parse_and_bad_parts_are_named() {
    assert_eq!(
        parse_concurrencies("1, 4,16").unwrap(),
        [1, 4, 16].map(|concurrency| Load::Closed { concurrency })
    );
    let rates = parse_rates("5,2.5", Arrivals::Even).unwrap();
    assert_eq!(
        rates[1],
        Load::Open {
            rate: 2.5,
            arrivals: Arrivals::Even
        }
    );
    assert_eq!(rates[1].label(), "rate 2.5/s");
    assert_eq!(
        parse_rates("10", Arrivals::Poisson { seed: 1 }).unwrap()[0].label(),
        "rate 10/s poisson"
    );
    assert!(parse_concurrencies("0").unwrap_err().contains("at least 1"));
    assert!(parse_concurrencies("99999999999")
        .unwrap_err()
        .contains("more than the 100000"));
    assert!(parse_concurrencies("4,x")
        .unwrap_err()
        .contains("`x` is not a whole number"));
    assert!(parse_concurrencies("4,,8").unwrap_err().contains("empty concurrency"));
    assert!(parse_rates("-1", Arrivals::Even)
        .unwrap_err()
        .contains("must be above 0"));
    assert!(parse_rates("fast", Arrivals::Even)
        .unwrap_err()
        .contains("`fast` is not a number"));
}

#[tokio::test]
async fn open_pacer_hands_out_rate_times_duration_tickets_on_time() {
    let start = Instant::now();
    let mut pacer = Pacer::new(
        Load::Open {
            rate: 200.0,
            arrivals: Arrivals::Even,
        },
        100,
        start,
    );
    let deadline = start + Duration::from_millis(250);
    let stop = CancellationToken::new();
    let mut tickets = Vec::new();
    while let Some(ticket) = pacer.next(Some(deadline), &stop).await {
        assert!(Instant::now() >= ticket.due, "never early");
        tickets.push(ticket);
    }
    assert_eq!(tickets.len(), 50, "requests due in [0, 250ms) at 200/s");
    assert_eq!(tickets[10].due - start, Duration::from_millis(50));
}

#[tokio::test]
async fn closed_pacer_waits_for_a_free_slot() {
    let start = Instant::now();
    let mut pacer = Pacer::new(Load::Closed { concurrency: 2 }, 100, start);
    let stop = CancellationToken::new();
    let a = pacer.next(None, &stop).await.expect("first slot");
    let _b = pacer.next(None, &stop).await.expect("second slot");
    let third = tokio::time::timeout(Duration::from_millis(50), pacer.next(None, &stop)).await;
    assert!(third.is_err(), "both slots are taken");
    drop(a);
    let c = tokio::time::timeout(Duration::from_secs(5), pacer.next(None, &stop))
        .await
        .expect("a slot came free")
        .expect("ticket");
    assert!(c.due >= start);
    stop.cancel();
    assert!(pacer.next(None, &stop).await.is_none(), "stopped");
}
