//! Deadlines (SPEC §3, rule 4), on a manual clock: lazy start, children
//! before the deadline, zero, huge durations, exact counts.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{Board, ManualTimer, Parent, Plan};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn deadline_starts_at_first_poll_not_at_construction() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let gather = safe_gather(board.children(2, Plan::Wait)).timeout_with(timer.clone(), SECOND);
    // Time passing before the first poll does not count.
    timer.advance(SECOND * 5);
    assert_eq!(
        timer.sleeps_made(),
        0,
        "a sleep was made before the first poll"
    );
    assert_eq!(board.total_polls(), 0, "a child ran before the first poll");
    let mut gather = pin!(gather);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(timer.requested(), [SECOND]);
    timer.advance(SECOND / 2);
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(SECOND / 2);
    let result = parent.poll(gather.as_mut());
    assert!(matches!(
        result,
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 0,
            pending: 2
        }))
    ));
}

#[test]
fn timeout_reports_exact_counts_and_drops_everything() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(8, Plan::Wait)).timeout_with(timer.clone(), SECOND));
    assert!(parent.poll(gather.as_mut()).is_pending());
    for id in [1, 4, 6] {
        board.open(id, Ok(id as u32));
    }
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(SECOND);
    let result = parent.poll(gather.as_mut());
    // Dropped inside that poll: children, collected outputs, the sleep.
    board.assert_all_dropped();
    for id in [1, 4, 6] {
        assert_eq!(board.output_drops(id), 1);
    }
    assert_eq!(timer.sleeps_alive(), 0);
    let Poll::Ready(Err(error)) = result else {
        panic!("expected a timeout, got {result:?}")
    };
    assert_eq!(
        error,
        GatherError::TimedOut {
            completed: 3,
            pending: 5
        }
    );
    assert_eq!(error.to_string(), "timed out with 5 of 8 children pending");
}

#[test]
fn children_are_polled_before_the_deadline() {
    // A child that finishes in the same poll in which the deadline passes
    // counts: the gather succeeds.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(2, Plan::Wait)).timeout_with(timer.clone(), SECOND));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(1));
    board.open(1, Ok(2));
    timer.advance(SECOND);
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("the deadline won over finished children")
    };
    assert_eq!(support::values(&outputs), [1, 2]);
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn zero_timeout_polls_children_once_then_times_out() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(
        safe_gather(board.children(3, Plan::Wait)).timeout_with(timer.clone(), Duration::ZERO)
    );
    let result = parent.poll(gather.as_mut());
    assert!(matches!(
        result,
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 0,
            pending: 3
        }))
    ));
    assert_eq!(board.all_polls(), [1, 1, 1]);
    board.assert_all_dropped();
    assert_eq!(timer.sleeps_made(), 0, "a zero deadline needs no sleep");
}

#[test]
fn zero_timeout_succeeds_when_every_child_is_ready_at_once() {
    let board = Board::new();
    let gather = safe_gather(vec![board.child(Plan::Ready(Ok(4)))])
        .timeout_with(ManualTimer::new(), Duration::ZERO);
    let outputs = futures::executor::block_on(gather).unwrap();
    assert_eq!(support::values(&outputs), [4]);
}

#[test]
fn duration_max_means_never_and_does_not_panic() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    // With the clock past zero, `now + Duration::MAX` overflows: the timer
    // must read that as "never", and the gather must pass it through.
    timer.advance(SECOND);
    let mut gather =
        pin!(safe_gather(board.children(1, Plan::Wait)).timeout_with(timer.clone(), Duration::MAX));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(timer.requested(), [Duration::MAX]);
    timer.advance(Duration::MAX);
    assert!(
        parent.poll(gather.as_mut()).is_pending(),
        "Duration::MAX fired"
    );
    board.open(0, Ok(1));
    assert!(matches!(parent.poll(gather.as_mut()), Poll::Ready(Ok(_))));
}

#[test]
#[cfg(feature = "futures-timer")]
fn futures_timer_duration_max_does_not_panic() {
    // The real default timer, with a duration past what `Instant` can hold.
    let board = Board::new();
    let mut gather = Box::pin(safe_gather(board.children(1, Plan::Wait)).timeout(Duration::MAX));
    assert!(support::poll_once(&mut gather).is_pending());
    board.set_quietly(0, Ok(3));
    board.wake(0);
    let result = support::poll_once(&mut gather);
    assert!(matches!(result, Poll::Ready(Ok(ref v)) if v[0] == 3));
}

#[test]
fn empty_gather_succeeds_whatever_the_deadline() {
    let timer = ManualTimer::new();
    let result = futures::executor::block_on(
        safe_gather_array::<support::Child, 0>([]).timeout_with(&timer, Duration::ZERO),
    );
    assert!(matches!(result, Ok([])));
    assert_eq!(timer.sleeps_made(), 0);
}

#[test]
fn sleep_deadline_fires_when_the_sleep_completes() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let sleep = safe_gather::Timer::sleep(&timer, SECOND);
    let mut gather = pin!(safe_gather(board.children(2, Plan::Wait)).deadline(sleep));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    let wakes = parent.wakes();
    timer.advance(SECOND);
    assert_eq!(
        parent.wakes(),
        wakes + 1,
        "the sleep's wake did not reach the parent"
    );
    let result = parent.poll(gather.as_mut());
    assert!(matches!(
        result,
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 1,
            pending: 1
        }))
    ));
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn the_sleep_is_dropped_when_the_gather_succeeds() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather(board.children(1, Plan::Wait)).timeout_with(timer.clone(), SECOND));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(timer.sleeps_alive(), 1);
    board.open(0, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert_eq!(
        timer.sleeps_alive(),
        0,
        "the sleep outlived the gather's resolution"
    );
}

#[test]
fn modifiers_chain_in_any_order() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let a = safe_gather(board.children(2, Plan::Ready(Ok(1))))
        .settled()
        .timeout_with(&timer, SECOND)
        .limit(1);
    let b = safe_gather(board.children(2, Plan::Ready(Ok(1))))
        .limit(1)
        .timeout_with(&timer, SECOND)
        .settled();
    let (a, b) = futures::executor::block_on(async { (a.await, b.await) });
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 2);
    assert!(a.iter().chain(&b).all(Result::is_ok));
}

#[test]
fn timer_works_through_references_boxes_and_arcs() {
    let timer = ManualTimer::new();
    let boxed: Box<ManualTimer> = Box::new(timer.clone());
    let shared = std::sync::Arc::new(timer.clone());
    let board = Board::new();
    for result in futures::executor::block_on(async {
        [
            safe_gather(board.children(1, Plan::Ready(Ok(1))))
                .timeout_with(&timer, SECOND)
                .await
                .is_ok(),
            safe_gather(board.children(1, Plan::Ready(Ok(1))))
                .timeout_with(boxed, SECOND)
                .await
                .is_ok(),
            safe_gather(board.children(1, Plan::Ready(Ok(1))))
                .timeout_with(shared, SECOND)
                .await
                .is_ok(),
        ]
    }) {
        assert!(result);
    }
    assert_eq!(timer.sleeps_made(), 3);
    assert_eq!(timer.sleeps_alive(), 0);
}
