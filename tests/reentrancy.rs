//! Executors that poll a task from inside its waker's `wake`, as some
//! single-threaded and embedded executors do when the task is idle. A gather
//! must never re-poll itself forever inside one such wake, whatever
//! `Waker::will_wake` says about the wakers it is handed (std documents it as
//! best-effort; under Miri a clone and a fresh `Waker::from` of the same `Arc`
//! compare unequal).
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use safe_gather::{safe_gather, safe_gather_array, GatherError};
use support::{Board, Output, Plan};

/// More polls than any test here needs: reaching it means a livelock.
const POLL_LIMIT: usize = 1_000;

type Gathered = Result<Vec<Output>, GatherError<u32>>;
type BoxedGather = Pin<Box<dyn Future<Output = Gathered> + Send>>;

/// How the task hands out wakers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wakers {
    /// A new `Arc` per poll: `will_wake` is always false.
    FreshPerPoll,
    /// `Waker::from` of the task's own `Arc` at every poll (equal natively,
    /// not under Miri).
    SameArc,
}

/// A task whose `wake` polls it synchronously when it is idle, and otherwise
/// leaves a note to poll it again once the current poll returns.
struct InlineTask {
    future: Mutex<Option<BoxedGather>>,
    output: Mutex<Option<Gathered>>,
    /// `(polling, again)`.
    state: Mutex<(bool, bool)>,
    polls: AtomicUsize,
    livelocked: AtomicBool,
    wakers: Wakers,
}

struct PerPollWaker(Arc<InlineTask>);

impl Wake for PerPollWaker {
    fn wake(self: Arc<Self>) {
        self.0.run();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.run();
    }
}

impl Wake for InlineTask {
    fn wake(self: Arc<Self>) {
        self.run();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.run();
    }
}

impl InlineTask {
    fn spawn(future: BoxedGather, wakers: Wakers) -> Arc<InlineTask> {
        let task = Arc::new(InlineTask {
            future: Mutex::new(Some(future)),
            output: Mutex::new(None),
            state: Mutex::new((false, false)),
            polls: AtomicUsize::new(0),
            livelocked: AtomicBool::new(false),
            wakers,
        });
        task.run();
        task
    }

    fn run(self: &Arc<Self>) {
        {
            let mut state = self.state.lock().unwrap();
            if state.0 {
                state.1 = true;
                return;
            }
            state.0 = true;
        }
        loop {
            if self.polls.fetch_add(1, Ordering::SeqCst) + 1 >= POLL_LIMIT {
                self.livelocked.store(true, Ordering::SeqCst);
                self.state.lock().unwrap().0 = false;
                return;
            }
            let waker = match self.wakers {
                Wakers::FreshPerPoll => Waker::from(Arc::new(PerPollWaker(self.clone()))),
                Wakers::SameArc => Waker::from(self.clone()),
            };
            {
                let mut slot = self.future.lock().unwrap();
                if let Some(future) = slot.as_mut() {
                    if let Poll::Ready(output) =
                        future.as_mut().poll(&mut Context::from_waker(&waker))
                    {
                        *slot = None;
                        *self.output.lock().unwrap() = Some(output);
                    }
                }
            }
            let mut state = self.state.lock().unwrap();
            if std::mem::take(&mut state.1) {
                continue;
            }
            state.0 = false;
            return;
        }
    }

    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    fn assert_no_livelock(&self) {
        assert!(
            !self.livelocked.load(Ordering::SeqCst),
            "the task was polled {POLL_LIMIT} times: a livelock"
        );
    }
}

/// Three children that pend once each, opened one at a time from outside:
/// four polls in all, one per wake plus the first.
fn three_children_opened_one_by_one(wakers: Wakers) {
    let board = Board::new();
    let task = InlineTask::spawn(Box::pin(safe_gather(board.children(3, Plan::Wait))), wakers);
    assert_eq!(task.polls(), 1);
    for id in 0..3 {
        board.open(id, Ok(id as u32 * 10));
        task.assert_no_livelock();
        assert_eq!(task.polls(), id + 2, "one poll per wake");
    }
    let output = task
        .output
        .lock()
        .unwrap()
        .take()
        .expect("the gather resolved");
    assert_eq!(support::values(&output.unwrap()), [0, 10, 20]);
    assert_eq!(board.all_polls(), [2, 2, 2]);
    board.assert_all_dropped();
}

#[test]
fn an_executor_that_polls_inside_wake_with_fresh_wakers_does_not_livelock() {
    three_children_opened_one_by_one(Wakers::FreshPerPoll);
}

#[test]
fn an_executor_that_polls_inside_wake_with_its_own_arc_does_not_livelock() {
    // Natively `will_wake` is true here; under Miri it is not, which made the
    // same executor livelock before the fix.
    three_children_opened_one_by_one(Wakers::SameArc);
}

/// A child that pends at its first poll, keeping its waker where the test
/// can reach it, and at its second opens a sibling: a mark made from inside
/// a poll that itself runs inside a wake.
struct OpensSibling {
    board: Board,
    sibling: usize,
    waker: Arc<Mutex<Option<Waker>>>,
}

impl Future for OpensSibling {
    type Output = Result<u32, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut waker = self.waker.lock().unwrap();
        if waker.is_none() {
            *waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        self.board.open(self.sibling, Ok(7));
        Poll::Ready(Ok(100))
    }
}

#[test]
fn a_wake_made_inside_a_reentrant_poll_brings_exactly_one_more_poll() {
    type Child = Pin<Box<dyn Future<Output = Result<u32, u32>> + Send>>;
    let board = Board::new();
    let waiting = board.child(Plan::Wait);
    let waker = Arc::new(Mutex::new(None));
    let opener = OpensSibling {
        board: board.clone(),
        sibling: 0,
        waker: waker.clone(),
    };
    let result = Arc::new(Mutex::new(None));
    let result_in_task = result.clone();
    let task = InlineTask::spawn(
        Box::pin(async move {
            let children: [Child; 2] = [
                Box::pin(async move { waiting.await.map(|output| output.value) }),
                Box::pin(opener),
            ];
            *result_in_task.lock().unwrap() = Some(safe_gather_array(children).await);
            Ok(Vec::new())
        }),
        Wakers::FreshPerPoll,
    );
    assert_eq!(task.polls(), 1);
    // Waking child 1 polls the task inline; child 1 then opens child 0, whose
    // mark arrives while the outer wake still holds the task's waker: it
    // must bring one more poll (not none, which would hang; not endless).
    let stored = waker.lock().unwrap().clone().expect("child 1 pended");
    stored.wake();
    task.assert_no_livelock();
    assert_eq!(task.polls(), 3);
    assert_eq!(*result.lock().unwrap(), Some(Ok([7, 100])));
}
