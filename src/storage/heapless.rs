//! The children of a `heapless::Vec` gather, inline: slot `i` is child `i`,
//! as in `array.rs`, but only slots `0..len` exist, `len <= N` being known
//! at run time.
//!
//! The slots are a `heapless::Vec` of their own, built from the input before
//! the first poll and never grown, shrunk or reordered after: the buffer is
//! inline, so once the storage is pinned its slots are too (structural
//! pinning, as for the array's), and nothing here calls a method that would
//! move one (`push`, `pop`, `swap_remove`, `insert`, ...). Its length stays
//! the number of children for the gather's whole life, also after
//! `drop_all`, which writes `len` empty slots back.

use core::fmt;
use core::pin::Pin;
use core::task::Context;

use futures_core::TryFuture;
use heapless::Vec;

use super::{
    cut_off_slots, next_cut_off_slot, pin_index, Begun, ChildSlot, Keep, Output, Polled, Schedule,
    Slot, Storage, TryStorage, UnorderedStorage,
};
use crate::error::SlotError;

/// The children of a `heapless::Vec` gather, inline: up to `N` slots, `len`
/// of them used.
pub struct HeaplessStorage<F: TryFuture, const N: usize> {
    slots: Vec<ChildSlot<F>, N>,
    /// Unordered, after the deadline: the first slot not yet reported.
    cut_off_cursor: usize,
}

impl<F: TryFuture, const N: usize> fmt::Debug for HeaplessStorage<F, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaplessStorage")
            .field("len", &self.slots.len())
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}

impl<F: TryFuture, const N: usize> HeaplessStorage<F, N> {
    pub(crate) fn new(children: Vec<F, N>) -> Self {
        HeaplessStorage {
            // At most `N` items from a `Vec` of capacity `N`: `collect`
            // cannot overflow.
            slots: children.into_iter().map(Slot::new).collect(),
            cut_off_cursor: 0,
        }
    }

    fn slots(self: Pin<&mut Self>) -> Pin<&mut [ChildSlot<F>]> {
        // SAFETY: `slots` is structurally pinned: `HeaplessStorage` is
        // `Unpin` only when its slots are (auto trait; `heapless::Vec` holds
        // its elements inline), has no `Drop` of its own, and nothing in this
        // file moves the `Vec` out of a pinned `HeaplessStorage` or moves an
        // element within it (no `push`, `pop`, `swap`, `insert`, `remove` or
        // `truncate` after `new`; elements are replaced only through
        // `Pin::set` and `project_replace`, which drop in place, and the whole
        // storage only through `Pin::set` in `drop_all`).
        unsafe { self.map_unchecked_mut(|storage| storage.slots.as_mut_slice()) }
    }

    fn cursor(self: Pin<&mut Self>) -> &mut usize {
        // SAFETY: the cursor is a plain `usize`, never pinned; the slots are
        // not touched through this reference.
        unsafe { &mut self.get_unchecked_mut().cut_off_cursor }
    }

    fn collect<T>(
        self: Pin<&mut Self>,
        mut take: impl FnMut(Pin<&mut ChildSlot<F>>) -> T,
    ) -> Vec<T, N> {
        let mut slots = self.slots();
        // `slots.len() <= N`: `collect` cannot overflow.
        (0..slots.len())
            .map(|index| take(pin_index(slots.as_mut(), index)))
            .collect()
    }
}

impl<F: TryFuture, const N: usize> Storage for HeaplessStorage<F, N> {
    type Settled = Vec<Output<F>, N>;
    type SettledTimed = Vec<Result<F::Ok, SlotError<F::Error>>, N>;

    fn len(&self) -> usize {
        self.slots.len()
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn begin(self: Pin<&mut Self>, _keep: Keep, _limit: usize) -> Begun {
        let len = self.slots.len();
        Begun {
            slots: len,
            schedule: Schedule::Direct,
            empty: len == 0,
        }
    }

    #[inline]
    fn poll_slot(self: Pin<&mut Self>, slot: usize, cx: &mut Context<'_>) -> Polled {
        pin_index(self.slots(), slot).poll_at(slot, cx)
    }

    #[inline]
    fn in_place(&self, index: usize) -> usize {
        self.slots.len().saturating_sub(index)
    }

    fn is_running(&self, slot: usize) -> bool {
        self.slots[slot].is_running()
    }

    fn drop_all(mut self: Pin<&mut Self>) {
        // One assignment, as for an array: the `Vec`'s drop drops every slot,
        // even past a panicking one, and `len` empty slots are written either
        // way, so the length (the number of children) stays what it was.
        let len = self.slots.len();
        self.set(HeaplessStorage {
            slots: (0..len).map(|_| Slot::empty()).collect(),
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

impl<F: TryFuture, const N: usize> TryStorage for HeaplessStorage<F, N> {
    type Ok = Vec<F::Ok, N>;
    type Error = F::Error;

    fn take_error(self: Pin<&mut Self>, index: usize) -> F::Error {
        pin_index(self.slots(), index).take_err()
    }

    fn take_ok(self: Pin<&mut Self>) -> Vec<F::Ok, N> {
        self.collect(Slot::take_ok)
    }
}

impl<F: TryFuture, const N: usize> UnorderedStorage for HeaplessStorage<F, N> {
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
