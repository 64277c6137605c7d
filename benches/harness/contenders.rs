//! The implementations the benchmark compares: this crate's three entry
//! points, its peers (`futures`' `try_join_all`, `join_all`,
//! `FuturesUnordered`, `try_join!`, futures-concurrency's `TryJoin`,
//! futures-buffered's `try_join_all`), and a floor.
//!
//! Each is a [`Contender`]: how to take the trial's children, how to make
//! its gather with and without a deadline, and how to read its output. The
//! [`each_vec_contender`] and [`each_tuple_contender`] lists are the one place
//! that says who runs, for the timings, the counters table and the tests.
//!
//! Deadlines: safe-gather takes the trial's [`Alarm`] through
//! `.deadline(alarm)`. The peers have no deadline of their own, so they race
//! it with [`WithDeadline`], which polls the gather first and the alarm
//! second, as safe-gather does; on its firing it returns at once and the
//! children are dropped with the gather, still inside the timed region.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use futures::stream::{FuturesUnordered, StreamExt};
use futures::TryFutureExt;
use futures_concurrency::future::TryJoin as _;
use pin_project_lite::pin_project;
use safe_gather::{safe_gather, safe_gather_array, GatherError};

use super::{Alarm, Board, Child};

/// What a gather resolved to, in a form every implementation can be
/// compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every child's value, in the order the gather returned them.
    Completed(Vec<u64>),
    /// A child failed with this error (the failing child's index).
    Failed(u64),
    /// The deadline fired first.
    TimedOut,
}

/// Where an implementation stands in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This crate.
    Subject,
    /// A peer SPEC §6 measures the crate against.
    ContractPeer,
    /// A peer shown for reference (`join_all` does not fail fast;
    /// `FuturesUnordered` is the do-it-yourself way).
    Peer,
    /// The hand-written lower bound.
    Floor,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Subject => "subject",
            Role::ContractPeer => "contract_peer",
            Role::Peer => "peer",
            Role::Floor => "floor",
        }
    }
}

/// One implementation under comparison.
pub trait Contender {
    /// The name in criterion ids and tables.
    const NAME: &'static str;
    const ROLE: Role;
    /// The children as this contender takes them (made untimed, moved into
    /// the gather).
    type Input;
    /// What the contender makes ahead and lends its gather (made and dropped
    /// untimed): the floor's wakers; `()` for everyone else.
    type Kept;
    type Output;
    /// The output of the deadline variant.
    type TimedOutput;

    /// Whether it can gather `n` children (arrays and tuples have one size).
    fn supports(n: usize) -> bool;

    /// The trial's children, in the form [`Contender::gather`] takes, and
    /// what it keeps: made before the timed region.
    fn prepare(board: &Rc<Board>) -> (Self::Input, Self::Kept);

    fn gather(input: Self::Input, kept: &Self::Kept) -> impl Future<Output = Self::Output>;

    /// The gather, cut off when `deadline` fires.
    fn gather_until(
        input: Self::Input,
        kept: &Self::Kept,
        deadline: Alarm,
    ) -> impl Future<Output = Self::TimedOutput>;

    fn verdict(output: &Self::Output) -> Verdict;

    fn timed_verdict(output: &Self::TimedOutput) -> Verdict;
}

/// Something to do with each contender, whatever its type.
pub trait Visit {
    fn visit<C: Contender>(&mut self);
}

/// Every contender of the `Vec` scenarios, in table order.
pub fn each_vec_contender(visitor: &mut impl Visit) {
    visitor.visit::<SafeGatherVec>();
    visitor.visit::<SafeGatherArray<8>>();
    visitor.visit::<SafeGatherArray<64>>();
    visitor.visit::<TryJoinAll>();
    visitor.visit::<JoinAll>();
    visitor.visit::<UnorderedCollect>();
    visitor.visit::<ConcurrencyTryJoin>();
    visitor.visit::<BufferedTryJoinAll>();
    visitor.visit::<Floor>();
}

/// Every contender of the heterogeneous 3-tuple scenarios, in table order.
pub fn each_tuple_contender(visitor: &mut impl Visit) {
    visitor.visit::<SafeGatherTuple>();
    visitor.visit::<TryJoinMacro>();
    visitor.visit::<ConcurrencyTupleTryJoin>();
}

/// The verdict of a gather that returned `values`.
fn completed(values: &[u32]) -> Verdict {
    Verdict::Completed(values.iter().map(|&value| u64::from(value)).collect())
}

/// The verdict of a peer's fail-fast `Result<Vec<u32>, u32>`.
fn vec_verdict(output: &Result<Vec<u32>, u32>) -> Verdict {
    match output {
        Ok(values) => completed(values),
        Err(error) => Verdict::Failed(u64::from(*error)),
    }
}

/// The verdict of a safe-gather error.
fn gather_error_verdict(error: &GatherError<u32>) -> Verdict {
    match error {
        GatherError::Failed { error, .. } => Verdict::Failed(u64::from(*error)),
        GatherError::TimedOut { .. } => Verdict::TimedOut,
        _ => unreachable!("no other gather error exists yet"),
    }
}

/// The deadline fired before the gather resolved.
#[derive(Debug)]
pub struct DeadlinePassed;

pin_project! {
    /// A peer's gather raced against the trial's deadline: the gather is
    /// polled first, then the deadline, as safe-gather does.
    pub struct WithDeadline<G> {
        #[pin]
        gather: G,
        deadline: Alarm,
    }
}

impl<G: Future> Future for WithDeadline<G> {
    type Output = Result<G::Output, DeadlinePassed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.gather.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(this.deadline).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(DeadlinePassed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Races a peer's gather against `deadline`.
fn with_deadline<G: Future>(gather: G, deadline: Alarm) -> WithDeadline<G> {
    WithDeadline { gather, deadline }
}

/// The verdict of a peer raced with [`with_deadline`].
fn peer_timed_verdict<C: Contender>(output: &Result<C::Output, DeadlinePassed>) -> Verdict {
    match output {
        Ok(output) => C::verdict(output),
        Err(DeadlinePassed) => Verdict::TimedOut,
    }
}

/// `safe_gather(vec)`.
pub struct SafeGatherVec;

impl Contender for SafeGatherVec {
    const NAME: &'static str = "safe_gather";
    const ROLE: Role = Role::Subject;
    type Input = Vec<Child>;
    type Kept = ();
    type Output = Result<Vec<u32>, GatherError<u32>>;
    type TimedOutput = Self::Output;

    fn supports(_: usize) -> bool {
        true
    }

    fn prepare(board: &Rc<Board>) -> (Vec<Child>, ()) {
        (board.children(), ())
    }

    fn gather(children: Vec<Child>, _: &()) -> impl Future<Output = Self::Output> {
        safe_gather(children)
    }

    fn gather_until(
        children: Vec<Child>,
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::Output> {
        safe_gather(children).deadline(deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        match output {
            Ok(values) => completed(values),
            Err(error) => gather_error_verdict(error),
        }
    }

    fn timed_verdict(output: &Self::Output) -> Verdict {
        Self::verdict(output)
    }
}

/// `safe_gather_array([..; N])`, for `N` children only.
pub struct SafeGatherArray<const N: usize>;

impl<const N: usize> Contender for SafeGatherArray<N> {
    const NAME: &'static str = "safe_gather_array";
    const ROLE: Role = Role::Subject;
    type Input = [Child; N];
    type Kept = ();
    type Output = Result<[u32; N], GatherError<u32>>;
    type TimedOutput = Self::Output;

    fn supports(n: usize) -> bool {
        n == N
    }

    fn prepare(board: &Rc<Board>) -> ([Child; N], ()) {
        let children = board.children().try_into();
        let children = children.unwrap_or_else(|_| panic!("an array gather of {N} children"));
        (children, ())
    }

    fn gather(children: [Child; N], _: &()) -> impl Future<Output = Self::Output> {
        safe_gather_array(children)
    }

    fn gather_until(
        children: [Child; N],
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::Output> {
        safe_gather_array(children).deadline(deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        match output {
            Ok(values) => completed(values),
            Err(error) => gather_error_verdict(error),
        }
    }

    fn timed_verdict(output: &Self::Output) -> Verdict {
        Self::verdict(output)
    }
}

/// A peer that gathers a `Vec` of children into `Result<Vec<u32>, u32>`,
/// failing fast, and is raced with the deadline by [`with_deadline`]: the
/// same `Contender` impl but for its name, role and gather.
macro_rules! fail_fast_vec_peer {
    ($name:ident, $label:literal, $role:expr, |$children:ident| $gather:expr) => {
        impl Contender for $name {
            const NAME: &'static str = $label;
            const ROLE: Role = $role;
            type Input = Vec<Child>;
            type Kept = ();
            type Output = Result<Vec<u32>, u32>;
            type TimedOutput = Result<Self::Output, DeadlinePassed>;

            fn supports(_: usize) -> bool {
                true
            }

            fn prepare(board: &Rc<Board>) -> (Vec<Child>, ()) {
                (board.children(), ())
            }

            fn gather($children: Vec<Child>, _: &()) -> impl Future<Output = Self::Output> {
                $gather
            }

            fn gather_until(
                children: Vec<Child>,
                _: &(),
                deadline: Alarm,
            ) -> impl Future<Output = Self::TimedOutput> {
                with_deadline(Self::gather(children, &()), deadline)
            }

            fn verdict(output: &Self::Output) -> Verdict {
                vec_verdict(output)
            }

            fn timed_verdict(output: &Self::TimedOutput) -> Verdict {
                peer_timed_verdict::<Self>(output)
            }
        }
    };
}

/// `futures::future::try_join_all`.
pub struct TryJoinAll;

fail_fast_vec_peer!(TryJoinAll, "try_join_all", Role::ContractPeer, |children| {
    futures::future::try_join_all(children)
});

/// `futures::future::join_all`: does not fail fast, so in the fail-mid
/// scenario it runs until every child has finished.
pub struct JoinAll;

impl Contender for JoinAll {
    const NAME: &'static str = "join_all";
    const ROLE: Role = Role::Peer;
    type Input = Vec<Child>;
    type Kept = ();
    type Output = Vec<Result<u32, u32>>;
    type TimedOutput = Result<Self::Output, DeadlinePassed>;

    fn supports(_: usize) -> bool {
        true
    }

    fn prepare(board: &Rc<Board>) -> (Vec<Child>, ()) {
        (board.children(), ())
    }

    fn gather(children: Vec<Child>, _: &()) -> impl Future<Output = Self::Output> {
        futures::future::join_all(children)
    }

    fn gather_until(
        children: Vec<Child>,
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::TimedOutput> {
        with_deadline(Self::gather(children, &()), deadline)
    }

    fn verdict(outcomes: &Self::Output) -> Verdict {
        let collected: Result<Vec<u32>, u32> = outcomes.iter().copied().collect();
        vec_verdict(&collected)
    }

    fn timed_verdict(output: &Self::TimedOutput) -> Verdict {
        peer_timed_verdict::<Self>(output)
    }
}

/// A `FuturesUnordered` of the children tagged with their index, drained
/// with `?` (so it fails fast), then put back in input order.
pub struct UnorderedCollect;

/// [`UnorderedCollect`]'s gather, for any children of `Result`s (the leaf
/// benchmark's too).
pub async fn collect_unordered<F, T, E>(children: Vec<F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
    T: Clone,
{
    let n = children.len();
    let mut running: FuturesUnordered<_> = children
        .into_iter()
        .enumerate()
        .map(|(index, child)| child.map_ok(move |value| (index, value)))
        .collect();
    let mut slots: Vec<Option<T>> = vec![None; n];
    while let Some(finished) = running.next().await {
        let (index, value) = finished?;
        slots[index] = Some(value);
    }
    Ok(slots
        .into_iter()
        .map(|slot| slot.expect("every child finished"))
        .collect())
}

fail_fast_vec_peer!(
    UnorderedCollect,
    "FuturesUnordered",
    Role::Peer,
    |children| collect_unordered(children)
);

/// futures-concurrency's `TryJoin` for `Vec`.
pub struct ConcurrencyTryJoin;

fail_fast_vec_peer!(
    ConcurrencyTryJoin,
    "fc::TryJoin",
    Role::ContractPeer,
    |children| children.try_join()
);

/// futures-buffered's `try_join_all`.
pub struct BufferedTryJoinAll;

fail_fast_vec_peer!(
    BufferedTryJoinAll,
    "fb::try_join_all",
    Role::ContractPeer,
    |children| futures_buffered::try_join_all(children)
);

/// The floor: children in a `Vec`, one waker per child that appends the
/// child's index to a queue, and a poll that polls every child once, then
/// only the ones on the queue.
///
/// Its per-child wakers (N `Arc`s) and its queue are made in
/// [`Contender::prepare`] and dropped after the trial, both **outside** the
/// timed region: the floor is the cost of polling the woken child and
/// keeping its output, not of setting up wakers. It is the least a gather
/// could do (a burst of wakes costs one parent wake, as in safe-gather), and
/// cuts corners a real one cannot: no order among the woken (so it polls in
/// wake order, which at large N is scattered over memory),
/// no dropping of the other children before returning an error (they go
/// when it is dropped, still timed), a parent waker taken once and assumed
/// never to change (true under this executor), and a queue that is only
/// right for children that do not wake themselves while polled.
pub struct Floor;

/// The floor's wake bookkeeping, made before the timed region and lent to
/// its gather.
pub struct FloorWakers {
    queue: Arc<WokenQueue>,
    child_wakers: Vec<Waker>,
}

/// A fixed-capacity queue of woken children: each child is queued at most
/// once until polled, so `n` slots suffice. Atomics, because a `Waker` must
/// be `Sync`; all relaxed, because the benchmark wakes on the polling thread.
struct WokenQueue {
    slots: Box<[AtomicUsize]>,
    len: AtomicUsize,
    queued: Box<[AtomicBool]>,
    /// Set by the first wake since the last poll: a burst of wakes costs one
    /// parent wake.
    notified: AtomicBool,
    parent: OnceLock<Waker>,
}

impl WokenQueue {
    fn push(&self, index: usize) {
        if self.queued[index].swap(true, Ordering::Relaxed) {
            return;
        }
        let at = self.len.fetch_add(1, Ordering::Relaxed);
        self.slots[at].store(index, Ordering::Relaxed);
        if !self.notified.swap(true, Ordering::Relaxed) {
            if let Some(parent) = self.parent.get() {
                parent.wake_by_ref();
            }
        }
    }
}

struct ChildWake {
    index: usize,
    queue: Arc<WokenQueue>,
}

impl Wake for ChildWake {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.index);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.queue.push(self.index);
    }
}

/// The floor's future.
pub struct FloorGather<'k> {
    children: Vec<Option<Child>>,
    values: Vec<u32>,
    remaining: usize,
    started: bool,
    wakers: &'k FloorWakers,
}

impl FloorGather<'_> {
    /// Polls child `index` if it still runs; its error if it failed.
    fn poll_child(&mut self, index: usize) -> Result<(), u32> {
        let Some(child) = &mut self.children[index] else {
            return Ok(());
        };
        let mut cx = Context::from_waker(&self.wakers.child_wakers[index]);
        match Pin::new(child).poll(&mut cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(Ok(value)) => {
                self.values[index] = value;
                self.children[index] = None;
                self.remaining -= 1;
                Ok(())
            }
            Poll::Ready(Err(error)) => Err(error),
        }
    }

    fn poll_woken(&mut self) -> Result<(), u32> {
        if !self.started {
            self.started = true;
            return (0..self.children.len()).try_for_each(|index| self.poll_child(index));
        }
        let queue = &*self.wakers.queue;
        queue.notified.store(false, Ordering::Relaxed);
        let woken = queue.len.swap(0, Ordering::Relaxed);
        for slot in 0..woken {
            let index = queue.slots[slot].load(Ordering::Relaxed);
            queue.queued[index].store(false, Ordering::Relaxed);
            self.poll_child(index)?;
        }
        Ok(())
    }
}

impl Future for FloorGather<'_> {
    type Output = Result<Vec<u32>, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.wakers.queue.parent.get_or_init(|| cx.waker().clone());
        if let Err(error) = this.poll_woken() {
            return Poll::Ready(Err(error));
        }
        if this.remaining == 0 {
            return Poll::Ready(Ok(std::mem::take(&mut this.values)));
        }
        Poll::Pending
    }
}

impl Contender for Floor {
    const NAME: &'static str = "floor";
    const ROLE: Role = Role::Floor;
    type Input = Vec<Child>;
    type Kept = FloorWakers;
    type Output = Result<Vec<u32>, u32>;
    type TimedOutput = Result<Self::Output, DeadlinePassed>;

    fn supports(_: usize) -> bool {
        true
    }

    fn prepare(board: &Rc<Board>) -> (Vec<Child>, FloorWakers) {
        let n = board.len();
        let queue = Arc::new(WokenQueue {
            slots: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            len: AtomicUsize::new(0),
            queued: (0..n).map(|_| AtomicBool::new(false)).collect(),
            notified: AtomicBool::new(false),
            parent: OnceLock::new(),
        });
        let child_wakers = (0..n)
            .map(|index| {
                Waker::from(Arc::new(ChildWake {
                    index,
                    queue: Arc::clone(&queue),
                }))
            })
            .collect();
        (
            board.children(),
            FloorWakers {
                queue,
                child_wakers,
            },
        )
    }

    fn gather(children: Vec<Child>, wakers: &FloorWakers) -> impl Future<Output = Self::Output> {
        let n = children.len();
        FloorGather {
            // `Option<Child>` has `Child`'s layout, so this reuses the buffer.
            children: children.into_iter().map(Some).collect(),
            values: vec![0; n],
            remaining: n,
            started: false,
            wakers,
        }
    }

    fn gather_until(
        children: Vec<Child>,
        wakers: &FloorWakers,
        deadline: Alarm,
    ) -> impl Future<Output = Self::TimedOutput> {
        with_deadline(Self::gather(children, wakers), deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        vec_verdict(output)
    }

    fn timed_verdict(output: &Self::TimedOutput) -> Verdict {
        peer_timed_verdict::<Self>(output)
    }
}

/// The heterogeneous children of a tuple trial.
pub type Triple = (Child<u32>, Child<u64>, Child<i64>);

fn triple(board: &Rc<Board>) -> Triple {
    (board.child(0), board.child(1), board.child(2))
}

fn triple_verdict<E>(
    output: &Result<(u32, u64, i64), E>,
    error: impl Fn(&E) -> Verdict,
) -> Verdict {
    match output {
        Ok((a, b, c)) => Verdict::Completed(vec![u64::from(*a), *b, *c as u64]),
        Err(failure) => error(failure),
    }
}

/// `safe_gather!(a, b, c)`.
pub struct SafeGatherTuple;

impl Contender for SafeGatherTuple {
    const NAME: &'static str = "safe_gather!";
    const ROLE: Role = Role::Subject;
    type Input = Triple;
    type Kept = ();
    type Output = Result<(u32, u64, i64), GatherError<u32>>;
    type TimedOutput = Self::Output;

    fn supports(n: usize) -> bool {
        n == 3
    }

    fn prepare(board: &Rc<Board>) -> (Triple, ()) {
        (triple(board), ())
    }

    fn gather((a, b, c): Triple, _: &()) -> impl Future<Output = Self::Output> {
        safe_gather::safe_gather!(a, b, c)
    }

    fn gather_until(
        (a, b, c): Triple,
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::Output> {
        safe_gather::safe_gather!(a, b, c).deadline(deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        triple_verdict(output, gather_error_verdict)
    }

    fn timed_verdict(output: &Self::Output) -> Verdict {
        Self::verdict(output)
    }
}

/// `futures::try_join!(a, b, c)`, in the `async` block it needs.
pub struct TryJoinMacro;

impl Contender for TryJoinMacro {
    const NAME: &'static str = "try_join!";
    const ROLE: Role = Role::ContractPeer;
    type Input = Triple;
    type Kept = ();
    type Output = Result<(u32, u64, i64), u32>;
    type TimedOutput = Result<Self::Output, DeadlinePassed>;

    fn supports(n: usize) -> bool {
        n == 3
    }

    fn prepare(board: &Rc<Board>) -> (Triple, ()) {
        (triple(board), ())
    }

    async fn gather((a, b, c): Triple, _: &()) -> Self::Output {
        futures::try_join!(a, b, c)
    }

    fn gather_until(
        input: Triple,
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::TimedOutput> {
        with_deadline(Self::gather(input, &()), deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        triple_verdict(output, |&error| Verdict::Failed(u64::from(error)))
    }

    fn timed_verdict(output: &Self::TimedOutput) -> Verdict {
        peer_timed_verdict::<Self>(output)
    }
}

/// futures-concurrency's `TryJoin` for tuples.
pub struct ConcurrencyTupleTryJoin;

impl Contender for ConcurrencyTupleTryJoin {
    const NAME: &'static str = "fc::TryJoin";
    const ROLE: Role = Role::ContractPeer;
    type Input = Triple;
    type Kept = ();
    type Output = Result<(u32, u64, i64), u32>;
    type TimedOutput = Result<Self::Output, DeadlinePassed>;

    fn supports(n: usize) -> bool {
        n == 3
    }

    fn prepare(board: &Rc<Board>) -> (Triple, ()) {
        (triple(board), ())
    }

    fn gather(children: Triple, _: &()) -> impl Future<Output = Self::Output> {
        children.try_join()
    }

    fn gather_until(
        input: Triple,
        _: &(),
        deadline: Alarm,
    ) -> impl Future<Output = Self::TimedOutput> {
        with_deadline(Self::gather(input, &()), deadline)
    }

    fn verdict(output: &Self::Output) -> Verdict {
        triple_verdict(output, |&error| Verdict::Failed(u64::from(error)))
    }

    fn timed_verdict(output: &Self::TimedOutput) -> Verdict {
        peer_timed_verdict::<Self>(output)
    }
}
