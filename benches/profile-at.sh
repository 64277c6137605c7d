#!/bin/sh
# Instructions per gather of SPEC §6's fixed batches (benches/profile.rs:
# safe_gather(vec) at N = 8, 1024, 16384 and safe_gather! of 3, in every
# scenario) with the library's src/ as it was at other commits, the benches
# as they are now: to check that a change did not make them slower.
#
#   benches/profile-at.sh <commit>...
#   benches/profile-at.sh bed4dac HEAD
#
# Set up as benches/instructions-at.sh does (src/ of the commit beside this
# checkout's Cargo.toml, Cargo.lock and benches/, built into this checkout's
# target/), then each scenario run under callgrind, collecting inside
# profile.rs's `timed` only (making the gather, its polls and the wakes,
# dropping it). Prints one line per commit, contender, scenario and N: the
# instructions per gather (the run's total over its gathers: 200 at N = 8
# and 3, 10 at 1024, 2 at 16384). Profiles stay in
# target/safe-gather-bench/profile-at/ for callgrind_annotate.
set -eu

[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
profiles="$repo/target/safe-gather-bench/profile-at"
mkdir -p "$profiles"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for commit in "$@"; do
    short=$(git -C "$repo" rev-parse --short "$commit")
    tree="$scratch/$short"
    mkdir -p "$tree"
    git -C "$repo" archive "$commit" src README.md | tar -x -C "$tree"
    sed -e 's/^members = .*/members = ["benches"]/' \
        -e 's/^default-members = .*/default-members = [".", "benches"]/' \
        "$repo/Cargo.toml" >"$tree/Cargo.toml"
    cp "$repo/Cargo.lock" "$tree/"
    tar -C "$repo" --exclude=benches/target -cf - benches | tar -x -C "$tree"
    find "$tree" -type f -exec touch {} +
    binary=$(cd "$tree" && cargo bench --bench profile --no-run \
        --target-dir "$repo/target" 2>&1 | sed -n 's/.*Executable .* (\(.*\))$/\1/p')
    [ -n "$binary" ] || { echo "$short: the profile bench does not build there" >&2; continue; }
    # The next commit's build replaces this binary: keep a copy.
    cp "$binary" "$scratch/profile-$short"
    for run in "safe_gather 8 200" "safe_gather 1024 10" "safe_gather 16384 2" "safe_gather! 3 200"; do
        set -- $run
        for scenario in ready trickle burst fail_mid timeout; do
            count=$(cd "$scratch" && valgrind --tool=callgrind --toggle-collect='*profile::timed*' \
                --callgrind-out-file="$profiles/$short.$1.$scenario.$2.out" \
                "$scratch/profile-$short" "$1" "$scenario" "$2" "$3" 2>&1 |
                sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
            echo "$short $1 $scenario $2 $(( ${count:-0} / $3 ))"
        done
    done
    rm -rf "$tree"
done
