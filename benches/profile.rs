//! One contender, one scenario, one N, many times: a driver for profilers.
//!
//! ```text
//! cargo bench --bench profile --no-run   # then, with the binary it prints:
//! valgrind --tool=callgrind --toggle-collect='*profile::timed*' \
//!     target/release/deps/profile-<hash> safe_gather trickle 1024 20
//! ```
//!
//! Only `timed` (making the gather, the scenario's polls and wakes, dropping
//! the gather) is inside the toggle; building children and dropping outputs
//! are not, as in `benches/gather.rs`. Instruction counts from callgrind are
//! repeatable whatever else the machine is doing, unlike times.

mod harness;

use std::hint::black_box;
use std::rc::Rc;

use harness::contenders::{each_tuple_contender, each_vec_contender, Visit};
use harness::{run, shuffled, Contender, Finished, Scenario, Trial, TUPLE_LEN};

#[inline(never)]
fn timed<C: Contender>(trial: Trial<C>) -> Finished<C> {
    run::<C>(trial)
}

struct RunNamed {
    name: String,
    scenario: Scenario,
    n: usize,
    iterations: usize,
    found: bool,
}

impl Visit for RunNamed {
    fn visit<C: Contender>(&mut self) {
        if C::NAME != self.name || !C::supports(self.n) {
            return;
        }
        self.found = true;
        let order: Rc<[usize]> = shuffled(self.n).into();
        for _ in 0..self.iterations {
            let trial = Trial::<C>::new(self.scenario, Rc::clone(&order));
            let finished = timed::<C>(trial);
            assert_eq!(finished.verdict(), self.scenario.expected_verdict(self.n));
            black_box(finished);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let [name, scenario, n, iterations] = args.as_slice() else {
        eprintln!(
            "usage: profile <contender> <ready|trickle|burst|fail_mid|timeout> <n> <iterations>"
        );
        eprintln!("(cargo bench --bench profile runs nothing without arguments)");
        return;
    };
    let scenario = Scenario::ALL
        .into_iter()
        .find(|s| s.name() == scenario)
        .expect("unknown scenario");
    let n: usize = n.parse().expect("n");
    let mut visitor = RunNamed {
        name: name.clone(),
        scenario,
        n,
        iterations: iterations.parse().expect("iterations"),
        found: false,
    };
    if n == TUPLE_LEN {
        each_tuple_contender(&mut visitor);
    }
    if !visitor.found {
        each_vec_contender(&mut visitor);
    }
    assert!(visitor.found, "no contender {name} for n = {n}");
}
