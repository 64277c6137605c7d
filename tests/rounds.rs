//! Random scripts against the round model (`tests/rounds/mod.rs`):
//! `.unordered()`, poll budgets and pools over lazy inputs, checked poll by
//! poll. The fuzzer (`fuzz/fuzz_targets/rounds.rs`) runs the same model on
//! decoded bytes. `PROPTEST_CASES` overrides the number of cases (512, or 8
//! under Miri).
// These tests gather iterators, which need `alloc`.
#![cfg(feature = "alloc")]

#[path = "rounds/mod.rs"]
mod rounds;

use proptest::prelude::*;
use proptest::test_runner::Config;
use rounds::{run, Event, Script};

fn config() -> Config {
    let default_cases = if cfg!(miri) { 8 } else { 512 };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_rounds_match_the_model(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        run(&Script::from_bytes(&bytes));
    }
}

use rounds::{ChildPlan, Kind, Outcome, Step};

fn script(
    kind: Kind,
    settled: bool,
    unordered: bool,
    plans: Vec<ChildPlan>,
    steps: Vec<Step>,
) -> Script {
    Script {
        kind,
        settled,
        unordered,
        deadline: None,
        grace: None,
        limit: None,
        budget: None,
        plans,
        steps,
    }
}

fn items(report: &rounds::Report) -> usize {
    report
        .events
        .iter()
        .filter(|event| matches!(event, Event::Item(..)))
        .count()
}

const LAZY: Kind = Kind::Lazy { known: true };
const READY: ChildPlan = ChildPlan::Ready { ok: true };

#[test]
fn the_model_reaches_budget_pauses_and_one_item_per_poll() {
    // Unordered: one item per poll, whatever the budget.
    let mut unordered = script(LAZY, false, true, vec![READY; 6], vec![Step::Poll; 12]);
    unordered.limit = Some(2);
    unordered.budget = Some(1);
    let report = run(&unordered);
    assert_eq!(items(&report), 6, "{report:?}");
    assert_eq!(report.events.last(), Some(&Event::End));
    // Collecting, a pool and a direct gather: the budget pauses them.
    for limit in [Some(2), None] {
        let mut collect = script(LAZY, false, false, vec![READY; 6], vec![Step::Poll; 8]);
        collect.limit = limit;
        collect.budget = Some(2);
        let report = run(&collect);
        assert_eq!(report.paused_polls, 2, "{limit:?}: {report:?}");
        assert!(
            matches!(report.events[2], Event::Values(_)),
            "{limit:?}: {report:?}"
        );
    }
}

#[test]
fn the_model_reaches_cut_off_items() {
    let mut cut = script(LAZY, true, true, vec![ChildPlan::Wait; 5], vec![Step::Poll]);
    cut.limit = Some(2);
    cut.deadline = Some(5);
    cut.steps.extend([
        Step::Advance { millis: 5 },
        Step::Poll,
        Step::Poll,
        Step::Poll,
        Step::Poll,
        Step::Poll,
        Step::Poll,
    ]);
    let report = run(&cut);
    let cut_off = report
        .events
        .iter()
        .filter(|e| matches!(e, Event::Item(_, Outcome::Cut)))
        .count();
    assert_eq!(cut_off, 5, "{report:?}");
}

#[test]
fn the_model_reaches_a_stale_wake_of_a_reused_slot() {
    let mut stale = script(
        LAZY,
        false,
        false,
        vec![ChildPlan::Wait; 3],
        vec![Step::Poll],
    );
    stale.limit = Some(1);
    stale.steps.extend([
        Step::Keep { child: 0 },
        Step::Open { child: 0, ok: true },
        Step::Poll,
        Step::WakeKept { kept: 0 },
        Step::Poll,
    ]);
    let report = run(&stale);
    assert_eq!(
        report.child_polls, 4,
        "child 1's first poll, then its spurious one: {report:?}"
    );
}

#[test]
fn a_self_waking_child_under_a_budget_starves_no_sibling() {
    let plans = [ChildPlan::SelfWake, READY, READY, READY];
    for kind in [LAZY, Kind::Array(8)] {
        let plans: Vec<_> = plans
            .iter()
            .copied()
            .cycle()
            .take(match kind {
                Kind::Array(n) => n,
                _ => 4,
            })
            .collect();
        let expected = plans.iter().filter(|&&plan| plan == READY).count();
        let mut starving = script(kind, false, true, plans, vec![Step::Poll; 20]);
        starving.budget = Some(1);
        let report = run(&starving);
        assert_eq!(items(&report), expected, "{kind:?}: {report:?}");
    }
}

#[test]
#[ignore = "debugging aid"]
fn debug_script() {
    let bytes: Vec<u8> = std::env::var("ROUNDS_BYTES")
        .unwrap()
        .split(',')
        .map(|b| b.trim().parse().unwrap())
        .collect();
    let script = Script::from_bytes(&bytes);
    eprintln!("{script:#?}");
    run(&script);
}

#[test]
fn the_model_reaches_streams_that_wait_refill_and_end() {
    let mut jobs = script(
        Kind::Stream,
        false,
        true,
        vec![READY, ChildPlan::Wait, READY, READY],
        vec![Step::Poll],
    );
    jobs.limit = Some(2);
    jobs.budget = Some(3);
    jobs.steps.extend([
        Step::Send,
        Step::Send,
        Step::Poll,
        Step::Poll,
        Step::Send,
        Step::Send,
        Step::Poll,
        Step::Poll,
        Step::Close,
        Step::Open { child: 1, ok: true },
        Step::Poll,
        Step::Poll,
        Step::Poll,
    ]);
    let report = run(&jobs);
    assert_eq!(items(&report), 4, "{report:?}");
    assert_eq!(report.events.last(), Some(&Event::End), "{report:?}");
}

#[test]
fn the_model_reaches_grace_periods_with_children_polled_in_them() {
    // A failure among waiting children, then their wakes: they are polled
    // in the grace period, no child is taken from the input, and the first
    // error wins.
    for unordered in [false, true] {
        let mut graced = script(
            LAZY,
            false,
            unordered,
            vec![ChildPlan::Wait; 6],
            vec![Step::Poll],
        );
        graced.limit = Some(3);
        graced.grace = Some(5);
        graced.steps.extend([
            Step::Open {
                child: 1,
                ok: false,
            },
            Step::Open { child: 0, ok: true },
            Step::Poll,
            Step::Poll,
            Step::Open {
                child: 2,
                ok: false,
            },
            Step::Poll,
            Step::Open { child: 3, ok: true },
            Step::Poll,
        ]);
        let report = run(&graced);
        assert_eq!(report.cancels, 1, "{report:?}");
        // Child 3 took child 0's slot in the round that failed, before child
        // 1 failed: its first poll comes in the grace period, then child 2's
        // error (dropped) and child 3's end.
        assert_eq!(report.grace_polls, 3, "{report:?}");
        assert!(
            report.events.contains(&Event::Failed {
                index: 1,
                error: 12
            }),
            "{report:?}"
        );
    }
    // Random scripts get there too (400 of them: too many for Miri, whose
    // random cases are `random_rounds_match_the_model`'s).
    if cfg!(miri) {
        return;
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut reached = 0;
    for _ in 0..400 {
        let bytes: Vec<u8> = (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let report = run(&Script::from_bytes(&bytes));
        reached += usize::from(report.grace_polls > 0);
    }
    assert!(
        reached >= 10,
        "only {reached} of 400 random scripts polled children in a grace period"
    );
}
