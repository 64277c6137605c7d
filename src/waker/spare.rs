//! The spare block: the last small wake block freed on a thread, kept for
//! the next gather there instead of going back to the allocator.
//!
//! # Why
//!
//! A small gather's wake block costs an allocation and a free, which for a
//! handful of children is a large part of all the gather costs (at eight
//! I/O-style children, about a third of what its wakes and polls cost
//! together: `BENCHMARKS.md`). A program runs gathers again and again, so
//! one block is kept per thread and handed to the next gather that needs one.
//!
//! # What is kept
//!
//! Only blocks of one bitmap level (up to `BITS` children: 64 on 64-bit
//! targets), at most one per thread: at most a few hundred bytes held per
//! thread that has run a gather, freed when the thread exits. A block is
//! kept only once its last counted reference is gone, so no waker can reach
//! it while it is spare: taking and keeping it are plain moves of a pointer
//! within one thread, with no atomics. The next gather takes it if it has
//! room for that gather's slots; a spare too small is freed then, so that
//! the spare follows the largest small gather of late.
//!
//! Only with `std` (a thread-local; no_std builds allocate every block) and
//! never under loom, whose atomics live for one execution of a model.

use core::cell::Cell;

use super::block::SetPtr;

/// The thread's spare block, freed with the thread.
struct Spare(Cell<Option<SetPtr>>);

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(set) = self.0.take() {
            // SAFETY: a spare block has no counted reference and no waker
            // left (`keep`'s contract); it is this thread's alone.
            unsafe { set.dealloc() };
        }
    }
}

std::thread_local! {
    static SPARE: Spare = const { Spare(Cell::new(None)) };
}

/// Takes the thread's spare block if it has room for `slots` slots; frees
/// a spare too small. `None` if there is none (or the thread is exiting).
pub(super) fn take(slots: usize) -> Option<SetPtr> {
    let set = SPARE.try_with(|spare| spare.0.take()).ok().flatten()?;
    // SAFETY: the spare is alive and this thread's alone (see `keep`).
    if unsafe { set.len() } >= slots {
        return Some(set);
    }
    // SAFETY: as above; nothing else can reach it.
    unsafe { set.dealloc() };
    None
}

/// Keeps `set` as the thread's spare, if the thread has none; else (or if
/// the thread is exiting) gives it back, for the caller to free.
///
/// # Safety
/// `set` must be an allocated block of one bitmap level with no counted
/// reference and no parent waker left: nothing else may reach it.
pub(super) unsafe fn keep(set: SetPtr) -> Result<(), SetPtr> {
    SPARE
        .try_with(|spare| match spare.0.get() {
            None => {
                spare.0.set(Some(set));
                Ok(())
            }
            Some(_) => Err(set),
        })
        .unwrap_or(Err(set))
}
