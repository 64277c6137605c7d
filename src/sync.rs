//! The one door through which the wake bookkeeping reaches atomics and cells.
//!
//! Under `cfg(loom)` every type here comes from [loom], so the same code in
//! `waker.rs` is model-checked against every interleaving of concurrent wakes,
//! polls and drops (see `tests/loom.rs`). Nothing else in the crate touches
//! `core::sync::atomic` directly.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's closure-based access API, so the
/// waker code reads the same whichever implementation is underneath.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A hint for the moment one thread waits on another's wake; a yield to the
/// model checker under loom, which otherwise sees a thread that never stops.
pub(crate) fn spin_loop() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Declares a function `const`, but under loom, whose atomics and cells
/// cannot be made in a constant: caller-owned wakers are a `static` in real
/// builds and a leaked box in the models.
macro_rules! const_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
#[allow(unused_imports)]
pub(crate) use const_unless_loom;
