//! Where the children live while they run, and their outputs once they finish.
//!
//! Each child sits in a [`Slot`], pinned in place for the gather's life: a
//! running future, then its output, then nothing once the output is handed
//! over. A child's future is dropped, in place, the moment it completes, so a
//! finished child holds no resources while its siblings run (futures-concurrency
//! #126 asked for exactly this).
//!
//! Three layouts share the slot: a boxed slice for `Vec` gathers (one
//! allocation, never resized, so nothing pinned ever moves), an inline array,
//! and a struct of slots per tuple arity. Dropping "everything still here"
//! is one assignment over the whole slice, array or struct: the language's
//! drop glue then drops every slot even if one slot's `Drop` panics, and the
//! assignment still completes, so nothing is dropped twice.
//!
//! The only unsafe code here projects a pinned slice to one of its elements,
//! which the standard library offers no safe way to do.

use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::TryFuture;
use pin_project_lite::pin_project;

#[cfg(feature = "alloc")]
use alloc::{boxed::Box, vec::Vec};

use crate::error::SlotError;

/// What a child resolves to.
pub(crate) type Output<F> = Result<<F as TryFuture>::Ok, <F as TryFuture>::Error>;

/// The slot of a child future `F`.
type ChildSlot<F> = Slot<F, Output<F>>;

pin_project! {
    /// One child: running, finished with its output, or emptied.
    #[project = SlotProj]
    #[project_replace = SlotOwned]
    pub enum Slot<F, O> {
        Running { #[pin] future: F },
        Done { output: O },
        Empty,
    }
}

impl<F: TryFuture> Slot<F, Output<F>> {
    pub(crate) fn new(future: F) -> Self {
        Slot::Running { future }
    }

    pub(crate) fn empty() -> Self {
        Slot::Empty
    }

    /// Polls the child if it is still running; a finished or emptied slot is
    /// left untouched and reports `Pending`. On completion the output is
    /// kept, the future is dropped in place, and the result says whether the
    /// child succeeded.
    #[inline]
    pub(crate) fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let output = match self.as_mut().project() {
            SlotProj::Running { future } => match future.try_poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return Poll::Pending,
            },
            SlotProj::Done { .. } | SlotProj::Empty => return Poll::Pending,
        };
        let ok = output.is_ok();
        self.set(Slot::Done { output });
        Poll::Ready(ok)
    }

    /// Empties the slot: a finished child's output, or `None` for a child
    /// still running, which is dropped in place.
    pub(crate) fn take(self: Pin<&mut Self>) -> Option<Output<F>> {
        match self.project_replace(Slot::Empty) {
            SlotOwned::Done { output } => Some(output),
            SlotOwned::Running { .. } | SlotOwned::Empty => None,
        }
    }

    /// The value of a child that succeeded, for a fail-fast gather that
    /// completed (where every child did).
    fn take_ok(self: Pin<&mut Self>) -> F::Ok {
        match self.take() {
            Some(Ok(value)) => value,
            _ => unreachable!("safe-gather: a completed fail-fast gather holds only successes"),
        }
    }

    /// The error of a child that just failed.
    fn take_err(self: Pin<&mut Self>) -> F::Error {
        match self.take() {
            Some(Err(error)) => error,
            _ => unreachable!("safe-gather: the failing child holds its error"),
        }
    }

    /// The outcome of a child of a settled gather that completed.
    fn take_settled(self: Pin<&mut Self>) -> Output<F> {
        self.take().unwrap_or_else(|| {
            unreachable!("safe-gather: a completed settled gather holds every outcome")
        })
    }

    /// The outcome of a child of a settled gather whose deadline may have
    /// passed: a child still running is dropped and reported as timed out.
    fn take_settled_timed(self: Pin<&mut Self>) -> Result<F::Ok, SlotError<F::Error>> {
        match self.take() {
            Some(output) => output.map_err(SlotError::Failed),
            None => Err(SlotError::TimedOut),
        }
    }
}

/// The pinned children of one gather, whatever their layout.
pub trait Storage {
    /// One `Result<T, E>` per child.
    type Settled;
    /// One `Result<T, SlotError<E>>` per child.
    type SettledTimed;

    fn len(&self) -> usize;

    /// Polls child `index` if it is still running (see [`Slot::poll`]).
    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Poll<bool>;

    /// Drops every child and output still held, in place.
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

    /// The error of child `index`, which just failed.
    fn take_error(self: Pin<&mut Self>, index: usize) -> Self::Error;

    /// Every child's value; all children must have succeeded.
    fn take_ok(self: Pin<&mut Self>) -> Self::Ok;
}

/// Slot `index` of a pinned slice of slots.
#[inline]
fn pin_index<T>(slots: Pin<&mut [T]>, index: usize) -> Pin<&mut T> {
    // SAFETY: the elements of a pinned slice are structurally pinned here:
    // no code in this module moves a slot out of its slice (slots are only
    // replaced through `Pin::set` or `project_replace`, which drop in place),
    // and the slices are never reallocated.
    unsafe { slots.map_unchecked_mut(|slots| &mut slots[index]) }
}

/// The children of a `Vec` gather: one boxed slice, allocated once.
#[cfg(feature = "alloc")]
pub struct VecStorage<F: TryFuture> {
    slots: Pin<Box<[ChildSlot<F>]>>,
}

#[cfg(feature = "alloc")]
impl<F: TryFuture> core::fmt::Debug for VecStorage<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VecStorage")
            .field("len", &self.slots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "alloc")]
impl<F: TryFuture> VecStorage<F> {
    pub(crate) fn new(children: impl IntoIterator<Item = F>) -> Self {
        let slots: Box<[_]> = children.into_iter().map(Slot::new).collect();
        VecStorage {
            slots: Box::into_pin(slots),
        }
    }

    fn collect<T>(&mut self, mut take: impl FnMut(Pin<&mut Slot<F, Output<F>>>) -> T) -> Vec<T> {
        let len = self.slots.len();
        (0..len)
            .map(|index| take(pin_index(self.slots.as_mut(), index)))
            .collect()
    }
}

#[cfg(feature = "alloc")]
impl<F: TryFuture> Storage for VecStorage<F> {
    type Settled = Vec<Output<F>>;
    type SettledTimed = Vec<Result<F::Ok, SlotError<F::Error>>>;

    fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn poll_child(mut self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Poll<bool> {
        pin_index(self.slots.as_mut(), index).poll(cx)
    }

    fn drop_all(mut self: Pin<&mut Self>) {
        // Dropping the old box drops every slot, even past a panicking one.
        self.slots = Box::into_pin(Box::new([]));
    }

    fn take_settled(mut self: Pin<&mut Self>) -> Self::Settled {
        self.collect(Slot::take_settled)
    }

    fn take_settled_timed(mut self: Pin<&mut Self>) -> Self::SettledTimed {
        self.collect(Slot::take_settled_timed)
    }
}

#[cfg(feature = "alloc")]
impl<F: TryFuture> TryStorage for VecStorage<F> {
    type Ok = Vec<F::Ok>;
    type Error = F::Error;

    fn take_error(mut self: Pin<&mut Self>, index: usize) -> F::Error {
        pin_index(self.slots.as_mut(), index).take_err()
    }

    fn take_ok(mut self: Pin<&mut Self>) -> Vec<F::Ok> {
        self.collect(Slot::take_ok)
    }
}

/// The children of an array gather, inline.
pub struct ArrayStorage<F: TryFuture, const N: usize> {
    slots: [ChildSlot<F>; N],
}

impl<F: TryFuture, const N: usize> core::fmt::Debug for ArrayStorage<F, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArrayStorage")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

impl<F: TryFuture, const N: usize> ArrayStorage<F, N> {
    pub(crate) fn new(children: [F; N]) -> Self {
        ArrayStorage {
            slots: children.map(Slot::new),
        }
    }

    fn slots(self: Pin<&mut Self>) -> Pin<&mut [ChildSlot<F>]> {
        // SAFETY: `slots` is structurally pinned: `ArrayStorage` is `Unpin`
        // only when its slots are (auto trait), has no `Drop` of its own, and
        // nothing here moves the array out of a pinned `ArrayStorage`.
        unsafe { self.map_unchecked_mut(|storage| &mut storage.slots[..]) }
    }

    fn collect<T>(
        self: Pin<&mut Self>,
        mut take: impl FnMut(Pin<&mut Slot<F, Output<F>>>) -> T,
    ) -> [T; N] {
        let mut slots = self.slots();
        core::array::from_fn(|index| take(pin_index(slots.as_mut(), index)))
    }
}

impl<F: TryFuture, const N: usize> Storage for ArrayStorage<F, N> {
    type Settled = [Output<F>; N];
    type SettledTimed = [Result<F::Ok, SlotError<F::Error>>; N];

    fn len(&self) -> usize {
        N
    }

    fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Poll<bool> {
        pin_index(self.slots(), index).poll(cx)
    }

    fn drop_all(mut self: Pin<&mut Self>) {
        // One assignment: the array's drop glue drops every slot, even past
        // a panicking one, and the empty array is written either way.
        self.set(ArrayStorage {
            slots: core::array::from_fn(|_| Slot::empty()),
        });
    }

    fn take_settled(self: Pin<&mut Self>) -> Self::Settled {
        self.collect(Slot::take_settled)
    }

    fn take_settled_timed(self: Pin<&mut Self>) -> Self::SettledTimed {
        self.collect(Slot::take_settled_timed)
    }
}

impl<F: TryFuture, const N: usize> TryStorage for ArrayStorage<F, N> {
    type Ok = [F::Ok; N];
    type Error = F::Error;

    fn take_error(self: Pin<&mut Self>, index: usize) -> F::Error {
        pin_index(self.slots(), index).take_err()
    }

    fn take_ok(self: Pin<&mut Self>) -> [F::Ok; N] {
        self.collect(Slot::take_ok)
    }
}

/// Defines the storage for one tuple arity: a struct with one pinned slot per
/// position.
macro_rules! tuple_storage {
    ($($name:ident { $($index:tt $F:ident $slot:ident)+ })+) => {$(
        pin_project! {
            /// The children of a tuple gather, inline.
            pub struct $name<$($F: TryFuture),+> {
                $(#[pin] $slot: Slot<$F, Output<$F>>,)+
            }
        }

        impl<$($F: TryFuture),+> $name<$($F),+> {
            pub(crate) fn new(($($slot,)+): ($($F,)+)) -> Self {
                $name { $($slot: Slot::new($slot),)+ }
            }
        }

        impl<$($F: TryFuture),+> Storage for $name<$($F),+> {
            type Settled = ($(Output<$F>,)+);
            type SettledTimed = ($(Result<$F::Ok, SlotError<$F::Error>>,)+);

            fn len(&self) -> usize {
                [$($index),+].len()
            }

            fn poll_child(self: Pin<&mut Self>, index: usize, cx: &mut Context<'_>) -> Poll<bool> {
                let this = self.project();
                match index {
                    $($index => this.$slot.poll(cx),)+
                    _ => Poll::Pending,
                }
            }

            fn drop_all(mut self: Pin<&mut Self>) {
                // One assignment, as for arrays: every slot is dropped even
                // past a panicking one.
                self.set($name { $($slot: Slot::empty(),)+ });
            }

            fn take_settled(self: Pin<&mut Self>) -> Self::Settled {
                let this = self.project();
                ($(this.$slot.take_settled(),)+)
            }

            fn take_settled_timed(self: Pin<&mut Self>) -> Self::SettledTimed {
                let this = self.project();
                ($(this.$slot.take_settled_timed(),)+)
            }
        }

        impl<Error, $($F: TryFuture<Error = Error>),+> TryStorage for $name<$($F),+> {
            type Ok = ($($F::Ok,)+);
            type Error = Error;

            fn take_error(self: Pin<&mut Self>, index: usize) -> Error {
                let this = self.project();
                match index {
                    $($index => this.$slot.take_err(),)+
                    _ => unreachable!("safe-gather: no child {index} in this tuple"),
                }
            }

            fn take_ok(self: Pin<&mut Self>) -> Self::Ok {
                let this = self.project();
                ($(this.$slot.take_ok(),)+)
            }
        }
    )+};
}

tuple_storage! {
    Tuple1 { 0 A a }
    Tuple2 { 0 A a 1 B b }
    Tuple3 { 0 A a 1 B b 2 C c }
    Tuple4 { 0 A a 1 B b 2 C c 3 D d }
    Tuple5 { 0 A a 1 B b 2 C c 3 D d 4 E e }
    Tuple6 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f }
    Tuple7 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g }
    Tuple8 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h }
    Tuple9 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i }
    Tuple10 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j }
    Tuple11 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j 10 K k }
    Tuple12 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j 10 K k 11 L l }
}
