//! `safe_gather_heapless` (feature `heapless`, SPEC §9): a number of
//! children known only at run time, inline in the gather, with outputs in a
//! `heapless::Vec` of the same capacity. Every rule of an array gather holds:
//! input order, fail-fast with every sibling dropped before the error is
//! returned, settled (with a deadline too), `.limit(n)`, panics, wakes.
#![cfg(feature = "heapless")]

mod support;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use futures::future::FusedFuture;
use futures::Stream;
use safe_gather::gather::Unordered;
use safe_gather::heapless::Vec as HVec;
use safe_gather::{safe_gather_heapless, GatherError, SlotError};
use support::{panic_message, values, Board, Child, ManualTimer, Parent, Plan};

/// `n` children of `board` following `plan`, in a `heapless::Vec` of
/// capacity `N`.
fn children<const N: usize>(board: &Board, n: usize, plan: Plan) -> HVec<Child, N> {
    board.children(n, plan).into_iter().collect()
}

/// The ids of the children whose outputs these are, in order.
fn ids(outputs: &[support::Output]) -> Vec<usize> {
    outputs.iter().map(|output| output.id).collect()
}

#[test]
fn outputs_come_in_input_order_when_children_finish_out_of_order() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<8>(&board, 5, Plan::Wait)));
    assert_eq!(gather.len(), 5);
    assert!(!gather.is_empty());
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [1; 5],
        "every child starts at the first poll"
    );
    for (id, value) in [(3, 30), (0, 0), (4, 40), (1, 10)] {
        board.open(id, Ok(value));
        assert!(
            parent.poll(gather.as_mut()).is_pending(),
            "child 2 still runs"
        );
        assert_eq!(board.drops(id), 1, "a finished child is dropped at once");
    }
    board.open(2, Ok(20));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child succeeded");
    };
    let outputs: HVec<support::Output, 8> = outputs;
    assert_eq!(values(&outputs), [0, 10, 20, 30, 40]);
    assert_eq!(ids(&outputs), [0, 1, 2, 3, 4]);
    assert!(gather.is_terminated());
    drop(outputs);
    board.assert_all_dropped();
    assert_eq!(
        (0..5).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1; 5]
    );
}

#[test]
fn fail_fast_returns_the_lowest_failing_index_and_drops_every_sibling_first() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<16>(&board, 6, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.output_drops(0), 0, "child 0's output is kept");

    // Children 4 and 2 fail before the same poll: the lower index wins.
    board.open(4, Err(40));
    board.open(2, Err(20));
    let result = parent.poll(gather.as_mut());
    // Counted while the gather still exists: everything went inside the poll
    // that returned the error, the output already collected included.
    assert_eq!(board.all_drops(), [1; 6], "a sibling outlived the error");
    assert_eq!(
        board.output_drops(0),
        1,
        "a collected output outlived the error"
    );
    assert_eq!(
        result,
        Poll::Ready(Err(GatherError::Failed {
            index: 2,
            error: 20
        }))
    );
    // No child was polled after it finished or after the gather resolved.
    board.assert_all_dropped();
    assert!(gather.is_terminated());
}

#[test]
fn a_child_failing_at_its_first_poll_drops_every_other_child_unpolled_after_it() {
    let board = Board::new();
    let parent = Parent::new();
    let mut inputs: HVec<Child, 4> = HVec::new();
    for plan in [Plan::Wait, Plan::Ready(Err(7)), Plan::Wait, Plan::Wait] {
        assert!(inputs.push(board.child(plan)).is_ok());
    }
    let mut gather = pin!(safe_gather_heapless(inputs));
    let result = parent.poll(gather.as_mut());
    assert_eq!(board.all_drops(), [1; 4]);
    assert_eq!(
        result,
        Poll::Ready(Err(GatherError::Failed { index: 1, error: 7 }))
    );
    // Polled in input order, and the round stopped at the failure.
    assert_eq!(board.take_log(), [0, 1]);
    board.assert_sound();
}

#[test]
fn settled_keeps_every_outcome_in_input_order() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<4>(&board, 3, Plan::Wait)).settled());
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(11));
    assert!(
        parent.poll(gather.as_mut()).is_pending(),
        "settled never short-circuits"
    );
    assert_eq!(
        board.all_drops(),
        [0, 1, 0],
        "the siblings of an error run on"
    );
    board.open(2, Ok(22));
    board.open(0, Ok(0));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("every child finished");
    };
    let outcomes: HVec<Result<support::Output, u32>, 4> = outcomes;
    let plain: Vec<Result<(usize, u32), u32>> = outcomes
        .iter()
        .map(|outcome| outcome.as_ref().map(|o| (o.id, o.value)).map_err(|e| *e))
        .collect();
    assert_eq!(plain, [Ok((0, 0)), Err(11), Ok((2, 22))]);
    drop(outcomes);
    board.assert_all_dropped();
}

#[test]
fn settled_with_a_deadline_times_out_the_children_still_running() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<8>(&board, 4, Plan::Wait))
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(10)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(timer.requested(), [Duration::from_secs(10)]);
    board.open(1, Ok(10));
    board.open(2, Err(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(9));
    assert!(parent.poll(gather.as_mut()).is_pending(), "9 s: not yet");
    assert_eq!(board.all_drops(), [0, 1, 1, 0]);
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("the deadline passed");
    };
    // The children cut off were dropped inside that poll, with the sleep.
    assert_eq!(board.all_drops(), [1; 4]);
    assert_eq!(timer.sleeps_alive(), 0, "the sleep outlived the gather");
    let outcomes: HVec<Result<support::Output, SlotError<u32>>, 8> = outcomes;
    let plain: Vec<Result<u32, SlotError<u32>>> = outcomes
        .into_iter()
        .map(|outcome| outcome.map(|output| output.value))
        .collect();
    assert_eq!(
        plain,
        [
            Err(SlotError::TimedOut),
            Ok(10),
            Err(SlotError::Failed(2)),
            Err(SlotError::TimedOut)
        ]
    );
    board.assert_all_dropped();
}

#[test]
fn a_deadline_sleep_times_a_fail_fast_gather_out_and_drops_every_child() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let sleep = safe_gather::Timer::sleep(&timer, Duration::from_secs(5));
    let mut gather =
        pin!(safe_gather_heapless(children::<8>(&board, 3, Plan::Wait)).deadline(sleep));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(5));
    let result = parent.poll(gather.as_mut());
    assert_eq!(board.all_drops(), [1; 3]);
    assert_eq!(board.output_drops(0), 1);
    assert_eq!(timer.sleeps_alive(), 0);
    assert_eq!(
        result,
        Poll::Ready(Err(GatherError::TimedOut {
            completed: 1,
            pending: 2
        }))
    );
    board.assert_sound();
}

#[test]
fn limit_two_never_has_more_than_two_children_live() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<8>(&board, 6, Plan::Wait)).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.all_polls(),
        [1, 1, 0, 0, 0, 0],
        "only the first two start"
    );
    // Finish the children in flight, the later one first where two are.
    let mut most = board.in_flight();
    let mut finish_order = Vec::new();
    let result = loop {
        let live: Vec<usize> = (0..6).filter(|&id| board.in_flight_child(id)).collect();
        assert!(live.len() <= 2, "children live at once: {live:?}");
        most = most.max(live.len());
        let id = *live.last().expect("a child is in flight");
        finish_order.push(id);
        board.open(id, Ok(id as u32 * 10));
        match parent.poll(gather.as_mut()) {
            Poll::Pending => {}
            Poll::Ready(result) => break result,
        }
    };
    assert_eq!(most, 2);
    // Each finish started the next child in input order, so the later of
    // the two live ones was always the one just started.
    assert_eq!(finish_order, [1, 2, 3, 4, 5, 0]);
    let outputs = result.expect("every child succeeded");
    assert_eq!(values(&outputs), [0, 10, 20, 30, 40, 50]);
    drop(outputs);
    board.assert_all_dropped();
}

#[test]
fn an_empty_vec_resolves_at_the_first_poll_whatever_the_mode() {
    let parent = Parent::new();
    let timer = ManualTimer::new();
    let mut gather = pin!(safe_gather_heapless(HVec::<Child, 4>::new())
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(gather.is_empty());
    match parent.poll(gather.as_mut()) {
        Poll::Ready(Ok(values)) => assert!(values.is_empty()),
        other => panic!("expected Ok(empty) at the first poll, got {other:?}"),
    }
    let mut settled = pin!(safe_gather_heapless(HVec::<Child, 4>::new()).settled());
    assert!(matches!(parent.poll(settled.as_mut()), Poll::Ready(outcomes) if outcomes.is_empty()));
    let mut timed = pin!(safe_gather_heapless(HVec::<Child, 4>::new())
        .settled()
        .timeout_with(timer.clone(), Duration::ZERO));
    assert!(matches!(parent.poll(timed.as_mut()), Poll::Ready(outcomes) if outcomes.is_empty()));
    assert_eq!(timer.sleeps_made(), 0, "an empty gather starts no deadline");
    assert_eq!(parent.wakes(), 0);
}

#[test]
fn a_full_vec_gathers_every_child_up_to_its_capacity() {
    let board = Board::new();
    let parent = Parent::new();
    let full: HVec<Child, 4> = children(&board, 4, Plan::Wait);
    assert!(full.is_full());
    let mut gather = pin!(safe_gather_heapless(full));
    assert_eq!(gather.len(), 4);
    assert!(parent.poll(gather.as_mut()).is_pending());
    for id in [3, 1, 0] {
        board.open(id, Ok(id as u32 + 100));
        assert!(parent.poll(gather.as_mut()).is_pending());
    }
    board.open(2, Ok(102));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child succeeded");
    };
    assert!(outputs.is_full());
    assert_eq!(values(&outputs), [100, 101, 102, 103]);
    drop(outputs);
    board.assert_all_dropped();
}

#[test]
fn a_child_panic_drops_every_sibling_exactly_once() {
    let board = Board::new();
    let parent = Parent::new();
    let mut inputs: HVec<Child, 8> = HVec::new();
    for plan in [Plan::Ready(Ok(5)), Plan::Wait, Plan::Panic, Plan::Wait] {
        assert!(inputs.push(board.child(plan)).is_ok());
    }
    let mut gather = Box::pin(safe_gather_heapless(inputs));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "child 2 panics on purpose");
    assert!(gather.is_terminated(), "a poisoned gather says so");
    let again = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert!(again.contains("after a panic"), "{again}");
    drop(gather);
    board.assert_all_dropped();
    assert_eq!(board.output_drops(0), 1, "child 0's output dropped once");
}

#[test]
fn a_panicking_drop_during_fail_fast_still_drops_every_other_sibling_once() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather_heapless(children::<8>(&board, 4, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.make_drop_panic(1);
    board.open(3, Err(3));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "child 1 panics in drop on purpose");
    assert_eq!(board.all_drops(), [1; 4], "the drop stopped at the panic");
    drop(gather);
    board.assert_all_dropped();
}

#[test]
fn unordered_yields_each_outcome_with_its_index_as_it_lands() {
    use std::pin::Pin;
    use std::task::Context;

    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather_heapless(children::<8>(&board, 3, Plan::Wait)).unordered());
    let next = |stream: Pin<&mut _>| {
        Stream::poll_next(stream, &mut Context::from_waker(parent.waker())).map(
            |item: Option<Result<(usize, support::Output), GatherError<u32>>>| {
                item.map(|item| item.map(|(index, output)| (index, output.value)))
            },
        )
    };
    assert!(next(stream.as_mut()).is_pending());
    // Fail-fast: at least one item (a value or the error), at most one each.
    assert_eq!(stream.size_hint(), (1, Some(3)));
    board.open(2, Ok(20));
    assert_eq!(next(stream.as_mut()), Poll::Ready(Some(Ok((2, 20)))));
    assert_eq!(stream.size_hint(), (1, Some(2)));
    // Without `alloc` a round stopped at an item goes on at the next poll
    // from the child after it, and asks for that poll itself: a child before
    // it that finished meanwhile lands one poll later.
    let after_an_item = |mut stream: Pin<&mut Unordered<HVec<Child, 8>>>| {
        let first = next(stream.as_mut());
        if cfg!(feature = "alloc") || first.is_ready() {
            first
        } else {
            next(stream)
        }
    };
    board.open(0, Ok(0));
    assert_eq!(
        after_an_item(stream.as_mut()),
        Poll::Ready(Some(Ok((0, 0))))
    );
    board.open(1, Err(1));
    assert_eq!(
        after_an_item(stream.as_mut()),
        Poll::Ready(Some(Err(GatherError::Failed { index: 1, error: 1 })))
    );
    assert_eq!(next(stream.as_mut()), Poll::Ready(None));
    board.assert_all_dropped();
}

#[test]
fn settled_unordered_with_a_deadline_reports_each_child_cut_off() {
    use std::pin::Pin;
    use std::task::Context;

    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather_heapless(children::<8>(&board, 4, Plan::Wait))
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .unordered());
    let next = |stream: Pin<&mut _>| {
        Stream::poll_next(stream, &mut Context::from_waker(parent.waker())).map(
            |item: Option<(usize, Result<support::Output, SlotError<u32>>)>| {
                item.map(|(index, outcome)| (index, outcome.map(|output| output.value)))
            },
        )
    };
    assert!(next(stream.as_mut()).is_pending());
    assert_eq!(
        stream.size_hint(),
        (4, Some(4)),
        "settled: one item per child"
    );
    board.open(2, Ok(2));
    assert_eq!(next(stream.as_mut()), Poll::Ready(Some((2, Ok(2)))));
    assert_eq!(stream.size_hint(), (3, Some(3)));
    timer.advance(Duration::from_secs(1));
    // The poll that sees the deadline hands out the first child cut off, and
    // counts the rest.
    let mut cut_off = Vec::new();
    let mut left = Vec::new();
    while let Poll::Ready(Some(item)) = next(stream.as_mut()) {
        cut_off.push(item);
        left.push(stream.size_hint());
    }
    assert_eq!(left, [(2, Some(2)), (1, Some(1)), (0, Some(0))]);
    assert_eq!(
        cut_off,
        [
            (0, Err(SlotError::TimedOut)),
            (1, Err(SlotError::TimedOut)),
            (3, Err(SlotError::TimedOut))
        ]
    );
    assert_eq!(next(stream.as_mut()), Poll::Ready(None));
    board.assert_all_dropped();
}

/// With `alloc` each child has a waker of its own: a wake re-polls only the
/// child it woke, never its siblings.
#[cfg(feature = "alloc")]
#[test]
fn a_wake_repolls_only_the_woken_child() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<64>(&board, 40, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), (0..40).collect::<Vec<_>>());
    board.wake(37);
    board.wake(5);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [5, 37], "woken children, in input order");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new(), "no wake, no poll");
    assert_eq!(board.polls(37), 2);
    assert_eq!(board.polls(36), 1);
}

/// Without `alloc` the children share the gather's waker, which cannot say
/// which child it woke: every poll polls every child still running, once,
/// in input order.
#[cfg(not(feature = "alloc"))]
#[test]
fn without_alloc_every_poll_polls_each_running_child() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_heapless(children::<8>(&board, 4, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2, 3]);
    board.open(2, Ok(2));
    assert_eq!(parent.wakes(), 1, "a child's waker is the task's own");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2, 3]);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        [0, 1, 3],
        "a finished child is not polled again"
    );
}

#[test]
fn a_gather_of_unpin_children_is_send_unpin_and_names_its_type() {
    fn assert_send_unpin<T: Send + Unpin>(_: &T) {}
    type Reads = HVec<std::future::Ready<Result<u8, ()>>, 3>;
    let reads: Reads = [1, 2]
        .map(|n| std::future::ready(Ok(n)))
        .into_iter()
        .collect();
    let gather: safe_gather::SafeGather<Reads> = safe_gather_heapless(reads);
    assert_send_unpin(&gather);
    let values: HVec<u8, 3> = futures::executor::block_on(gather).unwrap();
    assert_eq!(values, [1, 2]);
}
