//! Random schedules against the reference model (`tests/model/mod.rs`):
//! proptest generates scripts of children, wakes (from this thread, other
//! threads, stale clones), polls with changing parent wakers, deadlines,
//! limits and drops, and the interpreter checks every step of the real
//! gather against the model. The fuzzer (`fuzz/`) runs the same interpreter
//! on decoded bytes; a few hand-written scripts below pin down that the
//! interpreter really reaches the states it is meant to check.
//!
//! `PROPTEST_CASES` overrides the number of cases (256, or 8 under Miri).
// These tests gather `Vec`s, which need `alloc`; `cargo test
// --no-default-features` (arrays and tuples without `alloc`) skips them.
#![cfg(feature = "alloc")]

// A plain `mod model;` would be ambiguous with this file's own name.
#[path = "model/mod.rs"]
mod model;

use model::{
    run, ChildSpec, DeadlineKind, DeadlineSpec, Kind, Mode, Outcome, Plan, Resolution, Script,
    SlotOutcome, Step, Via, ADVANCE_MILLIS, ARRAY_LENS, DEADLINE_MILLIS, MAX_CHILDREN, MAX_LIMIT,
    PARENTS, TUPLE_ARITIES,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

fn config() -> Config {
    let default_cases = if cfg!(miri) { 8 } else { 256 };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        // A failure prints the script and its bytes (for the fuzz corpus)
        // instead of writing files, which Miri's isolation forbids anyway.
        failure_persistence: None,
        ..Config::default()
    }
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![3 => Just(Outcome::Ok), 1 => Just(Outcome::Err)]
}

/// Mostly children that wait or are ready; a child that panics at its
/// first poll is rare, since it ends the script's interesting part.
fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        48 => outcome().prop_map(Plan::Ready),
        12 => outcome().prop_map(Plan::WakeThenReady),
        96 => outcome().prop_map(Plan::Wait),
        8 => Just(Plan::WaitThenPanic),
        12 => Just(Plan::SelfWake),
        1 => Just(Plan::Panic),
    ]
}

/// Mostly small `Vec` gathers; sometimes past one or more bitmap words;
/// lazy inputs of known and unknown length; arrays and tuples of their
/// fixed sizes.
fn kind_and_len() -> impl Strategy<Value = (Kind, usize)> {
    let (small, large) = if cfg!(miri) {
        (12, 70)
    } else {
        (40, MAX_CHILDREN)
    };
    prop_oneof![
        12 => (0..=small).prop_map(|len| (Kind::Vec, len)),
        2 => (small + 1..=large).prop_map(|len| (Kind::Vec, len)),
        4 => (0..=small, any::<bool>()).prop_map(|(len, known)| (Kind::Lazy { known }, len)),
        3 => select(ARRAY_LENS.to_vec()).prop_map(|len| (Kind::Array(len), len)),
        3 => select(TUPLE_ARITIES.to_vec()).prop_map(|len| (Kind::Tuple(len), len)),
    ]
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::FailFast), Just(Mode::Settled)]
}

fn deadline() -> impl Strategy<Value = Option<DeadlineSpec>> {
    let kind = prop_oneof![Just(DeadlineKind::Timer), Just(DeadlineKind::Sleep)];
    option::weighted(
        0.4,
        (kind, select(DEADLINE_MILLIS.to_vec()))
            .prop_map(|(kind, millis)| DeadlineSpec { kind, millis }),
    )
}

fn limit() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![
        12 => Just(None),
        8 => (1..=MAX_LIMIT).prop_map(Some),
        1 => Just(Some(0)),
    ]
}

fn via() -> impl Strategy<Value = Via> {
    prop_oneof![
        6 => Just(Via::ThisThread),
        2 => Just(Via::OtherThread),
        2 => Just(Via::KeptClone),
    ]
}

fn step(len: usize) -> impl Strategy<Value = Step> {
    let child = 0..len.max(1);
    let parent = 0..PARENTS;
    prop_oneof![
        12 => parent.clone().prop_map(|parent| Step::Poll { parent }),
        3 => (parent, child.clone())
            .prop_map(|(parent, child)| Step::PollRacingWake { parent, child }),
        10 => (child.clone(), via()).prop_map(|(child, via)| Step::Open { child, via }),
        3 => (child.clone(), via()).prop_map(|(child, via)| Step::Wake { child, via }),
        1 => Just(Step::OpenAll),
        3 => child.prop_map(|child| Step::KeepWaker { child }),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(slot, by_value)| Step::WakeKept {
            slot: usize::from(slot),
            by_value,
        }),
        2 => select(ADVANCE_MILLIS.to_vec()).prop_map(|millis| Step::Advance { millis }),
        1 => Just(Step::Relocate),
        1 => Just(Step::DropGather),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    let most_steps = if cfg!(miri) { 24 } else { 48 };
    kind_and_len().prop_flat_map(move |(kind, len)| {
        (
            vec(plan(), len),
            mode(),
            deadline(),
            limit(),
            option::weighted(0.1, 0..len.max(1)),
            vec(step(len), 0..=most_steps),
        )
            .prop_map(
                move |(plans, mode, deadline, limit, drop_panics, steps)| Script {
                    kind,
                    mode,
                    deadline,
                    limit,
                    children: plans
                        .into_iter()
                        .enumerate()
                        .map(|(id, plan)| ChildSpec {
                            plan,
                            drop_panics: drop_panics == Some(id),
                        })
                        .collect(),
                    steps,
                },
            )
    })
}

/// Runs `script`, and on a failure names the bytes that replay it, ready to
/// be saved into `fuzz/corpus/schedule/`.
fn run_reporting_bytes(script: &Script) -> model::Report {
    match std::panic::catch_unwind(|| run(script)) {
        Ok(report) => report,
        Err(payload) => {
            eprintln!(
                "failing script as corpus bytes (hex): {}",
                script
                    .to_bytes()
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect::<String>()
            );
            std::panic::resume_unwind(payload)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_schedules_match_the_model(script in script()) {
        run_reporting_bytes(&script);
    }

    #[test]
    #[cfg_attr(miri, ignore = "pure data, no unsafe code to check")]
    fn scripts_survive_the_trip_through_bytes(script in script()) {
        prop_assert_eq!(Script::from_bytes(&script.to_bytes()), script.normalized());
    }
}

fn children(plans: &[Plan]) -> Vec<ChildSpec> {
    plans
        .iter()
        .map(|&plan| ChildSpec {
            plan,
            drop_panics: false,
        })
        .collect()
}

fn script_of(kind: Kind, mode: Mode, plans: &[Plan], steps: Vec<Step>) -> Script {
    Script {
        kind,
        mode,
        deadline: None,
        limit: None,
        children: children(plans),
        steps,
    }
}

const POLL: Step = Step::Poll { parent: 0 };

fn open(child: usize) -> Step {
    Step::Open {
        child,
        via: Via::ThisThread,
    }
}

#[test]
fn the_lowest_failing_index_polled_in_the_round_wins() {
    use Outcome::{Err, Ok};
    let plans = [
        Plan::Wait(Ok),
        Plan::Wait(Err),
        Plan::Wait(Ok),
        Plan::Wait(Err),
    ];
    // Child 3 fails alone first; then 1 and 3 would both fail, but 3 is gone.
    let report = run(&script_of(
        Kind::Vec,
        Mode::FailFast,
        &plans,
        vec![POLL, open(3), open(1), POLL],
    ));
    assert_eq!(
        report.resolution,
        Some(Resolution::Failed { index: 1, error: 1 })
    );
    assert_eq!(report.child_polls, 4 + 1);
}

#[test]
fn a_settled_array_reports_every_outcome_in_order() {
    let plans = [
        Plan::Ready(Outcome::Err),
        Plan::Wait(Outcome::Ok),
        Plan::WakeThenReady(Outcome::Ok),
    ];
    let report = run(&script_of(
        Kind::Array(3),
        Mode::Settled,
        &plans,
        vec![POLL, open(1), POLL],
    ));
    assert_eq!(
        report.resolution,
        Some(Resolution::Settled {
            timed: false,
            slots: vec![
                SlotOutcome::Err(0),
                SlotOutcome::Ok { id: 1, value: 1001 },
                SlotOutcome::Ok { id: 2, value: 1002 },
            ],
        })
    );
}

#[test]
fn a_settled_deadline_marks_the_children_still_running() {
    let mut script = script_of(
        Kind::Tuple(5),
        Mode::Settled,
        &[
            Plan::Ready(Outcome::Ok),
            Plan::SelfWake,
            Plan::Wait(Outcome::Err),
            Plan::Wait(Outcome::Ok),
            Plan::Wait(Outcome::Ok),
        ],
        vec![POLL, open(2), Step::Advance { millis: 5 }, POLL],
    );
    script.deadline = Some(DeadlineSpec {
        kind: DeadlineKind::Timer,
        millis: Some(5),
    });
    let report = run(&script);
    assert_eq!(
        report.resolution,
        Some(Resolution::Settled {
            timed: true,
            slots: vec![
                SlotOutcome::Ok { id: 0, value: 1000 },
                SlotOutcome::TimedOut,
                SlotOutcome::Err(2),
                SlotOutcome::TimedOut,
                SlotOutcome::TimedOut,
            ],
        })
    );
}

#[test]
fn a_limited_gather_with_racing_wakes_across_bitmap_words_completes() {
    // Past two bitmap words (one under Miri, which runs each thread slowly).
    let len = if cfg!(miri) { 70 } else { 130 };
    let mut steps = vec![POLL];
    for child in 0..len {
        steps.push(Step::KeepWaker { child });
        steps.push(Step::PollRacingWake {
            parent: child % PARENTS,
            child,
        });
        steps.push(open(child));
        steps.push(Step::Poll {
            parent: child % PARENTS,
        });
    }
    let mut script = script_of(
        Kind::Vec,
        Mode::FailFast,
        &vec![Plan::Wait(Outcome::Ok); len],
        steps,
    );
    script.limit = Some(7);
    let report = run(&script);
    assert_eq!(
        report.resolution,
        Some(Resolution::Values(
            (0..len).map(|id| (id, 1000 + id as u32)).collect()
        ))
    );
}

#[test]
fn a_panic_in_drop_during_the_fail_fast_drop_still_drops_everyone_once() {
    let mut script = script_of(
        Kind::Vec,
        Mode::FailFast,
        &[
            Plan::Wait(Outcome::Ok),
            Plan::Ready(Outcome::Ok),
            Plan::Wait(Outcome::Err),
        ],
        vec![POLL, open(2), POLL, POLL],
    );
    script.children[0].drop_panics = true;
    let report = run(&script);
    assert_eq!(
        report.panics,
        [
            "child 0 panics in drop on purpose",
            "`SafeGather` polled after a panic in an earlier poll"
        ]
    );
}

#[test]
fn the_empty_script_and_zero_limit_are_handled() {
    assert_eq!(
        run(&Script::from_bytes(&[])).resolution,
        None,
        "no step polls the gather"
    );
    let mut script = script_of(Kind::Vec, Mode::FailFast, &[Plan::SelfWake], vec![POLL]);
    script.limit = Some(0);
    assert_eq!(run(&script).gather_polls, 0);
}
