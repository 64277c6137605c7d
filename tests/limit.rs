//! `.limit(n)` (SPEC §2): at most `n` children in flight, started in index
//! order as others finish; unstarted children are never polled, and in
//! fail-fast mode are dropped unpolled; outputs stay in input order.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use safe_gather::{safe_gather, safe_gather_array, GatherError, SlotError};
use support::{panic_message, Board, ManualTimer, Parent, Plan};

#[test]
fn at_most_n_children_are_in_flight_and_they_start_in_index_order() {
    let n = 40;
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(n, Plan::Wait)).limit(4));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        [0, 1, 2, 3],
        "the first n start at the first poll"
    );
    // Finish children in a scrambled order; each finish starts the next.
    let mut next_to_start = 4;
    let mut result = None;
    for round in 0..n {
        assert!(
            board.in_flight() <= 4,
            "round {round}: {} in flight",
            board.in_flight()
        );
        let started: Vec<usize> = (0..n).filter(|&id| board.polls(id) > 0).collect();
        assert_eq!(
            started,
            (0..next_to_start.min(n)).collect::<Vec<_>>(),
            "unstarted children were polled"
        );
        let open = *started
            .iter()
            .rev()
            .find(|&&id| board.in_flight_child(id))
            .unwrap();
        board.open(open, Ok(open as u32));
        match parent.poll(gather.as_mut()) {
            Poll::Ready(output) => result = Some(output),
            Poll::Pending => {
                let log = board.take_log();
                assert_eq!(log[0], open);
                if next_to_start < n {
                    assert_eq!(
                        log[1..],
                        [next_to_start],
                        "the finished child's slot went to the next in order"
                    );
                    next_to_start += 1;
                }
            }
        }
    }
    let outputs = result.expect("finished").unwrap();
    assert_eq!(support::values(&outputs), (0..n as u32).collect::<Vec<_>>());
    assert_eq!(board.total_polls(), 2 * n);
    board.assert_all_dropped();
}

#[test]
fn children_ready_at_once_refill_within_the_same_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let children: Vec<_> = (0..10).map(|n| board.child(Plan::Ready(Ok(n)))).collect();
    let mut gather = pin!(safe_gather(children).limit(3));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("needed more than one poll")
    };
    assert_eq!(support::values(&outputs), (0..10).collect::<Vec<_>>());
    assert_eq!(board.all_polls(), [1; 10]);
}

#[test]
fn fail_fast_drops_unstarted_children_unpolled() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(10, Plan::Wait)).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(1));
    let result = parent.poll(gather.as_mut());
    assert_eq!(
        result.map(|r| r.map(|v| v.len())),
        Poll::Ready(Err(GatherError::Failed { index: 1, error: 1 }))
    );
    assert_eq!(board.all_polls(), [1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn timeout_counts_unstarted_children_as_pending() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(6, Plan::Wait))
        .limit(2)
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let result = parent.poll(gather.as_mut());
    assert_eq!(
        result.map(|r| r.map(|v| v.len())),
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 1,
            pending: 5
        }))
    );
    assert_eq!(board.all_polls(), [2, 1, 1, 0, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn settled_with_a_limit_and_a_deadline_times_out_unstarted_children() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait))
        .settled()
        .limit(1)
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Err(7));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("not ready")
    };
    let outcomes: Vec<_> = outcomes.into_iter().map(|o| o.map(|v| v.value)).collect();
    assert_eq!(
        outcomes,
        [
            Err(SlotError::Failed(7)),
            Err(SlotError::TimedOut),
            Err(SlotError::TimedOut),
            Err(SlotError::TimedOut)
        ]
    );
    assert_eq!(board.all_polls(), [2, 1, 0, 0]);
    board.assert_all_dropped();
}

#[test]
fn limit_works_on_arrays_and_tuples() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 5] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut gather = pin!(safe_gather_array(children).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 1, 0, 0, 0]);
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [2, 1, 1, 0, 0]);

    let board = Board::new();
    let (a, b, c) = (
        board.child(Plan::Wait),
        board.child(Plan::Ready(Ok(1))),
        board.child(Plan::Wait),
    );
    let mut gather = pin!(safe_gather::safe_gather!(a, b, c).limit(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 0, 0]);
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [2, 1, 1]);
}

#[test]
fn a_limit_above_the_number_of_children_changes_nothing() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(3, Plan::Wait)).limit(usize::MAX - 1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 1, 1]);
}

#[test]
fn limit_zero_panics_with_a_clear_message() {
    let board = Board::new();
    let message = panic_message(|| drop(safe_gather(board.children(2, Plan::Wait)).limit(0)));
    assert_eq!(
        message,
        "`SafeGather::limit` needs at least one child in flight, got 0"
    );
    board.assert_all_dropped();
}
