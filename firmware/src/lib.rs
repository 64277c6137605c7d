//! Firmware that runs safe-gather on an emulated Cortex-M3 (QEMU's
//! `lm3s6965evb`), with embassy's thread executor and an embassy-time
//! driver on SysTick.
//!
//! * `src/main.rs` (binary `checks`): the checks CI runs through
//!   `scripts/qemu-test`; each prints one line over semihosting, and the
//!   exit status says whether all passed.
//! * `src/bin/footprint_*.rs`: one small binary per case of
//!   `scripts/footprint`, which reads their section sizes.
//!
//! This library holds what they share: the board, the time driver, the
//! probes that count polls, wakes and drops, and the footprint cases.

#![no_std]
#![warn(missing_docs, missing_debug_implementations)]

pub mod board;
pub mod footprint;
pub mod probe;
mod systick;

pub use systick::CORE_CLOCK_HZ;
