use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{pump, slots, Source};
use crate::load::{Arrivals, Load, Pacer};

/// Numbers 0..n, then nothing.
struct Count {
    next: u64,
    end: u64,
}

impl Source for Count {
    type Work = u64;

    async fn next_work(&mut self) -> Option<u64> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.next - 1
        })
    }
}

/// Never yields (a pipe that sends nothing) until stopped.
struct Silent(CancellationToken);

impl Source for Silent {
    type Work = u64;

    async fn next_work(&mut self) -> Option<u64> {
        self.0.cancelled().await;
        None
    }
}

/// Launches each piece of work as a task that holds its ticket for `busy`, and notes it.
fn launcher(
    busy: Duration,
    seen: Arc<Mutex<Vec<(u64, Instant)>>>,
) -> impl FnMut(u64, crate::load::Ticket) -> ControlFlow<()> {
    move |work, ticket| {
        seen.lock().unwrap().push((work, ticket.due));
        tokio::spawn(async move {
            tokio::time::sleep(busy).await;
            drop(ticket.permit);
        });
        ControlFlow::Continue(())
    }
}

#[tokio::test(start_paused = true)]
async fn closed_loop_sends_every_item_once_with_at_most_n_in_flight() {
    let start = Instant::now();
    let mut pacer = Pacer::new(Load::Closed { concurrency: 4 }, 100, start);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let mut source = Count { next: 0, end: 10 };
    pump(
        &mut source,
        &mut pacer,
        None,
        &stop,
        launcher(Duration::from_secs(1), seen.clone()),
    )
    .await;
    pacer.drain().await;
    let seen = seen.lock().unwrap();
    let items: Vec<u64> = seen.iter().map(|(w, _)| *w).collect();
    assert_eq!(items, (0..10).collect::<Vec<_>>());
    // 4 in flight: items 4..8 start when the first four end, 8 and 9 a second later.
    let starts: Vec<u64> = seen.iter().map(|(_, due)| (*due - start).as_secs()).collect();
    assert_eq!(starts, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
}

#[tokio::test(start_paused = true)]
async fn open_loop_sends_on_schedule_until_the_deadline() {
    let start = Instant::now();
    let load = Load::Open {
        rate: 10.0,
        arrivals: Arrivals::Even,
    };
    let mut pacer = Pacer::new(load, 100, start);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let mut source = Count { next: 0, end: u64::MAX };
    let deadline = start + Duration::from_secs(1);
    pump(
        &mut source,
        &mut pacer,
        Some(deadline),
        &stop,
        launcher(Duration::from_secs(5), seen.clone()),
    )
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10, "10/s for 1 s, however slow the answers");
    for (i, (_, due)) in seen.iter().enumerate() {
        assert_eq!((*due - start).as_millis(), i as u128 * 100);
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_a_source_that_blocks() {
    let mut pacer = Pacer::new(Load::Closed { concurrency: 2 }, 100, Instant::now());
    let stop = CancellationToken::new();
    let later = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        later.cancel();
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    pump(
        &mut Silent(stop.clone()),
        &mut pacer,
        None,
        &stop,
        launcher(Duration::ZERO, seen.clone()),
    )
    .await;
    assert!(seen.lock().unwrap().is_empty());
    // The ticket taken for the work that never came is back.
    tokio::time::timeout(Duration::from_secs(1), pacer.drain())
        .await
        .expect("every slot back");
}

#[tokio::test(start_paused = true)]
async fn launch_can_end_the_pump() {
    let mut pacer = Pacer::new(Load::Closed { concurrency: 8 }, 100, Instant::now());
    let stop = CancellationToken::new();
    let mut source = Count { next: 0, end: 100 };
    let mut launched = 0;
    pump(&mut source, &mut pacer, None, &stop, |_, _ticket| {
        launched += 1;
        if launched == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await;
    assert_eq!(launched, 3);
    assert_eq!(source.next, 3, "no work taken after the break");
}

#[tokio::test(start_paused = true)]
async fn drain_within_abandons_requests_after_the_timeout() {
    let pacer = Pacer::new(Load::Closed { concurrency: 2 }, 100, Instant::now());
    let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
    let mut ticket_pacer = pacer;
    let ticket = ticket_pacer.next(None, &stop).await.expect("a ticket");
    let task_abandon = abandon.clone();
    // A request that would take an hour, but gives up when abandoned.
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = task_abandon.cancelled() => {}
        }
        drop(ticket.permit);
    });
    stop.cancel();
    let began = Instant::now();
    ticket_pacer
        .drain_within(Duration::from_secs(30), &stop, &abandon)
        .await;
    assert!(abandon.is_cancelled());
    assert_eq!(began.elapsed().as_secs(), 30);
}

#[tokio::test(start_paused = true)]
async fn drain_within_returns_as_soon_as_every_request_reported() {
    let mut pacer = Pacer::new(Load::Closed { concurrency: 2 }, 100, Instant::now());
    let (stop, abandon) = (CancellationToken::new(), CancellationToken::new());
    let ticket = pacer.next(None, &stop).await.expect("a ticket");
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(ticket.permit);
    });
    let began = Instant::now();
    pacer.drain_within(Duration::from_secs(30), &stop, &abandon).await;
    assert!(!abandon.is_cancelled());
    assert_eq!(began.elapsed().as_secs(), 2);
}

#[tokio::test(start_paused = true)]
async fn slots_start_one_task_per_slot_and_drain_waits_for_them() {
    let start = Instant::now();
    let mut pacer = Pacer::new(Load::Closed { concurrency: 3 }, 100, start);
    let stop = CancellationToken::new();
    let source = Arc::new(tokio::sync::Mutex::new(Count { next: 0, end: 9 }));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tasks = Arc::new(Mutex::new(0));
    slots(&mut pacer, None, &stop, |ticket| {
        *tasks.lock().unwrap() += 1;
        let (source, seen) = (source.clone(), seen.clone());
        async move {
            // Each slot takes its next item once its last is done: 9 items of 1 s on 3 slots.
            loop {
                // The source is locked for the draw only (a `while let` would hold the guard
                // through the body and make the slots take turns).
                let Some(work) = source.lock().await.next_work().await else {
                    break;
                };
                seen.lock().unwrap().push((work, (Instant::now() - start).as_secs()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            drop(ticket.permit);
        }
    })
    .await;
    assert_eq!(*tasks.lock().unwrap(), 3, "one task per slot");
    pacer.drain().await;
    assert_eq!(Instant::now() - start, Duration::from_secs(3));
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let starts: Vec<u64> = seen.iter().map(|&(_, at)| at).collect();
    assert_eq!(starts, [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    assert_eq!(
        seen.iter().map(|&(w, _)| w).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn slots_start_none_after_a_stop() {
    let mut pacer = Pacer::new(Load::Closed { concurrency: 3 }, 100, Instant::now());
    let stop = CancellationToken::new();
    stop.cancel();
    let mut started = 0;
    slots(&mut pacer, None, &stop, |ticket| {
        started += 1;
        async move { drop(ticket) }
    })
    .await;
    assert_eq!(started, 0);
}
