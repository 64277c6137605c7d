//! The children of an array gather, inline: slot `i` is child `i`.

use core::fmt;
use core::pin::Pin;
use core::task::Context;

use futures_core::TryFuture;

use super::{
    cut_off_slots, next_cut_off_slot, pin_index, Begun, ChildSlot, Keep, Output, Polled, Schedule,
    Slot, Storage, TryStorage, UnorderedStorage,
};
use crate::error::SlotError;

/// The children of an array gather, inline.
pub struct ArrayStorage<F: TryFuture, const N: usize> {
    slots: [ChildSlot<F>; N],
    /// Unordered, after the deadline: the first slot not yet reported.
    cut_off_cursor: usize,
}

impl<F: TryFuture, const N: usize> fmt::Debug for ArrayStorage<F, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayStorage")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

impl<F: TryFuture, const N: usize> ArrayStorage<F, N> {
    pub(crate) fn new(children: [F; N]) -> Self {
        ArrayStorage {
            slots: children.map(Slot::new),
            cut_off_cursor: 0,
        }
    }

    fn slots(self: Pin<&mut Self>) -> Pin<&mut [ChildSlot<F>]> {
        // SAFETY: `slots` is structurally pinned: `ArrayStorage` is `Unpin`
        // only when its slots are (auto trait), has no `Drop` of its own, and
        // nothing here moves the array out of a pinned `ArrayStorage`.
        unsafe { self.map_unchecked_mut(|storage| &mut storage.slots[..]) }
    }

    fn cursor(self: Pin<&mut Self>) -> &mut usize {
        // SAFETY: the cursor is a plain `usize`, never pinned.
        unsafe { &mut self.get_unchecked_mut().cut_off_cursor }
    }

    fn collect<T>(
        self: Pin<&mut Self>,
        mut take: impl FnMut(Pin<&mut ChildSlot<F>>) -> T,
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

    fn is_empty(&self) -> bool {
        N == 0
    }

    fn begin(self: Pin<&mut Self>, _keep: Keep, _limit: usize) -> Begun {
        Begun {
            slots: N,
            schedule: Schedule::Direct,
            empty: N == 0,
        }
    }

    #[inline]
    fn poll_slot(self: Pin<&mut Self>, slot: usize, cx: &mut Context<'_>) -> Polled {
        pin_index(self.slots(), slot).poll_at(slot, cx)
    }

    #[inline]
    fn in_place(&self, index: usize) -> usize {
        N.saturating_sub(index)
    }

    fn is_running(&self, slot: usize) -> bool {
        self.slots[slot].is_running()
    }

    fn drop_all(mut self: Pin<&mut Self>) {
        // One assignment: the array's drop glue drops every slot, even past
        // a panicking one, and the empty array is written either way.
        self.set(ArrayStorage {
            slots: core::array::from_fn(|_| Slot::empty()),
            cut_off_cursor: 0,
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

impl<F: TryFuture, const N: usize> UnorderedStorage for ArrayStorage<F, N> {
    type ChildOk = F::Ok;
    type ChildError = F::Error;

    fn take_finished(self: Pin<&mut Self>, slot: usize) -> (usize, Output<F>) {
        (slot, pin_index(self.slots(), slot).take_settled())
    }

    fn cut_off(self: Pin<&mut Self>, _started: usize) -> usize {
        cut_off_slots(self.slots())
    }

    fn next_cut_off(mut self: Pin<&mut Self>) -> Option<usize> {
        let mut cursor = *self.as_mut().cursor();
        let found = next_cut_off_slot(self.as_mut().slots(), &mut cursor);
        *self.cursor() = cursor;
        found
    }
}
