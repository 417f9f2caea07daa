#!/usr/bin/env bash
# Runs the Google Benchmark programs and saves JSON under bench/results/<date>/.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
for bin in "$build"/bench/bench_*; do
  [[ -x "$bin" ]] || continue
  name=$(basename "$bin")
  echo "bench: $name"
  "$bin" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    --benchmark_min_time=0.2 | tee "$out/$name.txt"
done
echo "bench: results in $out"
