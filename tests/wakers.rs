//! Per-child wakers (SPEC §5): a wake re-polls only its child, in ascending
//! order, at most once per gather poll; wakes from other threads, after the
//! gather is gone, or by the million are all well defined.
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

mod support;

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use safe_gather::{safe_gather, safe_gather_array};
use support::{Board, Parent, Plan};

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
fn a_wake_repolls_only_the_woken_child() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(100, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.take_log();
    board.wake(37);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [37]);
    // A poll without any wake polls nobody.
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new());
}

#[test]
fn woken_children_are_polled_in_ascending_order() {
    // 65 and 4097 cross into a second and third bitmap level; under Miri only
    // those, as the interpreter is slow. `.ci/run` sets SAFE_GATHER_MIRI_SMALL
    // for the tree-borrows runs, where 4097 children take over ten minutes
    // (the strict-provenance runs cover the third level).
    let small = std::env::var_os("SAFE_GATHER_MIRI_SMALL").is_some();
    let sizes: &[usize] = match (cfg!(miri), small) {
        (true, true) => &[3, 65],
        (true, false) => &[3, 65, 4097],
        (false, _) => &[3, 64, 65, 4096, 4097, 5000],
    };
    for &n in sizes {
        let board = Board::new();
        let parent = Parent::new();
        // The bitmap, not the poll budget, is under test: one round per poll.
        let mut gather = pin!(safe_gather(board.children(n, Plan::Wait)).poll_budget(usize::MAX));
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(
            board.take_log(),
            (0..n).collect::<Vec<_>>(),
            "first polls in input order"
        );
        let woken: Vec<usize> = shuffled(n, n as u64)
            .into_iter()
            .take(n.div_ceil(3))
            .collect();
        for &id in &woken {
            board.wake(id);
        }
        assert_eq!(
            parent.wakes(),
            1,
            "n = {n}: a burst of wakes woke the parent more than once"
        );
        assert!(parent.poll(gather.as_mut()).is_pending());
        let mut expected = woken.clone();
        expected.sort_unstable();
        assert_eq!(board.take_log(), expected, "n = {n}");
    }
}

#[test]
fn a_trickle_costs_two_polls_per_child_and_one_gather_poll_per_wake() {
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 8, 65, 130]
    } else {
        &[1, 8, 64, 1024, 5000]
    };
    for &n in sizes {
        let board = Board::new();
        let parent = Parent::new();
        // The wakers, not the poll budget, are under test.
        let mut gather = pin!(safe_gather(board.children(n, Plan::Wait)).poll_budget(usize::MAX));
        let mut gather_polls = 1;
        assert!(parent.poll(gather.as_mut()).is_pending());
        let mut result = None;
        for (step, id) in shuffled(n, 7).into_iter().enumerate() {
            board.open(id, Ok(id as u32));
            assert_eq!(
                parent.wakes(),
                step + 1,
                "n = {n}: one parent wake per child wake"
            );
            gather_polls += 1;
            if let Poll::Ready(output) = parent.poll(gather.as_mut()) {
                result = Some(output);
            }
        }
        let outputs = result.expect("gather finished").expect("gather succeeded");
        assert_eq!(outputs.len(), n);
        assert_eq!(board.total_polls(), 2 * n, "n = {n}");
        assert_eq!(gather_polls, n + 1);
        board.assert_all_dropped();
    }
}

#[test]
fn a_self_waking_child_is_polled_once_per_gather_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(vec![
        board.child(Plan::SelfWake),
        board.child(Plan::Wait)
    ]));
    for round in 1..=50 {
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(
            board.polls(0),
            round,
            "polled more than once in one gather poll"
        );
        assert_eq!(
            parent.wakes(),
            round,
            "the gather must schedule itself again"
        );
    }
    assert_eq!(board.polls(1), 1);
}

#[test]
fn a_self_waking_child_in_an_array_is_polled_once_per_gather_poll() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array([board.child(Plan::SelfWake)]));
    for round in 1..=10 {
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(board.polls(0), round);
        assert_eq!(parent.wakes(), round);
    }
}

#[test]
fn a_million_wakes_cost_one_child_poll_and_one_parent_wake() {
    let wakes = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(3, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let waker = board.waker(1);
    for _ in 0..wakes {
        waker.wake_by_ref();
    }
    assert_eq!(parent.wakes(), 1);
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.all_polls(), [1, 2, 1]);
}

#[test]
fn wakes_from_other_threads_reach_the_gather() {
    let n = 64;
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(n, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let board = board.clone();
            scope.spawn(move || {
                for id in (thread..n).step_by(4) {
                    board.open(id, Ok(id as u32));
                }
            });
        }
    });
    assert!(parent.wakes() >= 1);
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("wakes were lost")
    };
    assert_eq!(support::values(&outputs), (0..n as u32).collect::<Vec<_>>());
    assert_eq!(board.total_polls(), 2 * n);
}

#[test]
fn wakes_after_the_gather_is_dropped_are_harmless() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(3, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let kept: Vec<Waker> = (0..3).map(|id| board.waker(id)).collect();
    drop(gather);
    board.assert_all_dropped();
    for waker in &kept {
        waker.wake_by_ref();
        let clone = waker.clone();
        clone.wake();
    }
    assert_eq!(parent.wakes(), 0, "a dropped gather's task was woken");
    drop(kept);
}

#[test]
fn wakes_after_the_gather_resolved_do_not_wake_its_task() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather(board.children(2, Plan::Wait)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    let late = board.waker(1);
    board.open(0, Err(0));
    assert_eq!(parent.wakes(), 1);
    assert!(parent.poll(gather.as_mut()).is_ready());
    late.wake();
    assert_eq!(parent.wakes(), 1);
}

#[test]
fn a_gather_moved_to_another_task_wakes_the_new_task() {
    let board = Board::new();
    let first = Parent::new();
    let second = Parent::new();
    let mut gather = Box::pin(safe_gather(board.children(2, Plan::Wait)));
    assert!(first.poll(gather.as_mut()).is_pending());
    assert!(second.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert_eq!((first.wakes(), second.wakes()), (0, 1));
    // An `Unpin` gather may also move in memory between polls.
    let mut moved = gather;
    assert!(second.poll(moved.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(matches!(second.poll(moved.as_mut()), Poll::Ready(Ok(_))));
    board.assert_all_dropped();
}

#[test]
fn an_unpin_vec_gather_can_move_between_polls() {
    let board = Board::new();
    let parent = Parent::new();
    let mut gather = safe_gather(board.children(3, Plan::Wait));
    assert!(parent.poll(Pin::new(&mut gather)).is_pending());
    let mut moved = Box::new(gather);
    board.open(2, Ok(2));
    board.open(0, Ok(0));
    board.open(1, Ok(1));
    assert!(matches!(
        parent.poll(Pin::new(&mut *moved)),
        Poll::Ready(Ok(_))
    ));
    board.assert_all_dropped();
}

/// A child that, at its first poll, clones its waker on another thread and
/// wakes it there: the inline waker must allocate the shared block safely.
struct WakesFromAThread {
    polls: usize,
}

impl Future for WakesFromAThread {
    type Output = Result<usize, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        if self.polls > 1 {
            return Poll::Ready(Ok(self.polls));
        }
        let waker = cx.waker();
        std::thread::scope(|scope| {
            // A clone woken by value, on purpose: that path frees a reference.
            #[allow(clippy::waker_clone_wake)]
            scope.spawn(|| waker.clone().wake());
            scope.spawn(|| waker.wake_by_ref());
        });
        Poll::Pending
    }
}

#[test]
fn first_poll_wakers_can_be_cloned_and_woken_from_other_threads() {
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_array([
        WakesFromAThread { polls: 0 },
        WakesFromAThread { polls: 0 }
    ]));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(parent.wakes(), 1);
    assert_eq!(parent.poll(gather.as_mut()), Poll::Ready(Ok([2, 2])));
}

#[test]
fn a_child_woken_while_another_is_polled_is_polled_in_order() {
    // Child 0 finishes and, while being polled, wakes children 1 and 3.
    struct Kick {
        board: Board,
        targets: Vec<usize>,
    }
    impl Future for Kick {
        type Output = Result<(), u32>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            for &id in &self.targets {
                self.board.wake(id);
            }
            Poll::Ready(Ok(()))
        }
    }
    let board = Board::new();
    let parent = Parent::new();
    let children = board.children(4, Plan::Wait);
    let mut gather = pin!(safe_gather(
        children
            .into_iter()
            .map(|child| async move { child.await.map(drop) })
    ));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.take_log();
    let mut kick = pin!(Kick {
        board: board.clone(),
        targets: vec![3, 1]
    });
    assert!(kick
        .as_mut()
        .poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
        .is_ready());
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [1, 3]);
}
