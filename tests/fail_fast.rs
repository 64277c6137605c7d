//! Fail-fast mode (SPEC §3, rules 1–3): empty input, input order, the first
//! error wins and everything else is dropped inside the poll that sees it.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;
use std::task::Poll;

use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{values, Board, Parent, Plan};

#[test]
fn empty_vec_resolves_ok_at_first_poll() {
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(Vec::<support::Child>::new()));
    match parent.poll(gather.as_mut()) {
        Poll::Ready(Ok(values)) => assert!(values.is_empty()),
        other => panic!("expected Ok(empty) at the first poll, got {other:?}"),
    }
    assert_eq!(parent.wakes(), 0);
}

#[test]
fn empty_array_resolves_ok_at_first_poll() {
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array::<support::Child, 0>([]));
    assert!(matches!(parent.poll(gather.as_mut()), Poll::Ready(Ok([]))));
}

#[test]
fn an_array_gather_is_empty_exactly_when_it_has_no_children() {
    let board = Board::new();
    let one = safe_gather_array([board.child(Plan::Wait)]);
    assert_eq!((one.len(), one.is_empty()), (1, false));
    let none = safe_gather_array::<support::Child, 0>([]);
    assert_eq!((none.len(), none.is_empty()), (0, true));
}

#[test]
fn outputs_come_in_input_order_not_completion_order() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(5, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    for (id, value) in [(3, 30), (0, 0), (4, 40), (1, 10), (2, 20)] {
        board.open(id, Ok(value));
        let poll = parent.poll(gather.as_mut());
        if id != 2 {
            assert!(poll.is_pending(), "resolved before child 2 finished");
        } else {
            let Poll::Ready(Ok(outputs)) = poll else {
                panic!("expected success, got {poll:?}")
            };
            assert_eq!(values(&outputs), [0, 10, 20, 30, 40]);
            assert_eq!(
                outputs.iter().map(|o| o.id).collect::<Vec<_>>(),
                [0, 1, 2, 3, 4]
            );
        }
    }
    board.assert_all_dropped();
}

#[test]
fn all_ready_children_resolve_in_one_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let children: Vec<_> = (0..10)
        .map(|n| board.child(Plan::Ready(Ok(n * 2))))
        .collect();
    let mut gather = pin!(safe_gather(children));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("not ready")
    };
    assert_eq!(values(&outputs), (0..10).map(|n| n * 2).collect::<Vec<_>>());
    assert_eq!(board.all_polls(), vec![1; 10]);
    assert_eq!(parent.wakes(), 0);
}

/// Children `0..n` pend; the ones before `failing` finish first (their
/// outputs are collected); then `failing` fails. In that very poll every
/// other child and every collected output must already be dropped.
fn fail_fast_drops_everything_in_the_failing_poll(n: usize, failing: usize) {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(n, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    for id in 0..failing {
        board.open(id, Ok(id as u32));
    }
    assert!(parent.poll(gather.as_mut()).is_pending());
    for id in 0..failing {
        assert_eq!(
            board.output_drops(id),
            0,
            "output {id} dropped before the failure"
        );
    }
    board.open(failing, Err(7));
    let result = parent.poll(gather.as_mut());
    // Checked before the gather (or the result) is dropped:
    assert_eq!(
        board.all_drops(),
        vec![1; n],
        "n = {n}: every child dropped in the failing poll"
    );
    for id in 0..failing {
        assert_eq!(
            board.output_drops(id),
            1,
            "n = {n}: collected output {id} dropped in the failing poll"
        );
    }
    assert_eq!(
        result,
        Poll::Ready(Err(GatherError::Failed {
            index: failing,
            error: 7
        }))
    );
    assert_eq!(board.all_polls().iter().sum::<usize>(), n + failing + 1);
    board.assert_sound();
}

#[test]
fn fail_fast_drops_every_sibling_and_output_before_returning() {
    // Under Miri the largest size is cut down: the interpreter is slow.
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 2, 30, 31, 64, 130]
    } else {
        &[1, 2, 30, 31, 64, 1000]
    };
    for &n in sizes {
        for failing in [0, n / 2, n - 1] {
            fail_fast_drops_everything_in_the_failing_poll(n, failing);
        }
    }
}

#[test]
fn fail_fast_in_arrays_and_tuples_drops_siblings_before_returning() {
    let board = Board::new();
    let parent = Parent::new();
    let [a, b, c] = [(); 3].map(|_| board.child(Plan::Wait));
    let mut gather = pin!(safe_gather_array([a, b, c]));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(1));
    board.open(1, Err(9));
    let result = parent.poll(gather.as_mut());
    assert_eq!(board.all_drops(), [1, 1, 1]);
    assert_eq!(board.output_drops(0), 1);
    assert_eq!(
        result.map(|r| r.map(|_| ())),
        Poll::Ready(Err(GatherError::Failed { index: 1, error: 9 }))
    );

    let board = Board::new();
    let (a, b, c) = (
        board.child(Plan::Wait),
        board.child(Plan::Wait),
        board.child(Plan::Wait),
    );
    let mut gather = pin!(safe_gather::safe_gather!(a, b, c));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(2, Err(4));
    let result = parent.poll(gather.as_mut());
    assert_eq!(board.all_drops(), [1, 1, 1]);
    assert!(matches!(
        result,
        Poll::Ready(Err(GatherError::Failed { index: 2, error: 4 }))
    ));
}

#[test]
fn lowest_failing_index_wins_within_a_round() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(100, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    // Woken in descending order; polled in ascending order.
    for id in [90, 70, 40, 5] {
        board.open(id, Err(id as u32));
    }
    let result = parent.poll(gather.as_mut());
    assert_eq!(
        result,
        Poll::Ready(Err(GatherError::Failed { index: 5, error: 5 }))
    );
    // Child 5 was the first polled; the other failed children never were again.
    for id in [40, 70, 90] {
        assert_eq!(
            board.polls(id),
            1,
            "child {id} polled after the gather failed"
        );
    }
    board.assert_all_dropped();
}

#[test]
fn first_poll_failure_wins_over_later_indices() {
    let board = Board::new();
    let children = vec![
        board.child(Plan::Ready(Ok(1))),
        board.child(Plan::Ready(Err(2))),
        board.child(Plan::Ready(Err(3))),
        board.child(Plan::Wait),
    ];
    let result = futures::executor::block_on(safe_gather(children));
    assert_eq!(
        result.map(|v| v.len()),
        Err(GatherError::Failed { index: 1, error: 2 })
    );
    // Children after the failure were never polled.
    assert_eq!(board.all_polls(), [1, 1, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn no_child_is_polled_after_the_gather_resolved() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let late_waker = board.waker(3);
    board.open(0, Err(1));
    assert!(parent.poll(gather.as_mut()).is_ready());
    let polls = board.all_polls();
    late_waker.wake();
    assert_eq!(board.all_polls(), polls);
    board.assert_all_dropped();
}

#[test]
fn error_type_and_display_name_the_failing_child() {
    let board = Board::new();
    let children = vec![
        board.child(Plan::Ready(Ok(1))),
        board.child(Plan::Ready(Err(42))),
    ];
    let error = futures::executor::block_on(safe_gather(children)).unwrap_err();
    assert_eq!(error.to_string(), "child 1 failed: 42");
    assert_eq!(error.index(), Some(1));
}
