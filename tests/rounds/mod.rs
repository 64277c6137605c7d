//! A second reference model, of what a gather does round by round when its
//! rounds can stop early: `.unordered()` (one finished child per poll),
//! `.poll_budget(n)` (a bounded number of child polls per poll), and pools
//! of reused slots over lazy inputs. It runs a script of polls, opens, wakes
//! (also through wakers kept after their child finished), clock moves and a
//! drop against the real crate, and checks after every step:
//!
//! * which children each poll polled, in which order;
//! * what the poll returned: `Pending`, an item (index and outcome, a
//!   cut-off, a `GatherError`), the end, or the gather's output;
//! * when each child is made (a lazy input makes it when the gather takes
//!   it), when each is dropped, and that no more than `limit` are in flight
//!   (nor, for a lazy input, alive).
//!
//! The rules it encodes, besides those of `tests/model/mod.rs`:
//!
//! * A round that stops early (budget spent, or a child handed out) is
//!   finished by the next poll before a new one begins; only a new round
//!   takes the children woken since. Children queued only for their first
//!   poll (a pool refills a slot as soon as its child is handed out) join
//!   the next round, sorted in with the woken ones.
//! * A pool takes the next child the moment a child finishes, into the slot
//!   it left (the slot vacated first); a stale waker marks the slot, so its
//!   new child is polled once more.
//! * A budget pause happens before a child, also before a stale mark of a
//!   slot left vacant; a gather whose input has no more children does not
//!   pause for them.
//!
//! * Cancellation with grace (`.grace_with`): the first error (fail-fast)
//!   or the deadline calls `on_cancel` once in that poll; from then on no
//!   child starts, errors are only collected, a fail-fast unordered gather
//!   hands nothing out, and the round goes on (the children woken with the
//!   one that failed are still polled) until no child runs or the grace
//!   sleep ends; then the gather resolves to what began it.
//! * No lost wake-up: a poll that leaves work behind (a woken child not yet
//!   polled, a round paused) has woken the task by the next poll.
//!
//! It leaves to the first model what that one checks: exact parent wake
//! counts, panics, racing threads. Direct (slot-per-child) gathers stay within one bitmap
//! word (64 children), where a wake that arrives while a round is paused
//! always goes to the next round.

#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::stream::Stream;
use safe_gather::gather::{Bounded, Children, TryChildren, UnorderedChildren};
use safe_gather::{
    safe_gather, safe_gather_array, safe_gather_stream, GatherError, SafeGather, SlotError,
};
pub use support::{Board, Child, ManualTimer, Output, Parent, Plan};

/// Longest lazy input a script builds.
pub const MAX_LEN: usize = 40;
/// Array lengths a script can build.
pub const ARRAY_LENS: [usize; 3] = [1, 3, 8];
pub const MAX_LIMIT: usize = 9;
pub const MAX_BUDGET: usize = 5;
pub const DEADLINES: [u64; 4] = [0, 1, 5, 20];
/// Grace periods a script can give; `u64::MAX` is `Duration::MAX`.
pub const GRACES: [u64; 4] = [0, 1, 5, u64::MAX];
pub const ADVANCES: [u64; 3] = [1, 5, 20];
pub const MAX_STEPS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `safe_gather(iter)` over children made on demand; the iterator knows
    /// its length, or does not.
    Lazy {
        known: bool,
    },
    Array(usize),
    /// `safe_gather_stream(jobs)` over a queue the script feeds (`Send`)
    /// and closes (`Close`); always under a limit.
    Stream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildPlan {
    Ready {
        ok: bool,
    },
    /// Pending until opened.
    Wait,
    /// Wakes itself at every poll, never finishes.
    SelfWake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Poll,
    Open {
        child: usize,
        ok: bool,
    },
    /// Wakes the child's registered waker, keeping it.
    Wake {
        child: usize,
    },
    /// Keeps a clone of the child's registered waker.
    Keep {
        child: usize,
    },
    WakeKept {
        kept: usize,
    },
    Advance {
        millis: u64,
    },
    /// Sends the next job into a stream kind's queue.
    Send,
    /// Closes a stream kind's queue: the stream ends once it is empty.
    Close,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub kind: Kind,
    pub settled: bool,
    pub unordered: bool,
    pub deadline: Option<u64>,
    /// `.grace_with(timer, d, on_cancel)`, in milliseconds.
    pub grace: Option<u64>,
    pub limit: Option<usize>,
    pub budget: Option<usize>,
    pub plans: Vec<ChildPlan>,
    pub steps: Vec<Step>,
}

/// Reads bytes as a script; any bytes make one.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }
}

impl Script {
    /// Decodes any bytes into a script: a shape byte (kind, mode,
    /// unordered, grace), a deadline byte, a limit byte, a budget byte, a length
    /// byte (lazy kinds), one plan byte per child, then steps (an op byte,
    /// and a child byte for steps that name one).
    pub fn from_bytes(bytes: &[u8]) -> Script {
        let mut input = Input(bytes);
        let shape = input.byte();
        let kind = match shape % 8 {
            0 | 1 => Kind::Lazy { known: true },
            2 => Kind::Lazy { known: false },
            3..=5 => Kind::Array(ARRAY_LENS[usize::from(shape % 8 - 3)]),
            _ => Kind::Stream,
        };
        let settled = shape & 0x20 != 0;
        let unordered = shape & 0x40 != 0;
        let grace = (shape & 0x80 != 0).then(|| GRACES[usize::from(shape >> 3) & 3]);
        let deadline = match input.byte() {
            code @ 0..=3 => Some(DEADLINES[usize::from(code)]),
            _ => None,
        };
        let limit = match (input.byte(), kind) {
            (code @ 128..=255, _) => Some(1 + usize::from(code) % MAX_LIMIT),
            // A stream gather runs only under a limit.
            (code, Kind::Stream) => Some(1 + usize::from(code) % MAX_LIMIT),
            _ => None,
        };
        let budget = match input.byte() {
            code @ 128..=255 => Some(1 + usize::from(code) % MAX_BUDGET),
            _ => None,
        };
        let len = match kind {
            Kind::Lazy { .. } | Kind::Stream => input.below(MAX_LEN + 1),
            Kind::Array(len) => len,
        };
        let plans = (0..len)
            .map(|_| match input.byte() % 8 {
                0 | 1 => ChildPlan::Ready { ok: true },
                2 => ChildPlan::Ready { ok: false },
                3 => ChildPlan::SelfWake,
                _ => ChildPlan::Wait,
            })
            .collect();
        let mut steps = Vec::new();
        while !input.0.is_empty() && steps.len() < MAX_STEPS {
            let op = input.byte();
            steps.push(match op % 16 {
                0..=4 => Step::Poll,
                5..=8 => Step::Open {
                    child: input.below(len),
                    ok: op & 0x80 == 0,
                },
                9 | 10 => Step::Wake {
                    child: input.below(len),
                },
                11 => Step::Keep {
                    child: input.below(len),
                },
                12 => Step::WakeKept {
                    kept: usize::from(op >> 4),
                },
                13 if kind == Kind::Stream && op & 0x80 != 0 => Step::Close,
                13 | 14 if kind == Kind::Stream && op & 0x40 != 0 => Step::Send,
                13 | 14 => Step::Advance {
                    millis: ADVANCES[usize::from(op >> 4) % ADVANCES.len()],
                },
                _ => Step::Drop,
            });
        }
        Script {
            kind,
            settled,
            unordered,
            deadline,
            grace,
            limit,
            budget,
            plans,
            steps,
        }
    }

    fn len(&self) -> usize {
        self.plans.len()
    }
}

// ---------------------------------------------------------------------------
// The real gather, behind one face
// ---------------------------------------------------------------------------

/// A child's outcome as the checks compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok(u32),
    Err(u32),
    /// Cut off by the deadline (settled).
    Cut,
}

/// What a poll returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Pending,
    /// A fail-fast gather's values, in input order.
    Values(Vec<u32>),
    Failed {
        index: usize,
        error: u32,
    },
    TimedOut {
        completed: usize,
        pending: usize,
    },
    /// A settled gather's outcomes, in input order.
    Settled(Vec<Outcome>),
    /// An item of an unordered gather.
    Item(usize, Outcome),
    /// An unordered gather's end.
    End,
}

fn outcome(output: Result<Output, u32>) -> Outcome {
    match output {
        Ok(output) => Outcome::Ok(output.value),
        Err(error) => Outcome::Err(error),
    }
}

fn timed_outcome(output: Result<Output, SlotError<u32>>) -> Outcome {
    match output {
        Ok(output) => Outcome::Ok(output.value),
        Err(SlotError::Failed(error)) => Outcome::Err(error),
        Err(SlotError::TimedOut) => Outcome::Cut,
    }
}

fn error_event(error: GatherError<u32>) -> Event {
    match error {
        GatherError::Failed { index, error } => Event::Failed { index, error },
        GatherError::TimedOut { completed, pending } => Event::TimedOut { completed, pending },
        other => panic!("a GatherError the model does not know: {other:?}"),
    }
}

trait Driven {
    fn poll(&mut self, cx: &mut Context<'_>) -> Event;
}

struct AsFuture<G: Future>(Pin<Box<G>>, fn(G::Output) -> Event);

impl<G: Future> Driven for AsFuture<G> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Event {
        match self.0.as_mut().poll(cx) {
            Poll::Ready(output) => (self.1)(output),
            Poll::Pending => Event::Pending,
        }
    }
}

struct AsStream<S: Stream>(Pin<Box<S>>, fn(S::Item) -> Event);

impl<S: Stream> Driven for AsStream<S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Event {
        match self.0.as_mut().poll_next(cx) {
            Poll::Ready(Some(item)) => (self.1)(item),
            Poll::Ready(None) => Event::End,
            Poll::Pending => Event::Pending,
        }
    }
}

/// Turns an array or `Vec` of outputs into a `Vec`.
pub trait Flatten<T> {
    fn flatten(self) -> Vec<T>;
}

impl<T> Flatten<T> for Vec<T> {
    fn flatten(self) -> Vec<T> {
        self
    }
}

impl<T, const N: usize> Flatten<T> for [T; N] {
    fn flatten(self) -> Vec<T> {
        self.into()
    }
}

fn configure<K>(
    gather: SafeGather<K>,
    script: &Script,
    timer: &ManualTimer,
    cancels: &Cancels,
) -> Box<dyn Driven>
where
    K: UnorderedChildren<Ok = Output, Error = u32> + TryChildren<Error = u32> + 'static,
    K: Children<Limited = K> + Bounded,
    <K as TryChildren>::Ok: Flatten<Output>,
    <K as Children>::Settled: Flatten<Result<Output, u32>>,
    <K as Children>::SettledTimed: Flatten<Result<Output, SlotError<u32>>>,
{
    let gather = match script.limit {
        Some(limit) => gather.limit(limit),
        None => gather,
    };
    let gather = match script.budget {
        Some(budget) => gather.poll_budget(budget),
        None => gather,
    };
    let duration = script.deadline.map(Duration::from_millis);
    let grace = script.grace.map(|millis| match millis {
        u64::MAX => Duration::MAX,
        millis => Duration::from_millis(millis),
    });
    // `$gather`, given the script's grace period (the type changes with it).
    macro_rules! graced {
        ($gather:expr, |$g:ident| $wrap:expr) => {
            match grace {
                None => {
                    let $g = $gather;
                    $wrap
                }
                Some(grace) => {
                    let cancels = cancels.clone();
                    let $g = $gather
                        .grace_with(timer.clone(), grace, move || cancels.set(cancels.get() + 1));
                    $wrap
                }
            }
        };
    }
    match (script.settled, duration, script.unordered) {
        (false, None, false) => graced!(gather, |g| Box::new(AsFuture(Box::pin(g), values_event))),
        (false, Some(duration), false) => {
            graced!(gather.timeout_with(timer.clone(), duration), |g| {
                Box::new(AsFuture(Box::pin(g), values_event))
            })
        }
        (true, None, false) => graced!(gather.settled(), |g| Box::new(AsFuture(
            Box::pin(g),
            |output| { Event::Settled(output.flatten().into_iter().map(outcome).collect()) }
        ))),
        (true, Some(duration), false) => graced!(
            gather.settled().timeout_with(timer.clone(), duration),
            |g| Box::new(AsFuture(Box::pin(g), |output| {
                Event::Settled(output.flatten().into_iter().map(timed_outcome).collect())
            }))
        ),
        (false, None, true) => graced!(gather, |g| Box::new(AsStream(
            Box::pin(g.unordered()),
            item_event
        ))),
        (false, Some(duration), true) => {
            graced!(gather.timeout_with(timer.clone(), duration), |g| {
                Box::new(AsStream(Box::pin(g.unordered()), item_event))
            })
        }
        (true, None, true) => graced!(gather.settled(), |g| Box::new(AsStream(
            Box::pin(g.unordered()),
            |(index, output)| Event::Item(index, outcome(output)),
        ))),
        (true, Some(duration), true) => graced!(
            gather.settled().timeout_with(timer.clone(), duration),
            |g| Box::new(AsStream(Box::pin(g.unordered()), |(index, output)| {
                Event::Item(index, timed_outcome(output))
            }))
        ),
    }
}

fn values_event<O: Flatten<Output>>(output: Result<O, GatherError<u32>>) -> Event {
    match output {
        Ok(values) => Event::Values(values.flatten().iter().map(|o| o.value).collect()),
        Err(error) => error_event(error),
    }
}

fn item_event(item: Result<(usize, Output), GatherError<u32>>) -> Event {
    match item {
        Ok((index, output)) => Event::Item(index, Outcome::Ok(output.value)),
        Err(error) => error_event(error),
    }
}

/// How many times `on_cancel` ran.
type Cancels = std::rc::Rc<std::cell::Cell<usize>>;

/// A job queue the interpreter feeds: a stream of board children.
#[derive(Debug, Default)]
struct QueueState {
    jobs: VecDeque<Child>,
    closed: bool,
    waker: Option<Waker>,
    /// The gather dropped its end.
    gone: bool,
}

#[derive(Debug, Clone, Default)]
struct Queue(Arc<Mutex<QueueState>>);

impl Queue {
    /// Runs `f` on the state, then wakes the stream's waker if `f` says so.
    fn feed(&self, f: impl FnOnce(&mut QueueState)) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            f(&mut state);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

struct Jobs(Queue);

impl Stream for Jobs {
    type Item = Child;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Child>> {
        let mut state = self.0 .0.lock().unwrap();
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
        let mut state = self.0 .0.lock().unwrap();
        state.gone = true;
        state.waker = None;
    }
}

/// An iterator that hides its length.
struct UnknownLength<I>(I);

impl<I: Iterator> Iterator for UnknownLength<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.0.next()
    }
}

fn board_plan(plan: ChildPlan, id: usize) -> Plan {
    match plan {
        ChildPlan::Ready { ok: true } => Plan::Ready(Ok(ok_value(id))),
        ChildPlan::Ready { ok: false } => Plan::Ready(Err(err_value(id))),
        ChildPlan::Wait => Plan::Wait,
        ChildPlan::SelfWake => Plan::SelfWake,
    }
}

pub fn ok_value(id: usize) -> u32 {
    id as u32 * 10 + 1
}

pub fn err_value(id: usize) -> u32 {
    id as u32 * 10 + 2
}

fn array<const N: usize>(board: &Board, plans: &[ChildPlan]) -> [Child; N] {
    std::array::from_fn(|id| board.child(board_plan(plans[id], id)))
}

fn build(
    script: &Script,
    board: &Board,
    timer: &ManualTimer,
    queue: &Queue,
    cancels: &Cancels,
) -> Box<dyn Driven> {
    let plans = script.plans.clone();
    let made = board.clone();
    let lazy = move || {
        let plans = plans.clone();
        let made = made.clone();
        (0..plans.len()).map(move |id| made.child(board_plan(plans[id], id)))
    };
    match script.kind {
        Kind::Lazy { known: true } => configure(safe_gather(lazy()), script, timer, cancels),
        Kind::Lazy { known: false } => {
            configure(safe_gather(UnknownLength(lazy())), script, timer, cancels)
        }
        Kind::Array(1) => configure(
            safe_gather_array(array::<1>(board, &script.plans)),
            script,
            timer,
            cancels,
        ),
        Kind::Array(3) => configure(
            safe_gather_array(array::<3>(board, &script.plans)),
            script,
            timer,
            cancels,
        ),
        Kind::Array(8) => configure(
            safe_gather_array(array::<8>(board, &script.plans)),
            script,
            timer,
            cancels,
        ),
        Kind::Array(len) => panic!("no array of {len}"),
        Kind::Stream => {
            let limit = script.limit.expect("a stream gather has a limit");
            configure(
                safe_gather_stream(Jobs(queue.clone())).limit(limit),
                script,
                timer,
                cancels,
            )
        }
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not made yet (lazy input).
    Unmade,
    /// Made, not started.
    Made,
    Running,
    Finished(Outcome),
}

#[derive(Debug, Clone)]
struct ChildModel {
    plan: ChildPlan,
    state: State,
    polls: usize,
    /// Holds a waker on the board (a `Wait` child's pending poll).
    registered: bool,
    opened: Option<bool>,
    dropped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Running,
    /// Unordered, settled with a deadline: the children cut off, still to be
    /// handed out.
    Cutting(VecDeque<usize>),
    /// Resolved or ended.
    Done,
    Dropped,
}

#[derive(Debug, Clone, Copy, Default)]
struct StreamModel {
    sent: usize,
    /// Sent and not yet pulled.
    queued: usize,
    closed: bool,
    /// The gather's source said "not now" and has not been woken since.
    waiting: bool,
    /// The queue holds the stream's waker.
    registered: bool,
}

/// What began a cancellation with grace, and so what the gather resolves
/// to when the grace period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Failed(usize),
    /// The deadline, with what the gather counted when it passed.
    TimedOut {
        completed: usize,
        pending: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Idle,
    Paused,
    Failed(usize),
    Landed(usize),
}

#[derive(Debug)]
struct Model {
    fail_fast: bool,
    unordered: bool,
    timed: bool,
    known: bool,
    lazy: bool,
    /// A pool's queued schedule (a lazy input under a limit it may exceed).
    queued: bool,
    limit: usize,
    budget: usize,
    children: Vec<ChildModel>,
    slot_of: Vec<usize>,
    occupant: Vec<Option<usize>>,
    /// The pool's stack of vacant slots (top last).
    vacant: Vec<usize>,
    woken: Vec<bool>,
    /// A stream kind's queue and what the gather knows of it.
    stream: Option<StreamModel>,
    /// The round in progress: children (direct: slots, the same) still to
    /// poll.
    round: VecDeque<usize>,
    fresh: usize,
    started: usize,
    running: usize,
    finished: usize,
    exhausted: bool,
    /// Direct: the last round paused while starting children.
    starting: bool,
    first_poll: bool,
    due: Option<u64>,
    deadline: Option<u64>,
    now: u64,
    phase: Phase,
    grace: Option<u64>,
    /// In a grace period: what began it.
    cancel: Option<Cause>,
    /// When the grace period ends (`None`: never).
    grace_due: Option<u64>,
    /// `on_cancel` calls.
    cancels: usize,
}

impl Model {
    fn new(script: &Script) -> Model {
        let len = script.len();
        let limit = script.limit.unwrap_or(usize::MAX);
        let (lazy, known) = match script.kind {
            Kind::Lazy { known } => (true, known),
            Kind::Array(_) => (false, true),
            Kind::Stream => (true, false),
        };
        let stream = script.kind == Kind::Stream;
        // A pool, when the first `limit` children taken do not show the
        // input to be exhausted; always for a stream.
        let queued = stream || (lazy && (limit < len || (!known && limit == len)));
        let slots = if queued { limit } else { len };
        Model {
            fail_fast: !script.settled,
            unordered: script.unordered,
            timed: script.deadline.is_some(),
            known,
            lazy,
            queued,
            limit,
            budget: script
                .budget
                .unwrap_or(safe_gather::gather::DEFAULT_POLL_BUDGET),
            children: script
                .plans
                .iter()
                .map(|&plan| ChildModel {
                    plan,
                    state: if lazy { State::Unmade } else { State::Made },
                    polls: 0,
                    registered: false,
                    opened: None,
                    dropped: false,
                })
                .collect(),
            slot_of: vec![usize::MAX; len],
            occupant: vec![None; slots],
            // A stream's pool starts all vacant, slot 0 on top.
            vacant: if stream {
                (0..slots).rev().collect()
            } else {
                Vec::new()
            },
            // A stream has one more slot of the wakers, its own.
            woken: vec![false; slots + usize::from(stream)],
            stream: stream.then(StreamModel::default),
            round: VecDeque::new(),
            fresh: 0,
            started: 0,
            running: 0,
            finished: 0,
            exhausted: false,
            starting: false,
            first_poll: true,
            due: None,
            deadline: script.deadline,
            now: 0,
            phase: Phase::Running,
            grace: script.grace,
            cancel: None,
            grace_due: None,
            cancels: 0,
        }
    }

    /// Whether children may start: not in a grace period.
    fn starts(&self) -> bool {
        self.cancel.is_none()
    }

    /// Work a later poll must do, for which the task must have been woken:
    /// a running child marked, a round not finished, first polls pending.
    pub fn has_work(&self) -> bool {
        if !matches!(self.phase, Phase::Running) {
            return false;
        }
        let marked = (0..self.occupant.len()).any(|slot| {
            self.woken[slot]
                && self.occupant[slot].is_some_and(|id| self.children[id].state == State::Running)
        });
        marked || !self.round.is_empty() || self.starting
    }

    fn len(&self) -> usize {
        self.children.len()
    }

    fn made(&self, id: usize) -> bool {
        self.children[id].state != State::Unmade
    }

    /// The children the gather can count: all, or for an input of unknown
    /// length those it has taken.
    fn counted(&self) -> usize {
        if self.known {
            self.len()
        } else if self.stream.is_some() {
            self.started
        } else {
            (0..self.len()).filter(|&id| self.made(id)).count()
        }
    }

    fn mark_slot(&mut self, slot: usize) {
        if self.phase == Phase::Running {
            self.woken[slot] = true;
        }
    }

    fn make(&mut self, id: usize) {
        if self.children[id].state == State::Unmade {
            self.children[id].state = State::Made;
        }
    }

    /// Starts the next child in `slot` (made now if it was not).
    fn start(&mut self, slot: usize) -> usize {
        let id = self.started;
        self.make(id);
        self.started += 1;
        self.running += 1;
        self.children[id].state = State::Running;
        self.slot_of[id] = slot;
        self.occupant[slot] = Some(id);
        id
    }

    /// Polls child `id` once; returns its outcome if it finished.
    fn poll_child(&mut self, id: usize, polled: &mut Vec<usize>) -> Option<Outcome> {
        polled.push(id);
        let slot = self.slot_of[id];
        let child = &mut self.children[id];
        child.polls += 1;
        let finished = match (child.plan, child.opened) {
            (_, Some(ok)) => Some(ok),
            (ChildPlan::Ready { ok }, None) => Some(ok),
            (ChildPlan::Wait, None) => {
                child.registered = true;
                None
            }
            (ChildPlan::SelfWake, None) => {
                self.woken[slot] = true;
                None
            }
        };
        let ok = finished?;
        let outcome = if ok {
            Outcome::Ok(ok_value(id))
        } else {
            Outcome::Err(err_value(id))
        };
        let child = &mut self.children[id];
        child.state = State::Finished(outcome);
        child.registered = false;
        child.dropped = true;
        self.occupant[slot] = None;
        if self.queued {
            self.vacant.push(slot);
        }
        self.running -= 1;
        self.finished += 1;
        Some(outcome)
    }

    /// A finished child's effect on the round.
    fn after_finish(&self, id: usize, outcome: Outcome) -> Option<End> {
        let cancelling = self.cancel.is_some();
        if self.fail_fast && !cancelling && matches!(outcome, Outcome::Err(_)) {
            Some(End::Failed(id))
        } else if self.unordered && !(cancelling && self.fail_fast) {
            // In a grace period a fail-fast gather hands nothing out.
            Some(End::Landed(id))
        } else {
            None
        }
    }

    fn direct_round(&mut self, polled: &mut Vec<usize>) -> End {
        let mut budget = self.budget;
        let resumed = std::mem::take(&mut self.starting);
        if resumed {
            // A round paused while starting children goes on starting them,
            // and then asks for the next poll (a pause), which takes the
            // children woken meanwhile.
        } else if self.round.is_empty() {
            self.round = (0..self.woken.len())
                .filter(|&slot| self.woken[slot])
                .collect();
            self.woken.fill(false);
        }
        while let Some(&slot) = self.round.front() {
            if budget == 0 {
                return End::Paused;
            }
            self.round.pop_front();
            let id = slot;
            if self.children[id].state != State::Running {
                continue;
            }
            budget -= 1;
            if let Some(outcome) = self.poll_child(id, polled) {
                // The rest of the round (children woken with one that failed)
                // stays: a grace period polls them.
                if let Some(end) = self.after_finish(id, outcome) {
                    return end;
                }
            }
        }
        while self.starts() && !self.exhausted && self.running < self.limit {
            if budget == 0 {
                if self.started < self.len() {
                    self.starting = true;
                    return End::Paused;
                }
                self.exhausted = true;
                break;
            }
            if self.started == self.len() {
                self.exhausted = true;
                break;
            }
            let id = self.start(self.started);
            budget -= 1;
            if let Some(outcome) = self.poll_child(id, polled) {
                if let Some(end) = self.after_finish(id, outcome) {
                    return end;
                }
            }
        }
        if resumed {
            End::Paused
        } else {
            End::Idle
        }
    }

    /// A pool starts children while the limit allows, each queued last; a
    /// stream's pulls count against the budget, and once it said "not now"
    /// it is not asked again this round. Returns how many started, and
    /// whether the budget stopped it.
    fn top_up(&mut self, budget: &mut usize, later: &mut bool) -> (usize, bool) {
        let mut added = 0;
        while self.starts() && !self.exhausted && self.running < self.limit && !*later {
            if let Some(stream) = &mut self.stream {
                if *budget == 0 {
                    return (added, true);
                }
                *budget -= 1;
                if stream.waiting {
                    *later = true;
                    continue;
                }
                if stream.queued == 0 {
                    if stream.closed {
                        self.exhausted = true;
                        stream.registered = false;
                    } else {
                        stream.waiting = true;
                        stream.registered = true;
                        *later = true;
                    }
                    continue;
                }
                stream.queued -= 1;
            } else if self.started == self.len() {
                self.exhausted = true;
                break;
            }
            let slot = if self.stream.is_none() && self.started < self.occupant.len() {
                self.started
            } else {
                self.vacant.pop().expect("a vacant slot below the limit")
            };
            let id = self.start(slot);
            self.round.push_back(id);
            added += 1;
        }
        (added, false)
    }

    fn queued_round(&mut self, polled: &mut Vec<usize>) -> End {
        if self.round.len() == self.fresh {
            self.fresh = 0;
            if let Some(stream) = &mut self.stream {
                if std::mem::take(&mut self.woken[self.occupant.len()]) {
                    stream.waiting = false;
                }
            }
            for slot in 0..self.occupant.len() {
                if let (true, Some(id)) = (self.woken[slot], self.occupant[slot]) {
                    // A child queued for its first poll is not queued again.
                    if self.children[id].state == State::Running && !self.round.contains(&id) {
                        self.round.push_back(id);
                    }
                }
            }
            self.woken.fill(false);
            self.round.make_contiguous().sort_unstable();
        }
        let mut budget = self.budget;
        let mut later = false;
        loop {
            let (_, spent) = self.top_up(&mut budget, &mut later);
            let Some(&id) = self.round.front() else {
                return if spent { End::Paused } else { End::Idle };
            };
            if budget == 0 {
                return End::Paused;
            }
            self.round.pop_front();
            self.fresh = self.fresh.min(self.round.len());
            budget -= 1;
            if let Some(outcome) = self.poll_child(id, polled) {
                match self.after_finish(id, outcome) {
                    Some(End::Landed(id)) => {
                        self.fresh += self.top_up(&mut budget, &mut later).0;
                        return End::Landed(id);
                    }
                    Some(end) => return end,
                    None => {}
                }
            }
        }
    }

    /// Drops every child still held (a stream's queued jobs are the
    /// queue's, not the gather's), and the input.
    fn drop_all(&mut self) {
        let owned_unstarted = self.stream.is_none();
        for child in &mut self.children {
            let held = match child.state {
                State::Running => true,
                State::Made => owned_unstarted,
                _ => false,
            };
            if held {
                child.dropped = true;
                child.registered = false;
            }
        }
        if let Some(stream) = &mut self.stream {
            stream.registered = false;
        }
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.children[..self.counted()]
            .iter()
            .map(|child| match child.state {
                State::Finished(outcome) => outcome,
                _ => Outcome::Cut,
            })
            .collect()
    }

    /// One poll: the children it polls, and what it returns.
    fn poll(&mut self) -> (Vec<usize>, Event) {
        let mut polled = Vec::new();
        match &mut self.phase {
            Phase::Running => {}
            Phase::Cutting(cut) => {
                let event = match cut.pop_front() {
                    Some(id) => Event::Item(id, Outcome::Cut),
                    None => {
                        self.phase = Phase::Done;
                        Event::End
                    }
                };
                return (polled, event);
            }
            Phase::Done => return (polled, Event::End),
            Phase::Dropped => unreachable!("a dropped gather is not polled"),
        }
        if std::mem::take(&mut self.first_poll) {
            // An empty input resolves at once; a stream only once it ends.
            if self.len() == 0 && self.stream.is_none() {
                self.phase = Phase::Done;
                return (polled, self.complete());
            }
            if self.stream.is_none() {
                let taken = if self.queued { self.limit } else { self.len() };
                for id in 0..taken {
                    self.make(id);
                }
            }
            self.due = self.deadline.map(|millis| self.now + millis);
        }
        let end = if self.queued {
            self.queued_round(&mut polled)
        } else {
            self.direct_round(&mut polled)
        };
        let cause = match end {
            End::Failed(index) => Cause::Failed(index),
            End::Landed(id) => {
                let State::Finished(outcome) = self.children[id].state else {
                    unreachable!()
                };
                return (polled, Event::Item(id, outcome));
            }
            End::Idle | End::Paused if self.cancel.is_some() => {
                return (polled, self.grace_check());
            }
            End::Idle | End::Paused if self.exhausted && self.running == 0 => {
                self.phase = Phase::Done;
                return (polled, self.complete());
            }
            End::Idle | End::Paused if self.due.is_some_and(|due| self.now >= due) => {
                Cause::TimedOut {
                    completed: self.finished,
                    pending: self.counted() - self.finished,
                }
            }
            End::Idle | End::Paused => return (polled, Event::Pending),
        };
        let event = match self.grace {
            None => self.resolve(cause),
            Some(grace) => {
                // `on_cancel`, and the grace sleep (none for zero).
                self.cancels += 1;
                self.cancel = Some(cause);
                self.grace_due = self.now.checked_add(grace);
                self.grace_check()
            }
        };
        (polled, event)
    }

    /// In a grace period: resolves once no child runs or it has ended.
    fn grace_check(&mut self) -> Event {
        let cause = self.cancel.expect("a grace period");
        if self.running == 0 || self.grace_due.is_some_and(|due| self.now >= due) {
            self.resolve(cause)
        } else {
            Event::Pending
        }
    }

    fn resolve(&mut self, cause: Cause) -> Event {
        match cause {
            Cause::Failed(index) => {
                self.drop_all();
                self.phase = Phase::Done;
                Event::Failed {
                    index,
                    error: err_value(index),
                }
            }
            Cause::TimedOut { completed, pending } => self.timed_out(completed, pending),
        }
    }

    fn complete(&mut self) -> Event {
        if self.unordered {
            Event::End
        } else if self.fail_fast {
            Event::Values((0..self.counted()).map(ok_value).collect())
        } else {
            Event::Settled(self.outcomes())
        }
    }

    fn timed_out(&mut self, completed: usize, pending: usize) -> Event {
        let owned_unstarted = self.stream.is_none();
        let cut: VecDeque<usize> = (0..self.len())
            .filter(|&id| match self.children[id].state {
                State::Running => true,
                State::Made => owned_unstarted,
                _ => false,
            })
            .chain(
                if self.known {
                    self.started..self.len()
                } else {
                    0..0
                }
                .filter(|&id| self.children[id].state == State::Unmade),
            )
            .collect();
        let outcomes = self.outcomes();
        self.drop_all();
        match (self.fail_fast, self.unordered) {
            (true, _) => {
                self.phase = Phase::Done;
                Event::TimedOut { completed, pending }
            }
            (false, false) => {
                self.phase = Phase::Done;
                Event::Settled(outcomes)
            }
            (false, true) => {
                self.phase = Phase::Cutting(cut);
                let (_, event) = self.poll();
                event
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------

/// What one run saw, so tests can tell the scripts reach what they are for.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub events: Vec<Event>,
    pub paused_polls: usize,
    pub child_polls: usize,
    /// `on_cancel` calls, and the child polls made in a grace period.
    pub cancels: usize,
    pub grace_polls: usize,
}

struct Interpreter {
    script: Script,
    board: Board,
    queue: Queue,
    timer: ManualTimer,
    parent: Parent,
    gather: Option<Box<dyn Driven>>,
    model: Model,
    kept: Vec<(Waker, usize)>,
    at: String,
    report: Report,
    cancels: Cancels,
    /// The parent's wakes when the latest poll began.
    wakes_at_poll: usize,
}

impl Interpreter {
    #[track_caller]
    fn fail(&self, message: String) -> ! {
        panic!(
            "safe-gather disagrees with the round model at {}: {message}\nscript: {:?}",
            self.at, self.script
        )
    }

    fn step(&mut self, step: Step) {
        let len = self.model.len();
        match step {
            Step::Poll => self.poll(),
            Step::Open { child, ok } if child < len && self.model.made(child) => {
                let model = &mut self.model.children[child];
                if model.opened.is_some()
                    || matches!(model.state, State::Finished(_))
                    || model.dropped
                {
                    return;
                }
                model.opened = Some(ok);
                let registered = std::mem::take(&mut model.registered);
                let outcome = if ok {
                    Ok(ok_value(child))
                } else {
                    Err(err_value(child))
                };
                self.board.open(child, outcome);
                if registered {
                    let slot = self.model.slot_of[child];
                    self.model.mark_slot(slot);
                }
            }
            Step::Wake { child } if child < len && self.model.children[child].registered => {
                self.board.wake(child);
                let slot = self.model.slot_of[child];
                self.model.mark_slot(slot);
            }
            Step::Keep { child } if child < len && self.model.children[child].registered => {
                self.kept
                    .push((self.board.waker(child), self.model.slot_of[child]));
            }
            Step::WakeKept { kept } if !self.kept.is_empty() => {
                let (waker, slot) = &self.kept[kept % self.kept.len()];
                waker.wake_by_ref();
                let slot = *slot;
                self.model.mark_slot(slot);
            }
            Step::Advance { millis } => {
                self.timer.advance(Duration::from_millis(millis));
                self.model.now += millis;
            }
            Step::Send if self.model.stream.is_some_and(|stream| stream.sent < len) => {
                let id = self.model.stream.expect("a stream").sent;
                let plan = board_plan(self.script.plans[id], id);
                let child = self.board.child(plan);
                self.queue.feed(|state| state.jobs.push_back(child));
                let stream = self.model.stream.as_mut().expect("a stream");
                stream.sent += 1;
                stream.queued += 1;
                self.model.children[id].state = State::Made;
                if std::mem::take(&mut stream.registered) {
                    let slot = self.model.occupant.len();
                    self.model.mark_slot(slot);
                }
            }
            Step::Close if self.model.stream.is_some_and(|stream| !stream.closed) => {
                self.queue.feed(|state| state.closed = true);
                let stream = self.model.stream.as_mut().expect("a stream");
                stream.closed = true;
                if std::mem::take(&mut stream.registered) {
                    let slot = self.model.occupant.len();
                    self.model.mark_slot(slot);
                }
            }
            Step::Drop if self.gather.is_some() => {
                self.gather = None;
                if self.model.phase != Phase::Done {
                    self.model.drop_all();
                }
                self.model.phase = Phase::Dropped;
            }
            _ => {}
        }
    }

    fn poll(&mut self) {
        let Some(gather) = self.gather.as_mut() else {
            return;
        };
        // A resolved future is not polled again (that panics, which the first
        // model checks); an ended stream is.
        if self.model.phase == Phase::Done && !self.model.unordered {
            return;
        }
        // After an item (or the output) the consumer polls again anyway.
        let wakes = self.parent.wakes();
        let after_pending = matches!(self.report.events.last(), None | Some(Event::Pending));
        if after_pending && self.model.has_work() && wakes == self.wakes_at_poll {
            self.fail(String::from(
                "lost wake-up: the last poll left work behind, and the task was not woken since",
            ));
        }
        self.wakes_at_poll = wakes;
        let cancelled_before = self.model.cancel.is_some();
        self.board.take_log();
        let event = gather.poll(&mut Context::from_waker(self.parent.waker()));
        let log = self.board.take_log();
        let (expected_log, expected) = self.model.poll();
        if log != expected_log {
            self.fail(format!(
                "the gather polled {log:?}, the model says {expected_log:?}"
            ));
        }
        if event != expected {
            self.fail(format!(
                "the gather returned {event:?}, the model says {expected:?}"
            ));
        }
        if event == Event::Pending
            && (self.model.round.len() > self.model.fresh || self.model.starting)
        {
            self.report.paused_polls += 1;
        }
        self.report.child_polls += log.len();
        if self.model.cancel.is_some() && cancelled_before {
            self.report.grace_polls += log.len();
        }
        self.report.cancels = self.cancels.get();
        self.report.events.push(event);
    }

    fn check(&self) {
        let made = (0..self.model.len())
            .filter(|&id| self.model.made(id))
            .count();
        if self.board.len() != made {
            self.fail(format!(
                "{} children made, the model says {made}",
                self.board.len()
            ));
        }
        for id in 0..made {
            let model = &self.model.children[id];
            if self.board.polls(id) != model.polls {
                self.fail(format!(
                    "child {id} polled {} times, the model says {}",
                    self.board.polls(id),
                    model.polls
                ));
            }
            if self.board.drops(id) != usize::from(model.dropped) {
                self.fail(format!(
                    "child {id} dropped {} times, the model says {}",
                    self.board.drops(id),
                    usize::from(model.dropped)
                ));
            }
        }
        self.board.assert_sound();
        if self.cancels.get() != self.model.cancels {
            self.fail(format!(
                "on_cancel ran {} times, the model says {}",
                self.cancels.get(),
                self.model.cancels
            ));
        }
        let limit = self.model.limit;
        if self.board.in_flight() > limit {
            self.fail(format!(
                "{} in flight over a limit of {limit}",
                self.board.in_flight()
            ));
        }
        if self.model.lazy && self.model.stream.is_none() {
            let alive = (0..made).filter(|&id| self.board.drops(id) == 0).count();
            if alive > limit {
                self.fail(format!("{alive} children alive over a limit of {limit}"));
            }
        }
    }
}

/// Runs `script` against the real crate, checking every step.
pub fn run(script: &Script) -> Report {
    let board = Board::new();
    let timer = ManualTimer::new();
    let queue = Queue::default();
    let cancels = Cancels::default();
    let gather = build(script, &board, &timer, &queue, &cancels);
    let mut interpreter = Interpreter {
        script: script.clone(),
        board,
        queue,
        timer,
        parent: Parent::new(),
        gather: Some(gather),
        model: Model::new(script),
        kept: Vec::new(),
        at: String::from("the build"),
        report: Report::default(),
        cancels,
        wakes_at_poll: 0,
    };
    interpreter.check();
    for (index, &step) in script.steps.iter().enumerate() {
        interpreter.at = format!("step {index} ({step:?})");
        interpreter.step(step);
        interpreter.check();
    }
    interpreter.at = String::from("the end");
    interpreter.step(Step::Drop);
    interpreter.check();
    interpreter.report
}
