//! Concurrent wakes against gather polls and drops, under every interleaving
//! loom explores. A lost wake-up shows as a deadlock of `block_on`; a race on
//! the parent-waker cell as a loom access violation.
//!
//! Under `cfg(loom)` safe-gather's bitmap words hold two bits, so five
//! children already make three levels.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use safe_gather::{safe_gather, safe_gather_array, ChildWakers, GatherError};

/// A gate's outcome once opened, and the waker of the child waiting on it.
type GateState = (Option<Result<u32, u32>>, Option<Waker>);

/// A child that pends until its gate is opened from another thread.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
}

impl Gate {
    fn open(&self, outcome: Result<u32, u32>) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 = Some(outcome);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

struct GateChild(Arc<Gate>);

impl Future for GateChild {
    type Output = Result<u32, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.0.state.lock().unwrap();
        match state.0.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn gates(n: usize) -> Vec<Arc<Gate>> {
    (0..n).map(|_| Arc::new(Gate::default())).collect()
}

/// Runs `model` under loom with a preemption bound that keeps the search
/// to minutes.
fn check(model: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}

#[test]
fn concurrent_wakes_are_never_lost() {
    check(|| {
        let gates = gates(2);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let openers: Vec<_> = gates
            .iter()
            .enumerate()
            .map(|(id, gate)| {
                let gate = gate.clone();
                thread::spawn(move || gate.open(Ok(id as u32)))
            })
            .collect();
        let values = loom::future::block_on(safe_gather(children)).unwrap();
        assert_eq!(values, [0, 1]);
        openers
            .into_iter()
            .for_each(|opener| opener.join().unwrap());
    });
}

#[test]
fn wakes_across_bitmap_levels_are_never_lost() {
    // Five children: three levels of two-bit words. Two far-apart children
    // are opened concurrently, the rest at once.
    check(|| {
        let gates = gates(5);
        for (id, gate) in gates.iter().enumerate() {
            if id != 1 && id != 4 {
                gate.state.lock().unwrap().0 = Some(Ok(id as u32));
            }
        }
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let openers: Vec<_> = [1, 4]
            .into_iter()
            .map(|id| {
                let gate = gates[id].clone();
                thread::spawn(move || gate.open(Ok(id as u32)))
            })
            .collect();
        let values = loom::future::block_on(safe_gather(children)).unwrap();
        assert_eq!(values, [0, 1, 2, 3, 4]);
        openers
            .into_iter()
            .for_each(|opener| opener.join().unwrap());
    });
}

#[test]
fn a_failure_from_another_thread_wins_and_drops_the_rest() {
    check(|| {
        let gates = gates(2);
        let drops = Arc::new(AtomicUsize::new(0));
        struct Counted(GateChild, Arc<AtomicUsize>);
        impl Future for Counted {
            type Output = Result<u32, u32>;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                Pin::new(&mut self.0).poll(cx)
            }
        }
        impl Drop for Counted {
            fn drop(&mut self) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
        }
        let children: Vec<_> = gates
            .iter()
            .map(|gate| Counted(GateChild(gate.clone()), drops.clone()))
            .collect();
        let failing = gates[1].clone();
        let opener = thread::spawn(move || failing.open(Err(9)));
        let result = loom::future::block_on(safe_gather(children));
        assert_eq!(result, Err(GatherError::Failed { index: 1, error: 9 }));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        opener.join().unwrap();
    });
}

#[test]
fn wakes_racing_with_the_gathers_drop_are_harmless() {
    check(|| {
        let gates = gates(2);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let mut gather = Box::pin(safe_gather(children));
        let parent = futures_noop_waker();
        assert!(gather
            .as_mut()
            .poll(&mut Context::from_waker(&parent))
            .is_pending());
        // Child wakers, taken out of the gates, outlive the gather on
        // another thread.
        let kept: Vec<Waker> = gates
            .iter()
            .map(|gate| gate.state.lock().unwrap().1.take().unwrap())
            .collect();
        let waker_thread = thread::spawn(move || {
            for waker in kept {
                waker.wake_by_ref();
                waker.wake();
            }
        });
        drop(gather);
        waker_thread.join().unwrap();
    });
}

#[test]
fn a_wake_racing_with_a_poll_under_a_new_parent_waker_is_not_lost() {
    // The gather moves to another task between polls while a child is
    // woken: the wake must reach a task that will poll again.
    check(|| {
        let gates = gates(1);
        let children = vec![GateChild(gates[0].clone())];
        let mut gather = Box::pin(safe_gather(children));
        let first = futures_noop_waker();
        assert!(gather
            .as_mut()
            .poll(&mut Context::from_waker(&first))
            .is_pending());
        let gate = gates[0].clone();
        let opener = thread::spawn(move || gate.open(Ok(5)));
        // From here on, a new task polls it until done.
        let values = loom::future::block_on(gather).unwrap();
        assert_eq!(values, [5]);
        opener.join().unwrap();
    });
}

/// A waker that does nothing, built from std only.
fn futures_noop_waker() -> Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    Waker::from(std::sync::Arc::new(Noop))
}

/// The task waker of [`block_on_counting`]: unparks the polling thread and
/// counts the task's wakes. The count is a plain std atomic, not loom's:
/// loom runs its threads on one OS thread, so it is exact, and it adds no
/// interleavings to explore.
struct CountingUnpark {
    notify: loom::sync::Notify,
    wakes: std::sync::atomic::AtomicUsize,
}

impl CountingUnpark {
    fn wakes(&self) -> usize {
        self.wakes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::task::Wake for CountingUnpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.notify.notify();
    }
}

/// Runs `future` to completion on the current loom thread, polling it with a
/// waker that stays the same (so the gather takes its zero-atomic
/// re-registration path, unlike `loom::future::block_on`, whose borrowed
/// waker never `will_wake` its clones). Returns the task's waker too, to
/// count its wakes once the threads that wake it have ended.
fn block_on_counting<F: Future>(future: F) -> (F::Output, std::sync::Arc<CountingUnpark>) {
    let unpark = std::sync::Arc::new(CountingUnpark {
        notify: loom::sync::Notify::new(),
        wakes: std::sync::atomic::AtomicUsize::new(0),
    });
    let waker = Waker::from(unpark.clone());
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            return (output, unpark);
        }
        unpark.notify.wait();
    }
}

/// [`block_on_counting`] without the count.
fn block_on_stable<F: Future>(future: F) -> F::Output {
    block_on_counting(future).0
}

#[test]
fn concurrent_wakes_with_a_stable_task_waker_are_never_lost() {
    check(|| {
        let gates = gates(3);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let openers: Vec<_> = [0, 2]
            .into_iter()
            .map(|id| {
                let gate = gates[id].clone();
                thread::spawn(move || gate.open(Ok(id as u32)))
            })
            .collect();
        gates[1].open(Ok(1));
        let values = block_on_stable(safe_gather(children)).unwrap();
        assert_eq!(values, [0, 1, 2]);
        openers
            .into_iter()
            .for_each(|opener| opener.join().unwrap());
    });
}

#[test]
fn wakes_across_bitmap_levels_with_a_stable_task_waker_are_never_lost() {
    check(|| {
        let gates = gates(5);
        for id in [0, 2, 3] {
            gates[id].state.lock().unwrap().0 = Some(Ok(id as u32));
        }
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let openers: Vec<_> = [1, 4]
            .into_iter()
            .map(|id| {
                let gate = gates[id].clone();
                thread::spawn(move || gate.open(Ok(id as u32)))
            })
            .collect();
        let values = block_on_stable(safe_gather(children)).unwrap();
        assert_eq!(values, [0, 1, 2, 3, 4]);
        openers
            .into_iter()
            .for_each(|opener| opener.join().unwrap());
    });
}

/// A task on an executor that polls it from inside `wake` when it is idle
/// (otherwise it leaves a note to poll again when the current poll returns),
/// with a new waker at every poll, so the gather never sees `will_wake`.
struct InlineTask<F: Future> {
    future: Mutex<Option<Pin<Box<F>>>>,
    output: Mutex<Option<F::Output>>,
    /// `(polling, again)`.
    state: Mutex<(bool, bool)>,
    polls: AtomicUsize,
}

struct PerPollWaker<F: Future>(std::sync::Arc<InlineTask<F>>);

impl<F: Future + Send + 'static> std::task::Wake for PerPollWaker<F>
where
    F::Output: Send,
{
    fn wake(self: std::sync::Arc<Self>) {
        InlineTask::run(&self.0);
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        InlineTask::run(&self.0);
    }
}

/// More polls than the model below can need: one per wake plus the first.
const INLINE_POLL_LIMIT: usize = 8;

impl<F: Future + Send + 'static> InlineTask<F>
where
    F::Output: Send,
{
    fn spawn(future: F) -> std::sync::Arc<Self> {
        let task = std::sync::Arc::new(InlineTask {
            future: Mutex::new(Some(Box::pin(future))),
            output: Mutex::new(None),
            state: Mutex::new((false, false)),
            polls: AtomicUsize::new(0),
        });
        InlineTask::run(&task);
        task
    }

    fn run(task: &std::sync::Arc<Self>) {
        {
            let mut state = task.state.lock().unwrap();
            if state.0 {
                state.1 = true;
                return;
            }
            state.0 = true;
        }
        loop {
            // A livelock shows as more polls than wakes; stop it there so the
            // assertion below, not loom's branch limit, reports it.
            if task.polls.fetch_add(1, Ordering::SeqCst) >= INLINE_POLL_LIMIT {
                task.state.lock().unwrap().0 = false;
                return;
            }
            let waker = Waker::from(std::sync::Arc::new(PerPollWaker(task.clone())));
            {
                let mut slot = task.future.lock().unwrap();
                if let Some(future) = slot.as_mut() {
                    if let Poll::Ready(output) =
                        future.as_mut().poll(&mut Context::from_waker(&waker))
                    {
                        *slot = None;
                        *task.output.lock().unwrap() = Some(output);
                    }
                }
            }
            let mut state = task.state.lock().unwrap();
            if std::mem::take(&mut state.1) {
                continue;
            }
            state.0 = false;
            return;
        }
    }
}

#[test]
fn a_reentrant_executor_with_fresh_wakers_neither_livelocks_nor_loses_a_wake() {
    // Two children opened at once, one from another thread: each wake may
    // poll the task inline (on its own thread) or find it being polled and
    // leave the executor's note; the poll inside a wake registers a new
    // waker while that wake still holds the old one.
    check(|| {
        let gates = gates(2);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let task = InlineTask::spawn(safe_gather(children));
        let gate = gates[1].clone();
        let opener = thread::spawn(move || gate.open(Ok(1)));
        gates[0].open(Ok(0));
        opener.join().unwrap();
        let polls = task.polls.load(Ordering::SeqCst);
        assert!(polls <= 3, "{polls} polls for two wakes");
        let output = task.output.lock().unwrap().take();
        assert_eq!(output, Some(Ok(vec![0, 1])), "a wake-up was lost");
    });
}

#[test]
fn a_wake_while_a_budget_pauses_a_drain_is_never_lost() {
    // A budget of one child poll per gather poll pauses every drain of more
    // than one mark. Wakes from another thread land while a drain is
    // paused; the poll that finishes it must leave a wake for the rest (it
    // once returned without one: a deadlock here).
    check(|| {
        let gates = gates(3);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let opener = {
            let gates = gates.clone();
            thread::spawn(move || {
                for (id, gate) in gates.iter().enumerate() {
                    gate.open(Ok(id as u32));
                }
            })
        };
        let values = loom::future::block_on(safe_gather(children).poll_budget(1)).unwrap();
        assert_eq!(values, [0, 1, 2]);
        opener.join().unwrap();
    });
}

#[test]
fn a_stale_wake_into_a_reused_slot_is_neither_lost_nor_harmful() {
    // Three children from an iterator, at most two at once: when child 0
    // finishes, its slot takes child 2. A waker child 0 cloned before it
    // finished is then woken from another thread, and child 2 opened after
    // it, while the gather polls: the stale mark lands on the slot that now
    // holds child 2, in the same bit as child 2's own wake, and must cost at
    // most a spurious poll of child 2, never the loss of its real wake.
    check(|| {
        let gates = gates(3);
        let children = gates.clone().into_iter().map(GateChild);
        let mut gather = Box::pin(safe_gather(children).limit(2));
        let parent = futures_noop_waker();
        let mut cx = Context::from_waker(&parent);
        assert!(gather.as_mut().poll(&mut cx).is_pending());
        let stale = gates[0].state.lock().unwrap().1.clone().unwrap();
        gates[0].open(Ok(0));
        // Child 0 finishes, and child 2 pends in its old slot.
        assert!(gather.as_mut().poll(&mut cx).is_pending());
        assert!(
            gates[2].state.lock().unwrap().1.is_some(),
            "child 2 waits in child 0's old slot"
        );
        let waker_thread = {
            let gate = gates[2].clone();
            thread::spawn(move || {
                stale.wake();
                gate.open(Ok(2));
            })
        };
        gates[1].open(Ok(1));
        let values = loom::future::block_on(gather).unwrap();
        assert_eq!(values, [0, 1, 2]);
        waker_thread.join().unwrap();
    });
}

#[test]
fn a_stale_wake_racing_with_the_next_owner_of_child_wakers_is_harmless() {
    // Caller-owned wakers (`ChildWakers`), reused by a second gather while
    // a waker of the first one's child still wakes it from another thread.
    // That wake may hold the parent waker's `WAKING` across the first
    // gather's close and the second's claim; it must never drop the second
    // gather's waker (a lost wake-up: `block_on` deadlocks) nor touch its
    // cells unsynchronized.
    check(|| {
        let wakers: &'static ChildWakers<1> = Box::leak(Box::new(ChildWakers::new()));
        let old_gate = Arc::new(Gate::default());
        let mut old = Box::pin(safe_gather_array([GateChild(old_gate.clone())]).wakers(wakers));
        let old_parent = futures_noop_waker();
        assert!(old
            .as_mut()
            .poll(&mut Context::from_waker(&old_parent))
            .is_pending());
        let stale = old_gate.state.lock().unwrap().1.take().unwrap();
        let stale_thread = thread::spawn(move || stale.wake());
        drop(old);

        let gate = Arc::new(Gate::default());
        let opener = {
            let gate = gate.clone();
            thread::spawn(move || gate.open(Ok(7)))
        };
        let values = block_on_stable(safe_gather_array([GateChild(gate)]).wakers(wakers)).unwrap();
        assert_eq!(values, [7]);
        stale_thread.join().unwrap();
        opener.join().unwrap();
    });
}

#[test]
fn racing_child_wakes_never_wake_the_task_more_often_than_they_come() {
    // Two children opened from two threads while the task drains: the second
    // wake may find the first still holding the task's waker, leave its note,
    // and take the waker itself when the first lets go in between. Each
    // child wake wakes the task at most once (one that finds the ready set
    // marked already, none), so two can never make three task wakes.
    check(|| {
        let gates = gates(2);
        let children: Vec<_> = gates.iter().map(|gate| GateChild(gate.clone())).collect();
        let openers: Vec<_> = gates
            .iter()
            .enumerate()
            .map(|(id, gate)| {
                let gate = gate.clone();
                thread::spawn(move || gate.open(Ok(id as u32)))
            })
            .collect();
        let (values, task) = block_on_counting(safe_gather(children));
        assert_eq!(values.unwrap(), [0, 1]);
        openers
            .into_iter()
            .for_each(|opener| opener.join().unwrap());
        let wakes = task.wakes();
        assert!(wakes <= 2, "{wakes} task wakes for two child wakes");
    });
}
