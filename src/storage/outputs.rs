//! The outputs of a pool's children, in input order, written as they land.
//!
//! Children finish out of order, so the buffer holds one `MaybeUninit` per
//! child taken so far, and the pool knows which are written: every child it
//! has taken, except those still running (each in a slot that knows its
//! index), the one whose error ended a fail-fast gather, and none other. The
//! pool writes an output *before* it drops the finished child's future, so
//! that knowledge stays right even if that drop panics. Keeping no bitmap of
//! its own is what keeps a limited gather of `u32` outputs at four bytes per
//! child.
//!
//! What is kept depends on the gather's mode, fixed at its first poll: the
//! values (fail-fast), each `Result` (settled), each `Result` with
//! [`SlotError`] (settled with a deadline), or nothing (unordered).

use alloc::vec::Vec;
use core::mem::{ManuallyDrop, MaybeUninit};

use super::Keep;
use crate::error::SlotError;

/// The outputs kept so far, by mode.
pub(crate) enum Outputs<T, E> {
    /// Before the first poll, and after the outputs were handed over or
    /// dropped.
    Unset,
    Values(Vec<MaybeUninit<T>>),
    Outcomes(Vec<MaybeUninit<Result<T, E>>>),
    Timed(Vec<MaybeUninit<Result<T, SlotError<E>>>>),
    /// Unordered: outputs leave the gather as they land.
    Nothing,
}

impl<T, E> Outputs<T, E> {
    /// An empty buffer for `keep`, with room for `capacity` outputs.
    pub(crate) fn new(keep: Keep, capacity: usize) -> Self {
        match keep {
            Keep::Values => Outputs::Values(Vec::with_capacity(capacity)),
            Keep::Outcomes => Outputs::Outcomes(Vec::with_capacity(capacity)),
            Keep::Timed => Outputs::Timed(Vec::with_capacity(capacity)),
            Keep::Nothing => Outputs::Nothing,
        }
    }

    /// Makes room for the output of the next child taken, whose index is the
    /// number taken before it.
    #[inline]
    pub(crate) fn push_unwritten(&mut self) {
        match self {
            Outputs::Values(buffer) => buffer.push(MaybeUninit::uninit()),
            Outputs::Outcomes(buffer) => buffer.push(MaybeUninit::uninit()),
            Outputs::Timed(buffer) => buffer.push(MaybeUninit::uninit()),
            Outputs::Unset | Outputs::Nothing => {}
        }
    }

    /// Makes room for the outputs of the `count` children taken at the first
    /// poll, before any other.
    #[inline]
    pub(crate) fn push_unwritten_n(&mut self, count: usize) {
        fn grow<T>(buffer: &mut Vec<MaybeUninit<T>>, count: usize) {
            buffer.reserve(count);
            // SAFETY: the room was reserved just above, and a `MaybeUninit`
            // needs no initialisation.
            unsafe { buffer.set_len(buffer.len() + count) };
        }
        match self {
            Outputs::Values(buffer) => grow(buffer, count),
            Outputs::Outcomes(buffer) => grow(buffer, count),
            Outputs::Timed(buffer) => grow(buffer, count),
            Outputs::Unset | Outputs::Nothing => {}
        }
    }

    /// Keeps child `index`'s output, or hands it back if this mode does not
    /// keep it (a fail-fast error; anything when unordered).
    #[inline]
    pub(crate) fn write(&mut self, index: usize, output: Result<T, E>) -> Option<Result<T, E>> {
        match (self, output) {
            (Outputs::Values(buffer), Ok(value)) => {
                buffer[index].write(value);
                None
            }
            (Outputs::Outcomes(buffer), output) => {
                buffer[index].write(output);
                None
            }
            (Outputs::Timed(buffer), output) => {
                buffer[index].write(output.map_err(SlotError::Failed));
                None
            }
            (Outputs::Values(_) | Outputs::Unset | Outputs::Nothing, output) => Some(output),
        }
    }

    /// Settled with a deadline: child `index` was cut off.
    pub(crate) fn write_timed_out(&mut self, index: usize) {
        if let Outputs::Timed(buffer) = self {
            buffer[index].write(Err(SlotError::TimedOut));
        }
    }

    /// Settled with a deadline: the children the input still reported were
    /// never started, and are cut off too.
    pub(crate) fn push_timed_out(&mut self, count: usize) {
        if let Outputs::Timed(buffer) = self {
            buffer.reserve(count);
            buffer.extend((0..count).map(|_| MaybeUninit::new(Err(SlotError::TimedOut))));
        }
    }

    /// Whether dropping the outputs is only freeing their buffer: none is
    /// kept, or the type kept has no drop glue (`u32`s, say).
    #[inline]
    pub(crate) fn drops_nothing(&self) -> bool {
        match self {
            Outputs::Values(_) => !core::mem::needs_drop::<T>(),
            Outputs::Outcomes(_) => !core::mem::needs_drop::<Result<T, E>>(),
            Outputs::Timed(_) => !core::mem::needs_drop::<Result<T, SlotError<E>>>(),
            Outputs::Unset | Outputs::Nothing => true,
        }
    }

    /// Drops every written output, and the buffer.
    ///
    /// # Safety
    /// `unwritten`, called once for each index below the buffer's length in
    /// ascending order, says whether that index's output was *not* written,
    /// truthfully.
    pub(crate) unsafe fn drop_written(&mut self, unwritten: impl FnMut(usize) -> bool) {
        // Taken out first: if an output's drop panics, the buffer is already
        // `Unset`, so nothing is dropped twice (the rest leak, as a panicking
        // drop in `Vec` would leave them).
        match core::mem::replace(self, Outputs::Unset) {
            // SAFETY: the caller's guarantee, passed on.
            Outputs::Values(buffer) => unsafe { drop_all_but(buffer, unwritten) },
            // SAFETY: as above.
            Outputs::Outcomes(buffer) => unsafe { drop_all_but(buffer, unwritten) },
            // SAFETY: as above.
            Outputs::Timed(buffer) => unsafe { drop_all_but(buffer, unwritten) },
            Outputs::Unset | Outputs::Nothing => {}
        }
    }

    /// Every value, for a fail-fast gather that completed.
    ///
    /// # Safety
    /// Every output must be written.
    pub(crate) unsafe fn take_values(&mut self) -> Vec<T> {
        match core::mem::replace(self, Outputs::Unset) {
            // SAFETY: the caller's guarantee.
            Outputs::Values(buffer) => unsafe { assume_init(buffer) },
            _ => unreachable!("safe-gather: a fail-fast gather keeps values"),
        }
    }

    /// Every outcome, for a settled gather that completed.
    ///
    /// # Safety
    /// Every output must be written.
    pub(crate) unsafe fn take_outcomes(&mut self) -> Vec<Result<T, E>> {
        match core::mem::replace(self, Outputs::Unset) {
            // SAFETY: the caller's guarantee.
            Outputs::Outcomes(buffer) => unsafe { assume_init(buffer) },
            _ => unreachable!("safe-gather: a settled gather keeps outcomes"),
        }
    }

    /// Every outcome, for a settled gather with a deadline that resolved.
    ///
    /// # Safety
    /// Every output must be written.
    pub(crate) unsafe fn take_timed(&mut self) -> Vec<Result<T, SlotError<E>>> {
        match core::mem::replace(self, Outputs::Unset) {
            // SAFETY: the caller's guarantee.
            Outputs::Timed(buffer) => unsafe { assume_init(buffer) },
            _ => unreachable!("safe-gather: a settled gather with a deadline keeps outcomes"),
        }
    }
}

/// # Safety
/// Every element of `buffer` is initialised.
unsafe fn assume_init<T>(buffer: Vec<MaybeUninit<T>>) -> Vec<T> {
    let mut buffer = ManuallyDrop::new(buffer);
    let (pointer, len, capacity) = (buffer.as_mut_ptr(), buffer.len(), buffer.capacity());
    // SAFETY: `MaybeUninit<T>` has the size and alignment of `T`, the
    // allocation came from a `Vec` of that layout, and every element is
    // initialised (the caller's guarantee). The original `Vec` is forgotten.
    unsafe { Vec::from_raw_parts(pointer.cast::<T>(), len, capacity) }
}

/// Drops every element of `buffer` but those at `unwritten`, then the buffer.
///
/// The written outputs are first moved to the front, then dropped as one
/// `Vec<T>`, whose drop goes on past an element whose drop panics.
///
/// # Safety
/// As [`Outputs::drop_written`].
unsafe fn drop_all_but<T>(buffer: Vec<MaybeUninit<T>>, mut unwritten: impl FnMut(usize) -> bool) {
    let mut buffer = ManuallyDrop::new(buffer);
    let (len, capacity) = (buffer.len(), buffer.capacity());
    let base = buffer.as_mut_ptr();
    let mut kept = 0;
    for index in 0..len {
        if unwritten(index) {
            continue;
        }
        if kept != index {
            // SAFETY: both are in bounds, and distinct (`kept < index`);
            // element `index` is written (the caller's guarantee) and is
            // moved, not copied: it is never read at `index` again.
            unsafe { base.add(kept).write(base.add(index).read()) };
        }
        kept += 1;
    }
    // SAFETY: the first `kept` elements are the written outputs, each once;
    // the allocation is the `Vec`'s own, of the same layout (as in
    // `assume_init`), and the original `Vec` is forgotten.
    drop(unsafe { Vec::from_raw_parts(base.cast::<T>(), kept, capacity) });
}
