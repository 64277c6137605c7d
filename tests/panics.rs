//! Panics (SPEC §3, rules 6–7): a child's panic propagates, siblings are
//! dropped exactly once (also past a panicking `Drop`), and a gather that
//! finished or panicked refuses, loudly, to be polled again.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};

use futures::future::FusedFuture;
use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{panic_message, Board, Parent, Plan};

#[test]
fn child_panic_propagates_and_every_sibling_is_dropped_once() {
    let board = Board::new();
    let parent = Parent::new();
    let children = vec![
        board.child(Plan::Wait),
        board.child(Plan::Panic),
        board.child(Plan::Wait),
    ];
    let mut gather = Box::pin(safe_gather(children));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "child 1 panics on purpose");
    assert!(
        gather.is_terminated(),
        "a poisoned gather must report itself terminated"
    );
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn child_panic_in_array_and_tuple_gathers_drops_everything_once() {
    let board = Board::new();
    let parent = Parent::new();
    let [a, b, c] = [Plan::Wait, Plan::Wait, Plan::Panic].map(|plan| board.child(plan));
    let mut gather = Box::pin(safe_gather_array([a, b, c]));
    panic_message(|| drop(parent.poll(gather.as_mut())));
    drop(gather);
    board.assert_all_dropped();

    let board = Board::new();
    let (a, b) = (board.child(Plan::Panic), board.child(Plan::Wait));
    let mut gather = Box::pin(safe_gather::safe_gather!(a, b).settled());
    panic_message(|| drop(parent.poll(gather.as_mut())));
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn polling_after_a_child_panicked_panics_with_a_clear_message() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(vec![
        board.child(Plan::Panic),
        board.child(Plan::Wait),
    ]));
    panic_message(|| drop(parent.poll(gather.as_mut())));
    let message = panic_message(|| drop(parent.poll(gather.as_mut())));
    assert_eq!(
        message,
        "`SafeGather` polled after a panic in an earlier poll"
    );
    // The sibling was polled once, before the panic, and never touched again.
    assert_eq!(board.all_polls(), [1, 0]);
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn sibling_drop_panic_during_fail_fast_still_drops_every_child_once() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(5, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(4, Ok(4));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.make_drop_panic(2);
    board.open(0, Err(0));
    let message = panic_message(|| drop(parent.poll(gather.as_mut())));
    assert_eq!(message, "child 2 panics in drop on purpose");
    // The drop went on past the panicking sibling, in that same poll.
    assert_eq!(board.all_drops(), [1; 5]);
    assert_eq!(board.output_drops(4), 1);
    assert!(gather.is_terminated());
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn sibling_drop_panic_during_array_fail_fast_still_drops_every_child_once() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 4] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut gather = Box::pin(safe_gather_array(children));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.make_drop_panic(1);
    board.make_drop_panic(3);
    board.open(2, Err(2));
    // Two `Drop`s panic: the first unwinds, the second is suppressed by the
    // test child (it checks `std::thread::panicking`), as a well-behaved
    // `Drop` must be to avoid an abort.
    let message = panic_message(|| drop(parent.poll(gather.as_mut())));
    assert_eq!(message, "child 1 panics in drop on purpose");
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn polling_after_completion_panics_with_a_clear_message() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(vec![board.child(Plan::Ready(Ok(1)))]));
    assert!(!gather.is_terminated());
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert!(gather.is_terminated());
    let message = panic_message(|| drop(parent.poll(gather.as_mut())));
    assert_eq!(message, "`SafeGather` polled after it completed");
    assert_eq!(board.all_polls(), [1]);
}

#[test]
fn polling_after_failure_or_timeout_panics_too() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(vec![board.child(Plan::Ready(Err(1)))]));
    assert!(matches!(
        parent.poll(gather.as_mut()),
        Poll::Ready(Err(GatherError::Failed { .. }))
    ));
    assert!(gather.is_terminated());
    panic_message(|| drop(parent.poll(gather.as_mut())));

    let mut gather = pin!(safe_gather(vec![board.child(Plan::Wait)])
        .timeout_with(support::ManualTimer::new(), std::time::Duration::ZERO));
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert!(gather.is_terminated());
    panic_message(|| drop(parent.poll(gather.as_mut())));
}

/// A parent waker whose `wake` panics, as a buggy executor's might.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("the executor's waker panics");
    }
}

#[test]
fn a_parent_waker_that_panics_does_not_break_the_gather() {
    let board = Board::new();
    let bad = Waker::from(Arc::new(PanickingWaker));
    let mut gather = Box::pin(safe_gather(board.children(2, Plan::Wait)));
    let mut cx = std::task::Context::from_waker(&bad);
    assert!(gather.as_mut().poll(&mut cx).is_pending());
    // The child's wake reaches the parent waker, which panics in the waking thread.
    assert_eq!(
        panic_message(|| board.open(0, Ok(1))),
        "the executor's waker panics"
    );
    // The mark survived: the next poll, by a sound waker, sees child 0 ready.
    let good = Parent::new();
    assert!(good.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [2, 1]);
    board.open(1, Ok(2));
    assert_eq!(good.wakes(), 1);
    let Poll::Ready(Ok(outputs)) = good.poll(gather.as_mut()) else {
        panic!("not ready")
    };
    assert_eq!(support::values(&outputs), [1, 2]);
}

/// A parent waker that panics at its first wake and counts the others.
struct PanicsOnce(std::sync::atomic::AtomicUsize);

impl Wake for PanicsOnce {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            panic!("the executor's waker panics once");
        }
    }
}

#[test]
fn a_parent_waker_that_panicked_stays_registered_and_is_released_at_the_end() {
    let board = Board::new();
    let task = Arc::new(PanicsOnce(std::sync::atomic::AtomicUsize::new(0)));
    let waker = Waker::from(task.clone());
    let mut gather = Box::pin(safe_gather_array([
        board.child(Plan::Wait),
        board.child(Plan::Wait),
    ]));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(gather.as_mut().poll(&mut cx).is_pending());
    // `task`, `waker`, and the gather's registered clone.
    let held = Arc::strong_count(&task);
    assert_eq!(held, 3);
    assert_eq!(
        panic_message(|| board.open(0, Ok(1))),
        "the executor's waker panics once"
    );
    assert_eq!(
        Arc::strong_count(&task),
        held,
        "the panicking wake neither dropped nor leaked the registered waker"
    );
    assert!(gather.as_mut().poll(&mut cx).is_pending());
    board.open(1, Ok(2));
    assert_eq!(task.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    let Poll::Ready(Ok(outputs)) = gather.as_mut().poll(&mut cx) else {
        panic!("both children are done")
    };
    assert_eq!(support::values(&outputs), [1, 2]);
    assert_eq!(
        Arc::strong_count(&task),
        2,
        "released when the gather resolved"
    );
}
