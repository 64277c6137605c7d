//! Without `alloc` there are no per-child wakers ("poll-all", the module docs
//! of `src/waker/mod.rs`): every child is polled with the task's own waker,
//! and every gather poll polls each child still running, once, in input
//! order. A round stopped early (a spent budget, a child handed out by
//! `.unordered()`) goes on at the next poll from the first child it did not
//! reach, and asks for that poll itself; a round that ran to its end asks for
//! nothing, so a gather waiting on its children never wakes its own task.
//!
//! With `alloc` a poll visits only the woken children, so these exact traces
//! hold only in the build without it (`cargo test --no-default-features`).
#![cfg(not(feature = "alloc"))]

mod support;

use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures::Stream;
use safe_gather::safe_gather_array;
use support::{values, Board, Parent, Plan};

/// Polls `stream` once with `parent`'s waker.
fn poll_next<S: Stream + Unpin>(parent: &Parent, stream: &mut S) -> Poll<Option<S::Item>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(parent.waker()))
}

#[test]
fn every_poll_polls_each_running_child_once_in_input_order() {
    let board = Board::new();
    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array(children));

    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    // Nothing woke it, and a poll anyway polls everyone again.
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    assert_eq!(
        parent.wakes(),
        0,
        "a gather waiting on its children never wakes itself"
    );

    // A child's waker is the task's own.
    board.open(1, Ok(10));
    assert_eq!(parent.wakes(), 1);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    // A finished child is not polled again.
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 2]);

    board.open(0, Ok(1));
    board.open(2, Ok(3));
    assert_eq!(parent.wakes(), 3);
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(board.take_log(), [0, 2]);
    assert_eq!(values(&outputs), [1, 10, 3]);
    assert_eq!(parent.wakes(), 3, "resolving wakes nothing");
    drop(outputs);
    // The gather let go of every child by the time it resolved.
    board.assert_all_dropped();
}

#[test]
fn a_spent_budget_goes_on_from_the_first_child_not_polled_and_asks_for_that_poll() {
    let board = Board::new();
    let children: [_; 5] = std::array::from_fn(|_| board.child(Plan::Wait));
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array(children).poll_budget(2));
    let mut poll = |times: usize| {
        (0..times)
            .map(|_| {
                assert!(parent.poll(gather.as_mut()).is_pending());
                (board.take_log(), parent.wakes())
            })
            .collect::<Vec<_>>()
    };

    // Each poll stops after two child polls, or ends a round begun at an
    // earlier poll: either way it wakes the task once.
    assert_eq!(
        poll(7),
        [
            // First polls, two at a time.
            (vec![0, 1], 1),
            (vec![2, 3], 2),
            (vec![4], 3),
            // Then each round polls everyone again, two per gather poll.
            (vec![0, 1], 4),
            (vec![2, 3], 5),
            (vec![4], 6),
            (vec![0, 1], 7),
        ]
    );

    // Children 0 and 1 finish at their next polls, after which they cost
    // the budget nothing.
    board.set_quietly(0, Ok(0));
    board.set_quietly(1, Ok(1));
    assert_eq!(
        poll(7),
        [
            (vec![2, 3], 8),
            (vec![4], 9),
            (vec![0, 1], 10),
            (vec![2, 3], 11),
            (vec![4], 12),
            (vec![2, 3], 13),
            (vec![4], 14),
        ]
    );
    board.assert_sound();
}

#[test]
fn after_a_child_is_handed_out_the_next_poll_goes_on_from_the_child_after_it() {
    let board = Board::new();
    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let parent = Parent::new();
    let mut landed = safe_gather_array(children).unordered();

    assert!(poll_next(&parent, &mut landed).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    assert_eq!(parent.wakes(), 0);

    // The round stops at child 0 to hand it out, without waking the task.
    board.set_quietly(0, Ok(5));
    let Poll::Ready(Some(Ok((0, first)))) = poll_next(&parent, &mut landed) else {
        panic!("child 0 is handed out");
    };
    assert_eq!(first.value, 5);
    assert_eq!(board.take_log(), [0]);
    assert_eq!(parent.wakes(), 0);

    // The next poll finishes that round, from child 1, and asks for a fresh
    // one; the fresh one polls both children left, and asks for nothing.
    assert!(poll_next(&parent, &mut landed).is_pending());
    assert_eq!((board.take_log(), parent.wakes()), (vec![1, 2], 1));
    assert!(poll_next(&parent, &mut landed).is_pending());
    assert_eq!((board.take_log(), parent.wakes()), (vec![1, 2], 1));

    // Child 2, the last slot, lands; what is left of its round is empty,
    // and the poll that finds so asks for a fresh round, which hands out 1.
    board.open(2, Ok(7));
    assert_eq!(parent.wakes(), 2);
    let Poll::Ready(Some(Ok((2, second)))) = poll_next(&parent, &mut landed) else {
        panic!("child 2 next");
    };
    assert_eq!(second.value, 7);
    assert_eq!(board.take_log(), [1, 2]);
    assert!(poll_next(&parent, &mut landed).is_pending());
    assert_eq!((board.take_log(), parent.wakes()), (vec![], 3));

    board.open(1, Ok(6));
    let Poll::Ready(Some(Ok((1, third)))) = poll_next(&parent, &mut landed) else {
        panic!("child 1 last");
    };
    assert_eq!(third.value, 6);
    assert_eq!(board.take_log(), [1]);
    assert!(matches!(poll_next(&parent, &mut landed), Poll::Ready(None)));
    assert_eq!(parent.wakes(), 4, "only child 1's own wake since");
    drop((first, second, third));
    drop(landed);
    board.assert_all_dropped();
    assert_eq!(
        (0..3).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}
