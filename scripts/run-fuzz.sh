#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time on a scratch copy of its seed corpus.
# Usage: scripts/run-fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
build=${1:?build dir}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for target in fuzz_path fuzz_range fuzz_config fuzz_request_head fuzz_jwt; do
  bin="$build/tests/fuzz/$target"
  if [[ ! -x "$bin" ]]; then
    echo "fuzz: $bin is missing" >&2
    exit 1
  fi
  mkdir -p "$work/$target"
  if [[ -d "$root/tests/fuzz/corpus/$target" ]]; then
    cp -r "$root/tests/fuzz/corpus/$target/." "$work/$target/"
  fi
  echo "fuzz: $target for ${seconds}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$seconds" -max_len=8192 \
      -artifact_prefix="$work/$target-" -print_final_stats=1 "$work/$target" \
      > "$work/$target.log" 2>&1; then
    echo "fuzz: $target FAILED" >&2
    tail -50 "$work/$target.log" >&2
    mkdir -p "$root/build-fuzz/artifacts"
    cp "$work/$target-"* "$root/build-fuzz/artifacts/" 2>/dev/null || true
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work/$target.log" | tail -2
  fi
done
if [[ $status -eq 0 ]]; then
  echo "fuzz: 5 passed, 0 failed"
fi
exit $status
