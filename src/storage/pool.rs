//! Children taken lazily from an iterator, into one boxed slice of slots or a
//! fixed pool reused in place.
//!
//! Nothing is taken from the iterator before the gather's first poll. Then:
//!
//! * **No limit, or no more children than the limit**: every child is taken
//!   at once into a boxed slice, one slot each (slot `i` holds child `i`).
//!   Three allocations in all for an input of exact length: the slots, the
//!   output buffer, and the wakers' block (the last only if a child keeps its
//!   waker). Without a limit the slots are collected from the input, so a
//!   `Vec`'s children become their slots in its own buffer when a slot (a
//!   child, or vacant) is no larger than a child: a child type with a niche.
//! * **`.limit(n)` over more than `n` children**: a pool of `n` slots. The
//!   first `n` children are taken at the first poll, and each time a child
//!   finishes, the next is taken into the slot it left. At most `n` children
//!   exist at any moment, so the memory held for them is O(n) whatever the
//!   input's length, and allocations are O(1) for inputs of exact length
//!   (the pool, its two slot lists, the outputs, the wakers).
//!
//! Slots do not follow input order in a pool, so besides the slots it keeps
//! each slot's child index, a queue of slots to poll (the engine fills it
//! with the woken slots, sorted by child index, so that children are still
//! polled in input order within a gather poll) and a stack of vacant slots.
//!
//! The iterator's `next` runs inside the gather's poll; a panic there
//! unwinds like a child's panic. It is dropped as soon as it is exhausted,
//! and with the children when the gather resolves early.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::IntoFuture;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::Stream;

use futures_core::TryFuture;
use pin_project_lite::pin_project;

use super::outputs::Outputs;
use super::{
    pin_index, Begun, Finished, Keep, Output, Polled, Schedule, Start, Storage, TryStorage,
    UnorderedStorage,
};
use crate::error::SlotError;

/// The future of an iterator's item.
pub(crate) type Fut<I> = <<I as Iterator>::Item as IntoFuture>::IntoFuture;

/// Where a pool's children come from: an iterator, or a stream of jobs.
pub trait Source {
    /// A child.
    type Fut: TryFuture;

    /// Whether the source may have no child *now* but one later (a stream),
    /// and so needs a waker of its own: the last slot of the wakers.
    const WAKES: bool;

    /// The next child, polling a stream with `waker`.
    fn pull(&mut self, waker: &Waker) -> Pull<Self::Fut>;

    /// Bounds on the children still to come.
    fn size_hint(&self) -> (usize, Option<usize>);

    /// The source's own waker was woken: it may have a child now.
    fn woken(&mut self) {}

    /// Every child, for a gather without a limit, which takes them all at
    /// its first poll: `fill` with no bound, by default.
    fn take_all(mut self) -> Vec<Job<Self::Fut>>
    where
        Self: Sized,
    {
        let mut jobs = Vec::with_capacity(self.size_hint().0);
        self.fill(&mut jobs, usize::MAX);
        jobs
    }

    /// Takes children into `jobs` (empty) until it holds `max` of them or
    /// the source has none now, as `pull` one by one would (with a waker
    /// that is never woken); says whether the source said it is done.
    fn fill(&mut self, jobs: &mut Vec<Job<Self::Fut>>, max: usize) -> bool {
        let unused = crate::waker::noop();
        while jobs.len() < max {
            match self.pull(&unused) {
                Pull::Child(future) => jobs.push(Job::Running { future }),
                Pull::Later => return false,
                Pull::Done => return true,
            }
        }
        false
    }
}

/// What a source gave.
#[derive(Debug)]
pub enum Pull<F> {
    Child(F),
    /// None now; the source wakes its waker when it has one.
    Later,
    /// None ever again.
    Done,
}

/// The children of an iterator.
#[derive(Debug)]
pub struct IterSource<I>(pub(crate) I);

impl<I> Source for IterSource<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    Fut<I>: TryFuture,
{
    type Fut = Fut<I>;
    const WAKES: bool = false;

    #[inline(always)]
    fn pull(&mut self, _: &Waker) -> Pull<Fut<I>> {
        match self.0.next() {
            Some(item) => Pull::Child(item.into_future()),
            None => Pull::Done,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }

    /// One `collect`, which for a `Vec`'s children (`vec::IntoIter` mapped)
    /// writes each slot over its child in the `Vec`'s own buffer when a slot
    /// is no larger than a child (a child with a niche, such as a pointer, is
    /// exactly as large), and allocates nothing.
    #[inline]
    fn take_all(self) -> Vec<Job<Fut<I>>> {
        self.0
            .map(|item| Job::Running {
                future: item.into_future(),
            })
            .collect()
    }

    /// One `extend`: for an input of exact length (a `Vec`'s, a mapped
    /// range's) a loop that writes each child into place, with no capacity
    /// check per child.
    #[inline]
    fn fill(&mut self, jobs: &mut Vec<Job<Fut<I>>>, max: usize) -> bool {
        debug_assert!(jobs.is_empty(), "only the first poll fills, from empty");
        jobs.extend(self.0.by_ref().take(max).map(|item| Job::Running {
            future: item.into_future(),
        }));
        jobs.len() < max
    }
}

/// The children of a stream of jobs, polled with its own waker.
pub struct StreamSource<S> {
    stream: Pin<Box<S>>,
    /// It said `Pending`, and has not woken its waker since.
    waiting: bool,
}

impl<S> StreamSource<S> {
    pub(crate) fn new(stream: S) -> Self {
        StreamSource {
            stream: Box::pin(stream),
            waiting: false,
        }
    }
}

impl<S> fmt::Debug for StreamSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSource")
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl<S> Source for StreamSource<S>
where
    S: Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
    type Fut = <S::Item as IntoFuture>::IntoFuture;
    const WAKES: bool = true;

    #[inline(always)]
    fn pull(&mut self, waker: &Waker) -> Pull<Self::Fut> {
        if self.waiting {
            return Pull::Later;
        }
        match self
            .stream
            .as_mut()
            .poll_next(&mut Context::from_waker(waker))
        {
            Poll::Ready(Some(item)) => Pull::Child(item.into_future()),
            Poll::Ready(None) => Pull::Done,
            Poll::Pending => {
                self.waiting = true;
                Pull::Later
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }

    fn woken(&mut self) {
        self.waiting = false;
    }
}

pin_project! {
    /// One slot of a pool.
    #[project = JobProj]
    pub enum Job<F> {
        Running { #[pin] future: F },
        Vacant,
    }
}

impl<F> Job<F> {
    fn is_running(&self) -> bool {
        matches!(self, Job::Running { .. })
    }
}

/// The slots, once the first poll has made them.
enum Pool<F> {
    /// Before the first poll, and after everything was dropped.
    None,
    /// One slot per child: slot `i` holds child `i`.
    Direct(Pin<Box<[Job<F>]>>),
    /// `n` slots, reused in place.
    Reusing(Reuse<F>),
}

struct Reuse<F> {
    jobs: Pin<Box<[Job<F>]>>,
    /// The child index of each slot's (last) child.
    indices: Box<[usize]>,
    /// `lists[..n]`: the queue of slots to poll, a ring from `head`;
    /// `lists[n..]`: the stack of vacant slots.
    lists: Box<[u32]>,
    head: usize,
    queued: usize,
    vacant: usize,
    /// Children taken at the first poll, in slots `0..initial`.
    initial: usize,
}

impl<F> Reuse<F> {
    fn size(&self) -> usize {
        self.indices.len()
    }

    /// The running children's slots, sorted by child index, in `lists[..n]`
    /// (which holds the queue otherwise: only for a gather that is ending).
    fn sort_running_into_queue(&mut self) -> usize {
        let n = self.size();
        let mut count = 0;
        for slot in 0..n {
            if self.jobs[slot].is_running() {
                self.lists[count] = slot as u32;
                count += 1;
            }
        }
        let indices = &self.indices;
        self.lists[..count].sort_unstable_by_key(|&slot| indices[slot as usize]);
        self.head = 0;
        self.queued = 0;
        count
    }
}

/// The children of [`safe_gather(iter)`](crate::safe_gather()), taken from
/// the iterator as the gather needs them.
pub(crate) type IterStorage<I> = PoolStorage<IterSource<I>>;

/// The children of [`safe_gather_stream`](crate::safe_gather_stream).
pub(crate) type StreamStorage<S> = PoolStorage<StreamSource<S>>;

/// Children taken from a source into a pool, as the gather needs them.
pub struct PoolStorage<Src: Source> {
    /// `None` once exhausted, or dropped because the gather ended.
    source: Option<Src>,
    pool: Pool<Src::Fut>,
    outputs: Outputs<<Src::Fut as TryFuture>::Ok, <Src::Fut as TryFuture>::Error>,
    /// The child whose error ended a fail-fast gather (its output is never
    /// written), and its error until handed over.
    failed: Option<usize>,
    failure: Option<<Src::Fut as TryFuture>::Error>,
    /// Fail-fast, in a grace period: the children that failed after the
    /// first, whose errors are dropped and whose outputs are never written
    /// either (empty, and unallocated, but for that case).
    failed_later: Vec<usize>,
    /// Unordered: the outcome of the child that just finished, until the
    /// gather hands it out (in the same poll).
    landed: Option<(usize, Output<Src::Fut>)>,
    /// Children taken from the iterator so far.
    taken: usize,
    /// Unordered, cut off by the deadline: the next of the `cut_slots`
    /// children cut off to report (their indices in `cut` for a slice of
    /// slots, their slots in the queue's place for a pool), then the
    /// never-started children `taken..cut_end`.
    cut_next: usize,
    cut: Vec<usize>,
    cut_slots: usize,
    cut_end: usize,
}

// The iterator is never pinned (only `&mut` to call `next`), and the
// children live in their own pinned boxes.
impl<Src: Source> Unpin for PoolStorage<Src> {}

impl<Src: Source> fmt::Debug for PoolStorage<Src> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = match &self.pool {
            Pool::None => 0,
            Pool::Direct(jobs) => jobs.len(),
            Pool::Reusing(pool) => pool.size(),
        };
        f.debug_struct("PoolStorage")
            .field("taken", &self.taken)
            .field("slots", &slots)
            .field("exhausted", &self.source.is_none())
            .finish_non_exhaustive()
    }
}

impl<Src: Source> PoolStorage<Src> {
    pub(crate) fn new(source: Src) -> Self {
        PoolStorage {
            source: Some(source),
            pool: Pool::None,
            outputs: Outputs::Unset,
            failed: None,
            failure: None,
            failed_later: Vec::new(),
            landed: None,
            taken: 0,
            cut_next: 0,
            cut: Vec::new(),
            cut_slots: 0,
            cut_end: 0,
        }
    }

    /// Children the source still reports (its `size_hint` lower bound).
    fn reported(&self) -> usize {
        self.source
            .as_ref()
            .map_or(0, |source| source.size_hint().0)
    }

    /// The next child from the source (a stream polled with `waker`); drops
    /// the source once it is done.
    #[inline(always)]
    fn take_one(&mut self, waker: &Waker) -> Pull<Src::Fut> {
        let Some(source) = self.source.as_mut() else {
            return Pull::Done;
        };
        let pulled = source.pull(waker);
        match pulled {
            Pull::Child(_) => {
                self.taken += 1;
                self.outputs.push_unwritten();
            }
            Pull::Later => {}
            Pull::Done => self.source = None,
        }
        pulled
    }

    /// The first poll of a stream gather: a pool of `limit` slots, all
    /// vacant, and one more slot of the wakers for the stream itself.
    /// Children are taken in the rounds, where pulling counts against the
    /// poll budget.
    fn begin_waking(&mut self, keep: Keep, limit: usize) -> Begun {
        assert!(
            u32::try_from(limit).is_ok(),
            "safe-gather: `.limit(n)` over a stream supports up to {} children in flight",
            u32::MAX
        );
        let lower = self
            .source
            .as_ref()
            .map_or(0, |source| source.size_hint().0);
        self.outputs = Outputs::new(keep, lower.min(limit));
        let mut lists = alloc::vec![0; 2 * limit].into_boxed_slice();
        // Every slot vacant, slot 0 on top.
        for (depth, slot) in lists[limit..].iter_mut().zip((0..limit as u32).rev()) {
            *depth = slot;
        }
        self.pool = Pool::Reusing(Reuse {
            jobs: Box::into_pin((0..limit).map(|_| Job::Vacant).collect()),
            indices: alloc::vec![0; limit].into_boxed_slice(),
            lists,
            head: 0,
            queued: 0,
            vacant: limit,
            initial: 0,
        });
        Begun {
            slots: limit + 1,
            schedule: Schedule::Queued,
            empty: false,
        }
    }

    /// Starts child `index`, past those taken at the first poll: takes it
    /// from the source into a vacant slot of the pool.
    #[inline(never)]
    fn take_next(&mut self, index: usize, source_waker: &Waker) -> Start {
        if !matches!(self.pool, Pool::Reusing(_)) {
            return Start::Done;
        }
        let future = match self.take_one(source_waker) {
            Pull::Child(future) => future,
            Pull::Later => return Start::Later,
            Pull::Done => return Start::Done,
        };
        let Pool::Reusing(pool) = &mut self.pool else {
            unreachable!()
        };
        let n = pool.size();
        debug_assert!(
            pool.vacant > 0,
            "the engine starts a child only below the limit"
        );
        pool.vacant -= 1;
        let slot = pool.lists[n + pool.vacant] as usize;
        pool.indices[slot] = index;
        pin_index(pool.jobs.as_mut(), slot).set(Job::Running { future });
        Start::Slot(slot)
    }

    /// The slot of the wakers that belongs to the source (a stream's).
    fn source_slot(&self) -> Option<usize> {
        match &self.pool {
            Pool::Reusing(pool) if Src::WAKES => Some(pool.size()),
            _ => None,
        }
    }

    /// Drops every output written so far, and the buffer: what a gather that
    /// ends early, or is dropped, does with its outputs.
    fn drop_outputs(&mut self) {
        if self.outputs.drops_nothing() {
            // Nothing to find out which outputs are written for: the buffer
            // is freed without a look at them.
            self.outputs = Outputs::Unset;
            return;
        }
        self.failed_later.sort_unstable();
        let first = self.failed;
        let mut later = Ascending::new(self.failed_later.iter().copied());
        // The first failure and those after it never share an index.
        let mut failed = move |index| first == Some(index) || later.hit(index);
        match &mut self.pool {
            Pool::None => {
                // SAFETY: without slots no child is running: every output
                // below the buffer's length is written, but the failures'.
                unsafe { self.outputs.drop_written(failed) }
            }
            Pool::Direct(jobs) => {
                let jobs = &*jobs;
                // SAFETY: slot `i` holds child `i`; a child's output is
                // written when it finishes, before its slot is vacated, and a
                // failure's never is: the unwritten ones are exactly the
                // running children and the failures (whose slots were
                // vacated). `failed` is asked about every index, in order.
                unsafe {
                    self.outputs
                        .drop_written(|index| failed(index) || jobs[index].is_running())
                }
            }
            Pool::Reusing(pool) => {
                let running = pool.sort_running_into_queue();
                let indices = &pool.indices;
                let mut running = Ascending::new(
                    pool.lists[..running]
                        .iter()
                        .map(|&slot| indices[slot as usize]),
                );
                // SAFETY: as for `Direct`, with each slot's child index taken
                // from `indices` (sorted into ascending order above); both
                // cursors are asked about every index, in order.
                unsafe {
                    self.outputs
                        .drop_written(|index| running.hit(index) | failed(index))
                }
            }
        }
    }
}

/// A cursor over an ascending sequence of indices, asked about every index
/// in ascending order: whether the sequence holds it.
struct Ascending<I> {
    next: Option<usize>,
    rest: I,
}

impl<I: Iterator<Item = usize>> Ascending<I> {
    fn new(mut rest: I) -> Self {
        Ascending {
            next: rest.next(),
            rest,
        }
    }

    #[inline]
    fn hit(&mut self, index: usize) -> bool {
        if self.next == Some(index) {
            self.next = self.rest.next();
            true
        } else {
            false
        }
    }
}

impl<Src: Source> Drop for PoolStorage<Src> {
    fn drop(&mut self) {
        // Before the slots are dropped (with the fields), which tell which
        // outputs are written.
        self.drop_outputs();
    }
}

impl<Src: Source> Storage for PoolStorage<Src> {
    type Settled = Vec<Output<Src::Fut>>;
    type SettledTimed =
        Vec<Result<<Src::Fut as TryFuture>::Ok, SlotError<<Src::Fut as TryFuture>::Error>>>;

    fn len(&self) -> usize {
        self.taken + self.reported()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.source {
            Some(source) => {
                let (low, high) = source.size_hint();
                (
                    self.taken.saturating_add(low),
                    high.and_then(|high| self.taken.checked_add(high)),
                )
            }
            None => (self.taken, Some(self.taken)),
        }
    }

    fn is_empty(&self) -> bool {
        self.taken == 0
            && self
                .source
                .as_ref()
                .map_or(true, |source| source.size_hint().1 == Some(0))
    }

    fn begin(self: Pin<&mut Self>, keep: Keep, limit: usize) -> Begun {
        let this = self.get_mut();
        if Src::WAKES {
            return this.begin_waking(keep, limit);
        }
        let Some(source) = this.source.as_mut() else {
            return Begun {
                slots: 0,
                schedule: Schedule::Direct,
                empty: true,
            };
        };
        let (lower, upper) = source.size_hint();
        let exact = upper == Some(lower);
        // The outputs get their room only once every child is taken: a panic
        // in the iterator's `next` drops those taken so far with `jobs`, and
        // must not leave unwritten outputs that the slots do not account for.
        let jobs = if limit == usize::MAX {
            // No limit: every child now, and the input is done with.
            this.source.take().map_or_else(Vec::new, Source::take_all)
        } else {
            let mut jobs = Vec::with_capacity(limit.min(upper.unwrap_or(lower)));
            let done = source.fill(&mut jobs, limit);
            if done || source.size_hint().1 == Some(0) {
                this.source = None;
            }
            jobs
        };
        let slots = jobs.len();
        this.taken = slots;
        this.outputs = Outputs::new(keep, if exact { lower } else { lower.min(limit) });
        this.outputs.push_unwritten_n(slots);
        let jobs = Box::into_pin(jobs.into_boxed_slice());
        if this.source.is_none() {
            this.pool = Pool::Direct(jobs);
            return Begun {
                slots,
                schedule: Schedule::Direct,
                empty: slots == 0,
            };
        }
        assert!(
            u32::try_from(slots).is_ok(),
            "safe-gather: `.limit(n)` over an iterator supports up to {} children in flight",
            u32::MAX
        );
        this.pool = Pool::Reusing(Reuse {
            jobs,
            indices: (0..slots).collect(),
            lists: alloc::vec![0; 2 * slots].into_boxed_slice(),
            head: 0,
            queued: 0,
            vacant: 0,
            initial: slots,
        });
        Begun {
            slots,
            schedule: Schedule::Queued,
            empty: false,
        }
    }

    #[inline(always)]
    fn poll_slot(self: Pin<&mut Self>, slot: usize, cx: &mut Context<'_>) -> Polled {
        let this = self.get_mut();
        let (mut job, index) = match &mut this.pool {
            Pool::Direct(jobs) => (pin_index(jobs.as_mut(), slot), slot),
            Pool::Reusing(pool) => (pin_index(pool.jobs.as_mut(), slot), pool.indices[slot]),
            Pool::None => return Polled::Vacant,
        };
        let output = match job.as_mut().project() {
            JobProj::Running { future } => match future.try_poll(cx) {
                Poll::Pending => return Polled::Pending,
                Poll::Ready(output) => output,
            },
            JobProj::Vacant => return Polled::Vacant,
        };
        let ok = output.is_ok();
        // The output is kept before the future is dropped (module docs of
        // `outputs.rs`), so that a panicking drop leaves it accounted for.
        if let Some(output) = this.outputs.write(index, output) {
            match output {
                Err(error) if matches!(this.outputs, Outputs::Values(_)) => {
                    // A later error (during a grace period) is dropped: the
                    // first one ends the gather.
                    if this.failed.is_none() {
                        this.failed = Some(index);
                        this.failure = Some(error);
                    } else {
                        this.failed_later.push(index);
                    }
                }
                // Kept until handed out, which is at once; only in a grace
                // period, where fail-fast hands nothing out, does one wait
                // here: the error that began it, which a later outcome must
                // not replace.
                output => {
                    if this.landed.is_none() {
                        this.landed = Some((index, output));
                    }
                }
            }
        }
        job.set(Job::Vacant);
        if let Pool::Reusing(pool) = &mut this.pool {
            let n = pool.size();
            pool.lists[n + pool.vacant] = slot as u32;
            pool.vacant += 1;
        }
        Polled::Finished(Finished { index, ok })
    }

    /// Inline for the children taken at the first poll, each already in its
    /// slot: a start of theirs is one comparison.
    #[inline(always)]
    fn start_next(self: Pin<&mut Self>, index: usize, source_waker: &Waker) -> Start {
        let this = self.get_mut();
        match &this.pool {
            // Those taken at the first poll are in slots `0..initial`.
            Pool::Reusing(pool) if index < pool.initial => Start::Slot(index),
            _ => this.take_next(index, source_waker),
        }
    }

    #[inline]
    fn in_place(&self, index: usize) -> usize {
        match &self.pool {
            Pool::Direct(jobs) => jobs.len().saturating_sub(index),
            Pool::Reusing(_) | Pool::None => 0,
        }
    }

    fn wake_source(self: Pin<&mut Self>, slot: usize) -> bool {
        let this = self.get_mut();
        if this.source_slot() != Some(slot) {
            return false;
        }
        if let Some(source) = this.source.as_mut() {
            source.woken();
        }
        true
    }

    fn source_slot_of(&self) -> Option<usize> {
        self.source_slot()
    }

    fn child_index(&self, slot: usize) -> usize {
        match &self.pool {
            Pool::Reusing(pool) => pool.indices[slot],
            Pool::Direct(_) | Pool::None => slot,
        }
    }

    fn queue_pop(self: Pin<&mut Self>) -> Option<usize> {
        let Pool::Reusing(pool) = &mut self.get_mut().pool else {
            return None;
        };
        if pool.queued == 0 {
            return None;
        }
        let slot = pool.lists[pool.head] as usize;
        pool.head += 1;
        if pool.head == pool.size() {
            pool.head = 0;
        }
        pool.queued -= 1;
        Some(slot)
    }

    fn queue_push(self: Pin<&mut Self>, slot: usize) {
        if let Pool::Reusing(pool) = &mut self.get_mut().pool {
            let n = pool.size();
            assert!(pool.queued < n, "safe-gather: a slot queued twice");
            let mut at = pool.head + pool.queued;
            if at >= n {
                at -= n;
            }
            pool.lists[at] = slot as u32;
            pool.queued += 1;
        }
    }

    fn queue_sort(self: Pin<&mut Self>) {
        if let Pool::Reusing(pool) = &mut self.get_mut().pool {
            let n = pool.size();
            if pool.head + pool.queued > n {
                // The queue wraps around the ring: make it one run first.
                pool.lists[..n].rotate_left(pool.head);
                pool.head = 0;
            }
            let indices = &pool.indices;
            // Often sorted already (slots refilled in order); the sort finds
            // that in one pass.
            let head = pool.head;
            pool.lists[head..head + pool.queued]
                .sort_unstable_by_key(|&slot| indices[slot as usize]);
        }
    }

    fn is_running(&self, slot: usize) -> bool {
        match &self.pool {
            Pool::Direct(jobs) => jobs[slot].is_running(),
            Pool::Reusing(pool) => pool.jobs[slot].is_running(),
            Pool::None => false,
        }
    }

    fn drop_all(self: Pin<&mut Self>) {
        let this = self.get_mut();
        this.drop_outputs();
        this.source = None;
        this.pool = Pool::None;
        this.failed = None;
        this.failure = None;
        this.failed_later = Vec::new();
        this.landed = None;
    }

    fn take_settled(self: Pin<&mut Self>) -> Self::Settled {
        let this = self.get_mut();
        this.pool = Pool::None;
        // SAFETY: the gather completed: every child taken finished, and a
        // settled gather keeps every outcome.
        unsafe { this.outputs.take_outcomes() }
    }

    fn take_settled_timed(self: Pin<&mut Self>) -> Self::SettledTimed {
        let this = self.get_mut();
        // Children still running are cut off: their outcome first, then the
        // children the iterator still reports, never started.
        match &this.pool {
            Pool::Direct(jobs) => {
                for index in (0..jobs.len()).filter(|&index| jobs[index].is_running()) {
                    this.outputs.write_timed_out(index);
                }
            }
            Pool::Reusing(pool) => {
                for slot in (0..pool.size()).filter(|&slot| pool.jobs[slot].is_running()) {
                    this.outputs.write_timed_out(pool.indices[slot]);
                }
            }
            Pool::None => {}
        }
        let never_started = this.reported();
        this.outputs.push_timed_out(never_started);
        this.source = None;
        this.pool = Pool::None;
        // SAFETY: every child taken either finished (its outcome written) or
        // was running (now written as timed out), and the never-started ones
        // were pushed written.
        unsafe { this.outputs.take_timed() }
    }
}

impl<Src: Source> TryStorage for PoolStorage<Src> {
    type Ok = Vec<<Src::Fut as TryFuture>::Ok>;
    type Error = <Src::Fut as TryFuture>::Error;

    fn take_error(self: Pin<&mut Self>, index: usize) -> Self::Error {
        let this = self.get_mut();
        match (this.failed, this.failure.take()) {
            (Some(failed), Some(error)) if failed == index => error,
            _ => unreachable!("safe-gather: the failing child's error is kept"),
        }
    }

    fn take_ok(self: Pin<&mut Self>) -> Self::Ok {
        let this = self.get_mut();
        this.pool = Pool::None;
        // SAFETY: the fail-fast gather completed: every child taken
        // succeeded, and its value was written.
        unsafe { this.outputs.take_values() }
    }
}

impl<Src: Source> UnorderedStorage for PoolStorage<Src> {
    type ChildOk = <Src::Fut as TryFuture>::Ok;
    type ChildError = <Src::Fut as TryFuture>::Error;

    fn take_finished(self: Pin<&mut Self>, _slot: usize) -> (usize, Output<Src::Fut>) {
        self.get_mut()
            .landed
            .take()
            .unwrap_or_else(|| unreachable!("safe-gather: a finished child's outcome is kept"))
    }

    fn cut_off(self: Pin<&mut Self>, _started: usize) -> usize {
        let this = self.get_mut();
        let cut_slots = match &mut this.pool {
            Pool::Direct(jobs) => {
                for slot in 0..jobs.len() {
                    let mut job = pin_index(jobs.as_mut(), slot);
                    if job.is_running() {
                        this.cut.push(slot);
                        job.set(Job::Vacant);
                    }
                }
                this.cut.len()
            }
            Pool::Reusing(pool) => {
                // No refill follows (the source is dropped below), so the
                // queue's place keeps the slots until they are reported.
                let cut = pool.sort_running_into_queue();
                for position in 0..cut {
                    let slot = pool.lists[position] as usize;
                    pin_index(pool.jobs.as_mut(), slot).set(Job::Vacant);
                }
                cut
            }
            Pool::None => 0,
        };
        let never_started = this.reported();
        this.source = None;
        this.cut_next = 0;
        this.cut_slots = cut_slots;
        this.cut_end = this.taken + never_started;
        cut_slots + never_started
    }

    fn next_cut_off(self: Pin<&mut Self>) -> Option<usize> {
        let this = self.get_mut();
        match &mut this.pool {
            Pool::Direct(_) => {
                if let Some(&index) = this.cut.get(this.cut_next) {
                    this.cut_next += 1;
                    return Some(index);
                }
            }
            Pool::Reusing(pool) => {
                if this.cut_next < this.cut_slots {
                    let slot = pool.lists[this.cut_next] as usize;
                    this.cut_next += 1;
                    return Some(pool.indices[slot]);
                }
            }
            Pool::None => {}
        }
        if this.taken < this.cut_end {
            this.taken += 1;
            return Some(this.taken - 1);
        }
        None
    }
}
