//! Regression tests named after soundness bugs of peer crates (and of this
//! one), each reproducing the situation that triggered the bug. They assert
//! drop counts; under Miri (`.ci/run`) they also check that no memory is
//! read uninitialised, freed twice or leaked.
//!
//! Elsewhere: futures-concurrency #182 and #188 (pinned children moved) are
//! `fc182_pinned_child_never_moves` and `fc188_pinned_child_dropped_in_place`
//! in `tests/cancellation.rs`; the lost wake-ups loom found are models in
//! `loom-test/`.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{panic_message, Board, Parent, Plan};

/// An output that owns heap memory and counts its drops: dropping one that
/// was never written would free a garbage pointer (caught by Miri), and
/// dropping one twice shows in the count.
struct Owned {
    bytes: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            self.bytes, b"written",
            "dropped an output that was never written"
        );
    }
}

/// Ready with an `Owned` or an error at once, or pending forever.
enum Job {
    Succeed(Arc<AtomicUsize>),
    Fail,
    Hang,
}

impl Future for Job {
    type Output = Result<Owned, &'static str>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match &*self {
            Job::Succeed(drops) => Poll::Ready(Ok(Owned {
                bytes: b"written".to_vec(),
                drops: drops.clone(),
            })),
            Job::Fail => Poll::Ready(Err("failed")),
            Job::Hang => Poll::Pending,
        }
    }
}

#[test]
fn fc155_error_with_a_sibling_pending_drops_only_written_outputs() {
    // futures-concurrency #155: on `Err` a slot was marked done without an
    // output, and the drop then freed uninitialised memory. Here: one output
    // written, one child failing, one still pending, in every gather kind.
    let drops = Arc::new(AtomicUsize::new(0));
    let jobs = || [Job::Succeed(drops.clone()), Job::Fail, Job::Hang];

    let parent = Parent::new();
    let mut vec_gather = Box::pin(safe_gather(jobs()));
    let result = parent.poll(vec_gather.as_mut());
    assert!(matches!(
        result,
        Poll::Ready(Err(GatherError::Failed {
            index: 1,
            error: "failed"
        }))
    ));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the written output was dropped once, before returning"
    );
    drop(vec_gather);

    let mut array_gather = Box::pin(safe_gather_array(jobs()));
    assert!(parent.poll(array_gather.as_mut()).is_ready());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(array_gather);

    let [a, b, c] = jobs();
    let mut tuple_gather = Box::pin(safe_gather::safe_gather!(a, b, c));
    assert!(parent.poll(tuple_gather.as_mut()).is_ready());
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    drop(tuple_gather);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "an output was dropped twice"
    );
}

#[test]
fn fc155_settled_gather_dropped_early_drops_only_written_outputs() {
    let drops = Arc::new(AtomicUsize::new(0));
    let parent = Parent::new();
    let mut gather =
        Box::pin(safe_gather([Job::Succeed(drops.clone()), Job::Fail, Job::Hang]).settled());
    assert!(parent.poll(gather.as_mut()).is_pending());
    drop(gather);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn fr2863_woken_child_whose_drop_panics_leaves_no_dangling_wake_state() {
    // futures-rs #2863: a task already queued to run was released while its
    // future's `Drop` panicked, freeing it while still linked. Here a child
    // has been woken (its mark is set, its waker clone alive elsewhere) when
    // its `Drop` panics inside the gather's drop; every other child must
    // still be dropped once, and the kept waker must stay safe to use.
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(4, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let kept: Waker = board.waker(1);
    kept.wake_by_ref();
    board.make_drop_panic(1);
    let message = panic_message(move || drop(gather));
    assert_eq!(message, "child 1 panics in drop on purpose");
    board.assert_all_dropped();
    // The woken child's waker outlives it all, and still works (it does nothing).
    kept.wake_by_ref();
    kept.wake();
}

#[test]
fn fr2863_woken_child_whose_drop_panics_during_fail_fast() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(4, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.wake(2);
    board.make_drop_panic(2);
    board.open(0, Err(0));
    let message = panic_message(|| drop(parent.poll(gather.as_mut())));
    assert_eq!(message, "child 2 panics in drop on purpose");
    drop(gather);
    board.assert_all_dropped();
}

/// A task waker whose `wake` panics.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("the task's waker panics");
    }
}

#[test]
fn consumed_child_waker_is_released_when_the_task_waker_panics() {
    // Found by Miri in this crate: `Waker::wake` forgets the waker before
    // calling into it, so when waking the task panicked, the child waker's
    // reference to the shared block was never given back (a leak Miri
    // reports at exit).
    let board = Board::new();
    let mut gather = Box::pin(safe_gather(board.children(1, Plan::Wait)));
    let bad = Waker::from(Arc::new(PanickingWaker));
    assert!(gather
        .as_mut()
        .poll(&mut Context::from_waker(&bad))
        .is_pending());
    let message = panic_message(|| board.waker(0).wake());
    assert_eq!(message, "the task's waker panics");
    drop(gather);
    board.assert_all_dropped();
}
