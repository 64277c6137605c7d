//! Schedule fuzzer: decodes the input bytes into a script (children and
//! their plans, kind, mode, deadline, limit, and a sequence of wakes, polls,
//! clock moves and drops; see `Script::from_bytes`) and runs it against the
//! real crate, checking every step against the reference model in
//! `tests/model/mod.rs`. A disagreement panics, which libFuzzer reports as a
//! crash; memory errors and leaks show through the sanitizer `cargo fuzz`
//! builds with.
//!
//! Run it (from `fuzz/`, one job: the machine is small):
//! `cargo +nightly fuzz run schedule <work dir> corpus/schedule -- -max_len=1024 -max_total_time=60`,
//! with a scratch work directory first so that new inputs land there, not
//! in the repository. Replay a crash: `cargo +nightly fuzz run schedule
//! <file>`; to keep it as a regression test, copy it into
//! `fuzz/corpus/schedule/`, which `tests/fuzz_corpus.rs` replays under
//! `cargo test`. That folder holds a few dozen inputs, not a full corpus:
//! the `seed-*` scripts written by hand (130 and 300 children, a 65-array),
//! and inputs picked from a `-merge=1` minimised run so that each adds some
//! kind, mode, deadline, limit, size, step or way of ending (success,
//! failure, time-out, settled, panic, panicking drop) the others lack.

#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

use model::{ChildSpec, Kind, Mode, Outcome, Plan, Script, Step, Via};

/// A script that takes every path that allocates once per thread or per
/// process (thread handles and their thread-local destructors, the panic
/// hook, catching a panic), run before fuzzing so that LeakSanitizer does
/// not report those one-time allocations as leaks of the first input that
/// happens to make them.
fn warm_up() -> Script {
    let plans = [
        Plan::Wait(Outcome::Ok),
        Plan::Wait(Outcome::Ok),
        Plan::WaitThenPanic,
    ];
    let open = |child, via| Step::Open { child, via };
    Script {
        kind: Kind::Vec,
        mode: Mode::FailFast,
        deadline: None,
        limit: None,
        children: plans
            .iter()
            .map(|&plan| ChildSpec {
                plan,
                drop_panics: false,
            })
            .collect(),
        steps: vec![
            Step::Poll { parent: 0 },
            Step::KeepWaker { child: 0 },
            open(0, Via::OtherThread),
            Step::PollRacingWake {
                parent: 1,
                child: 1,
            },
            Step::Wake {
                child: 1,
                via: Via::OtherThread,
            },
            open(2, Via::ThisThread),
            Step::Poll { parent: 2 },
            Step::Poll { parent: 2 },
        ],
    }
}

libfuzzer_sys::fuzz_target!(
    init: {
        model::run(&warm_up());
    },
    |bytes: &[u8]| {
        model::run(&Script::from_bytes(bytes));
    }
);
