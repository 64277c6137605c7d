//! Caller-owned per-child wakers (`ChildWakers`, SPEC §9): a wake re-polls
//! only the woken child, with or without `alloc`; the storage is claimed at
//! a gather's first poll and given back when it resolves or is dropped; a
//! second gather given storage that is taken runs without it (a heap block
//! with `alloc`, poll-all without) and loses no wake-up, nor does the owner;
//! wakers that outlive their gather cost the next owner at most a spurious
//! poll.
//!
//! Every test has its own `static`: tests run on parallel threads.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::Poll;

use safe_gather::{safe_gather_array, ChildWakers, GatherError};
use support::{panic_message, values, Board, Parent, Plan};

/// What the gather without the storage polls after a wake of one child: the
/// woken child alone with per-child wakers of its own (`alloc`), every child
/// still running without.
fn fallback_polls(woken: usize, running: &[usize]) -> Vec<usize> {
    if cfg!(feature = "alloc") {
        vec![woken]
    } else {
        running.to_vec()
    }
}

#[test]
fn a_wake_repolls_only_the_woken_child() {
    static WAKERS: ChildWakers<4> = ChildWakers::new();
    let board = Board::new();
    let children: [_; 4] = std::array::from_fn(|_| board.child(Plan::Wait));
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array(children).wakers(&WAKERS));

    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2, 3]);

    board.open(2, Ok(20));
    assert_eq!(parent.wakes(), 1);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [2], "only the woken child");

    // A poll nobody asked for polls nobody.
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new());

    // A burst of wakes between two polls wakes the task once, and the
    // poll visits them in input order.
    board.open(3, Ok(30));
    board.open(0, Ok(0));
    assert_eq!(parent.wakes(), 2);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 3]);

    board.open(1, Ok(10));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(board.take_log(), [1]);
    assert_eq!(values(&outputs), [0, 10, 20, 30]);
    drop(outputs);
    board.assert_all_dropped();
    assert!(!WAKERS.in_use());
}

#[test]
fn a_tuple_gets_per_child_wakers_too() {
    static WAKERS: ChildWakers<3> = ChildWakers::new();
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather::safe_gather!(
        board.child(Plan::Wait),
        board.child(Plan::Wait),
        board.child(Plan::Wait),
    )
    .wakers(&WAKERS));

    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [1]);
    board.open(2, Ok(2));
    board.open(0, Ok(0));
    let Poll::Ready(Ok((a, b, c))) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(board.take_log(), [0, 2]);
    assert_eq!((a.value, b.value, c.value), (0, 1, 2));
}

#[test]
fn the_storage_is_claimed_at_the_first_poll_and_given_back_however_the_gather_ends() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    let parent = Parent::new();

    // Resolved: given back in the poll that resolves it.
    let board = Board::new();
    let mut gather =
        pin!(safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)]).wakers(&WAKERS));
    assert!(!WAKERS.in_use(), "nothing is claimed before the first poll");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(WAKERS.in_use());
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_ready());
    assert!(!WAKERS.in_use());

    // Failed fast: given back with the error.
    let board = Board::new();
    let mut gather =
        pin!(safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)]).wakers(&WAKERS));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(WAKERS.in_use());
    board.open(1, Err(7));
    let Poll::Ready(Err(GatherError::Failed { index: 1, error: 7 })) = parent.poll(gather.as_mut())
    else {
        panic!("child 1 failed");
    };
    assert!(!WAKERS.in_use());
    board.assert_all_dropped();

    // Dropped while running: given back by the drop.
    let board = Board::new();
    {
        let mut gather =
            pin!(
                safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)])
                    .wakers(&WAKERS)
            );
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert!(WAKERS.in_use());
    }
    assert!(!WAKERS.in_use());
    board.assert_all_dropped();

    // Dropped unpolled: never claimed.
    let board = Board::new();
    drop(safe_gather_array([board.child(Plan::Wait)]).wakers(&WAKERS_1));
    assert!(!WAKERS_1.in_use());
    static WAKERS_1: ChildWakers<1> = ChildWakers::new();
}

#[test]
fn a_second_live_gather_runs_without_the_storage_and_neither_loses_a_wake_up() {
    static WAKERS: ChildWakers<3> = ChildWakers::new();
    let (first_board, second_board) = (Board::new(), Board::new());
    let (first_parent, second_parent) = (Parent::new(), Parent::new());
    let mut first = pin!(safe_gather_array(std::array::from_fn::<_, 3, _>(|_| {
        first_board.child(Plan::Wait)
    }))
    .wakers(&WAKERS));
    let mut second = pin!(safe_gather_array(std::array::from_fn::<_, 3, _>(|_| {
        second_board.child(Plan::Wait)
    }))
    .wakers(&WAKERS));

    assert!(first_parent.poll(first.as_mut()).is_pending());
    assert!(second_parent.poll(second.as_mut()).is_pending());
    assert_eq!(first_board.take_log(), [0, 1, 2]);
    assert_eq!(second_board.take_log(), [0, 1, 2]);
    assert!(WAKERS.in_use());

    // Each gather's wakes reach its own task, and only its own.
    second_board.open(1, Ok(11));
    assert_eq!((first_parent.wakes(), second_parent.wakes()), (0, 1));
    first_board.open(2, Ok(2));
    assert_eq!((first_parent.wakes(), second_parent.wakes()), (1, 1));

    assert!(first_parent.poll(first.as_mut()).is_pending());
    assert_eq!(first_board.take_log(), [2], "the owner keeps its wakers");
    assert!(second_parent.poll(second.as_mut()).is_pending());
    assert_eq!(second_board.take_log(), fallback_polls(1, &[0, 1, 2]));

    // The owner resolves and gives the storage back; the second gather,
    // which started without it, goes on without it.
    first_board.open(0, Ok(0));
    first_board.open(1, Ok(1));
    let Poll::Ready(Ok(outputs)) = first_parent.poll(first.as_mut()) else {
        panic!("the first gather has finished");
    };
    assert_eq!(values(&outputs), [0, 1, 2]);
    assert!(!WAKERS.in_use());

    second_board.open(0, Ok(10));
    assert_eq!(second_parent.wakes(), 2);
    assert!(second_parent.poll(second.as_mut()).is_pending());
    assert_eq!(second_board.take_log(), fallback_polls(0, &[0, 2]));
    assert!(!WAKERS.in_use(), "a gather claims only at its first poll");
    second_board.open(2, Ok(12));
    let Poll::Ready(Ok(outputs)) = second_parent.poll(second.as_mut()) else {
        panic!("the second gather has finished");
    };
    assert_eq!(values(&outputs), [10, 11, 12]);
}

#[test]
fn a_waker_that_outlives_its_gather_costs_the_next_owner_at_most_one_spurious_poll() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    let parent = Parent::new();

    let old_board = Board::new();
    let mut old = Box::pin(
        safe_gather_array([old_board.child(Plan::Wait), old_board.child(Plan::Wait)])
            .wakers(&WAKERS),
    );
    assert!(parent.poll(old.as_mut()).is_pending());
    let stale = old_board.waker(1);
    drop(old);
    old_board.assert_all_dropped();

    // Its gather is gone: the wake reaches no task.
    stale.wake_by_ref();
    assert_eq!(parent.wakes(), 0);

    // A new gather claims the storage; the stale waker marks its slot 1.
    let board = Board::new();
    let new_parent = Parent::new();
    let mut gather =
        pin!(safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)]).wakers(&WAKERS));
    assert!(new_parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1]);
    stale.wake_by_ref();
    assert_eq!(new_parent.wakes(), 1, "a spurious wake of the new task");
    assert!(new_parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        [1],
        "one spurious poll of the slot it names"
    );

    // The new owner's own wakes all arrive.
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert_eq!(new_parent.wakes(), 2);
    let Poll::Ready(Ok(outputs)) = new_parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(board.take_log(), [0, 1]);
    assert_eq!(values(&outputs), [0, 1]);
    drop(stale);
}

/// Three waiting children on `WAKERS`, polled once: the next owner's
/// first two polls poll `[0, 1, 2]` and then nobody.
fn assert_next_owner_starts_clean(wakers: &'static ChildWakers<3>) {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array(std::array::from_fn::<_, 3, _>(|_| {
        board.child(Plan::Wait)
    }))
    .wakers(wakers));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2]);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new(), "nothing left over");
    board.open(2, Ok(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [2]);
}

#[test]
fn a_stale_wake_of_a_child_not_yet_started_does_not_start_it() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    let old_board = Board::new();
    let mut old = Box::pin(
        safe_gather_array([old_board.child(Plan::Wait), old_board.child(Plan::Wait)])
            .wakers(&WAKERS),
    );
    assert!(Parent::new().poll(old.as_mut()).is_pending());
    let stale = old_board.waker(1);
    drop(old);

    // One child at a time: child 1 waits for child 0 to finish.
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(
        safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)])
            .wakers(&WAKERS)
            .limit(1)
    );
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0]);
    // The stale waker marks slot 1, whose child has not started.
    stale.wake();
    assert_eq!(parent.wakes(), 1);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        Vec::<usize>::new(),
        "child 1 must wait for child 0"
    );
    assert_eq!(board.polls(1), 0);

    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1]);
    board.open(1, Ok(1));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(values(&outputs), [0, 1]);
}

#[test]
fn marks_a_dropped_gather_left_do_not_reach_the_next_owner() {
    static WAKERS: ChildWakers<3> = ChildWakers::new();
    let parent = Parent::new();
    let board = Board::new();
    let mut old = Box::pin(
        safe_gather_array(std::array::from_fn::<_, 3, _>(|_| board.child(Plan::Wait)))
            .wakers(&WAKERS),
    );
    assert!(parent.poll(old.as_mut()).is_pending());
    // Woken, never polled again: the marks stay in the ready set.
    board.wake(0);
    board.wake(2);
    drop(old);
    assert_next_owner_starts_clean(&WAKERS);
}

#[test]
fn marks_a_panicking_gather_left_do_not_reach_the_next_owner() {
    static WAKERS: ChildWakers<3> = ChildWakers::new();
    let parent = Parent::new();
    let board = Board::new();
    let mut old = Box::pin(
        safe_gather_array(std::array::from_fn::<_, 3, _>(|_| board.child(Plan::Wait)))
            .wakers(&WAKERS),
    );
    assert!(parent.poll(old.as_mut()).is_pending());
    // Child 0 fails, and the fail-fast drop of child 1 panics, with child
    // 2's mark not yet visited.
    board.make_drop_panic(1);
    board.set_quietly(0, Err(9));
    board.wake(2);
    board.wake(0);
    let panicked = catch_unwind(AssertUnwindSafe(|| parent.poll(old.as_mut())));
    assert!(panicked.is_err());
    // Given back as the gather resolved, before the drops: the storage is
    // free although the gather, poisoned, is not yet dropped.
    assert!(!WAKERS.in_use());
    drop(old);
    assert_next_owner_starts_clean(&WAKERS);
}

#[test]
fn a_wake_from_another_thread_repolls_only_that_child() {
    static WAKERS: ChildWakers<8> = ChildWakers::new();
    let board = Board::new();
    let children: [_; 8] = std::array::from_fn(|_| board.child(Plan::Wait));
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array(children).wakers(&WAKERS));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), (0..8).collect::<Vec<_>>());

    std::thread::scope(|scope| {
        for id in [5, 3] {
            let board = &board;
            scope.spawn(move || board.open(id, Ok(id as u32)));
        }
    });
    assert!((1..=2).contains(&parent.wakes()));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [3, 5]);
}

#[test]
fn wakers_after_the_first_poll_panics() {
    static WAKERS: ChildWakers<1> = ChildWakers::new();
    let board = Board::new();
    let mut gather = safe_gather_array([board.child(Plan::Wait)]);
    assert!(support::poll_once(&mut gather).is_pending());
    let message = panic_message(move || drop(gather.wakers(&WAKERS)));
    assert_eq!(
        message,
        "`SafeGather::wakers` called after the gather was first polled: \
         modifiers configure a gather before it starts"
    );
    assert!(!WAKERS.in_use());
}

#[test]
fn a_self_waking_child_is_polled_once_per_gather_poll() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    let board = Board::new();
    let parent = Parent::new();
    let mut gather =
        pin!(
            safe_gather_array([board.child(Plan::SelfWake), board.child(Plan::Wait)])
                .wakers(&WAKERS)
        );
    for _ in 0..3 {
        assert!(parent.poll(gather.as_mut()).is_pending());
    }
    assert_eq!(board.take_log(), [0, 1, 0, 0]);
    assert_eq!(parent.wakes(), 3);
}

/// The gather of a `Vec` has no `wakers` modifier: its children allocate
/// anyway. (A compile-time fact; this pins the runtime one next to it, that
/// an iterator's gather has per-child wakers of its own.)
#[cfg(feature = "alloc")]
#[test]
fn an_iterators_gather_keeps_its_own_wakers() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather::safe_gather(board.children(3, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1, 2, 1]);
}

/// A `heapless::Vec` of capacity 4 holding 2 children: the wakers have room
/// for 4, the gather uses 2, and a stale mark of a slot past them (left by
/// an earlier owner of 4 children) polls nobody.
#[cfg(feature = "heapless")]
#[test]
fn a_heapless_vec_uses_the_first_slots_and_skips_stale_marks_past_them() {
    static WAKERS: ChildWakers<4> = ChildWakers::new();
    let old_board = Board::new();
    let mut old = Box::pin(
        safe_gather_array(std::array::from_fn::<_, 4, _>(|_| {
            old_board.child(Plan::Wait)
        }))
        .wakers(&WAKERS),
    );
    assert!(Parent::new().poll(old.as_mut()).is_pending());
    let stale = old_board.waker(3);
    drop(old);

    let board = Board::new();
    let parent = Parent::new();
    let children: heapless::Vec<_, 4> = board.children(2, Plan::Wait).into_iter().collect();
    let mut gather = pin!(safe_gather::safe_gather_heapless(children).wakers(&WAKERS));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1]);
    stale.wake();
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(
        board.take_log(),
        Vec::<usize>::new(),
        "slot 3 holds no child"
    );
    board.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [1]);
    board.open(0, Ok(0));
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("every child has finished");
    };
    assert_eq!(board.take_log(), [0]);
    assert_eq!(values(&outputs), [0, 1]);
}

/// A task that an executor polls from inside its waker's `wake`, as some
/// single-threaded and embedded executors do when the task is idle.
struct InlineTask<F: std::future::Future> {
    future: std::sync::Mutex<Option<Pin<Box<F>>>>,
    output: std::sync::Mutex<Option<F::Output>>,
}

impl<F: std::future::Future + Send + 'static> std::task::Wake for InlineTask<F>
where
    F::Output: Send,
{
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let waker = std::task::Waker::from(self.clone());
        // A wake from inside its own poll only asks again; none here does.
        let Ok(mut slot) = self.future.try_lock() else {
            return;
        };
        if let Some(future) = slot.as_mut() {
            if let Poll::Ready(output) = future
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker))
            {
                *self.output.lock().unwrap() = Some(output);
                *slot = None;
            }
        }
    }
}

#[test]
fn a_gather_that_resolves_inside_a_wake_gives_the_storage_back_when_the_wake_returns() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    let board = Board::new();
    let gather =
        safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)]).wakers(&WAKERS);
    let task = std::sync::Arc::new(InlineTask {
        future: std::sync::Mutex::new(Some(Box::pin(gather))),
        output: std::sync::Mutex::new(None),
    });
    std::task::Wake::wake_by_ref(&task);
    assert_eq!(board.take_log(), [0, 1]);
    board.open(0, Ok(0));
    assert_eq!(board.take_log(), [0], "polled inside the wake");
    // Child 1's wake polls the gather, which resolves and closes its
    // wakers while that wake still holds the task's waker.
    board.open(1, Ok(1));
    assert_eq!(board.take_log(), [1]);
    let outputs = task
        .output
        .lock()
        .unwrap()
        .take()
        .expect("resolved inside the wake");
    assert_eq!(values(&outputs.unwrap()), [0, 1]);
    assert!(!WAKERS.in_use(), "given back once the wake let go");
    assert_eq!(
        std::sync::Arc::strong_count(&task),
        1,
        "the task waker the gather held was dropped"
    );

    // And the next gather gets per-child wakers from it.
    let next = Board::new();
    let parent = Parent::new();
    let mut gather =
        pin!(safe_gather_array([next.child(Plan::Wait), next.child(Plan::Wait)]).wakers(&WAKERS));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert!(WAKERS.in_use());
    next.open(1, Ok(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(next.take_log(), [0, 1, 1]);
}

#[test]
fn child_wakers_show_their_capacity_and_whether_a_gather_holds_them() {
    static WAKERS: ChildWakers<2> = ChildWakers::new();
    assert_eq!(
        format!("{WAKERS:?}"),
        "ChildWakers { capacity: 2, in_use: false }"
    );
    let board = Board::new();
    let mut gather =
        pin!(safe_gather_array([board.child(Plan::Wait), board.child(Plan::Wait)]).wakers(&WAKERS));
    assert!(Parent::new().poll(gather.as_mut()).is_pending());
    assert_eq!(
        format!("{WAKERS:?}"),
        "ChildWakers { capacity: 2, in_use: true }"
    );
}
