#!/usr/bin/env bash
# Interleaved comparison of the core bench across trees (git worktrees), for
# a noisy machine: each round runs the bench once per tree, so drift hits
# every tree alike; compare the medians of the rounds.
#
#   tests/benches/compare.sh ROUNDS DIR [DIR...]
#
# Each DIR is a checkout with `cargo build --release -p orch-cli` done.
# BENCH_AUTH, BENCH_RUNS (default 300) and BENCH_CREATE (default 3000) are
# passed on. Prints one line per tree and round.
set -euo pipefail
rounds=${1:?usage: compare.sh ROUNDS DIR [DIR...]}
shift
[ $# -gt 0 ] || { echo "usage: compare.sh ROUNDS DIR [DIR...]" >&2; exit 2; }
p50() { grep "$1" <<<"$2" | sed -E 's/.*p50= *([0-9.]+).*/\1/'; }
for round in $(seq "$rounds"); do
  for dir in "$@"; do
    out=$(cd "$dir" && BENCH_AUTH=${BENCH_AUTH:-on} BENCH_RUNS=${BENCH_RUNS:-300} \
      BENCH_CREATE=${BENCH_CREATE:-3000} cargo bench -q -p orch-e2e --bench core -j2 2>/dev/null)
    creation=$(grep 'run creation' <<<"$out" | sed -E 's/.*= ([0-9]+) runs.*/\1/' | paste -sd/)
    task=$(grep 'per-task' <<<"$out" | sed -E 's/.*: ([0-9.]+) .*/\1/')
    echo "round $round $(basename "$dir"): end-to-end p50 $(p50 'end to end' "$out") ms," \
      "pickup p50 $(p50 pickup "$out") ms, creation $creation runs/s, per task $task µs," \
      "load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
