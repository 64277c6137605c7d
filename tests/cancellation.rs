//! Cancellation is drop (SPEC §3, rule 5): dropping a gather drops every
//! child and output exactly once, wherever it stands; pinned children never
//! move, and each is dropped where it was polled.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;

use safe_gather::{safe_gather, safe_gather_array};
use support::{Board, Parent, Plan};

#[test]
fn dropping_the_gather_drops_every_child_and_output_once() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(10, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    for id in [2, 5, 9] {
        board.open(id, Ok(id as u32));
    }
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.output_drops(5), 0);
    drop(gather);
    board.assert_all_dropped();
    for id in [2, 5, 9] {
        assert_eq!(board.output_drops(id), 1, "output {id} leaked");
    }
}

#[test]
fn dropping_an_unpolled_gather_drops_every_child_unpolled() {
    let board = Board::new();
    drop(safe_gather(board.children(5, Plan::Wait)));
    board.assert_all_dropped();
    assert_eq!(board.total_polls(), 0);

    let [a, b] = [board.child(Plan::Wait), board.child(Plan::Wait)];
    drop(safe_gather_array([a, b]).settled());
    let (a, b) = (board.child(Plan::Wait), board.child(Plan::Wait));
    drop(safe_gather::safe_gather!(a, b));
    board.assert_all_dropped();
}

#[test]
fn dropping_array_and_tuple_gathers_drops_every_child_and_output_once() {
    let board = Board::new();
    let parent = Parent::new();
    {
        let children: [_; 4] = std::array::from_fn(|_| board.child(Plan::Wait));
        let mut gather = pin!(safe_gather_array(children).settled());
        assert!(parent.poll(gather.as_mut()).is_pending());
        board.open(1, Ok(1));
        board.open(3, Err(3));
        assert!(parent.poll(gather.as_mut()).is_pending());
    }
    board.assert_all_dropped();
    assert_eq!(board.output_drops(1), 1);

    let board = Board::new();
    {
        let (a, b, c) = (
            board.child(Plan::Wait),
            board.child(Plan::Wait),
            board.child(Plan::Wait),
        );
        let mut gather = pin!(safe_gather::safe_gather!(a, b, c));
        assert!(parent.poll(gather.as_mut()).is_pending());
        board.open(0, Ok(0));
        assert!(parent.poll(gather.as_mut()).is_pending());
    }
    board.assert_all_dropped();
    assert_eq!(board.output_drops(0), 1);
}

#[test]
fn a_child_is_dropped_as_soon_as_it_finishes() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(3, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_drops(),
        [0, 1, 0],
        "a finished child held on to its resources"
    );
    assert_eq!(board.output_drops(1), 0, "its output must be kept");
}

#[test]
fn fc182_pinned_child_never_moves() {
    // futures-concurrency #182: storage that grows moves pinned futures.
    // Children check their address at every poll and at drop, here while a
    // limit refills slots and the (`Unpin`) gather itself moves between polls.
    let n = if cfg!(miri) { 50 } else { 1000 };
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = safe_gather(board.children(n, Plan::Wait)).limit(10);
    let mut next = 0;
    let outputs = loop {
        if let std::task::Poll::Ready(result) = parent.poll(std::pin::Pin::new(&mut gather)) {
            break result.expect("all succeed");
        }
        // Finish the oldest started child; move the gather.
        board.open(next, Ok(next as u32));
        next += 1;
        gather = *Box::new(gather);
    };
    assert_eq!(outputs.len(), n);
    assert_eq!(board.total_polls(), 2 * n);
    board.assert_all_dropped();
}

#[test]
fn fc188_pinned_child_dropped_in_place() {
    // futures-concurrency #188: pinned futures moved before being dropped.
    // `Board` compares each child's drop address with its poll address.
    for plan in [Plan::Wait, Plan::Ready(Ok(1)), Plan::Ready(Err(1))] {
        let board = Board::new();
        let parent = Parent::new();
        let mut gather = Box::pin(safe_gather_array::<_, 8>(std::array::from_fn(|_| {
            board.child(plan)
        })));
        let _ = parent.poll(gather.as_mut());
        drop(gather);
        board.assert_all_dropped();
    }
}

/// Pends, keeping its waker, and wakes it when dropped, as a child that
/// signals "cancelled" through a channel might.
struct WakesOnDrop(Option<std::task::Waker>);

impl std::future::Future for WakesOnDrop {
    type Output = Result<(), ()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0 = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

impl Drop for WakesOnDrop {
    fn drop(&mut self) {
        if let Some(waker) = self.0.take() {
            waker.wake();
        }
    }
}

#[test]
fn a_dropped_gather_does_not_wake_its_task_from_its_childrens_drops() {
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(vec![WakesOnDrop(None), WakesOnDrop(None)]));
    assert!(parent.poll(gather.as_mut()).is_pending());
    drop(gather);
    assert_eq!(
        parent.wakes(),
        0,
        "a cancelled gather woke the task that dropped it"
    );

    let mut gather = Box::pin(safe_gather_array([WakesOnDrop(None), WakesOnDrop(None)]).settled());
    assert!(parent.poll(gather.as_mut()).is_pending());
    drop(gather);
    assert_eq!(parent.wakes(), 0);
}

#[test]
fn a_resolving_gather_does_not_wake_its_task_from_the_children_it_drops() {
    use futures::future::{ready, Either};
    use std::time::Duration;
    use support::ManualTimer;

    let wakes_on_drop = || Either::Left(WakesOnDrop(None));
    let parent = Parent::new();

    // Fail-fast: the failing child's siblings are dropped inside the poll.
    let mut gather = Box::pin(safe_gather(vec![
        wakes_on_drop(),
        Either::Right(ready(Err(()))),
        wakes_on_drop(),
    ]));
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert_eq!(parent.wakes(), 0, "the fail-fast drop woke the task");

    // A timeout drops every child still running.
    let timer = ManualTimer::new();
    let mut gather = Box::pin(
        safe_gather_array([WakesOnDrop(None), WakesOnDrop(None)])
            .timeout_with(timer.clone(), Duration::ZERO),
    );
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert_eq!(parent.wakes(), 0, "the timeout's drop woke the task");

    // So does a settled gather's deadline.
    let mut gather = Box::pin(
        safe_gather(vec![WakesOnDrop(None), WakesOnDrop(None)])
            .settled()
            .timeout_with(timer, Duration::ZERO),
    );
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert_eq!(
        parent.wakes(),
        0,
        "the settled deadline's drop woke the task"
    );
}
