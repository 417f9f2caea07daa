#!/usr/bin/env bash
# Runs the Google Benchmark programs (bench/README.md). Each program writes its JSON (and the
# console table) under <out>/<UTC stamp>/; bench/merge then writes the one file compare and
# report read: <out>/<UTC stamp>.json (every repetition, git revision, machine description).
#
#   scripts/run-bench.sh [build-dir]
# Environment: BENCH_OUT (default bench/results), BENCH_REPETITIONS (5), BENCH_MIN_TIME (0.2 s
# per repetition), BENCH_FILTER (a --benchmark_filter regex), BENCH_SMOKE=1 (short settings of
# the heavy set-ups, see cache_bench.cc). Prints the merged file's path last.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
out_root=${BENCH_OUT:-$root/bench/results}
reps=${BENCH_REPETITIONS:-5}
min_time=${BENCH_MIN_TIME:-0.2}
filter=${BENCH_FILTER:-.}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
out="$out_root/$stamp"
mkdir -p "$out"
if [[ "${BENCH_SMOKE:-0}" == 1 ]]; then
  export YG_BENCH_SMOKE=1
fi
shopt -s nullglob
bins=("$build"/bench/bench_*)
if ((${#bins[@]} == 0)); then
  echo "bench: no bench programs in $build/bench (build them first)" >&2
  exit 2
fi
for bin in "${bins[@]}"; do
  [[ -x "$bin" && -f "$bin" ]] || continue
  name=$(basename "$bin")
  echo "bench: $name"
  # Repetitions are interleaved at random so a slow spell of the machine spreads over all
  # benchmarks instead of landing on one; the file keeps every repetition, the console shows
  # only the aggregates.
  "$bin" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    --benchmark_min_time="$min_time" --benchmark_repetitions="$reps" \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=false \
    --benchmark_display_aggregates_only=true --benchmark_filter="$filter" | tee "$out/$name.txt"
done
python3 "$root/bench/merge" --out "$out_root/$stamp.json" --stamp "$stamp" --build "$build" \
  --setting "repetitions=$reps" --setting "min_time=$min_time" --setting "filter=$filter" \
  --setting "smoke=${BENCH_SMOKE:-0}" \
  --setting "loadavg_at_start=$load_at_start" "$out"/bench_*.json
echo "bench: per-program files in $out"
echo "$out_root/$stamp.json"
