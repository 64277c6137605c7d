//! A minimal spin lock: the state of [`ManualTimer`](crate::ManualTimer),
//! the wakers of its sleeps among it, without `std`. It lives with the
//! wakers because it is the other place where the crate keeps wakers that
//! other threads reach, and unsafe code stays in storage and waker modules.
//!
//! `core` has no mutex, and a test helper is no reason for a dependency. The
//! lock suits its one user because every critical section there is a few
//! instructions long and runs no code of anyone else's: no waker is cloned,
//! woken or dropped while it is held, so a thread that finds it taken waits
//! only for those instructions, and nothing can re-enter it on the thread
//! that holds it. It is not fair and has no poisoning; the guard releases it
//! on unwind.
//!
//! The flag comes from the crate's atomics facade ([`crate::sync`]), as every
//! atomic of the crate does.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use crate::sync::{spin_loop, AtomicUsize, Ordering};

const UNLOCKED: usize = 0;
const LOCKED: usize = 1;

/// A value that one thread at a time may use, through [`SpinLock::lock`].
pub(crate) struct SpinLock<T> {
    state: AtomicUsize,
    value: UnsafeCell<T>,
}

// SAFETY: `lock` gives out access to `value` to one thread at a time (the
// guard exists only while `state` is LOCKED by its thread), so sharing a
// `SpinLock<T>` between threads moves `T` between them as a `Mutex<T>` does,
// which needs `T: Send` and no more.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) fn new(value: T) -> Self {
        SpinLock {
            state: AtomicUsize::new(UNLOCKED),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits until no other guard exists, and returns one.
    pub(crate) fn lock(&self) -> SpinLockGuard<'_, T> {
        // Acquire pairs with the Release in the guard's drop: the previous
        // holder's writes to `value` are visible to this one.
        while self
            .state
            .compare_exchange_weak(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.state.load(Ordering::Relaxed) == LOCKED {
                spin_loop();
            }
        }
        SpinLockGuard { lock: self }
    }
}

impl<T: Default> Default for SpinLock<T> {
    fn default() -> Self {
        SpinLock::new(T::default())
    }
}

/// Access to the value of a [`SpinLock`]; dropping it unlocks.
pub(crate) struct SpinLockGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard was made by `lock` after its compare-exchange
        // set `state` to LOCKED, and `state` stays LOCKED until the guard is
        // dropped, so no other guard, hence no other reference to `value`,
        // exists meanwhile. The reference borrows the guard, so it ends
        // before the unlock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, this guard is the only way to `value` while
        // it lives, and it is borrowed mutably here, so the `&mut` is unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.state.store(UNLOCKED, Ordering::Release);
    }
}
