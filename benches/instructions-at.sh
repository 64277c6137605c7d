#!/bin/sh
# Instructions of one contender of a bench of bounded concurrency (fanout,
# streams, budget) with the library's src/ as it was at other commits, the
# benches as they are now: to find which change to src/ made a count move.
#
#   benches/instructions-at.sh <bench> <group>/<contender> <commit>...
#   benches/instructions-at.sh fanout fanout_unordered/safe_gather.limit.unordered c21384e 037bbe3 HEAD
#
# For each commit: src/ of that commit (git archive) beside this checkout's
# Cargo.toml, Cargo.lock and benches/, in a temporary workspace of the
# library and the benches only; the bench built into this checkout's target/
# (its own artifacts: the workspace root differs, so nothing of the
# checkout's own build is replaced) and run once under callgrind, collecting
# inside the bench's timed function only, as `-- --instructions` does.
# Prints one line per commit: the commit, the instructions, its subject.
# The benches must build against the older API (they use `safe_gather`,
# `.limit`, `.unordered()`, `safe_gather_stream`, `.poll_budget`, whichever
# the bench needs).
set -eu

[ $# -ge 3 ] || { sed -n '2,9p' "$0"; exit 2; }
bench=$1
contender=$2
shift 2

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for commit in "$@"; do
    tree="$scratch/$commit"
    mkdir -p "$tree"
    git -C "$repo" archive "$commit" src README.md | tar -x -C "$tree"
    sed -e 's/^members = .*/members = ["benches"]/' \
        -e 's/^default-members = .*/default-members = [".", "benches"]/' \
        "$repo/Cargo.toml" >"$tree/Cargo.toml"
    cp "$repo/Cargo.lock" "$tree/"
    tar -C "$repo" --exclude=benches/target -cf - benches | tar -x -C "$tree"
    # Fresh mtimes: every commit's tree builds into the same artifacts, and
    # cargo must not take an older commit's build for this one.
    find "$tree" -type f -exec touch {} +
    binary=$(cd "$tree" && cargo bench --bench "$bench" --no-run \
        --target-dir "$repo/target" 2>&1 | sed -n 's/.*Executable .* (\(.*\))$/\1/p')
    [ -n "$binary" ] || { echo "$commit: the $bench bench does not build there" >&2; continue; }
    count=$(cd "$scratch" && valgrind --tool=callgrind --toggle-collect="*$bench::timed*" \
        --callgrind-out-file=/dev/null "$binary" --run "$contender" 1 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "$(git -C "$repo" rev-parse --short "$commit") ${count:-?} $(git -C "$repo" log -1 --format=%s "$commit")"
    rm -rf "$tree"
done
