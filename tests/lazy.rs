//! Lazy children (SPEC §7): `safe_gather(iter)` takes children from the
//! iterator only when it needs them: all at the first poll without a limit;
//! under `.limit(n)` the first `n`, then one more each time a child
//! finishes, into a pool of `n` slots reused in place. At most `n` children
//! exist at any moment, counted here at every step.
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::cell::Cell;
use std::future::{ready, Future, IntoFuture, Ready};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use safe_gather::{safe_gather, GatherError, SlotError, Timer};
use support::{panic_message, Board, Child, ManualTimer, Parent, Plan};

/// An iterator of board children made on demand, counting how many it made.
fn lazily(board: &Board, n: usize, plan: Plan) -> impl Iterator<Item = Child> {
    let board = board.clone();
    (0..n).map(move |_| board.child(plan))
}

/// Children made and not yet dropped.
fn alive(board: &Board) -> usize {
    board
        .all_drops()
        .iter()
        .filter(|&&drops| drops == 0)
        .count()
}

/// A fixed pseudo-random permutation of `0..n` (xorshift, fixed seed).
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order
}

#[test]
fn nothing_is_taken_from_the_iterator_before_the_first_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 5, Plan::Wait)));
    assert_eq!(board.len(), 0, "children made before the first poll");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.len(),
        5,
        "without a limit, every child at the first poll"
    );
    assert_eq!(board.all_polls(), [1; 5]);
}

#[test]
fn under_a_limit_the_first_n_are_taken_at_the_first_poll_and_one_more_per_finish() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 10, Plan::Wait)).limit(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.len(), 3);
    assert_eq!(board.take_log(), [0, 1, 2]);
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.len(), 4, "one finished, one more taken");
    assert_eq!(board.take_log(), [1, 3]);
    // Two finish at once: two more, in input order, after the woken ones.
    board.open(2, Ok(2));
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.len(), 6);
    assert_eq!(board.take_log(), [0, 2, 4, 5]);
}

#[test]
fn at_most_n_children_exist_at_any_moment_and_outputs_stay_in_input_order() {
    let n = if cfg!(miri) { 60 } else { 1000 };
    for limit in [1, 2, 7, 64] {
        let board = Board::new();
        let parent = Parent::new();
        let mut gather = pin!(safe_gather(lazily(&board, n, Plan::Wait)).limit(limit));
        let mut most_alive = 0;
        let result;
        // Open whichever running child the scrambled order picks next.
        let mut order = shuffled(n, 7 + limit as u64).into_iter();
        loop {
            match parent.poll(gather.as_mut()) {
                Poll::Ready(output) => {
                    result = Some(output);
                    break;
                }
                Poll::Pending => {}
            }
            let alive_now = alive(&board);
            most_alive = most_alive.max(alive_now);
            assert!(
                alive_now <= limit,
                "{alive_now} children alive under limit {limit}"
            );
            assert_eq!(
                board.in_flight(),
                alive_now.min(n),
                "every child made is running"
            );
            let running: Vec<usize> = (0..board.len())
                .filter(|&id| board.in_flight_child(id))
                .collect();
            let pick = order.by_ref().find(|id| running.contains(id));
            let pick = pick.unwrap_or(running[0]);
            board.open(pick, Ok(pick as u32));
        }
        assert_eq!(
            most_alive,
            limit.min(n),
            "the limit is reached (all children, under Miri's 60 and a limit of 64)"
        );
        let outputs = result.expect("resolved").unwrap();
        assert_eq!(support::values(&outputs), (0..n as u32).collect::<Vec<_>>());
        assert_eq!(
            board.total_polls(),
            2 * n,
            "each child: a first poll and one per wake"
        );
        drop(outputs);
        board.assert_all_dropped();
    }
}

#[test]
fn ready_children_refill_their_slot_within_the_same_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let children = lazily(&board, 100, Plan::Ready(Ok(5)));
    let mut gather = pin!(safe_gather(children).limit(4));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("all-ready children take one poll")
    };
    assert_eq!(outputs.len(), 100);
    assert_eq!(board.all_polls(), [1; 100]);
    assert_eq!(board.take_log(), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_stale_waker_of_a_reused_slot_costs_one_spurious_poll_and_loses_nothing() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 3, Plan::Wait)).limit(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0]);
    let stale = board.waker(0);
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1], "child 1 took child 0's slot");
    // Child 0's waker now names child 1's slot.
    stale.wake_by_ref();
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        [1],
        "one spurious poll of the slot's new child"
    );
    assert_eq!(board.polls(1), 2);
    // Child 1's own waker still works, and the result is right.
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    stale.wake();
    board.open(2, Ok(2));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child finished")
    };
    assert_eq!(support::values(&outputs), [0, 1, 2]);
    board.assert_sound();
}

/// Ten children of `plan`, whose iterator panics when asked for the fifth.
fn breaking_at_4(board: &Board, plan: Plan) -> impl Iterator<Item = Child> {
    let board = board.clone();
    (0..10).map(move |id| {
        if id == 4 {
            panic!("the input broke at item {id}");
        }
        board.child(plan)
    })
}

#[test]
fn a_panic_in_the_iterators_next_is_a_child_panic() {
    let board = Board::new();
    let parent = Parent::new();
    let children = breaking_at_4(&board, Plan::Wait);
    let mut gather = Box::pin(safe_gather(children).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(2, Ok(2));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "the input broke at item 4");
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert!(message.contains("polled after a panic"), "{message}");
    drop(gather);
    assert_eq!(board.len(), 4);
    board.assert_all_dropped();
    // Outputs 0..3 were collected and dropped with the gather.
    assert_eq!(
        (0..3).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}

#[test]
fn a_panic_in_the_iterators_next_at_the_first_poll_drops_what_it_took() {
    // The children taken before the panic were never polled: no output of
    // theirs exists, none may be dropped, and each child is dropped once.
    for limit in [None, Some(8)] {
        let board = Board::new();
        let parent = Parent::new();
        let children = breaking_at_4(&board, Plan::Ready(Ok(0)));
        let gather = safe_gather(children);
        let mut gather = Box::pin(match limit {
            Some(limit) => gather.limit(limit),
            None => gather,
        });
        let message = panic_message(|| {
            let _ = parent.poll(gather.as_mut());
        });
        assert_eq!(message, "the input broke at item 4", "{limit:?}");
        drop(gather);
        assert_eq!(board.len(), 4, "{limit:?}");
        assert_eq!(board.all_polls(), [0; 4], "{limit:?}");
        board.assert_all_dropped();
        assert_eq!(
            (0..4).map(|id| board.output_drops(id)).collect::<Vec<_>>(),
            [0; 4],
            "{limit:?}"
        );
    }
}

/// An iterator that counts its own drop.
struct Counted<I> {
    inner: I,
    dropped: Rc<Cell<usize>>,
}

impl<I> Counted<I> {
    /// `inner`, and the count of its drops.
    fn new(inner: I) -> (Self, Rc<Cell<usize>>) {
        let dropped = Rc::new(Cell::new(0));
        let counted = Counted {
            inner,
            dropped: dropped.clone(),
        };
        (counted, dropped)
    }
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<I> Drop for Counted<I> {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

#[test]
fn fail_fast_drops_the_iterator_with_the_children_before_returning() {
    let board = Board::new();
    let parent = Parent::new();
    let (children, dropped) = Counted::new(lazily(&board, 50, Plan::Wait));
    let mut gather = pin!(safe_gather(children).limit(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(11));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("the failure resolves the gather")
    };
    assert!(matches!(
        result,
        Err(GatherError::Failed {
            index: 1,
            error: 11
        })
    ));
    assert_eq!(dropped.get(), 1, "the iterator was dropped in that poll");
    assert_eq!(board.len(), 3, "no child was taken after the failure");
    board.assert_all_dropped();
}

#[test]
fn the_iterator_is_dropped_as_soon_as_it_is_exhausted() {
    let board = Board::new();
    let parent = Parent::new();
    let (children, dropped) = Counted::new(lazily(&board, 4, Plan::Wait));
    let mut gather = pin!(safe_gather(children).limit(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(dropped.get(), 0);
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.len(), 4);
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(dropped.get(), 1, "its end was found when a slot freed");
}

/// Children from an iterator that does not know its length.
fn unknown_length(board: &Board, n: usize) -> impl Iterator<Item = Child> {
    let board = board.clone();
    let mut made = 0;
    std::iter::from_fn(move || {
        (made < n).then(|| {
            made += 1;
            board.child(Plan::Wait)
        })
    })
}

#[test]
fn an_iterator_of_unknown_length_within_the_limit_is_dropped_at_the_first_poll() {
    // Its `next` said there are no more before the limit was reached, though
    // its size hint never said so: every child has a slot of its own, and
    // the iterator is let go at once.
    let board = Board::new();
    let parent = Parent::new();
    let (children, dropped) = Counted::new(unknown_length(&board, 3));
    assert_eq!(children.size_hint(), (0, None));
    let mut gather = pin!(safe_gather(children).limit(8));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(dropped.get(), 1, "its end was found at the first poll");
    assert_eq!(board.len(), 3);
    assert_eq!(gather.len(), 3, "taken: 3, and it reports none more");
    for id in 0..3 {
        board.open(id, Ok(id as u32));
    }
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child finished")
    };
    assert_eq!(support::values(&outputs), [0, 1, 2]);
}

#[test]
fn len_counts_children_taken_and_those_the_iterator_still_reports() {
    let board = Board::new();
    let parent = Parent::new();
    // Exact length: known from the start.
    let exact = safe_gather(lazily(&board, 7, Plan::Wait)).limit(2);
    assert_eq!((exact.len(), exact.is_empty()), (7, false));
    // Unknown length: only what has been taken.
    let mut unknown = pin!(safe_gather(unknown_length(&board, 7)).limit(2));
    assert_eq!((unknown.len(), unknown.is_empty()), (0, false));
    assert!(parent.poll(unknown.as_mut()).is_pending());
    assert_eq!(unknown.len(), 2);
    // Known empty only when the iterator says so.
    let empty = safe_gather(lazily(&board, 0, Plan::Wait));
    assert!(empty.is_empty());
}

#[test]
fn timed_out_counts_children_the_iterator_still_reports_as_pending() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 10, Plan::Wait))
        .limit(3)
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("the deadline resolves it")
    };
    assert!(matches!(
        result,
        Err(GatherError::TimedOut {
            completed: 1,
            pending: 9
        })
    ));
    assert_eq!(board.len(), 4, "children never taken were never made");
    board.assert_all_dropped();
}

#[test]
fn an_unknown_length_counts_only_children_taken() {
    // Fail-fast: `pending` counts the children taken and unfinished; the
    // iterator reports none beyond them.
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(unknown_length(&board, 10))
        .limit(3)
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(result) = parent.poll(gather.as_mut()) else {
        panic!("the deadline resolves it")
    };
    assert!(matches!(
        result,
        Err(GatherError::TimedOut {
            completed: 0,
            pending: 3
        })
    ));

    // Settled: one outcome per child taken.
    let board = Board::new();
    let mut gather = pin!(safe_gather(unknown_length(&board, 10))
        .limit(3)
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(2, Err(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("the deadline resolves it")
    };
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.map(|output| output.value))
        .collect();
    assert_eq!(
        outcomes,
        [
            Err(SlotError::TimedOut),
            Err(SlotError::TimedOut),
            Err(SlotError::Failed(2)),
            Err(SlotError::TimedOut)
        ]
    );
}

#[test]
fn settled_timeout_reports_children_never_taken_as_timed_out() {
    let board = Board::new();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 5, Plan::Wait))
        .limit(2)
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("the deadline resolves it")
    };
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.map(|output| output.value))
        .collect();
    let cut = Err(SlotError::TimedOut);
    assert_eq!(outcomes, [cut, Ok(1), cut, cut, cut]);
    assert_eq!(board.len(), 3, "the last two were never made");
}

/// Something that is not a future itself but turns into one.
struct Job(u32);

impl IntoFuture for Job {
    type Output = Result<u32, String>;
    type IntoFuture = Ready<Result<u32, String>>;

    fn into_future(self) -> Self::IntoFuture {
        ready(Ok(self.0 * 2))
    }
}

#[test]
fn items_that_convert_into_futures_are_gathered() {
    let parent = Parent::new();
    let mut gather = pin!(safe_gather((1..=3).map(Job)));
    assert_eq!(parent.poll(gather.as_mut()), Poll::Ready(Ok(vec![2, 4, 6])));
    let mut array = pin!(safe_gather::safe_gather_array([Job(5), Job(6)]));
    assert_eq!(parent.poll(array.as_mut()), Poll::Ready(Ok([10, 12])));
    let mut tuple = pin!(safe_gather::safe_gather!(Job(1), async {
        Ok::<_, String>("two")
    }));
    assert_eq!(parent.poll(tuple.as_mut()), Poll::Ready(Ok((2, "two"))));
}

/// Polls an `Unpin` gather once, then calls `modifier` on it.
fn modifier_after_a_poll<G, R>(gather: G, modifier: impl FnOnce(G) -> R) -> String
where
    G: Future + Unpin,
{
    let mut gather = gather;
    let _ = Parent::new().poll(Pin::new(&mut gather));
    panic_message(move || {
        let _ = modifier(gather);
    })
}

#[test]
fn every_modifier_panics_after_the_first_poll() {
    let board = Board::new();
    let pending = || safe_gather(lazily(&board, 4, Plan::Wait));
    let timer = ManualTimer::new();
    let messages = [
        (
            "limit",
            modifier_after_a_poll(pending().limit(4), |g| g.limit(2)),
        ),
        ("settled", modifier_after_a_poll(pending(), |g| g.settled())),
        (
            "timeout_with",
            modifier_after_a_poll(pending(), |g| {
                g.timeout_with(timer.clone(), Duration::from_secs(1))
            }),
        ),
        (
            "poll_budget",
            modifier_after_a_poll(pending(), |g| g.poll_budget(8)),
        ),
        (
            "grace_with",
            modifier_after_a_poll(pending(), |g| {
                g.grace_with(timer.clone(), Duration::from_secs(1), || {})
            }),
        ),
        (
            "deadline",
            modifier_after_a_poll(pending(), |g| {
                g.deadline(timer.sleep(Duration::from_secs(1)))
            }),
        ),
        (
            "unordered",
            modifier_after_a_poll(pending(), |g| g.unordered()),
        ),
    ];
    for (modifier, message) in messages {
        assert_eq!(
            message,
            format!(
                "`SafeGather::{modifier}` called after the gather was first polled: \
                 modifiers configure a gather before it starts"
            )
        );
    }
    board.assert_sound();
}

#[test]
fn a_limit_set_before_the_first_poll_holds() {
    // The case: `.limit(4)` then `.limit(2)`, both before polling,
    // is simply a limit of 2.
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(lazily(&board, 8, Plan::Wait)).limit(4).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.in_flight(), 2);
}
