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

use std::future::Future;
use std::pin::{pin, Pin};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

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

/// A task waker that counts its wakers alive, and whose clone, once armed,
/// first clones the waker it was armed with: the re-entry through which a
/// first-poll waker's block loses its race to install itself (see
/// `a_block_that_lost_the_race_to_install_itself_is_not_kept_with_its_waker`).
struct Reentrant {
    /// Wakers alive: the test's own and its clones.
    clones: AtomicUsize,
    armed: AtomicPtr<Waker>,
}

static REENTRANT_VTABLE: RawWakerVTable =
    RawWakerVTable::new(reentrant_clone, reentrant_drop, |_| {}, reentrant_drop);

unsafe fn reentrant_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is the `&'static Reentrant` the waker was made from.
    let reentrant = unsafe { &*data.cast::<Reentrant>() };
    reentrant.clones.fetch_add(1, Ordering::SeqCst);
    let armed = reentrant.armed.swap(ptr::null_mut(), Ordering::SeqCst);
    if !armed.is_null() {
        // SAFETY: armed only with the `&Waker` of a poll still under way.
        drop(unsafe { &*armed }.clone());
    }
    RawWaker::new(data, &REENTRANT_VTABLE)
}

unsafe fn reentrant_drop(data: *const ()) {
    // SAFETY: as in `reentrant_clone`.
    unsafe { &*data.cast::<Reentrant>() }
        .clones
        .fetch_sub(1, Ordering::SeqCst);
}

/// A child that, at its first poll, clones its waker and wakes the clone,
/// and if `arms`, first arms the task waker with it: the first clone makes
/// the wake block, cloning the task waker for it, and that clone makes (and
/// installs) another block first.
struct ClonesThroughTheTask {
    reentrant: &'static Reentrant,
    arms: bool,
    polled: bool,
}

impl Future for ClonesThroughTheTask {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polled {
            return Poll::Ready(Ok(7));
        }
        self.polled = true;
        if self.arms {
            let waker: *const Waker = cx.waker();
            self.reentrant
                .armed
                .store(waker.cast_mut(), Ordering::SeqCst);
        }
        // A clone on purpose: cloning a first-poll waker makes the block.
        #[allow(clippy::waker_clone_wake)]
        cx.waker().clone().wake();
        Poll::Pending
    }
}

#[test]
fn a_block_that_lost_the_race_to_install_itself_is_not_kept_with_its_waker() {
    // Static, not leaked: Miri reports leaks. Only this test uses it.
    static REENTRANT: Reentrant = Reentrant {
        // The test's own waker, made below.
        clones: AtomicUsize::new(1),
        armed: AtomicPtr::new(ptr::null_mut()),
    };
    let reentrant = &REENTRANT;
    // SAFETY: the vtable's functions keep `RawWaker`'s contract: `data` is a
    // `&'static Reentrant` and shared use of it is atomic.
    let task = unsafe {
        Waker::from_raw(RawWaker::new(
            ptr::from_ref(reentrant).cast(),
            &REENTRANT_VTABLE,
        ))
    };
    let mut gather = Box::pin(safe_gather(vec![
        ClonesThroughTheTask {
            reentrant,
            arms: true,
            polled: false,
        },
        ClonesThroughTheTask {
            reentrant,
            arms: false,
            polled: false,
        },
    ]));
    let mut cx = Context::from_waker(&task);
    assert!(gather.as_mut().poll(&mut cx).is_pending());
    // The child's clone made a block, and so did the nested clone, which
    // won; each took a clone of the task waker. The loser is gone with its
    // clone; the winner's is registered.
    assert_eq!(
        reentrant.armed.load(Ordering::SeqCst),
        ptr::null_mut(),
        "the nested clone ran"
    );
    assert_eq!(
        reentrant.clones.load(Ordering::SeqCst),
        2,
        "the test's and the winner's"
    );
    // The children's wakes reached the gather through the winner.
    match gather.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(values)) => assert_eq!(values, [7, 7]),
        other => panic!("expected the outputs, got {other:?}"),
    }
    drop(gather);
    // Nothing holds a clone of the task waker: not the winner, freed (or
    // kept clean), nor the loser, which a spare would have kept with its
    // clone inside.
    assert_eq!(reentrant.clones.load(Ordering::SeqCst), 1, "the test's");
    // A gather after it, taking the spare, registers and drops its own.
    let board = Board::new();
    let parent = Parent::new();
    let mut next = pin!(safe_gather(board.children(2, Plan::Wait)));
    assert!(parent.poll(next.as_mut()).is_pending());
    board.open(1, Ok(1));
    board.open(0, Ok(0));
    assert_eq!(parent.wakes(), 1);
    assert!(matches!(parent.poll(next.as_mut()), Poll::Ready(Ok(_))));
    assert_eq!(parent.waker_clones(), 0);
    assert_eq!(reentrant.clones.load(Ordering::SeqCst), 1);
    drop(task);
    assert_eq!(reentrant.clones.load(Ordering::SeqCst), 0);
}
