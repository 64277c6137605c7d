//! Nothing to use: this crate only hosts `tests/embassy_timer.rs`, which runs
//! safe-gather's `EmbassyTimer` on embassy's std executor and std time
//! driver. It is a crate of its own because those are an application's
//! choices, which safe-gather itself must never enable.
//!
//! `cargo test` runs the `no_std`-style configuration (children share the
//! gather's waker, embassy's integrated timer queue); `cargo test --features
//! alloc` runs safe-gather with per-child wakers on embassy's generic queue.
