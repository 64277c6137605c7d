//! The spare wake block: the last small block freed on a thread serves the
//! next gather there (`src/waker/spare.rs`). Whatever the gather before it
//! left in the block (a drain paused part-way, marks no drain took, a
//! parent waker closed), the next gather starts clean: each child polled
//! once per wake of its own, and every wake reaching the new task.
//!
//! Each test runs on a thread of its own (the test harness's), so the
//! spare it sees is the one its own first gather leaves.
#![cfg(feature = "std")]

mod support;

use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures::Stream;
use safe_gather::safe_gather;
use support::{Board, Parent, Plan};

/// Polls `stream` once with `parent`'s waker.
fn next<S: Stream + ?Sized>(parent: &Parent, stream: Pin<&mut S>) -> Poll<Option<S::Item>> {
    stream.poll_next(&mut Context::from_waker(parent.waker()))
}

/// Leaves the thread a spare block with every kind of leftover state: an
/// unordered gather of three children, all woken, handing out the first
/// and dropped with the drain paused on the other two; then a late wake of
/// one of them, a mark that no drain will take.
fn leave_a_dirty_spare() {
    let board = Board::new();
    let parent = Parent::new();
    let late = {
        let mut stream = pin!(safe_gather(board.children(3, Plan::Wait)).unordered());
        assert!(next(&parent, stream.as_mut()).is_pending());
        for id in 0..3 {
            board.set_quietly(id, Ok(id as u32));
            board.wake(id);
        }
        // The drain hands out child 0 and pauses with 1 and 2 still ahead.
        match next(&parent, stream.as_mut()) {
            Poll::Ready(Some(Ok((0, output)))) => assert_eq!(output.value, 0),
            other => panic!("expected child 0 first, got {other:?}"),
        }
        assert_eq!(board.polls(1), 1, "the drain paused before child 1");
        board.waker(2)
    };
    // The gather is gone: a late wake marks the block and wakes nobody.
    let wakes = parent.wakes();
    late.wake();
    assert_eq!(parent.wakes(), wakes, "the late wake reached no task");
    // The last waker goes with the board: the block is freed, and kept.
    drop(board);
}

#[test]
fn a_gather_given_a_dirty_spare_polls_only_the_children_woken_since() {
    leave_a_dirty_spare();
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(3, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 1, 1]);
    // Nothing woken: a poll now polls nobody (the paused drain and the late
    // mark were the old gather's).
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [1, 1, 1],
        "a leftover of the old gather was polled"
    );
    // A wake reaches the new task, and re-polls only its child.
    board.open(1, Ok(10));
    assert_eq!(parent.wakes(), 1, "the new gather's task was woken");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 2, 1]);
    board.open(0, Ok(0));
    board.open(2, Ok(20));
    assert_eq!(
        parent.wakes(),
        2,
        "one task wake for the two marks before a poll"
    );
    match parent.poll(gather.as_mut()) {
        Poll::Ready(Ok(outputs)) => assert_eq!(support::values(&outputs), [0, 10, 20]),
        other => panic!("expected the outputs, got {other:?}"),
    }
    assert_eq!(board.all_polls(), [2, 2, 2]);
    drop(board);
    assert_eq!(
        parent.waker_clones(),
        0,
        "the spare holds no waker of the task"
    );
}

#[test]
fn a_spare_serves_gathers_one_after_another_each_woken_through_its_own_waker() {
    for round in 0..4u32 {
        let board = Board::new();
        let parent = Parent::new();
        let mut gather = pin!(safe_gather(board.children(2, Plan::Wait)));
        assert!(parent.poll(gather.as_mut()).is_pending());
        board.open(1, Ok(round));
        board.open(0, Ok(round + 1));
        assert_eq!(parent.wakes(), 1, "round {round}");
        match parent.poll(gather.as_mut()) {
            Poll::Ready(Ok(outputs)) => {
                assert_eq!(support::values(&outputs), [round + 1, round]);
            }
            other => panic!("round {round}: expected the outputs, got {other:?}"),
        }
        assert_eq!(board.all_polls(), [2, 2], "round {round}");
    }
}
