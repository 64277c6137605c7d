//! `.poll_budget(n)` (SPEC §10): at most `n` child polls per gather poll;
//! when they are spent the gather wakes its own task and returns `Pending`,
//! the children left are polled at the next poll before any woken since,
//! still in input order, and no wake is lost.
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::pin::pin;
use std::task::Poll;

use safe_gather::gather::DEFAULT_POLL_BUDGET;
use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{panic_message, Board, Parent, Plan};

#[test]
fn a_spent_budget_wakes_the_task_and_the_next_poll_goes_on_in_order() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(10, Plan::Wait)).poll_budget(4));
    for expected in [0..4, 4..8, 8..10] {
        let wakes = parent.wakes();
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(board.take_log(), expected.clone().collect::<Vec<_>>());
        let woke_itself = parent.wakes() - wakes;
        assert_eq!(
            woke_itself, 1,
            "a pause asks for the next poll, and so does the end of a paused \
             round of first polls (children woken meanwhile wait for it)"
        );
    }
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [], "nobody was woken");
    // A round of wakes that does not fit: the rest first at the next poll,
    // then the children woken meanwhile, at the poll after.
    for id in [9, 1, 5, 3, 7, 0] {
        board.wake(id);
    }
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 3, 5]);
    board.wake(2);
    board.wake(8);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        [7, 9],
        "the paused round is finished first"
    );
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [2, 8]);
}

#[test]
fn a_self_waking_child_does_not_starve_children_not_yet_started() {
    // Found by the round model: the child that wakes itself took the whole
    // budget at every poll, the round paused while starting children, and
    // the next poll began a new round with that child again.
    for budget in [1, 2] {
        let board = Board::new();
        let parent = Parent::new();
        let mut children = vec![board.child(Plan::SelfWake)];
        children.extend((1..5).map(|n| board.child(Plan::Ready(Ok(n)))));
        let mut gather = pin!(safe_gather(children).settled().poll_budget(budget));
        for _ in 0..10 {
            let _ = parent.poll(gather.as_mut());
        }
        assert_eq!(
            board.all_polls()[1..],
            [1, 1, 1, 1],
            "budget {budget}: every child started"
        );
    }
}

#[test]
fn a_pool_under_a_budget_keeps_its_limit_and_input_order() {
    let board = Board::new();
    let parent = Parent::new();
    let children = (0..20).map(|n| board.child(Plan::Ready(Ok(n))));
    let mut gather = pin!(safe_gather(children).limit(3).poll_budget(5));
    let mut polls = 0;
    let outputs = loop {
        polls += 1;
        if let Poll::Ready(result) = parent.poll(gather.as_mut()) {
            break result.unwrap();
        }
        assert_eq!(board.in_flight(), 0, "ready children never stay in flight");
    };
    assert_eq!(polls, 4);
    assert_eq!(support::values(&outputs), (0..20).collect::<Vec<_>>());
    assert_eq!(board.take_log(), (0..20).collect::<Vec<_>>());
}

#[test]
fn fail_fast_sees_the_first_error_among_the_children_polled() {
    let board = Board::new();
    let parent = Parent::new();
    let mut children: Vec<_> = (0..6).map(|n| board.child(Plan::Ready(Ok(n)))).collect();
    children[1] = board.child(Plan::Wait);
    children[4] = board.child(Plan::Ready(Err(4)));
    let mut gather = pin!(safe_gather(children).poll_budget(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let Poll::Ready(Err(error)) = parent.poll(gather.as_mut()) else {
        panic!("child 4 fails in the second poll")
    };
    assert_eq!(error, GatherError::Failed { index: 4, error: 4 });
    board.assert_sound();
}

#[test]
fn gathers_that_fit_in_the_default_budget_resolve_in_one_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let fits = board.children(DEFAULT_POLL_BUDGET, Plan::Ready(Ok(1)));
    assert!(matches!(
        parent.poll(pin!(safe_gather(fits)).as_mut()),
        Poll::Ready(Ok(_))
    ));
    let over = board.children(DEFAULT_POLL_BUDGET + 1, Plan::Ready(Ok(1)));
    let mut over = pin!(safe_gather(over));
    assert!(parent.poll(over.as_mut()).is_pending());
    assert!(matches!(parent.poll(over.as_mut()), Poll::Ready(Ok(_))));
}

#[test]
fn arrays_take_a_budget_too() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 5] = std::array::from_fn(|n| board.child(Plan::Ready(Ok(n as u32))));
    let mut gather = pin!(safe_gather_array(children).poll_budget(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(parent.poll(gather.as_mut()).is_pending());
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("three polls of two")
    };
    assert_eq!(support::values(&outputs), [0, 1, 2, 3, 4]);
}

#[test]
fn a_zero_budget_panics_with_a_clear_message() {
    let board = Board::new();
    let message = panic_message(|| {
        drop(safe_gather(board.children(1, Plan::Wait)).poll_budget(0));
    });
    assert_eq!(
        message,
        "`SafeGather::poll_budget` needs at least one child poll per gather poll, got 0"
    );
}

#[test]
fn a_wake_while_a_round_pauses_among_its_first_polls_is_not_lost() {
    // Children 0 and 1 start at the first poll, which the budget ends
    // before 2 and 3 start. Child 0 is woken before the next poll, which
    // starts 2 and 3: child 0 must be polled then, or the task woken again.
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(4, Plan::Wait)).poll_budget(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1]);
    board.open(0, Ok(0));
    let wakes = parent.wakes();
    assert!(parent.poll(gather.as_mut()).is_pending());
    let polled = board.take_log();
    assert!(
        polled.contains(&0) || parent.wakes() > wakes,
        "child 0 was woken, and neither polled ({polled:?}) nor left a wake for the next poll"
    );
    while parent.wakes() > wakes && board.polls(0) < 2 {
        let wakes = parent.wakes();
        assert!(parent.poll(gather.as_mut()).is_pending());
        if parent.wakes() == wakes {
            break;
        }
    }
    assert_eq!(board.polls(0), 2, "child 0 finished");
}

#[test]
fn a_wake_while_a_drain_is_paused_is_not_lost() {
    // Found by the round model's wake check. Children 0..3 are woken and
    // drained, the budget stops the drain after two, and child 3 is woken
    // before the poll that finishes that drain: that poll must leave a wake
    // for the next, which polls child 3.
    for limit in [None, Some(4)] {
        let board = Board::new();
        let parent = Parent::new();
        let children = safe_gather(board.children(5, Plan::Wait)).poll_budget(2);
        let mut gather = match limit {
            // Slot per child, or a pool of reused slots (the queued schedule).
            None => Box::pin(children),
            Some(limit) => Box::pin(children.limit(limit)),
        };
        while parent.poll(gather.as_mut()).is_pending() && board.take_log().len() == 2 {}
        for id in 0..3 {
            board.wake(id);
        }
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(board.take_log(), [0, 1], "{limit:?}");
        board.wake(3);
        let wakes = parent.wakes();
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(
            board.take_log(),
            [2],
            "the paused drain is finished first ({limit:?})"
        );
        assert!(
            parent.wakes() > wakes,
            "child 3's wake was left in the bitmap without a wake of the task ({limit:?})"
        );
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(board.take_log(), [3], "{limit:?}");
    }
}
