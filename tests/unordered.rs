//! `.unordered()` (SPEC §7): a gather as a stream of outcomes in completion
//! order, each with its input index, keeping every other rule: fail-fast
//! drops the rest before its `Err` item and ends; settled reports each child
//! once; a deadline cuts the rest off; dropping the stream cancels.
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{FusedStream, Stream, StreamExt};
use safe_gather::{safe_gather, safe_gather_array, GatherError, SlotError};
use support::{Board, Child, ManualTimer, Output, Parent, Plan};

fn lazily(board: &Board, n: usize, plan: Plan) -> impl Iterator<Item = Child> {
    let board = board.clone();
    (0..n).map(move |_| board.child(plan))
}

/// Polls `stream` once with `parent`'s waker.
fn next<S: Stream + ?Sized>(parent: &Parent, stream: Pin<&mut S>) -> Poll<Option<S::Item>> {
    stream.poll_next(&mut Context::from_waker(parent.waker()))
}

type FailFastItem = Result<(usize, Output), GatherError<u32>>;

/// A fail-fast item as plain numbers.
fn plain(item: FailFastItem) -> Result<(usize, u32), GatherError<u32>> {
    item.map(|(index, output)| (index, output.value))
}

#[test]
fn items_come_in_completion_order_with_their_input_indices() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 4, Plan::Wait)).unordered());
    assert!(!stream.is_terminated(), "not polled yet");
    assert!(next(&parent, stream.as_mut()).is_pending());
    assert!(!stream.is_terminated(), "pending");
    for id in [2, 0, 3, 1] {
        board.open(id, Ok(id as u32 * 10));
        let Poll::Ready(Some(item)) = next(&parent, stream.as_mut()) else {
            panic!("child {id} finished")
        };
        assert_eq!(plain(item), Ok((id, id as u32 * 10)));
    }
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    assert!(stream.is_terminated());
    assert!(
        matches!(next(&parent, stream.as_mut()), Poll::Ready(None)),
        "fused"
    );
    board.assert_all_dropped();
}

#[test]
fn one_item_per_poll_and_the_children_not_reached_wait_their_turn_in_order() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 4, Plan::Wait)).unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.take_log();
    for id in [3, 1, 2] {
        board.open(id, Ok(id as u32));
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let Poll::Ready(Some(Ok((index, _)))) = next(&parent, stream.as_mut()) else {
            panic!("an opened child is ready")
        };
        seen.push(index);
        assert_eq!(
            board.take_log(),
            [index],
            "only the child handed out was polled"
        );
    }
    assert_eq!(seen, [1, 2, 3], "ascending within the round");
    // Nothing left woken: a poll polls nobody.
    assert!(next(&parent, stream.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new());
}

#[test]
fn fail_fast_yields_the_error_after_every_other_child_was_dropped_then_ends() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 20, Plan::Wait))
        .limit(5)
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(3, Ok(3));
    let Poll::Ready(Some(first)) = next(&parent, stream.as_mut()) else {
        panic!("child 3 finished")
    };
    assert_eq!(plain(first), Ok((3, 3)));
    board.open(4, Err(44));
    let Poll::Ready(Some(Err(error))) = next(&parent, stream.as_mut()) else {
        panic!("child 4 failed")
    };
    assert_eq!(
        error,
        GatherError::Failed {
            index: 4,
            error: 44
        }
    );
    // Every child made is already dropped, before the item was returned.
    assert_eq!(board.len(), 6);
    board.assert_all_dropped();
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    assert!(stream.is_terminated());
}

#[test]
fn fail_fast_deadline_yields_timed_out_counting_what_finished_then_ends() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 6, Plan::Wait))
        .limit(2)
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some(Ok((0, _))))
    ));
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(Some(Err(error))) = next(&parent, stream.as_mut()) else {
        panic!("the deadline passed")
    };
    assert_eq!(
        error,
        GatherError::TimedOut {
            completed: 1,
            pending: 5
        }
    );
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    board.assert_all_dropped();
    assert_eq!(timer.sleeps_alive(), 0);
}

#[test]
fn settled_reports_every_child_once_errors_included() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 5, Plan::Wait))
        .limit(2)
        .settled()
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    let mut seen = Vec::new();
    for id in [1, 0, 3, 2, 4] {
        let outcome = if id % 2 == 0 {
            Ok(id as u32)
        } else {
            Err(id as u32)
        };
        // Children start in order as slots free; open only started ones.
        while board.len() <= id || !board.in_flight_child(id) {
            assert!(next(&parent, stream.as_mut()).is_pending());
        }
        board.open(id, outcome);
        let Poll::Ready(Some((index, outcome))) = next(&parent, stream.as_mut()) else {
            panic!("child {id} finished")
        };
        seen.push((index, outcome.map(|output| output.value)));
    }
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    assert_eq!(
        seen,
        [(1, Err(1)), (0, Ok(0)), (3, Err(3)), (2, Ok(2)), (4, Ok(4))]
    );
    board.assert_all_dropped();
}

#[test]
fn settled_with_a_deadline_yields_one_timed_out_item_per_child_cut_off() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 6, Plan::Wait))
        .limit(3)
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1))
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(1, Err(1));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some((1, Err(SlotError::Failed(1)))))
    ));
    assert_eq!(stream.size_hint(), (5, Some(5)));
    timer.advance(Duration::from_secs(1));
    let mut cut = Vec::new();
    while let Poll::Ready(Some((index, outcome))) = next(&parent, stream.as_mut()) {
        assert!(matches!(outcome, Err(SlotError::TimedOut)));
        cut.push(index);
        // The running children were dropped when the deadline passed.
        assert_eq!(board.in_flight(), 0);
    }
    // Running ones (0, 2, 3), then those never started (4, 5).
    assert_eq!(cut, [0, 2, 3, 4, 5]);
    assert!(stream.is_terminated());
    assert_eq!(board.len(), 4, "children 4 and 5 were never made");
    board.assert_all_dropped();
}

#[test]
fn dropping_the_stream_drops_every_child_it_holds() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = Box::pin(
        safe_gather(lazily(&board, 10, Plan::Wait))
            .limit(4)
            .unordered(),
    );
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some(Ok((0, _))))
    ));
    drop(stream);
    assert_eq!(board.len(), 5);
    board.assert_all_dropped();
}

#[test]
fn size_hint_bounds_the_items_still_to_come() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 3, Plan::Wait)).unordered());
    assert_eq!(
        stream.size_hint(),
        (1, Some(3)),
        "fail-fast: one item at least, an error perhaps"
    );
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(0, Ok(0));
    let _ = next(&parent, stream.as_mut());
    assert_eq!(stream.size_hint(), (1, Some(2)));
    board.open(1, Ok(1));
    board.open(2, Ok(2));
    let _ = next(&parent, stream.as_mut());
    let _ = next(&parent, stream.as_mut());
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));

    let settled = safe_gather(lazily(&board, 4, Plan::Wait))
        .settled()
        .unordered();
    assert_eq!(settled.size_hint(), (4, Some(4)));
    // An iterator of unknown length says so.
    let unknown = safe_gather(std::iter::from_fn(|| None::<Child>))
        .settled()
        .unordered();
    assert_eq!(unknown.size_hint(), (0, None));
}

#[test]
fn a_stream_ended_by_an_error_hints_no_more_items() {
    // The error ends the stream with two children dropped unreported: no
    // item is left to come, whatever the children's count says.
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut stream = pin!(safe_gather_array(children).unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(1, Err(7));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some(Err(GatherError::Failed { index: 1, error: 7 })))
    ));
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    board.assert_all_dropped();
}

#[test]
fn a_settled_stream_of_fewer_children_than_its_input_hinted_ends_hinting_none() {
    // An input whose length was only bounded (at most six, a filter's hint)
    // that gave three: once the stream has ended, no item is left to come.
    let board = Board::new();
    let parent = Parent::new();
    let input = {
        let board = board.clone();
        (0..6)
            .filter(|i| i % 2 == 0)
            .map(move |_| board.child(Plan::Wait))
    };
    let mut stream = pin!(safe_gather(input).limit(2).settled().unordered());
    assert_eq!(stream.size_hint(), (0, Some(6)));
    assert!(next(&parent, stream.as_mut()).is_pending());
    for id in 0..3 {
        board.open(id, Ok(id as u32));
        assert!(matches!(
            next(&parent, stream.as_mut()),
            Poll::Ready(Some((index, Ok(_)))) if index == id
        ));
    }
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    assert_eq!(stream.size_hint(), (0, Some(0)));
    board.assert_all_dropped();
}

#[test]
fn a_settled_stream_with_a_grace_period_but_no_deadline_hints_as_without_one() {
    // The grace period never begins (nothing cancels a settled gather
    // without a deadline), so the hint is one item per child still to come.
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 3, Plan::Wait))
        .settled()
        .grace_with(ManualTimer::new(), Duration::from_secs(1), || {})
        .unordered());
    assert_eq!(stream.size_hint(), (3, Some(3)));
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(2, Err(2));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some((2, Err(2))))
    ));
    assert_eq!(stream.size_hint(), (2, Some(2)));
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some((0, Ok(_))))
    ));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some((1, Ok(_))))
    ));
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    board.assert_all_dropped();
}

#[test]
fn a_stream_shows_its_gather_and_whether_it_has_ended() {
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 1, Plan::Wait)).unordered());
    let debug = format!("{stream:?}");
    assert!(
        debug.starts_with("Unordered { gather: SafeGather {")
            && debug.ends_with(", ended: false }"),
        "{debug}"
    );
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some(Ok((0, _))))
    ));
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    let debug = format!("{stream:?}");
    assert!(debug.ends_with(", ended: true }"), "{debug}");
}

#[test]
fn an_arrays_size_hint_counts_its_children_down_as_they_report() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut settled = pin!(safe_gather_array(children).settled().unordered());
    assert_eq!(settled.size_hint(), (3, Some(3)));
    assert!(next(&parent, settled.as_mut()).is_pending());
    assert_eq!(settled.size_hint(), (3, Some(3)));
    board.open(2, Err(2));
    assert!(matches!(
        next(&parent, settled.as_mut()),
        Poll::Ready(Some((2, Err(2))))
    ));
    assert_eq!(settled.size_hint(), (2, Some(2)));

    let children: [_; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut fail_fast = pin!(safe_gather_array(children).unordered());
    assert_eq!(fail_fast.size_hint(), (1, Some(3)));
    assert!(next(&parent, fail_fast.as_mut()).is_pending());
    board.open(3, Ok(3));
    assert!(matches!(
        next(&parent, fail_fast.as_mut()),
        Poll::Ready(Some(Ok((0, _))))
    ));
    assert_eq!(fail_fast.size_hint(), (1, Some(2)));
}

#[test]
fn an_array_can_be_unordered_too() {
    let board = Board::new();
    let parent = Parent::new();
    let children: [Child; 3] = std::array::from_fn(|_| board.child(Plan::Wait));
    let mut stream = Box::pin(safe_gather_array(children).settled().unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(2, Ok(2));
    board.open(0, Err(0));
    let Poll::Ready(Some((first, _))) = next(&parent, stream.as_mut()) else {
        panic!("two are ready")
    };
    let Poll::Ready(Some((second, _))) = next(&parent, stream.as_mut()) else {
        panic!("one more is ready")
    };
    assert_eq!((first, second), (0, 2));
    drop(stream);
    board.assert_all_dropped();
}

#[test]
fn quorum_takes_the_first_k_successes_and_drops_the_rest() {
    let board = Board::new();
    let parent = Parent::new();
    let stream = safe_gather(lazily(&board, 5, Plan::Wait))
        .settled()
        .unordered()
        .filter_map(|(index, outcome)| async move { outcome.ok().map(|_| index) })
        .take(2);
    let mut stream = Box::pin(stream);
    assert!(next(&parent, stream.as_mut()).is_pending());
    board.open(4, Ok(4));
    board.open(1, Err(1));
    board.open(2, Ok(2));
    let mut quorum = Vec::new();
    while let Poll::Ready(Some(index)) = next(&parent, stream.as_mut()) {
        quorum.push(index);
    }
    assert_eq!(quorum, [2, 4]);
    drop(stream);
    board.assert_all_dropped();
    assert_eq!(
        board.polls(0),
        1,
        "the replica still out was dropped unfinished"
    );
}

#[test]
fn progress_can_be_reported_while_a_fan_out_runs() {
    let n = 50;
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, n, Plan::Wait))
        .limit(8)
        .unordered());
    let mut done = 0;
    let mut reports = Vec::new();
    assert!(next(&parent, stream.as_mut()).is_pending());
    while done < n {
        let running: Vec<usize> = (0..board.len())
            .filter(|&id| board.in_flight_child(id))
            .collect();
        board.open(running[running.len() / 2], Ok(1));
        while let Poll::Ready(Some(item)) = next(&parent, stream.as_mut()) {
            item.unwrap();
            done += 1;
            if done % 10 == 0 {
                reports.push(format!("{done}/{n}"));
            }
        }
        assert!(board.in_flight() <= 8);
    }
    assert_eq!(reports, ["10/50", "20/50", "30/50", "40/50", "50/50"]);
    assert!(matches!(next(&parent, stream.as_mut()), Poll::Ready(None)));
    assert_eq!(board.len(), n, "every child made once");
    board.assert_all_dropped();
    assert_eq!(
        board.all_polls(),
        vec![2; n],
        "no poll but the first and the one opened"
    );
}

#[test]
fn all_errors_come_with_their_indices_and_every_child_runs_to_its_end() {
    // The recipe: settled `.unordered()`, every `(index, Err(error))` kept.
    let n = 12;
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, n, Plan::Wait))
        .limit(4)
        .settled()
        .unordered());
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    assert!(next(&parent, stream.as_mut()).is_pending());
    // Open the running child with the highest index, each time; every
    // third child fails.
    while let Some(id) = (0..board.len()).rev().find(|&id| board.in_flight_child(id)) {
        let outcome = if id % 3 == 0 {
            Err(id as u32 * 100)
        } else {
            Ok(id as u32)
        };
        board.open(id, outcome);
        while let Poll::Ready(Some((index, outcome))) = next(&parent, stream.as_mut()) {
            match outcome {
                Ok(output) => values.push((index, output.value)),
                Err(error) => errors.push((index, error)),
            }
        }
        assert!(board.in_flight() <= 4);
    }
    assert!(stream.is_terminated());
    // In the order they landed: children 3 to 11 as each freed slot took
    // the next, then 2, 1 and 0.
    assert_eq!(errors, [(3, 300), (6, 600), (9, 900), (0, 0)]);
    assert_eq!(
        values,
        [
            (4, 4),
            (5, 5),
            (7, 7),
            (8, 8),
            (10, 10),
            (11, 11),
            (2, 2),
            (1, 1)
        ]
    );
    assert_eq!(board.len(), n, "every child made once");
    board.assert_all_dropped();
    assert_eq!(board.all_polls(), vec![2; n], "each ran to its end");
    for id in 0..n {
        let expected = usize::from(id % 3 != 0);
        assert_eq!(board.output_drops(id), expected, "child {id}'s value");
    }
}

#[test]
fn a_stale_mark_of_a_slot_refilled_for_a_first_poll_does_not_queue_it_twice() {
    // Found by the round model: child 2 waits in child 0's old slot for its
    // first poll when a waker kept from child 0 marks that slot; the next
    // poll queued the slot twice, polling child 2 twice (and, with more
    // such slots than the pool holds, overflowing its queue).
    let board = Board::new();
    let parent = Parent::new();
    let mut stream = pin!(safe_gather(lazily(&board, 4, Plan::Wait))
        .limit(2)
        .unordered());
    assert!(next(&parent, stream.as_mut()).is_pending());
    let stale = board.waker(0);
    board.open(0, Ok(0));
    assert!(matches!(
        next(&parent, stream.as_mut()),
        Poll::Ready(Some(Ok((0, _))))
    ));
    assert_eq!(board.len(), 3, "child 2 was taken into slot 0 at once");
    board.take_log();
    stale.wake();
    assert!(next(&parent, stream.as_mut()).is_pending());
    assert_eq!(board.take_log(), [2], "child 2's first poll, once");
}
