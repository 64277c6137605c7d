//! Round fuzzer: decodes the input bytes into a script of the round model
//! (`tests/rounds/mod.rs`: `.unordered()`, poll budgets, pools over lazy
//! inputs, kept wakers, a deadline) and runs it against the real crate,
//! checking every poll. A disagreement panics, which libFuzzer reports.
//!
//! Run it from `fuzz/`: `cargo +nightly fuzz run rounds <work dir>
//! corpus/rounds -- -max_len=512 -max_total_time=60`.

#![no_main]

#[path = "../../tests/rounds/mod.rs"]
mod rounds;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    rounds::run(&rounds::Script::from_bytes(bytes));
});
