//! The performance contract of SPEC §6 that can be counted rather than
//! timed: polls, wakes and heap allocations per gather, on the benchmark's
//! own children, executor and scenarios (`benches/harness/`), under a
//! counting allocator that counts only the current thread's allocations
//! while a gather runs. Nothing here reads a clock.

#[path = "../harness/mod.rs"]
mod harness;

use std::rc::Rc;

use harness::contenders::{SafeGatherArray, SafeGatherTuple, SafeGatherVec};
use harness::{measure, shuffled, Contender, Counters, CountingAllocator, Scenario, TUPLE_LEN};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// SPEC §6's N. Miri interprets a thousand times slower, and CI runs it
/// four times, so there the contract's own trickle test stops at 1024 and
/// the others at 65 (past one bitmap word, so the wakers' second level runs).
fn sizes() -> &'static [usize] {
    if cfg!(miri) {
        &[8, 65]
    } else {
        &harness::SIZES
    }
}

/// The sizes of the trickle contract test: all of SPEC §6's but 16384 under
/// Miri.
fn trickle_sizes() -> &'static [usize] {
    if cfg!(miri) {
        &harness::SIZES[..3]
    } else {
        &harness::SIZES
    }
}

/// Gather polls one round of `n` child polls takes: one, unless it is
/// larger than the default poll budget, which ends a poll every
/// `DEFAULT_POLL_BUDGET` child polls (SPEC §10).
fn polls_per_round(n: usize) -> u64 {
    n.div_ceil(safe_gather::gather::DEFAULT_POLL_BUDGET).max(1) as u64
}

/// The poll a start phase of more than one budget adds at its end: the
/// round that finishes it asks for one more, whose drain takes the children
/// woken while it paused (their wake was spent on a poll that skipped them).
fn after_paused_start(n: usize) -> u64 {
    u64::from(polls_per_round(n) > 1)
}

/// Runs `scenario` on `n` children of contender `C` and checks the result
/// before returning the counters.
fn counted<C: Contender>(scenario: Scenario, n: usize) -> Counters {
    let counters = measure::<C>(scenario, Rc::from(shuffled(n)));
    assert_eq!(
        counters.verdict,
        scenario.expected_verdict(n),
        "{} in {scenario} with {n} children resolved wrongly",
        C::NAME
    );
    counters
}

#[test]
fn the_counting_allocator_sees_this_threads_allocations() {
    let (boxed, allocations) = harness::count_allocations(|| Box::new([0_u64; 4]));
    assert_eq!((allocations.count, allocations.bytes), (1, 32));
    let (_, allocations) = harness::count_allocations(|| drop(boxed));
    assert_eq!(allocations.count, 0, "freeing is not allocating");
}

#[test]
fn a_trickle_costs_two_child_polls_per_child_and_at_most_one_gather_poll_per_wake() {
    for &n in trickle_sizes() {
        let counters = counted::<SafeGatherVec>(Scenario::Trickle, n);
        assert_eq!(
            counters.child_polls,
            2 * n as u64,
            "n = {n}: a first poll and one poll per wake"
        );
        assert!(
            counters.gather_polls <= n as u64 + polls_per_round(n) + after_paused_start(n),
            "n = {n}: {} gather polls for {n} wakes",
            counters.gather_polls
        );
    }
}

#[test]
fn a_burst_costs_two_child_polls_per_child_and_two_gather_polls() {
    for &n in sizes() {
        let counters = counted::<SafeGatherVec>(Scenario::Burst, n);
        assert_eq!(counters.child_polls, 2 * n as u64, "n = {n}");
        assert_eq!(
            counters.gather_polls,
            2 * polls_per_round(n) + after_paused_start(n),
            "n = {n}"
        );
        // One wake from the children (they coalesce), and one from the
        // gather itself each time its budget ends a poll or a paused start
        // phase ends.
        assert_eq!(
            counters.gather_wakes,
            1 + 2 * (polls_per_round(n) - 1) + after_paused_start(n),
            "n = {n}: wakes coalesce"
        );
    }
}

#[test]
fn a_vec_gather_allocates_at_most_three_times_whatever_n() {
    for scenario in Scenario::ALL {
        for &n in sizes() {
            let allocations = counted::<SafeGatherVec>(scenario, n).allocations;
            assert!(
                allocations <= 3,
                "{scenario}, n = {n}: {allocations} allocations"
            );
        }
    }
}

#[test]
fn an_array_or_tuple_gather_allocates_nothing_when_every_child_is_ready_at_once() {
    assert_eq!(
        counted::<SafeGatherArray<8>>(Scenario::Ready, 8).allocations,
        0
    );
    assert_eq!(
        counted::<SafeGatherArray<64>>(Scenario::Ready, 64).allocations,
        0
    );
    assert_eq!(
        counted::<SafeGatherTuple>(Scenario::Ready, TUPLE_LEN).allocations,
        0
    );
}

#[test]
fn an_array_or_tuple_gather_allocates_at_most_once_otherwise() {
    for scenario in Scenario::ALL {
        let allocations = [
            counted::<SafeGatherArray<8>>(scenario, 8).allocations,
            counted::<SafeGatherArray<64>>(scenario, 64).allocations,
            counted::<SafeGatherTuple>(scenario, TUPLE_LEN).allocations,
        ];
        assert!(
            allocations.iter().all(|&count| count <= 1),
            "{scenario}: allocations of [8], [64], (A, B, C): {allocations:?}"
        );
    }
}

/// Fail-mid for any contender: resolved at the poll after the failure (the
/// second), with every child dropped by then.
fn assert_fails_fast<C: Contender>(n: usize) {
    let counters = counted::<C>(Scenario::FailMid, n);
    assert_eq!(
        counters.gather_polls,
        polls_per_round(n) + after_paused_start(n) + 1,
        "{} with {n} children: resolved at poll {}, not the first after the failure",
        C::NAME,
        counters.gather_polls
    );
    assert_eq!(
        counters.children_alive_at_resolution,
        0,
        "{} with {n} children: children still alive when it resolved",
        C::NAME
    );
    assert_eq!(
        counters.child_polls,
        n as u64 + 1,
        "{} with {n} children: only the failing child is polled again",
        C::NAME
    );
}

#[test]
fn fail_mid_resolves_at_the_first_poll_after_the_failure_with_every_child_dropped() {
    for &n in sizes() {
        assert_fails_fast::<SafeGatherVec>(n);
    }
    assert_fails_fast::<SafeGatherArray<8>>(8);
    assert_fails_fast::<SafeGatherArray<64>>(64);
    assert_fails_fast::<SafeGatherTuple>(TUPLE_LEN);
}

#[test]
fn a_timeout_resolves_at_the_poll_the_deadline_fires_with_every_child_dropped() {
    for &n in sizes() {
        let counters = counted::<SafeGatherVec>(Scenario::Timeout, n);
        assert_eq!(
            counters.gather_polls,
            polls_per_round(n) + after_paused_start(n) + 1,
            "n = {n}"
        );
        assert_eq!(
            counters.child_polls, n as u64,
            "n = {n}: no child was woken"
        );
        assert_eq!(counters.children_alive_at_resolution, 0, "n = {n}");
    }
}

#[test]
fn an_all_ready_gather_resolves_at_its_first_poll() {
    for &n in sizes() {
        let counters = counted::<SafeGatherVec>(Scenario::Ready, n);
        assert_eq!(
            (counters.gather_polls, counters.child_polls),
            (polls_per_round(n), n as u64)
        );
    }
}
