//! A reference model of `SafeGather`, and an interpreter that runs a script
//! of children, wakes, polls and drops against the real crate and checks
//! every observable effect against the model after every step.
//!
//! Shared by the proptest (`tests/model.rs`), the replay of the fuzz corpus
//! (`tests/fuzz_corpus.rs`) and the cargo-fuzz target
//! (`fuzz/fuzz_targets/schedule.rs`, which includes this file by path). An
//! includer declares `mod model;` (or `#[path = …] mod model;`); this module
//! brings the shared test support (`tests/support/mod.rs`) in by itself.
//!
//! # Scripts
//!
//! A [`Script`] is N children, each with a [`Plan`] (ready at its first poll,
//! pending until opened, panicking, waking itself forever, …), one of them
//! optionally panicking in `Drop`; how they are gathered ([`Kind`]: `Vec`,
//! array of a few fixed lengths, tuple of a few fixed arities), the [`Mode`],
//! an optional deadline on a [`ManualTimer`] (which fires only when the script
//! advances its clock), an optional `.limit(k)`, and a list of [`Step`]s. A
//! script can be decoded from any bytes ([`Script::from_bytes`], what the
//! fuzzer feeds it) and encoded back ([`Script::to_bytes`]).
//!
//! # What the model knows, and so checks exactly
//!
//! * Which children each gather poll polls, in which order: those woken since
//!   the last poll, in ascending index order, skipping children that have
//!   finished, then first polls of children not yet started, in index order,
//!   while `.limit(k)` allows. Each child is therefore polled once per wake it
//!   received plus its first poll, and at most once per gather poll; the
//!   interpreter compares the poll log of every gather poll, and every
//!   child's poll count after every step.
//! * How the gather resolves: the outputs and their order, which error wins
//!   (the first failure among the children polled in that round, which is
//!   the lowest failing index polled), `TimedOut { completed, pending }`, and
//!   each settled slot, `SlotError::TimedOut` included. Children first, then
//!   the deadline: a gather that completes in the poll where the deadline
//!   passes succeeds.
//! * Drops: a child is dropped as soon as it completes, every other child and
//!   every output held when the gather fails fast or times out, everything
//!   when the gather is dropped; each exactly once, never while still in
//!   use, and never moved after its first poll.
//! * Panics: which poll panics and with which message (a child's own panic,
//!   a child's panicking `Drop`, or the gather's "polled after …" refusal),
//!   and that a poll after that refuses too, without touching any child.
//! * The parent task: the exact number of wakes each parent waker receives
//!   (one per poll interval in which some child was woken, plus one per
//!   deadline wake-up the manual timer holds), so a lost wake-up and a storm
//!   of redundant ones both show; and none once the gather has resolved or
//!   been dropped.
//! * The deadline's sleep: made at the first poll (a timer's) or before (a
//!   sleep's), dropped as soon as the gather resolves or is dropped.
//!
//! # What it deliberately leaves open
//!
//! * After a poll panicked, which children the gather has dropped so far:
//!   the spec only says each is dropped exactly once in the end, which is
//!   checked when the gather is dropped. The same holds when a `Drop` panics
//!   inside the fail-fast drop of the siblings.
//! * A wake from another thread *racing* a gather poll
//!   ([`Step::PollRacingWake`]) may land before or after the child's turn:
//!   the model accepts both (the child is polled in this poll or the next,
//!   never twice for that wake), and counts the parent's wakes only as "at
//!   least one when one is due" until the next poll.
//! * The exact wording of the "polled after …" panics (only that they say
//!   "polled after" and whether it was after completion or after a panic),
//!   and whether a `Duration::ZERO` timer deadline makes a sleep at all.
//! * Memory safety itself (use after free, leaks of the shared waker block):
//!   that is for Miri, the sanitizers the fuzzer builds with, and loom. The
//!   model only makes those paths run.
//! * Children that share the parent's waker (no `alloc`): every test target
//!   builds with `alloc`, where each child has its own waker.

// Each includer uses a different part (the fuzzer never encodes scripts).
#![allow(dead_code)]

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures::future::FusedFuture;
use safe_gather::deadline::Deadline;
use safe_gather::gather::{Children, TryChildren};
use safe_gather::{safe_gather, safe_gather_array, GatherError, SafeGather, SlotError, Timer};

#[path = "../support/mod.rs"]
mod support;

pub use support::ManualTimer;
use support::Parent;

// ---------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------

/// Array lengths a script can gather with `safe_gather_array`: 64 and 65
/// sit on either side of a bitmap word.
pub const ARRAY_LENS: [usize; 4] = [1, 3, 64, 65];
/// Tuple arities a script can gather with `safe_gather!`.
pub const TUPLE_ARITIES: [usize; 3] = [1, 5, 12];
/// Most children of a `Vec` script: past 256, so the bitmap needs a second
/// level with several words.
pub const MAX_CHILDREN: usize = 300;
/// Largest `.limit(k)` a script asks for (besides the invalid 0).
pub const MAX_LIMIT: usize = 9;
/// Most steps in a decoded script.
pub const MAX_STEPS: usize = 256;
/// How many distinct parent wakers the gather can be polled with.
pub const PARENTS: usize = 3;
/// Deadline durations, in milliseconds of the manual clock; `None` is
/// `Duration::MAX`, too large for any clock: a deadline that never fires.
pub const DEADLINE_MILLIS: [Option<u64>; 8] = [
    Some(0),
    Some(1),
    Some(2),
    Some(3),
    Some(5),
    Some(8),
    Some(13),
    None,
];
/// How far one [`Step::Advance`] can move the manual clock, in milliseconds.
pub const ADVANCE_MILLIS: [u64; 8] = [0, 1, 2, 3, 5, 8, 13, 100];

/// The value a child that succeeds returns; tells outputs apart by child.
pub fn ok_value(id: usize) -> u32 {
    1000 + id as u32
}

/// The error a child that fails returns.
pub fn err_value(id: usize) -> u32 {
    id as u32
}

/// Which entry point builds the gather.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `safe_gather(vec)`, with any number of children.
    Vec,
    /// `safe_gather(iter)` over children made on demand, by an iterator that
    /// knows its length (`known`) or does not (`size_hint` of `(0, None)`).
    Lazy { known: bool },
    /// `safe_gather_array`, with one of [`ARRAY_LENS`] children.
    Array(usize),
    /// `safe_gather!`, with one of [`TUPLE_ARITIES`] children.
    Tuple(usize),
}

/// Fail-fast (the default) or `.settled()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    FailFast,
    Settled,
}

/// Where a deadline comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// `.timeout_with(timer, d)`: the sleep is made at the first poll.
    Timer,
    /// `.deadline(timer.sleep(d))`: the sleep is made when the gather is built.
    Sleep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineSpec {
    pub kind: DeadlineKind,
    /// One of [`DEADLINE_MILLIS`]; `None` never fires.
    pub millis: Option<u64>,
}

impl DeadlineSpec {
    fn duration(self) -> Duration {
        self.millis.map_or(Duration::MAX, Duration::from_millis)
    }
}

/// How a child that finishes finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Err,
}

/// What a child does when polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Finishes at its first poll.
    Ready(Outcome),
    /// Wakes itself, then finishes, at its first poll: its waker is marked
    /// after it finished.
    WakeThenReady(Outcome),
    /// Pending (keeping its latest waker) until opened, then finishes.
    Wait(Outcome),
    /// Pending until opened, then panics when polled.
    WaitThenPanic,
    /// Panics at its first poll.
    Panic,
    /// Wakes itself and stays pending at every poll, forever (alternating
    /// `wake_by_ref` and a clone woken by value).
    SelfWake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSpec {
    pub plan: Plan,
    /// Panics in `Drop` (unless already unwinding). At most one per script.
    pub drop_panics: bool,
}

/// Which thread, and which waker, a wake comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The waker the child registered at its latest poll, on this thread.
    ThisThread,
    /// The same, from a scoped thread that is joined before the next step.
    OtherThread,
    /// A clone kept by [`Step::KeepWaker`] at some earlier poll.
    KeptClone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Polls the gather with parent waker `parent` (`< PARENTS`).
    Poll { parent: usize },
    /// Polls the gather while another thread wakes `child`'s waker.
    PollRacingWake { parent: usize, child: usize },
    /// Lets a [`Plan::Wait`] or [`Plan::WaitThenPanic`] child finish, and wakes it.
    Open { child: usize, via: Via },
    /// Wakes `child` without letting it finish.
    Wake { child: usize, via: Via },
    /// Opens every child in index order, each woken on this thread.
    OpenAll,
    /// Keeps a clone of `child`'s waker, past the gather's drop if need be.
    KeepWaker { child: usize },
    /// Wakes kept clone number `slot` (modulo how many are kept), by
    /// reference or consuming it.
    WakeKept { slot: usize, by_value: bool },
    /// Moves the manual clock on (one of [`ADVANCE_MILLIS`]), waking every
    /// sleep polled so far.
    Advance { millis: u64 },
    /// Moves a `Vec` gather to a new heap place between polls (it is
    /// `Unpin`); arrays and tuples hold their children inline and stay put.
    Relocate,
    /// Drops the gather: cancellation.
    DropGather,
}

/// One schedule to run: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub kind: Kind,
    pub mode: Mode,
    pub deadline: Option<DeadlineSpec>,
    /// `Some(0)` checks that `.limit(0)` panics.
    pub limit: Option<usize>,
    pub children: Vec<ChildSpec>,
    pub steps: Vec<Step>,
}

impl Script {
    /// The same script made consistent: as many children as an array or
    /// tuple kind holds (padding with waiting children), at most one that
    /// panics in `Drop` (two would only hide each other), and every parent
    /// and child index in range.
    pub fn normalized(&self) -> Script {
        let mut script = self.clone();
        if let Kind::Array(len) | Kind::Tuple(len) = script.kind {
            script.children.resize(
                len,
                ChildSpec {
                    plan: Plan::Wait(Outcome::Ok),
                    drop_panics: false,
                },
            );
        }
        script.children.truncate(MAX_CHILDREN);
        let mut seen_drop_panic = false;
        for child in &mut script.children {
            child.drop_panics &= !std::mem::replace(&mut seen_drop_panic, child.drop_panics);
        }
        script
    }

    /// Decodes any bytes into a script; missing bytes read as zero. The
    /// layout, one byte each unless noted:
    ///
    /// * kind (`% 16`: 0–8 `Vec`, 9–12 arrays, 13–15 tuples);
    /// * shape (bit 0 settled; bits 1–2 deadline: 1 timer, 2 sleep, else
    ///   none; bits 3–5 index into [`DEADLINE_MILLIS`]);
    /// * limit (192–254: `1 + (b - 192) % 9`; 255: 0; else none);
    /// * for `Vec` only, the length (below 230: `b % 41`; else a `u16`
    ///   follows, `41 + u16 % 260`);
    /// * drop panic (224 or more: a child index follows);
    /// * one plan byte per child (see `decode_plan`);
    /// * steps, each an op byte (`% 32` picks the step, the top three bits
    ///   its parent, waker path or amount) and, for steps that name a child,
    ///   a child index (a byte, or a `u16` above 256 children).
    pub fn from_bytes(bytes: &[u8]) -> Script {
        let mut input = Input(bytes);
        let kind = match input.byte() % 16 {
            0..=6 => Kind::Vec,
            7 => Kind::Lazy { known: true },
            8 => Kind::Lazy { known: false },
            code @ 9..=12 => Kind::Array(ARRAY_LENS[usize::from(code - 9)]),
            code => Kind::Tuple(TUPLE_ARITIES[usize::from(code - 13)]),
        };
        let shape = input.byte();
        let mode = if shape & 1 == 1 {
            Mode::Settled
        } else {
            Mode::FailFast
        };
        let millis = DEADLINE_MILLIS[usize::from((shape >> 3) & 7)];
        let deadline = match (shape >> 1) & 3 {
            1 => Some(DeadlineSpec {
                kind: DeadlineKind::Timer,
                millis,
            }),
            2 => Some(DeadlineSpec {
                kind: DeadlineKind::Sleep,
                millis,
            }),
            _ => None,
        };
        let limit = match input.byte() {
            255 => Some(0),
            code @ 192..=254 => Some(1 + usize::from(code - 192) % MAX_LIMIT),
            _ => None,
        };
        let len = match kind {
            Kind::Vec | Kind::Lazy { .. } => match input.byte() {
                code @ 0..=229 => usize::from(code) % 41,
                _ => 41 + usize::from(input.u16()) % (MAX_CHILDREN - 40),
            },
            Kind::Array(len) | Kind::Tuple(len) => len,
        };
        let drop_panics = (input.byte() >= 224).then(|| input.index(len));
        let children = (0..len)
            .map(|id| ChildSpec {
                plan: decode_plan(input.byte()),
                drop_panics: drop_panics == Some(id),
            })
            .collect();
        let mut steps = Vec::new();
        while steps.len() < MAX_STEPS {
            let Some(op) = input.next() else { break };
            let high = usize::from(op >> 5);
            let via = match high {
                0..=4 => Via::ThisThread,
                5..=6 => Via::OtherThread,
                _ => Via::KeptClone,
            };
            steps.push(match op % 32 {
                0..=9 | 30..=31 => Step::Poll {
                    parent: high % PARENTS,
                },
                10..=15 => Step::Open {
                    child: input.index(len),
                    via,
                },
                16..=18 => Step::Wake {
                    child: input.index(len),
                    via,
                },
                19..=20 => Step::KeepWaker {
                    child: input.index(len),
                },
                21..=22 => Step::WakeKept {
                    slot: usize::from(input.byte()),
                    by_value: high % 2 == 1,
                },
                23..=24 => Step::Advance {
                    millis: ADVANCE_MILLIS[high],
                },
                25 => Step::Relocate,
                26 => Step::DropGather,
                27..=28 => Step::PollRacingWake {
                    parent: high % PARENTS,
                    child: input.index(len),
                },
                _ => Step::OpenAll,
            });
        }
        Script {
            kind,
            mode,
            deadline,
            limit,
            children,
            steps,
        }
    }

    /// Bytes that [`Script::from_bytes`] decodes back into this (normalized)
    /// script: how a script found by the proptest becomes a corpus file.
    ///
    /// # Panics
    ///
    /// If the script uses values bytes cannot express (a deadline or
    /// advance not in the tables, a limit above [`MAX_LIMIT`], an array or
    /// tuple length not in [`ARRAY_LENS`] / [`TUPLE_ARITIES`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let script = self.normalized();
        let len = script.children.len();
        let position = |table: &[usize], value: usize| {
            table
                .iter()
                .position(|&entry| entry == value)
                .unwrap_or_else(|| panic!("{value} is not one of {table:?}")) as u8
        };
        let mut out = vec![match script.kind {
            Kind::Vec => 0,
            Kind::Lazy { known: true } => 7,
            Kind::Lazy { known: false } => 8,
            Kind::Array(len) => 9 + position(&ARRAY_LENS, len),
            Kind::Tuple(len) => 13 + position(&TUPLE_ARITIES, len),
        }];
        let (deadline_code, millis_code) = match script.deadline {
            None => (0, 0),
            Some(spec) => (
                match spec.kind {
                    DeadlineKind::Timer => 1,
                    DeadlineKind::Sleep => 2,
                },
                DEADLINE_MILLIS
                    .iter()
                    .position(|&millis| millis == spec.millis)
                    .expect("deadline not in DEADLINE_MILLIS") as u8,
            ),
        };
        out.push(u8::from(script.mode == Mode::Settled) | deadline_code << 1 | millis_code << 3);
        out.push(match script.limit {
            None => 0,
            Some(0) => 255,
            Some(limit) if limit <= MAX_LIMIT => 192 + (limit - 1) as u8,
            Some(limit) => panic!("limit {limit} is above {MAX_LIMIT}"),
        });
        if matches!(script.kind, Kind::Vec | Kind::Lazy { .. }) {
            if len <= 40 {
                out.push(len as u8);
            } else {
                out.push(230);
                out.extend_from_slice(&((len - 41) as u16).to_be_bytes());
            }
        }
        let push_index = |out: &mut Vec<u8>, child: usize| {
            assert!(child < len.max(1), "child {child} of {len}");
            if len > 256 {
                out.extend_from_slice(&(child as u16).to_be_bytes());
            } else {
                out.push(child as u8);
            }
        };
        match script.children.iter().position(|child| child.drop_panics) {
            Some(child) => {
                out.push(224);
                push_index(&mut out, child);
            }
            None => out.push(0),
        }
        out.extend(script.children.iter().map(|child| encode_plan(child.plan)));
        let via_code = |via: Via| match via {
            Via::ThisThread => 0u8,
            Via::OtherThread => 5,
            Via::KeptClone => 7,
        };
        for step in &script.steps {
            match *step {
                Step::Poll { parent } => out.push((parent as u8) << 5),
                Step::PollRacingWake { parent, child } => {
                    out.push(27 | (parent as u8) << 5);
                    push_index(&mut out, child);
                }
                Step::Open { child, via } => {
                    out.push(10 | via_code(via) << 5);
                    push_index(&mut out, child);
                }
                Step::Wake { child, via } => {
                    out.push(16 | via_code(via) << 5);
                    push_index(&mut out, child);
                }
                Step::OpenAll => out.push(29),
                Step::KeepWaker { child } => {
                    out.push(19);
                    push_index(&mut out, child);
                }
                Step::WakeKept { slot, by_value } => {
                    out.push(21 | u8::from(by_value) << 5);
                    out.push(u8::try_from(slot).expect("kept-waker slot above 255"));
                }
                Step::Advance { millis } => {
                    let code = ADVANCE_MILLIS
                        .iter()
                        .position(|&entry| entry == millis)
                        .expect("advance not in ADVANCE_MILLIS");
                    out.push(23 | (code as u8) << 5);
                }
                Step::Relocate => out.push(25),
                Step::DropGather => out.push(26),
            }
        }
        out
    }
}

/// A plan byte: mostly waiting and ready children, a few that panic once
/// opened or wake themselves, and (only for the exact byte 57) one that
/// panics at its first poll, which would otherwise end most scripts early.
fn decode_plan(byte: u8) -> Plan {
    match byte % 64 {
        0..=11 => Plan::Ready(Outcome::Ok),
        12..=14 => Plan::Ready(Outcome::Err),
        15..=16 => Plan::WakeThenReady(Outcome::Ok),
        17 => Plan::WakeThenReady(Outcome::Err),
        40..=49 => Plan::Wait(Outcome::Err),
        50..=52 => Plan::WaitThenPanic,
        53..=56 => Plan::SelfWake,
        57 if byte == 57 => Plan::Panic,
        _ => Plan::Wait(Outcome::Ok),
    }
}

fn encode_plan(plan: Plan) -> u8 {
    match plan {
        Plan::Ready(Outcome::Ok) => 0,
        Plan::Ready(Outcome::Err) => 12,
        Plan::WakeThenReady(Outcome::Ok) => 15,
        Plan::WakeThenReady(Outcome::Err) => 17,
        Plan::Wait(Outcome::Ok) => 18,
        Plan::Wait(Outcome::Err) => 40,
        Plan::WaitThenPanic => 50,
        Plan::SelfWake => 53,
        Plan::Panic => 57,
    }
}

/// The bytes left to decode.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    /// A child index below `len` (0 when there are no children).
    fn index(&mut self, len: usize) -> usize {
        let raw = if len > 256 {
            usize::from(self.u16())
        } else {
            usize::from(self.byte())
        };
        raw % len.max(1)
    }
}

// ---------------------------------------------------------------------------
// Children that record what happens to them
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct ChildRecord {
    /// Made (a lazy input makes each child when the gather takes it).
    created: bool,
    polls: usize,
    polls_after_finish: usize,
    drops: usize,
    output_drops: usize,
    finished: bool,
    opened: bool,
    /// The waker of the child's latest pending poll, until it is opened,
    /// finishes or is dropped.
    waker: Option<Waker>,
    self_wakes: usize,
    /// Where the child was at its first poll: a polled child must not move.
    address: Option<usize>,
    moved: bool,
}

#[derive(Debug, Default)]
struct LedgerState {
    records: Vec<ChildRecord>,
    /// Ids of the children polled since the log was last taken, in order.
    log: Vec<usize>,
}

/// What every child of one script did, shared with the children.
#[derive(Debug, Clone, Default)]
struct Ledger(Arc<Mutex<LedgerState>>);

/// One child's counters, as the checks read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    polls: usize,
    polls_after_finish: usize,
    drops: usize,
    output_drops: usize,
    moved: bool,
    /// Polled, not finished and not dropped.
    in_flight: bool,
    created: bool,
}

impl Ledger {
    fn new(len: usize) -> Ledger {
        let ledger = Ledger::default();
        ledger.lock().records.resize_with(len, ChildRecord::default);
        ledger
    }

    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        // No child panics while holding the lock, but a poisoned lock must
        // never hide the counts.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn children(&self, specs: &[ChildSpec]) -> Vec<ScriptedChild> {
        // Made now, unless a lazy input makes them later (see `build`).
        for record in &mut self.lock().records {
            record.created = true;
        }
        specs
            .iter()
            .enumerate()
            .map(|(id, spec)| ScriptedChild {
                ledger: self.clone(),
                id,
                plan: spec.plan,
                drop_panics: spec.drop_panics,
            })
            .collect()
    }

    /// Lets child `id` finish at its next poll, and wakes its registered
    /// waker (by value) if it has one; says whether it did.
    fn open(&self, id: usize) -> bool {
        let waker = {
            let mut state = self.lock();
            state.records[id].opened = true;
            state.records[id].waker.take()
        };
        waker.map(Waker::wake).is_some()
    }

    /// Lets child `id` finish at its next poll, waking nothing.
    fn set_opened(&self, id: usize) {
        self.lock().records[id].opened = true;
    }

    /// Wakes child `id`'s registered waker, keeping it; says whether there
    /// was one.
    fn wake_registered(&self, id: usize) -> bool {
        let waker = self.lock().records[id].waker.clone();
        waker.map(Waker::wake).is_some()
    }

    fn registered_waker(&self, id: usize) -> Option<Waker> {
        self.lock().records[id].waker.clone()
    }

    fn take_log(&self) -> Vec<usize> {
        std::mem::take(&mut self.lock().log)
    }

    fn counts(&self) -> Vec<Counts> {
        self.lock()
            .records
            .iter()
            .map(|record| Counts {
                polls: record.polls,
                polls_after_finish: record.polls_after_finish,
                drops: record.drops,
                output_drops: record.output_drops,
                moved: record.moved,
                in_flight: record.polls > 0 && !record.finished && record.drops == 0,
                created: record.created,
            })
            .collect()
    }
}

/// A child future following its [`Plan`], recording every poll and drop.
#[derive(Debug)]
struct ScriptedChild {
    ledger: Ledger,
    id: usize,
    plan: Plan,
    drop_panics: bool,
}

/// A successful child's value; counts its own drop.
#[derive(Debug)]
pub struct ChildOutput {
    ledger: Ledger,
    id: usize,
    value: u32,
}

impl Drop for ChildOutput {
    fn drop(&mut self) {
        self.ledger.lock().records[self.id].output_drops += 1;
    }
}

/// What a child does at one poll, decided under the ledger's lock and done
/// after it is released (wakes and panics never run under the lock).
enum Turn {
    Finish(Outcome),
    Wait,
    Panic,
    WakeSelf { by_value: bool },
}

impl Future for ScriptedChild {
    type Output = Result<ChildOutput, u32>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let address = this as *const ScriptedChild as usize;
        let mut state = this.ledger.lock();
        state.log.push(this.id);
        let record = &mut state.records[this.id];
        record.polls += 1;
        if record.finished {
            record.polls_after_finish += 1;
        }
        match record.address {
            None => record.address = Some(address),
            Some(first) if first != address => record.moved = true,
            Some(_) => {}
        }
        let turn = match this.plan {
            Plan::Ready(outcome) | Plan::WakeThenReady(outcome) => Turn::Finish(outcome),
            Plan::Wait(outcome) if record.opened => Turn::Finish(outcome),
            Plan::WaitThenPanic if record.opened => Turn::Panic,
            Plan::Wait(_) | Plan::WaitThenPanic => Turn::Wait,
            Plan::Panic => Turn::Panic,
            Plan::SelfWake => {
                record.self_wakes += 1;
                Turn::WakeSelf {
                    by_value: record.self_wakes % 2 == 0,
                }
            }
        };
        // Replaced or released wakers are dropped after the lock is.
        let stale = match turn {
            Turn::Wait => record.waker.replace(cx.waker().clone()),
            Turn::Finish(_) => {
                record.finished = true;
                record.waker.take()
            }
            Turn::Panic | Turn::WakeSelf { .. } => None,
        };
        drop(state);
        drop(stale);
        match turn {
            Turn::Wait => Poll::Pending,
            Turn::Panic => panic!("child {} panics on purpose", this.id),
            Turn::WakeSelf { by_value } => {
                if by_value {
                    // On purpose: a clone consumed by `wake` takes the
                    // waker's clone-then-release path, `wake_by_ref` does not.
                    #[allow(clippy::waker_clone_wake)]
                    cx.waker().clone().wake();
                } else {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Turn::Finish(outcome) => {
                if matches!(this.plan, Plan::WakeThenReady(_)) {
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(match outcome {
                    Outcome::Ok => Ok(ChildOutput {
                        ledger: this.ledger.clone(),
                        id: this.id,
                        value: ok_value(this.id),
                    }),
                    Outcome::Err => Err(err_value(this.id)),
                })
            }
        }
    }
}

impl Drop for ScriptedChild {
    fn drop(&mut self) {
        let address = self as *const ScriptedChild as usize;
        let stale = {
            let mut state = self.ledger.lock();
            let record = &mut state.records[self.id];
            record.drops += 1;
            // Pin's drop guarantee: a polled child is dropped where it was polled.
            if record.address.is_some_and(|first| first != address) {
                record.moved = true;
            }
            record.waker.take()
        };
        drop(stale);
        // A second panic while unwinding would abort the whole run.
        if self.drop_panics && !thread::panicking() {
            panic!("child {} panics in drop on purpose", self.id);
        }
    }
}

// ---------------------------------------------------------------------------
// The real gather, behind one object-safe face for every kind and mode
// ---------------------------------------------------------------------------

/// What a resolved gather handed over, still holding the outputs.
pub enum Observed {
    FailFast(Result<Vec<ChildOutput>, GatherError<u32>>),
    Settled(Vec<Result<ChildOutput, u32>>),
    SettledTimed(Vec<Result<ChildOutput, SlotError<u32>>>),
}

/// How a gather resolved, comparable with the model's prediction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Fail-fast success: each slot's child id and value.
    Values(Vec<(usize, u32)>),
    Failed {
        index: usize,
        error: u32,
    },
    TimedOut {
        completed: usize,
        pending: usize,
    },
    /// Settled: `timed` says whether the slots are `Result<T, SlotError<E>>`.
    Settled {
        timed: bool,
        slots: Vec<SlotOutcome>,
    },
    /// A `GatherError` variant the model does not know.
    Unknown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotOutcome {
    Ok { id: usize, value: u32 },
    Err(u32),
    TimedOut,
}

impl Observed {
    fn resolution(&self) -> Resolution {
        let ok = |output: &ChildOutput| SlotOutcome::Ok {
            id: output.id,
            value: output.value,
        };
        match self {
            Observed::FailFast(Ok(outputs)) => Resolution::Values(
                outputs
                    .iter()
                    .map(|output| (output.id, output.value))
                    .collect(),
            ),
            Observed::FailFast(Err(GatherError::Failed { index, error })) => Resolution::Failed {
                index: *index,
                error: *error,
            },
            Observed::FailFast(Err(GatherError::TimedOut { completed, pending })) => {
                Resolution::TimedOut {
                    completed: *completed,
                    pending: *pending,
                }
            }
            Observed::FailFast(Err(other)) => Resolution::Unknown(format!("{other:?}")),
            Observed::Settled(slots) => Resolution::Settled {
                timed: false,
                slots: slots
                    .iter()
                    .map(|slot| match slot {
                        Ok(output) => ok(output),
                        Err(error) => SlotOutcome::Err(*error),
                    })
                    .collect(),
            },
            Observed::SettledTimed(slots) => Resolution::Settled {
                timed: true,
                slots: slots
                    .iter()
                    .map(|slot| match slot {
                        Ok(output) => ok(output),
                        Err(SlotError::Failed(error)) => SlotOutcome::Err(*error),
                        Err(SlotError::TimedOut) => SlotOutcome::TimedOut,
                    })
                    .collect(),
            },
        }
    }
}

/// Turns an array or tuple of outputs into a `Vec`, in order.
pub trait Flatten<T> {
    fn flatten(self) -> Vec<T>;
}

impl<T> Flatten<T> for Vec<T> {
    fn flatten(self) -> Vec<T> {
        self
    }
}

impl<T, const N: usize> Flatten<T> for [T; N] {
    fn flatten(self) -> Vec<T> {
        self.into()
    }
}

macro_rules! flatten_tuple {
    ($($name:ident)+) => {
        impl<T> Flatten<T> for ($(flatten_tuple!(@as_t $name),)+) {
            fn flatten(self) -> Vec<T> {
                let ($($name,)+) = self;
                vec![$($name),+]
            }
        }
    };
    (@as_t $name:ident) => { T };
}

flatten_tuple!(a);
flatten_tuple!(a b c d e);
flatten_tuple!(a b c d e f g h i j k l);

fn observe_fail_fast<O: Flatten<ChildOutput>>(output: Result<O, GatherError<u32>>) -> Observed {
    Observed::FailFast(output.map(Flatten::flatten))
}

fn observe_settled<O: Flatten<Result<ChildOutput, u32>>>(output: O) -> Observed {
    Observed::Settled(output.flatten())
}

fn observe_settled_timed<O: Flatten<Result<ChildOutput, SlotError<u32>>>>(output: O) -> Observed {
    Observed::SettledTimed(output.flatten())
}

/// A gather of any kind, mode and deadline, as the interpreter drives it.
trait Driven {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Observed>;
    fn is_terminated(&self) -> bool;
    /// Moves the gather to a fresh heap place.
    fn relocate(&mut self);
}

struct Driver<G: Future> {
    /// Boxed so that relocating it is a real move; every gather of the
    /// scripts is `Unpin`.
    gather: Option<Box<G>>,
    observe: fn(G::Output) -> Observed,
}

impl<G> Driven for Driver<G>
where
    G: Future + FusedFuture + Unpin,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Observed> {
        let gather = self.gather.as_mut().expect("gather present");
        Pin::new(&mut **gather).poll(cx).map(self.observe)
    }

    fn is_terminated(&self) -> bool {
        self.gather
            .as_ref()
            .expect("gather present")
            .is_terminated()
    }

    fn relocate(&mut self) {
        let old = self.gather.take().expect("gather present");
        // The new box is allocated while the old one still is, so the
        // gather lands at a different address.
        self.gather = Some(Box::new(*old));
    }
}

fn driver<G>(gather: G, observe: fn(G::Output) -> Observed) -> Box<dyn Driven>
where
    G: Future + FusedFuture + Unpin + 'static,
{
    Box::new(Driver {
        gather: Some(Box::new(gather)),
        observe,
    })
}

fn limited<K: Children<Limited = K>, M, D: Deadline>(
    gather: SafeGather<K, M, D>,
    limit: Option<usize>,
) -> SafeGather<K, M, D> {
    match limit {
        Some(limit) => gather.limit(limit),
        None => gather,
    }
}

/// Applies the script's mode, deadline and limit to a fresh gather.
fn configure<K>(gather: SafeGather<K>, script: &Script, timer: &ManualTimer) -> Box<dyn Driven>
where
    K: TryChildren<Error = u32> + Children<Limited = K> + safe_gather::gather::Bounded + 'static,
    // Every child here is `Unpin`, so every gather is, and can be relocated.
    K::Storage: Unpin,
    K::Ok: Flatten<ChildOutput>,
    K::Settled: Flatten<Result<ChildOutput, u32>>,
    K::SettledTimed: Flatten<Result<ChildOutput, SlotError<u32>>>,
{
    let limit = script.limit;
    match (script.mode, script.deadline) {
        (Mode::FailFast, None) => driver(limited(gather, limit), observe_fail_fast::<K::Ok>),
        (Mode::FailFast, Some(spec)) => match spec.kind {
            DeadlineKind::Timer => driver(
                limited(gather.timeout_with(timer.clone(), spec.duration()), limit),
                observe_fail_fast::<K::Ok>,
            ),
            DeadlineKind::Sleep => driver(
                limited(gather.deadline(timer.sleep(spec.duration())), limit),
                observe_fail_fast::<K::Ok>,
            ),
        },
        (Mode::Settled, None) => driver(
            limited(gather.settled(), limit),
            observe_settled::<K::Settled>,
        ),
        (Mode::Settled, Some(spec)) => match spec.kind {
            DeadlineKind::Timer => driver(
                limited(
                    gather
                        .settled()
                        .timeout_with(timer.clone(), spec.duration()),
                    limit,
                ),
                observe_settled_timed::<K::SettledTimed>,
            ),
            DeadlineKind::Sleep => driver(
                limited(
                    gather.settled().deadline(timer.sleep(spec.duration())),
                    limit,
                ),
                observe_settled_timed::<K::SettledTimed>,
            ),
        },
    }
}

/// An iterator that hides its length (`size_hint` of `(0, None)`).
struct UnknownLength<I>(I);

impl<I: Iterator> Iterator for UnknownLength<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.0.next()
    }
}

fn into_array<const N: usize>(children: Vec<ScriptedChild>) -> [ScriptedChild; N] {
    children
        .try_into()
        .unwrap_or_else(|children: Vec<_>| panic!("{} children for [_; {N}]", children.len()))
}

/// Builds the script's gather over `children`, through the kind's own entry point.
fn build(script: &Script, children: Vec<ScriptedChild>, timer: &ManualTimer) -> Box<dyn Driven> {
    match script.kind {
        Kind::Vec => configure(safe_gather(children), script, timer),
        Kind::Lazy { known } => {
            // The children exist already; the ledger only learns of each when
            // the gather takes it, as if the iterator made it then.
            if let Some(child) = children.first() {
                for record in &mut child.ledger.lock().records {
                    record.created = false;
                }
            }
            let made = children.into_iter().inspect(|child| {
                child.ledger.lock().records[child.id].created = true;
            });
            if known {
                configure(safe_gather(made), script, timer)
            } else {
                configure(safe_gather(UnknownLength(made)), script, timer)
            }
        }
        Kind::Array(1) => configure(safe_gather_array(into_array::<1>(children)), script, timer),
        Kind::Array(3) => configure(safe_gather_array(into_array::<3>(children)), script, timer),
        Kind::Array(64) => configure(safe_gather_array(into_array::<64>(children)), script, timer),
        Kind::Array(65) => configure(safe_gather_array(into_array::<65>(children)), script, timer),
        Kind::Tuple(arity) => build_tuple(arity, children, script, timer),
        kind => panic!("no gather of kind {kind:?}"),
    }
}

fn build_tuple(
    arity: usize,
    children: Vec<ScriptedChild>,
    script: &Script,
    timer: &ManualTimer,
) -> Box<dyn Driven> {
    let mut children = children.into_iter();
    let mut next = move || children.next().expect("one child per tuple field");
    match arity {
        1 => configure(safe_gather!(next()), script, timer),
        5 => configure(
            safe_gather!(next(), next(), next(), next(), next()),
            script,
            timer,
        ),
        12 => configure(
            safe_gather!(
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next()
            ),
            script,
            timer,
        ),
        arity => panic!("no tuple gather of arity {arity}"),
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not resolved: before the first poll or between polls.
    Running,
    /// Resolved: the next poll must refuse, saying it completed.
    Done,
    /// A poll panicked: the next poll must refuse, saying so.
    Poisoned,
    /// Dropped, or never built (`.limit(0)`).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChildState {
    Unstarted,
    Running,
    Finished(Outcome),
    Panicked,
}

#[derive(Debug)]
struct ChildModel {
    plan: Plan,
    drop_panics: bool,
    opened: bool,
    state: ChildState,
    polls: usize,
    /// Whether the ledger holds a waker of this child's; `None` while unknown.
    registered: Option<bool>,
    /// Marked since the last drain: polled at the next gather poll.
    /// `None` while unknown (after a panic inside the gather).
    dropped: Option<bool>,
}

/// Where an expected panic comes from; what its message must say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PanicSource {
    ChildPoll(usize),
    ChildDrop(usize),
    PolledAfterCompletion,
    PolledAfterPanic,
    ZeroLimit,
}

impl PanicSource {
    fn accepts(self, message: &str) -> bool {
        match self {
            PanicSource::ChildPoll(id) => message == format!("child {id} panics on purpose"),
            PanicSource::ChildDrop(id) => {
                message == format!("child {id} panics in drop on purpose")
            }
            PanicSource::PolledAfterCompletion => {
                message.contains("polled after") && message.contains("complet")
            }
            PanicSource::PolledAfterPanic => {
                message.contains("polled after") && message.contains("panic")
            }
            PanicSource::ZeroLimit => message.contains("limit"),
        }
    }
}

/// What the model predicts a gather poll returns.
#[derive(Debug)]
enum Expect {
    Pending,
    Ready(Resolution),
    Panic(PanicSource),
}

/// Why a round of child polls stopped early.
enum Stop {
    Failed(usize),
    Panic(PanicSource),
}

enum Resolve {
    Complete,
    Failed(usize),
    TimedOut,
}

#[derive(Debug)]
struct DeadlineModel {
    kind: DeadlineKind,
    millis: Option<u64>,
    /// When it passes (`None`: never); for a timer, known from the first poll.
    due: Option<u64>,
    /// Whether the sleep has been asked for.
    started: bool,
    /// `None` where the model leaves it open: whether a zero timer makes a sleep.
    sleep_alive: Option<bool>,
}

/// The gather as the spec describes it, fed the same steps as the real one.
#[derive(Debug)]
struct Model {
    fail_fast: bool,
    limit: usize,
    children: Vec<ChildModel>,
    started: usize,
    running: usize,
    finished: usize,
    phase: Phase,
    polled: bool,
    /// The gather has let go of its parent waker: marks wake nobody.
    closed: bool,
    deadline: Option<DeadlineModel>,
    now: u64,
    /// The shared block's `notified` flag: the first mark after a poll
    /// began wakes the parent, later ones do not.
    notified: bool,
    /// The parent waker stored for the next wake (taken by it).
    registered_parent: Option<usize>,
    /// The parent of the latest poll that got past the refusal check.
    last_parent: Option<usize>,
    expected_wakes: [usize; PARENTS],
    /// False from a racing poll to the next poll: wakes are then only
    /// checked for liveness.
    wakes_exact: bool,
    wakes_at_poll_start: [usize; PARENTS],
    /// Some child was marked since the latest poll began, while the gather
    /// still held its parent waker: the parent must have been woken.
    wake_due: bool,
    /// The parent waker clones the manual clock holds: one per poll of the
    /// sleep that found it pending. `advance` wakes them all.
    timer_waiters: Vec<usize>,
    /// Wakers name slots, not children. Without slot reuse slot `i` is child
    /// `i`; a `.limit(k)` over more than `k` children of a `Vec` runs them in
    /// a pool of `k` slots: the first `k` in slots `0..k`, and each later one
    /// in the slot its predecessor vacated first (the pool refills a slot as
    /// soon as its child finishes). A wake through a waker kept from a child
    /// that has finished marks its slot, which may hold another child by
    /// then: that child is polled once more (a spurious poll, never a lost
    /// one).
    slot_of: Vec<usize>,
    occupant: Vec<Option<usize>>,
    vacant: std::collections::VecDeque<usize>,
    reuses_slots: bool,
    /// The gather can tell how many children there are before it takes them
    /// all (else: an iterator of unknown length, which counts as pending or
    /// timed out only the children taken).
    known_len: bool,
    /// A lazy input: children are made when the gather takes them, at its
    /// first poll (the first `limit`, or all) and as it starts each later one.
    lazy: bool,
    /// Pool only: children that finished and handed their slot on at once
    /// (taking the next child from the input then, before the rest of the
    /// round is polled).
    refills: usize,
    /// Slots marked since the last drain.
    woken: Vec<bool>,
    /// Slots a racing wake may still have marked: the next poll may poll
    /// their child.
    maybe_woken: Vec<bool>,
}

impl Model {
    fn new(script: &Script) -> Model {
        let len = script.children.len();
        let limit = script.limit.unwrap_or(usize::MAX);
        let reuses_slots = matches!(script.kind, Kind::Vec | Kind::Lazy { .. }) && limit < len;
        let slots = if reuses_slots { limit } else { len };
        Model {
            slot_of: vec![usize::MAX; len],
            occupant: vec![None; slots],
            vacant: std::collections::VecDeque::new(),
            reuses_slots,
            known_len: script.kind != Kind::Lazy { known: false },
            lazy: matches!(script.kind, Kind::Lazy { .. }),
            refills: 0,
            woken: vec![false; slots],
            maybe_woken: vec![false; slots],
            fail_fast: script.mode == Mode::FailFast,
            limit: script.limit.unwrap_or(usize::MAX),
            children: script
                .children
                .iter()
                .map(|spec| ChildModel {
                    plan: spec.plan,
                    drop_panics: spec.drop_panics,
                    opened: false,
                    state: ChildState::Unstarted,
                    polls: 0,
                    registered: Some(false),
                    dropped: Some(false),
                })
                .collect(),
            started: 0,
            running: 0,
            finished: 0,
            phase: Phase::Running,
            polled: false,
            closed: false,
            deadline: script.deadline.map(|spec| {
                let sleep_made_now = spec.kind == DeadlineKind::Sleep;
                DeadlineModel {
                    kind: spec.kind,
                    millis: spec.millis,
                    // The clock reads 0 when the script builds the gather.
                    due: if sleep_made_now { spec.millis } else { None },
                    started: sleep_made_now,
                    sleep_alive: Some(sleep_made_now),
                }
            }),
            now: 0,
            notified: false,
            registered_parent: None,
            last_parent: None,
            expected_wakes: [0; PARENTS],
            wakes_exact: true,
            wakes_at_poll_start: [0; PARENTS],
            wake_due: false,
            timer_waiters: Vec::new(),
        }
    }

    /// `.limit(0)` refused to build the gather, dropping every child.
    fn never_built(&mut self) {
        self.phase = Phase::Dropped;
        self.closed = true;
        for child in &mut self.children {
            child.dropped = Some(true);
        }
        if let Some(deadline) = &mut self.deadline {
            deadline.sleep_alive = Some(false);
        }
    }

    /// A waker of `child` was woken (the child may have finished since).
    fn mark(&mut self, child: usize) {
        if self.closed {
            return;
        }
        self.woken[self.slot_of[child]] = true;
        self.wake_due = true;
        if !self.notified {
            self.notified = true;
            if let Some(parent) = self.registered_parent.take() {
                self.expected_wakes[parent] += 1;
            }
        }
    }

    fn advance(&mut self, millis: u64) {
        self.now += millis;
        for parent in self.timer_waiters.drain(..) {
            self.expected_wakes[parent] += 1;
        }
    }

    /// Before every gather poll: a child marked since the latest poll began
    /// must have woken that poll's parent (no lost wake-up), even where the
    /// exact count is open.
    fn before_poll(&mut self, parent: usize, observed: [usize; PARENTS]) -> Result<(), String> {
        if let (Phase::Running, true, Some(last)) = (self.phase, self.wake_due, self.last_parent) {
            if observed[last] <= self.wakes_at_poll_start[last] {
                return Err(format!(
                    "lost wake-up: a child was woken after poll with parent {last} began, \
                     and that parent was never woken"
                ));
            }
        }
        if self.phase == Phase::Running {
            // This poll resets what a racing wake left open.
            self.settle_wakes(observed);
            self.wakes_at_poll_start = observed;
            self.wake_due = false;
            self.last_parent = Some(parent);
        }
        Ok(())
    }

    /// Counts parent wakes exactly again from here, starting from the
    /// observed ones: once a poll resets the `notified` flag, or once the
    /// gather holds no parent waker any more.
    fn settle_wakes(&mut self, observed: [usize; PARENTS]) {
        if !self.wakes_exact {
            self.expected_wakes = observed;
            self.wakes_exact = true;
        }
    }

    /// Another thread wakes `child` while the gather is polled.
    fn begin_racing(&mut self, child: usize) {
        if self.closed {
            return;
        }
        self.wakes_exact = false;
        if self.phase == Phase::Running {
            self.maybe_woken[self.slot_of[child]] = true;
        }
    }

    /// A racing wake is seen by this poll or the next, never later; by the
    /// next, its slot may hold another child.
    fn after_poll(&mut self, racing: Option<usize>) {
        self.maybe_woken.fill(false);
        if let Some(child) = racing {
            let slot = self.slot_of[child];
            let running = self.occupant[slot]
                .is_some_and(|occupant| self.children[occupant].state == ChildState::Running);
            self.maybe_woken[slot] = running;
        }
    }

    /// One gather poll. `observed_log` (the children the real poll polled)
    /// settles only what a racing wake leaves open. Returns the children
    /// the poll must have polled, in order, and what it must return.
    fn poll(&mut self, parent: usize, observed_log: &[usize]) -> (Vec<usize>, Expect) {
        match self.phase {
            Phase::Running => {}
            Phase::Done => {
                return (
                    Vec::new(),
                    Expect::Panic(PanicSource::PolledAfterCompletion),
                )
            }
            Phase::Poisoned => return (Vec::new(), Expect::Panic(PanicSource::PolledAfterPanic)),
            Phase::Dropped => unreachable!("the interpreter polls no dropped gather"),
        }
        let first_poll = !std::mem::replace(&mut self.polled, true);
        if self.children.is_empty() {
            return (Vec::new(), self.resolve(Resolve::Complete));
        }
        if first_poll {
            self.start_deadline();
        }
        self.registered_parent = Some(parent);
        self.notified = false;
        let mut drain: Vec<usize> = (0..self.occupant.len())
            .filter_map(|slot| {
                let occupant = self.occupant[slot]?;
                let racing = self.maybe_woken[slot] && observed_log.contains(&occupant);
                (self.woken[slot] || racing).then_some(occupant)
            })
            .collect();
        // Slot order is not input order in a pool: the gather sorts.
        drain.sort_unstable();
        self.woken.fill(false);
        let mut polled = Vec::new();
        let expect = match self.round(&drain, &mut polled) {
            ControlFlow::Break(Stop::Panic(source)) => {
                self.poison();
                Expect::Panic(source)
            }
            ControlFlow::Break(Stop::Failed(index)) => self.resolve(Resolve::Failed(index)),
            ControlFlow::Continue(()) if self.finished == self.children.len() => {
                self.resolve(Resolve::Complete)
            }
            ControlFlow::Continue(()) if self.deadline_passed() => self.resolve(Resolve::TimedOut),
            ControlFlow::Continue(()) => {
                if self.deadline.is_some() {
                    self.timer_waiters.push(parent);
                }
                Expect::Pending
            }
        };
        (polled, expect)
    }

    /// The woken children in ascending order, then first polls while the
    /// limit allows.
    fn round(&mut self, drain: &[usize], polled: &mut Vec<usize>) -> ControlFlow<Stop> {
        for &child in drain {
            // A stale mark of a finished child is skipped, never polled.
            if self.children[child].state == ChildState::Running {
                self.poll_child(child, polled)?;
            }
        }
        while self.started < self.children.len() && self.running < self.limit {
            let child = self.started;
            self.started += 1;
            self.running += 1;
            self.children[child].state = ChildState::Running;
            let slot = if self.reuses_slots && child >= self.occupant.len() {
                self.vacant
                    .pop_front()
                    .expect("a child finished, or none would start")
            } else {
                child
            };
            self.slot_of[child] = slot;
            self.occupant[slot] = Some(child);
            self.poll_child(child, polled)?;
        }
        ControlFlow::Continue(())
    }

    fn poll_child(&mut self, child: usize, polled: &mut Vec<usize>) -> ControlFlow<Stop> {
        polled.push(child);
        let model = &mut self.children[child];
        model.polls += 1;
        match model.plan {
            Plan::Ready(outcome) => self.complete(child, outcome),
            Plan::WakeThenReady(outcome) => {
                self.mark(child);
                self.complete(child, outcome)
            }
            Plan::Wait(outcome) if model.opened => self.complete(child, outcome),
            Plan::WaitThenPanic if model.opened => {
                model.state = ChildState::Panicked;
                ControlFlow::Break(Stop::Panic(PanicSource::ChildPoll(child)))
            }
            Plan::Wait(_) | Plan::WaitThenPanic => {
                model.registered = Some(true);
                ControlFlow::Continue(())
            }
            Plan::Panic => {
                model.state = ChildState::Panicked;
                ControlFlow::Break(Stop::Panic(PanicSource::ChildPoll(child)))
            }
            Plan::SelfWake => {
                self.mark(child);
                ControlFlow::Continue(())
            }
        }
    }

    /// The child finished, and the gather drops it in place at once.
    fn complete(&mut self, child: usize, outcome: Outcome) -> ControlFlow<Stop> {
        let slot = self.slot_of[child];
        self.occupant[slot] = None;
        if self.reuses_slots {
            self.vacant.push_back(slot);
        }
        let model = &mut self.children[child];
        model.state = ChildState::Finished(outcome);
        model.registered = Some(false);
        model.dropped = Some(true);
        self.running -= 1;
        self.finished += 1;
        if model.drop_panics {
            ControlFlow::Break(Stop::Panic(PanicSource::ChildDrop(child)))
        } else if self.fail_fast && outcome == Outcome::Err {
            ControlFlow::Break(Stop::Failed(child))
        } else {
            if self.reuses_slots {
                self.refills += 1;
            }
            ControlFlow::Continue(())
        }
    }

    /// A poll unwound: which children it dropped on the way is left open.
    ///
    /// Wakes after it are no longer counted: a poll that panics midway
    /// through its drain of the ready bitmap leaves marks behind that later
    /// wakes of their neighbours take as already announced, so the parent
    /// may never hear of them. That is fine, since the only thing left to do
    /// with a poisoned gather is to drop it (a poll would panic), but it is
    /// not a count the model can predict.
    fn poison(&mut self) {
        self.phase = Phase::Poisoned;
        self.wakes_exact = false;
        for child in &mut self.children {
            if child.dropped == Some(false) {
                child.dropped = None;
                child.registered = child.registered.filter(|registered| !registered);
            }
        }
    }

    /// The children the gather can count: all of them, or for an iterator
    /// of unknown length those it has taken.
    fn counted(&self) -> usize {
        if self.known_len {
            self.children.len()
        } else {
            self.started
        }
    }

    /// Whether child `id` has been made by now.
    fn expected_created(&self, id: usize) -> bool {
        if !self.lazy {
            return true;
        }
        let len = self.children.len();
        let taken = if self.polled {
            self.limit.saturating_add(self.refills).min(len)
        } else {
            0
        };
        id < self.started.max(taken)
    }

    fn slots(&self) -> Vec<SlotOutcome> {
        self.children[..self.counted()]
            .iter()
            .enumerate()
            .map(|(id, child)| match child.state {
                ChildState::Finished(Outcome::Ok) => SlotOutcome::Ok {
                    id,
                    value: ok_value(id),
                },
                ChildState::Finished(Outcome::Err) => SlotOutcome::Err(err_value(id)),
                _ => SlotOutcome::TimedOut,
            })
            .collect()
    }

    fn resolve(&mut self, how: Resolve) -> Expect {
        // The gather lets go of its parent waker and its sleep first.
        self.closed = true;
        self.registered_parent = None;
        if let Some(deadline) = &mut self.deadline {
            deadline.sleep_alive = Some(false);
        }
        let len = self.counted();
        let resolution = match how {
            Resolve::Complete if self.fail_fast => {
                Resolution::Values((0..len).map(|id| (id, ok_value(id))).collect())
            }
            Resolve::Complete => Resolution::Settled {
                timed: self.deadline.is_some(),
                slots: self.slots(),
            },
            Resolve::Failed(index) => Resolution::Failed {
                index,
                error: err_value(index),
            },
            Resolve::TimedOut if self.fail_fast => Resolution::TimedOut {
                completed: self.finished,
                pending: len - self.finished,
            },
            Resolve::TimedOut => Resolution::Settled {
                timed: true,
                slots: self.slots(),
            },
        };
        // Children still running or never started go before it returns.
        if let Some(source) = self.drop_held(None) {
            self.phase = Phase::Poisoned;
            return Expect::Panic(source);
        }
        self.phase = Phase::Done;
        Expect::Ready(resolution)
    }

    /// Drops every child the gather still holds. Returns the panic of the
    /// one whose `Drop` panics, if it is among them; which of the others
    /// were dropped past that panic is then left open (until the gather
    /// itself is dropped). `counts` settles whether a child of unknown state
    /// is still held.
    fn drop_held(&mut self, counts: Option<&[Counts]>) -> Option<PanicSource> {
        let held = |id: usize, child: &ChildModel| match child.dropped {
            Some(dropped) => !dropped,
            None => counts.is_some_and(|counts| counts[id].drops == 0),
        };
        let panicking = self
            .children
            .iter()
            .enumerate()
            .position(|(id, child)| child.drop_panics && held(id, child));
        let settled = panicking.is_none() || counts.is_some();
        for child in &mut self.children {
            if child.dropped != Some(true) {
                child.dropped = if settled { Some(true) } else { None };
                child.registered = if settled { Some(false) } else { None };
            }
        }
        let child = panicking?;
        self.children[child].dropped = Some(true);
        Some(PanicSource::ChildDrop(child))
    }

    /// The gather is dropped: every child it held is dropped, even past a
    /// panicking `Drop`, whose panic is returned.
    fn drop_gather(&mut self, counts: &[Counts]) -> Option<PanicSource> {
        self.phase = Phase::Dropped;
        self.closed = true;
        self.registered_parent = None;
        if let Some(deadline) = &mut self.deadline {
            deadline.sleep_alive = Some(false);
        }
        self.drop_held(Some(counts))
    }

    fn start_deadline(&mut self) {
        let now = self.now;
        if let Some(deadline) = &mut self.deadline {
            if deadline.kind == DeadlineKind::Timer {
                deadline.started = true;
                deadline.due = deadline.millis.map(|millis| now + millis);
                deadline.sleep_alive = if deadline.millis == Some(0) {
                    None
                } else {
                    Some(true)
                };
            }
        }
    }

    fn deadline_passed(&self) -> bool {
        self.deadline
            .as_ref()
            .and_then(|deadline| deadline.due)
            .is_some_and(|due| self.now >= due)
    }

    fn expected_sleeps_alive(&self) -> Option<usize> {
        match &self.deadline {
            None => Some(0),
            Some(deadline) => deadline.sleep_alive.map(usize::from),
        }
    }

    fn expected_sleep_requests(&self) -> Option<Vec<Duration>> {
        match &self.deadline {
            None => Some(Vec::new()),
            Some(deadline) if !deadline.started => Some(Vec::new()),
            Some(deadline)
                if deadline.kind == DeadlineKind::Timer && deadline.millis == Some(0) =>
            {
                None
            }
            Some(deadline) => Some(vec![DeadlineSpec {
                kind: deadline.kind,
                millis: deadline.millis,
            }
            .duration()]),
        }
    }

    /// How many times child `id`'s output has been dropped by now, if known.
    fn expected_output_drops(&self, id: usize) -> Option<usize> {
        if self.children[id].state != ChildState::Finished(Outcome::Ok) {
            return Some(0);
        }
        match self.phase {
            // Still held by the gather.
            Phase::Running => Some(0),
            // Handed over and dropped by the interpreter, or dropped by the
            // gather when it failed, timed out or was dropped.
            Phase::Done | Phase::Dropped => Some(1),
            Phase::Poisoned => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The interpreter
// ---------------------------------------------------------------------------

/// What one run saw, for tests that want to know the scripts reach the
/// states they were written for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// How the gather resolved, if it did.
    pub resolution: Option<Resolution>,
    /// The (expected) panics the run caught, in order.
    pub panics: Vec<String>,
    pub gather_polls: usize,
    pub child_polls: usize,
}

/// Runs `script` against the real crate, checking it against the model
/// after every step.
///
/// # Panics
///
/// With a message naming the step, at the first disagreement.
pub fn run(script: &Script) -> Report {
    quiet_expected_panics();
    let script = script.normalized();
    let mut interpreter = Interpreter::new(&script);
    interpreter.check();
    for (index, step) in script.steps.iter().enumerate() {
        interpreter.at = format!("step {index} ({step:?})");
        interpreter.step(*step);
        interpreter.check();
    }
    interpreter.at = String::from("the end of the script");
    interpreter.finish()
}

macro_rules! ensure {
    ($interpreter:expr, $condition:expr, $($message:tt)+) => {
        if !$condition {
            $interpreter.fail(format!($($message)+));
        }
    };
}

struct Interpreter {
    kind: Kind,
    ledger: Ledger,
    timer: ManualTimer,
    parents: [Parent; PARENTS],
    gather: Option<Box<dyn Driven>>,
    /// Waker clones kept by `KeepWaker`, with their child's index.
    kept: Vec<(usize, Waker)>,
    model: Model,
    /// The step being run, for failure messages.
    at: String,
    report: Report,
}

/// Runs `act` on this thread, or on another one when `via` says so.
fn on<R: Send>(via: Via, act: impl FnOnce() -> R + Send) -> R {
    if via == Via::OtherThread {
        thread::scope(|scope| scope.spawn(act).join().expect("the waking thread panicked"))
    } else {
        act()
    }
}
impl Interpreter {
    fn new(script: &Script) -> Interpreter {
        let ledger = Ledger::new(script.children.len());
        let timer = ManualTimer::new();
        let children = ledger.children(&script.children);
        let mut model = Model::new(script);
        let mut report = Report::default();
        let gather = if script.limit == Some(0) {
            match catching_panics(|| build(script, children, &timer)) {
                Ok(_) => panic!("`.limit(0)` built a gather instead of panicking"),
                Err(message) => {
                    assert!(
                        PanicSource::ZeroLimit.accepts(&message),
                        "`.limit(0)` panicked with {message:?}"
                    );
                    report.panics.push(message);
                }
            }
            model.never_built();
            None
        } else {
            Some(build(script, children, &timer))
        };
        Interpreter {
            kind: script.kind,
            ledger,
            timer,
            parents: std::array::from_fn(|_| Parent::new()),
            gather,
            kept: Vec::new(),
            model,
            at: String::from("the build"),
            report,
        }
    }

    #[track_caller]
    fn fail(&self, message: String) -> ! {
        panic!(
            "safe-gather disagrees with the model at {}: {message}",
            self.at
        )
    }

    fn observed_wakes(&self) -> [usize; PARENTS] {
        std::array::from_fn(|parent| self.parents[parent].wakes())
    }

    fn step(&mut self, step: Step) {
        let len = self.model.children.len();
        match step {
            Step::Poll { parent } => self.poll(parent % PARENTS, None),
            Step::PollRacingWake { parent, child } => {
                let racing = (child < len)
                    .then(|| self.any_waker(child))
                    .flatten()
                    .map(|waker| (child, waker));
                self.poll(parent % PARENTS, racing);
            }
            Step::Open { child, via } if child < len => self.open(child, via),
            Step::Wake { child, via } if child < len => self.wake(child, via),
            Step::KeepWaker { child } if child < len => self.keep(child),
            // No such child: an empty gather.
            Step::Open { .. } | Step::Wake { .. } | Step::KeepWaker { .. } => {}
            Step::OpenAll => {
                for child in 0..len {
                    self.open(child, Via::ThisThread);
                }
            }
            Step::WakeKept { slot, by_value } => self.wake_kept(slot, by_value),
            Step::Advance { millis } => {
                self.timer.advance(Duration::from_millis(millis));
                self.model.advance(millis);
            }
            Step::Relocate => {
                if let (Kind::Vec | Kind::Lazy { .. }, Some(gather)) = (self.kind, &mut self.gather)
                {
                    gather.relocate();
                }
            }
            Step::DropGather => self.drop_gather(),
        }
    }

    /// Checks the ledger's answer to "does child `child` hold a waker?"
    /// against the model, and teaches the model where it did not know.
    fn expect_registered(&mut self, child: usize, registered: bool) {
        match self.model.children[child].registered {
            Some(expected) => ensure!(
                self,
                expected == registered,
                "child {child} {} a registered waker, the model says the opposite",
                if registered { "has" } else { "has no" }
            ),
            None => self.model.children[child].registered = Some(registered),
        }
    }

    fn kept_index(&self, child: usize) -> Option<usize> {
        self.kept.iter().position(|(kept, _)| *kept == child)
    }

    /// A clone of some waker of `child`'s: a kept one, else the registered one.
    fn any_waker(&mut self, child: usize) -> Option<Waker> {
        if let Some(index) = self.kept_index(child) {
            return Some(self.kept[index].1.clone());
        }
        let waker = self.ledger.registered_waker(child);
        self.expect_registered(child, waker.is_some());
        waker
    }

    fn open(&mut self, child: usize, via: Via) {
        self.model.children[child].opened = true;
        if let (Via::KeptClone, Some(index)) = (via, self.kept_index(child)) {
            self.ledger.set_opened(child);
            self.kept[index].1.wake_by_ref();
            self.model.mark(child);
            return;
        }
        let ledger = &self.ledger;
        let woke = on(via, || ledger.open(child));
        self.expect_registered(child, woke);
        self.model.children[child].registered = Some(false);
        if woke {
            self.model.mark(child);
        }
    }

    fn wake(&mut self, child: usize, via: Via) {
        if via == Via::KeptClone {
            if let Some(index) = self.kept_index(child) {
                self.kept[index].1.wake_by_ref();
                self.model.mark(child);
            }
            return;
        }
        let ledger = &self.ledger;
        let woke = on(via, || ledger.wake_registered(child));
        self.expect_registered(child, woke);
        if woke {
            self.model.mark(child);
        }
    }

    fn keep(&mut self, child: usize) {
        let waker = self.ledger.registered_waker(child);
        self.expect_registered(child, waker.is_some());
        if let Some(waker) = waker {
            self.kept.push((child, waker));
        }
    }

    fn wake_kept(&mut self, slot: usize, by_value: bool) {
        if self.kept.is_empty() {
            return;
        }
        let index = slot % self.kept.len();
        let child = self.kept[index].0;
        if by_value {
            self.kept.swap_remove(index).1.wake();
        } else {
            self.kept[index].1.wake_by_ref();
        }
        self.model.mark(child);
    }

    fn poll(&mut self, parent: usize, racing: Option<(usize, Waker)>) {
        if self.gather.is_none() {
            return;
        }
        if let Err(message) = self.model.before_poll(parent, self.observed_wakes()) {
            self.fail(message);
        }
        let racing_child = racing.as_ref().map(|(child, _)| *child);
        if let Some(child) = racing_child {
            self.model.begin_racing(child);
        }
        let waker = self.parents[parent].waker().clone();
        let mut cx = Context::from_waker(&waker);
        let gather = self.gather.as_mut().expect("checked above");
        let result = match racing {
            Some((_, racing_waker)) => thread::scope(|scope| {
                let waking = scope.spawn(move || racing_waker.wake());
                let result = catching_panics(|| gather.poll(&mut cx));
                // Joined, not left to the scope: the scope waits only for the
                // closure, and a thread still exiting looks like a leak to
                // LeakSanitizer.
                waking.join().expect("the waking thread panicked");
                result
            }),
            None => catching_panics(|| gather.poll(&mut cx)),
        };
        let log = self.ledger.take_log();
        let (expected_log, expect) = self.model.poll(parent, &log);
        self.model.after_poll(racing_child);
        self.report.gather_polls += 1;
        ensure!(
            self,
            log == expected_log,
            "the gather polled children {log:?}, the model says {expected_log:?}"
        );
        match (result, expect) {
            (Ok(Poll::Pending), Expect::Pending) => {}
            (Ok(Poll::Ready(observed)), Expect::Ready(expected)) => {
                let resolution = observed.resolution();
                ensure!(
                    self,
                    resolution == expected,
                    "the gather resolved to {resolution:?}, the model says {expected:?}"
                );
                // Dropping what was handed over: the checks count those drops.
                drop(observed);
                self.report.resolution = Some(resolution);
            }
            (Err(message), Expect::Panic(source)) if source.accepts(&message) => {
                self.report.panics.push(message);
            }
            (result, expect) => {
                let got = match result {
                    Ok(Poll::Pending) => String::from("Pending"),
                    Ok(Poll::Ready(observed)) => format!("Ready({:?})", observed.resolution()),
                    Err(message) => format!("a panic: {message:?}"),
                };
                self.fail(format!("the poll gave {got}, the model expects {expect:?}"));
            }
        }
    }

    fn drop_gather(&mut self) {
        let Some(gather) = self.gather.take() else {
            return;
        };
        let expected = self.model.drop_gather(&self.ledger.counts());
        match (catching_panics(move || drop(gather)), expected) {
            (Ok(()), None) => {}
            (Err(message), Some(source)) if source.accepts(&message) => {
                self.report.panics.push(message);
            }
            (result, expected) => self.fail(format!(
                "dropping the gather gave {result:?}, the model expects a panic from {expected:?}"
            )),
        }
    }

    /// The checks after every step.
    fn check(&mut self) {
        if self.model.closed {
            self.model.settle_wakes(self.observed_wakes());
        }
        let counts = self.ledger.counts();
        for (id, count) in counts.iter().enumerate() {
            let model = &self.model.children[id];
            ensure!(
                self,
                count.polls == model.polls,
                "child {id} was polled {} times, the model says {}",
                count.polls,
                model.polls
            );
            ensure!(
                self,
                count.polls_after_finish == 0,
                "child {id} was polled after it finished"
            );
            ensure!(self, !count.moved, "child {id} moved after its first poll");
            ensure!(
                self,
                count.created == self.model.expected_created(id),
                "child {id} {} made, the model says it {}",
                if count.created { "was" } else { "was not" },
                if count.created { "was not yet" } else { "was" }
            );
            ensure!(
                self,
                count.drops <= 1,
                "child {id} was dropped {} times",
                count.drops
            );
            ensure!(
                self,
                count.output_drops <= 1,
                "child {id}'s output was dropped {} times",
                count.output_drops
            );
            if let Some(dropped) = model.dropped {
                ensure!(
                    self,
                    count.drops == usize::from(dropped),
                    "child {id} was dropped {} times, the model says {}",
                    count.drops,
                    usize::from(dropped)
                );
            }
            if let Some(expected) = self.model.expected_output_drops(id) {
                ensure!(
                    self,
                    count.output_drops == expected,
                    "child {id}'s output was dropped {} times, the model says {expected}",
                    count.output_drops
                );
            }
        }
        let in_flight = counts.iter().filter(|count| count.in_flight).count();
        ensure!(
            self,
            in_flight <= self.model.limit,
            "{in_flight} children in flight, over the limit of {}",
            self.model.limit
        );
        if self.model.wakes_exact {
            let observed = self.observed_wakes();
            ensure!(
                self,
                observed == self.model.expected_wakes,
                "the parents were woken {observed:?} times, the model says {:?}",
                self.model.expected_wakes
            );
        }
        if let Some(alive) = self.model.expected_sleeps_alive() {
            ensure!(
                self,
                self.timer.sleeps_alive() == alive,
                "{} deadline sleeps alive, the model says {alive}",
                self.timer.sleeps_alive()
            );
        }
        if let Some(requested) = self.model.expected_sleep_requests() {
            ensure!(
                self,
                self.timer.requested() == requested,
                "sleeps of {:?} were asked for, the model says {requested:?}",
                self.timer.requested()
            );
        }
        if let Some(gather) = &self.gather {
            let terminated = self.model.phase != Phase::Running;
            ensure!(
                self,
                gather.is_terminated() == terminated,
                "is_terminated() is {}, the model says {terminated}",
                gather.is_terminated()
            );
        }
    }

    fn finish(mut self) -> Report {
        self.drop_gather();
        self.check();
        // Clones kept past the gather's drop: waking and dropping them must
        // reach nothing of the gather's.
        for (child, waker) in std::mem::take(&mut self.kept) {
            waker.wake_by_ref();
            self.model.mark(child);
        }
        self.check();
        let counts = self.ledger.counts();
        for (id, count) in counts.iter().enumerate() {
            ensure!(
                self,
                count.drops == 1,
                "child {id} was dropped {} times in all",
                count.drops
            );
        }
        ensure!(
            self,
            self.timer.sleeps_alive() == 0,
            "a deadline sleep outlived the gather"
        );
        self.report.child_polls = counts.iter().map(|count| count.polls).sum();
        self.report
    }
}

thread_local! {
    /// Set while the interpreter runs code that may panic on purpose.
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, returning its panic's message instead of unwinding further.
fn catching_panics<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    let was_expecting = EXPECTING_PANIC.with(|expecting| expecting.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|expecting| expecting.set(was_expecting));
    result.map_err(|payload| {
        if let Some(message) = payload.downcast_ref::<&str>() {
            (*message).to_string()
        } else if let Some(message) = payload.downcast_ref::<String>() {
            message.clone()
        } else {
            String::from("<a panic without a message>")
        }
    })
}

/// Silences the panics the interpreter expects (children panicking on
/// purpose), so that test output and fuzzer logs show only real failures.
/// Every other panic still reaches the hook that was installed before,
/// such as the fuzzer's, which turns it into a crash.
pub fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.resolution().fmt(f)
    }
}
