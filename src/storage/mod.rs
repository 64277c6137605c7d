//! Where the children live while they run, and their outputs once they finish.
//!
//! Three kinds of storage, one file each:
//!
//! * `array.rs` and `tuple.rs`: children in place, one [`Slot`] each, inline
//!   in the gather. A child's slot holds its future, then its output, then
//!   nothing once the output is handed over. Tuples keep one slot type per
//!   position. `heapless.rs` (feature `heapless`) is the array's layout with
//!   a length known at run time: a `heapless::Vec` of up to `N` slots.
//! * `pool.rs`: children taken lazily from an iterator. Without a limit the
//!   gather takes them all at its first poll into one boxed slice, a slot
//!   each; with `.limit(n)` into a fixed pool of `n` slots reused in place,
//!   so the memory held for children is O(n) whatever the input's length.
//!   Outputs go to a buffer in input order (`outputs.rs`), or out of the
//!   gather as they land (`.unordered()`).
//!
//! In every kind a child's future is dropped, in place, the moment it
//! completes, so a finished child holds no resources while its siblings run
//! (futures-concurrency #126 asked for exactly this), and nothing pinned ever
//! moves: slots are only replaced through `Pin::set`, which drops in place.
//! Dropping "everything still here" is one assignment over the whole slice,
//! array or struct: the language's drop glue then drops every slot even if
//! one slot's `Drop` panics, and the assignment still completes, so nothing
//! is dropped twice.
//!
//! The unsafe code here projects a pinned slice to one of its elements (which
//! the standard library offers no safe way to do), and, in `outputs.rs`,
//! keeps outputs that arrive out of order in a buffer of `MaybeUninit` slots.

use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::TryFuture;
use pin_project_lite::pin_project;

use crate::error::SlotError;

mod array;
#[cfg(feature = "heapless")]
mod heapless;
#[cfg(feature = "alloc")]
mod outputs;
#[cfg(feature = "alloc")]
pub(crate) mod pool;
mod tuple;

#[cfg(feature = "heapless")]
pub(crate) use self::heapless::HeaplessStorage;
pub(crate) use array::ArrayStorage;
#[cfg(feature = "alloc")]
pub(crate) use pool::{IterSource, IterStorage, StreamSource, StreamStorage};
pub(crate) use tuple::*;

/// What a child resolves to.
pub(crate) type Output<F> = Result<<F as TryFuture>::Ok, <F as TryFuture>::Error>;

/// What a gather keeps of each finished child, decided by its mode at the
/// first poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Fail-fast: the values (the first error ends the gather).
    Values,
    /// Settled without a deadline: each child's `Result<T, E>`.
    Outcomes,
    /// Settled with a deadline: each child's `Result<T, SlotError<E>>`.
    Timed,
    /// Unordered: nothing; each output leaves the gather as it lands.
    Nothing,
}

/// A child that has just finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Its position in the input.
    pub(crate) index: usize,
    /// Whether it succeeded.
    pub(crate) ok: bool,
}

/// What polling a slot found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polled {
    /// No running child there (finished, never started, or empty).
    Vacant,
    Pending,
    Finished(Finished),
}

/// What starting the next child came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// It runs in this slot.
    Slot(usize),
    /// The input has none now; it wakes its waker when it has.
    Later,
    /// The input has no more.
    Done,
}

/// How the engine picks the slots to poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// Slot `i` holds child `i`: visit woken slots in slot order, which is
    /// input order.
    Direct,
    /// Slots are reused: woken slots go through the storage's queue, sorted
    /// by child index.
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    Queued,
}

/// What a storage found at the gather's first poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Begun {
    /// How many slots the wakers must cover.
    pub(crate) slots: usize,
    pub(crate) schedule: Schedule,
    /// There are no children at all.
    pub(crate) empty: bool,
}

/// The pinned children of one gather, whatever their layout.
pub trait Storage {
    /// One `Result<T, E>` per child.
    type Settled;
    /// One `Result<T, SlotError<E>>` per child.
    type SettledTimed;

    /// Children known so far: those taken, and those the input still reports
    /// (an iterator's `size_hint` lower bound).
    fn len(&self) -> usize;

    /// Whether the input is known to hold no child at all.
    fn is_empty(&self) -> bool;

    /// Bounds on the number of children, as `Iterator::size_hint`.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }

    /// The gather's first poll: prepares the slots (a pool takes the children
    /// it needs now from its input) for at most `limit` in flight.
    fn begin(self: Pin<&mut Self>, keep: Keep, limit: usize) -> Begun;

    /// Polls the child in `slot`, if one is running there.
    fn poll_slot(self: Pin<&mut Self>, slot: usize, cx: &mut Context<'_>) -> Polled;

    /// Queued schedule only: starts child `index` (the next in input order):
    /// returns the slot it runs in, or that the input has none now (a
    /// stream, which will wake `source_waker`) or none ever.
    fn start_next(self: Pin<&mut Self>, _index: usize, _source_waker: &Waker) -> Start {
        Start::Done
    }

    /// Direct schedule: how many children, from child `index` on, there are
    /// (each in its slot already, child `i` in slot `i`): all of an array's
    /// or tuple's, all an iterator's first poll took. None for a pool that
    /// reuses its slots, whose children are started with `start_next`.
    fn in_place(&self, index: usize) -> usize;

    /// The slot of the wakers that the input itself has (a stream's), if any.
    fn source_slot_of(&self) -> Option<usize> {
        None
    }

    /// A wake of `slot`: if it is the input's own, notes that the input may
    /// have a child now, and says so.
    fn wake_source(self: Pin<&mut Self>, _slot: usize) -> bool {
        false
    }

    /// Queued schedule only: the next slot to poll, in child index order.
    fn queue_pop(self: Pin<&mut Self>) -> Option<usize> {
        None
    }

    /// Queued schedule only: `slot` is to be polled after those queued. Its
    /// child index must be above theirs, or `queue_sort` must follow.
    fn queue_push(self: Pin<&mut Self>, _slot: usize) {}

    /// Queued schedule only: sorts the queue by child index.
    fn queue_sort(self: Pin<&mut Self>) {}

    /// Whether a child is running in `slot`.
    fn is_running(&self, slot: usize) -> bool;

    /// The input index of the child in (or last in) `slot`.
    fn child_index(&self, slot: usize) -> usize {
        slot
    }

    /// Drops every child and output still held, in place, and the input.
    fn drop_all(self: Pin<&mut Self>);

    /// Hands over every outcome; all children must have finished.
    fn take_settled(self: Pin<&mut Self>) -> Self::Settled;

    /// Hands over every outcome, dropping children still running.
    fn take_settled_timed(self: Pin<&mut Self>) -> Self::SettledTimed;
}

/// Storage whose children share one error type, so it can fail fast.
pub trait TryStorage: Storage {
    type Ok;
    type Error;

    /// The error of child `index`, which failed first.
    fn take_error(self: Pin<&mut Self>, index: usize) -> Self::Error;

    /// Every child's value; all children must have succeeded.
    fn take_ok(self: Pin<&mut Self>) -> Self::Ok;
}

/// Storage of children of one type, which can hand out each outcome as it
/// lands (`.unordered()`).
pub trait UnorderedStorage: Storage {
    /// A child's value.
    type ChildOk;
    /// A child's error.
    type ChildError;

    /// The outcome of the child that just finished in `slot`, with its index.
    fn take_finished(
        self: Pin<&mut Self>,
        slot: usize,
    ) -> (usize, Result<Self::ChildOk, Self::ChildError>);

    /// The deadline passed: drops every child still running and the input,
    /// and returns how many children are cut off (running, and not yet
    /// started but reported by the input); then [`next_cut_off`] hands out
    /// their indices, in ascending order.
    ///
    /// [`next_cut_off`]: UnorderedStorage::next_cut_off
    fn cut_off(self: Pin<&mut Self>, started: usize) -> usize;

    /// The next child cut off by the deadline.
    fn next_cut_off(self: Pin<&mut Self>) -> Option<usize>;
}

pin_project! {
    /// One child in place: running, finished with its output, emptied, or
    /// (unordered, settled with a deadline) cut off and not yet reported.
    #[project = SlotProj]
    #[project_replace = SlotOwned]
    pub enum Slot<F, O> {
        Running { #[pin] future: F },
        Done { output: O },
        Empty,
        CutOff,
    }
}

/// The slot of a child future `F`.
pub(crate) type ChildSlot<F> = Slot<F, Output<F>>;

impl<F: TryFuture> Slot<F, Output<F>> {
    pub(crate) fn new(future: F) -> Self {
        Slot::Running { future }
    }

    pub(crate) fn empty() -> Self {
        Slot::Empty
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self, Slot::Running { .. })
    }

    /// Polls the child if it is still running. On completion the output is
    /// kept, the future is dropped in place, and the result says whether the
    /// child succeeded.
    #[inline]
    pub(crate) fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<Poll<bool>> {
        let output = match self.as_mut().project() {
            SlotProj::Running { future } => match future.try_poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return Some(Poll::Pending),
            },
            SlotProj::Done { .. } | SlotProj::Empty | SlotProj::CutOff => return None,
        };
        let ok = output.is_ok();
        self.set(Slot::Done { output });
        Some(Poll::Ready(ok))
    }

    /// [`Slot::poll`] as the engine sees it, for the child at `index`.
    #[inline]
    pub(crate) fn poll_at(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Polled {
        match self.poll(cx) {
            None => Polled::Vacant,
            Some(Poll::Pending) => Polled::Pending,
            Some(Poll::Ready(ok)) => Polled::Finished(Finished { index, ok }),
        }
    }

    /// Empties the slot: a finished child's output, or `None` for a child
    /// still running, which is dropped in place.
    pub(crate) fn take(self: Pin<&mut Self>) -> Option<Output<F>> {
        match self.project_replace(Slot::Empty) {
            SlotOwned::Done { output } => Some(output),
            SlotOwned::Running { .. } | SlotOwned::Empty | SlotOwned::CutOff => None,
        }
    }

    /// The value of a child that succeeded, for a fail-fast gather that
    /// completed (where every child did).
    pub(crate) fn take_ok(self: Pin<&mut Self>) -> F::Ok {
        match self.take() {
            Some(Ok(value)) => value,
            _ => unreachable!("safe-gather: a completed fail-fast gather holds only successes"),
        }
    }

    /// The error of a child that failed.
    pub(crate) fn take_err(self: Pin<&mut Self>) -> F::Error {
        match self.take() {
            Some(Err(error)) => error,
            _ => unreachable!("safe-gather: the failing child holds its error"),
        }
    }

    /// The outcome of a child that finished.
    pub(crate) fn take_settled(self: Pin<&mut Self>) -> Output<F> {
        self.take()
            .unwrap_or_else(|| unreachable!("safe-gather: a finished child holds its outcome"))
    }

    /// The outcome of a child of a settled gather whose deadline may have
    /// passed: a child still running is dropped and reported as timed out.
    pub(crate) fn take_settled_timed(self: Pin<&mut Self>) -> Result<F::Ok, SlotError<F::Error>> {
        match self.take() {
            Some(output) => output.map_err(SlotError::Failed),
            None => Err(SlotError::TimedOut),
        }
    }
}

/// Element `index` of a pinned slice.
#[inline]
pub(crate) fn pin_index<T>(slots: Pin<&mut [T]>, index: usize) -> Pin<&mut T> {
    // SAFETY: the elements of a pinned slice are structurally pinned here:
    // no code in this module moves an element out of its slice (elements are
    // only replaced through `Pin::set` or `project_replace`, which drop in
    // place), and the slices are never reallocated.
    unsafe { slots.map_unchecked_mut(|slots| &mut slots[index]) }
}

/// Cuts off every child still running in `slots` (unordered, at the
/// deadline): each is dropped in place and its slot left `CutOff`, also if
/// its drop panics. Returns how many were cut off.
pub(crate) fn cut_off_slots<F: TryFuture>(mut slots: Pin<&mut [ChildSlot<F>]>) -> usize {
    let mut cut = 0;
    for index in 0..slots.len() {
        let mut slot = pin_index(slots.as_mut(), index);
        if slot.is_running() {
            // Dropped in place; a panicking drop still leaves `CutOff`.
            slot.set(Slot::CutOff);
            cut += 1;
        }
    }
    cut
}

/// The first slot at or after `*cursor` that was cut off, emptied; the
/// cursor moves past it (or to the end when there is none).
pub(crate) fn next_cut_off_slot<F: TryFuture>(
    mut slots: Pin<&mut [ChildSlot<F>]>,
    cursor: &mut usize,
) -> Option<usize> {
    let len = slots.len();
    let found = (*cursor..len).find(|&index| matches!(slots[index], Slot::CutOff));
    if let Some(index) = found {
        pin_index(slots.as_mut(), index).set(Slot::Empty);
    }
    *cursor = found.map_or(len, |index| index + 1);
    found
}
