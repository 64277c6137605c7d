//! `safe_gather_stream` (SPEC §7): children from a `Stream` of jobs, taken
//! while fewer than the limit run; the stream is polled with a waker of its
//! own; outputs in stream order; fail-fast, deadlines and a panic drop the
//! stream with the children; a stream that is always ready never keeps one
//! poll going.
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

mod support;

use std::collections::VecDeque;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::stream::{Stream, StreamExt};
use safe_gather::{safe_gather_stream, GatherError, SlotError};
use support::{panic_message, Board, Child, ManualTimer, Parent, Plan};

#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<Child>,
    closed: bool,
    waker: Option<Waker>,
    polls: usize,
    dropped: bool,
    panic_at_poll: Option<usize>,
}

/// A job queue: a stream of board children, fed by the test.
#[derive(Debug, Clone, Default)]
struct Queue(Arc<Mutex<QueueState>>);

/// The receiving end, the gather's input.
#[derive(Debug)]
struct Jobs(Queue);

impl Queue {
    fn send(&self, child: Child) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.jobs.push_back(child);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn close(&self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn polls(&self) -> usize {
        self.0.lock().unwrap().polls
    }

    fn dropped(&self) -> bool {
        self.0.lock().unwrap().dropped
    }

    fn waiting(&self) -> usize {
        self.0.lock().unwrap().jobs.len()
    }

    fn jobs(&self) -> Jobs {
        Jobs(self.clone())
    }
}

impl Stream for Jobs {
    type Item = Child;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Child>> {
        let mut state = self.0 .0.lock().unwrap();
        state.polls += 1;
        if state.panic_at_poll == Some(state.polls) {
            drop(state);
            panic!("the job queue broke");
        }
        match state.jobs.pop_front() {
            Some(job) => Poll::Ready(Some(job)),
            None if state.closed => Poll::Ready(None),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        let mut state = self
            .0
             .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.dropped = true;
        // Jobs still queued are dropped with the queue's last handle.
        state.waker = None;
    }
}

#[test]
fn jobs_run_at_most_n_at_once_and_outputs_come_in_stream_order() {
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    for _ in 0..5 {
        queue.send(board.child(Plan::Wait));
    }
    let mut gather = pin!(safe_gather_stream(queue.jobs()).limit(2));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0, 1]);
    assert_eq!(queue.waiting(), 3, "only two taken");
    for id in [1, 0, 3, 2, 4] {
        board.open(id, Ok(id as u32 * 10));
        let _ = parent.poll(gather.as_mut());
        assert!(board.in_flight() <= 2);
    }
    queue.close();
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("the queue ended and every job finished")
    };
    assert_eq!(support::values(&outputs), [0, 10, 20, 30, 40]);
    assert!(queue.dropped());
    board.assert_all_dropped();
}

#[test]
fn a_new_job_wakes_only_the_stream() {
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    queue.send(board.child(Plan::Wait));
    let mut gather = pin!(safe_gather_stream(queue.jobs()).limit(4));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0]);
    let polls = queue.polls();
    queue.send(board.child(Plan::Wait));
    assert_eq!(parent.wakes(), 1, "the job woke the gather's task");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [1], "child 0 was not polled again");
    assert_eq!(queue.polls(), polls + 2, "the new job, then pending again");
    // A poll without any wake polls neither the children nor the stream.
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), Vec::<usize>::new());
    assert_eq!(queue.polls(), polls + 2);
}

#[test]
fn an_empty_stream_that_ends_resolves_to_nothing() {
    let queue = Queue::default();
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_stream(queue.jobs()).limit(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    queue.close();
    assert!(matches!(parent.poll(gather.as_mut()), Poll::Ready(Ok(outputs)) if outputs.is_empty()));
}

#[test]
fn fail_fast_drops_the_stream_and_every_job_before_returning() {
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    for _ in 0..6 {
        queue.send(board.child(Plan::Wait));
    }
    let mut gather = pin!(safe_gather_stream(queue.jobs()).limit(3));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(1, Err(7));
    let Poll::Ready(Err(error)) = parent.poll(gather.as_mut()) else {
        panic!("job 1 failed")
    };
    assert_eq!(error, GatherError::Failed { index: 1, error: 7 });
    assert!(queue.dropped(), "the stream was dropped in that poll");
    // Jobs 0..3 taken and dropped; those still queued go with the queue.
    for id in 0..3 {
        assert_eq!(board.drops(id), 1);
    }
}

#[test]
fn a_deadline_drops_the_stream_and_settled_reports_jobs_taken() {
    let board = Board::new();
    let queue = Queue::default();
    let timer = ManualTimer::new();
    let parent = Parent::new();
    for _ in 0..4 {
        queue.send(board.child(Plan::Wait));
    }
    let mut gather = pin!(safe_gather_stream(queue.jobs())
        .limit(2)
        .settled()
        .timeout_with(timer.clone(), Duration::from_secs(1)));
    assert!(parent.poll(gather.as_mut()).is_pending());
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    timer.advance(Duration::from_secs(1));
    let Poll::Ready(outcomes) = parent.poll(gather.as_mut()) else {
        panic!("the deadline passed")
    };
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.map(|output| output.value))
        .collect();
    // A stream reports no length: the jobs taken, cut off or finished.
    assert_eq!(
        outcomes,
        [Ok(0), Err(SlotError::TimedOut), Err(SlotError::TimedOut)]
    );
    assert!(queue.dropped());
}

#[test]
fn a_panic_in_the_stream_is_a_child_panic() {
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    queue.send(board.child(Plan::Wait));
    queue.0.lock().unwrap().panic_at_poll = Some(2);
    let mut gather = Box::pin(safe_gather_stream(queue.jobs()).limit(3));
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert_eq!(message, "the job queue broke");
    let message = panic_message(|| {
        let _ = parent.poll(gather.as_mut());
    });
    assert!(message.contains("polled after a panic"), "{message}");
    drop(gather);
    assert!(queue.dropped());
    board.assert_all_dropped();
}

#[test]
fn an_always_ready_stream_never_keeps_one_poll_going() {
    // An endless stream of jobs that are ready at once: each poll pulls and
    // polls at most the budget's worth, then returns.
    let board = Board::new();
    let made = board.clone();
    let endless = futures::stream::repeat_with(move || made.child(Plan::Ready(Ok(1))));
    let parent = Parent::new();
    let mut gather = pin!(safe_gather_stream(endless).limit(4).poll_budget(10));
    let mut before = 0;
    for poll in 1..=5 {
        assert!(parent.poll(gather.as_mut()).is_pending());
        assert_eq!(
            parent.wakes(),
            poll,
            "a spent budget asks for the next poll"
        );
        let pulled = board.len() - before;
        before = board.len();
        let polled = board.take_log().len();
        assert_eq!(
            pulled + polled,
            10,
            "poll {poll}: ten units, pulls and polls"
        );
        assert!(board.in_flight() <= 4);
    }
}

#[test]
fn jobs_can_be_handled_as_they_land_and_the_first_failure_ends_it() {
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    let mut landed = pin!(safe_gather_stream(queue.jobs()).limit(8).unordered());
    assert!(next(&parent, landed.as_mut()).is_pending());
    queue.send(board.child(Plan::Wait));
    queue.send(board.child(Plan::Wait));
    assert!(next(&parent, landed.as_mut()).is_pending());
    board.open(1, Ok(1));
    assert!(matches!(
        next(&parent, landed.as_mut()),
        Poll::Ready(Some(Ok((1, _))))
    ));
    board.open(0, Err(9));
    let Poll::Ready(Some(Err(error))) = next(&parent, landed.as_mut()) else {
        panic!("job 0 failed")
    };
    assert_eq!(error, GatherError::Failed { index: 0, error: 9 });
    assert!(queue.dropped());
    assert!(matches!(next(&parent, landed.as_mut()), Poll::Ready(None)));
}

fn next<S: Stream + ?Sized>(parent: &Parent, stream: Pin<&mut S>) -> Poll<Option<S::Item>> {
    stream.poll_next(&mut Context::from_waker(parent.waker()))
}

#[test]
fn len_counts_jobs_taken_and_those_the_stream_reports() {
    let board = Board::new();
    let parent = Parent::new();
    let jobs = futures::stream::iter((0..5).map(|_| board.child(Plan::Wait)).collect::<Vec<_>>());
    let mut gather = pin!(safe_gather_stream(jobs).limit(2));
    assert_eq!(gather.len(), 5, "a stream that knows its length says it");
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(gather.len(), 5);
    let collected: Vec<_> = futures::executor::block_on(
        safe_gather_stream(futures::stream::iter([async { Ok::<_, ()>(1) }]))
            .limit(1)
            .unordered()
            .collect(),
    );
    assert_eq!(collected, [Ok((0, 1))]);
}

#[test]
fn a_stale_wake_of_a_vacant_slot_does_not_poll_the_next_job_twice() {
    // One slot: child 0 finishes while the queue is empty, so its slot stays
    // vacant; a wake of child 0's old waker then marks it. The next job
    // takes the slot and gets its first poll, once: the mark of the vacant
    // slot is not a second one.
    let board = Board::new();
    let queue = Queue::default();
    let parent = Parent::new();
    queue.send(board.child(Plan::Wait));
    let mut gather = pin!(safe_gather_stream(queue.jobs()).limit(1));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0]);
    let stale = board.waker(0);
    board.open(0, Ok(0));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [0]);
    stale.wake();
    queue.send(board.child(Plan::Wait));
    assert!(parent.poll(gather.as_mut()).is_pending());
    assert_eq!(board.take_log(), [1], "the new job's first poll, once");
    assert_eq!(board.polls(1), 1);
    board.open(1, Ok(1));
    queue.close();
    let Poll::Ready(Ok(outputs)) = parent.poll(gather.as_mut()) else {
        panic!("the queue ended and every job finished")
    };
    assert_eq!(support::values(&outputs), [0, 1]);
    board.assert_all_dropped();
}
