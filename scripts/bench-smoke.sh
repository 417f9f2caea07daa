#!/usr/bin/env bash
# CI smoke of the benchmark tooling (make bench-smoke; bench/README.md). With the bench programs
# built: runs every benchmark briefly (2 repetitions, min_time 0.01 s, BENCH_SMOKE set-ups) into
# a temp dir, then checks that
#   - bench/compare of the result against itself exits 0 (also fails on a benchmark error),
#   - bench/compare against the same result slowed down 1.5x exits 1,
#   - bench/report renders a non-empty HTML page with inline SVG charts,
#   - the compare unit tests (tests/bench) pass.
# Nothing is written under bench/results.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
pytest=${PYTEST:-pytest}
start=$(date +%s)
tmp=$(mktemp -d /tmp/yg-bench-smoke-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "bench-smoke: FAIL: $*" >&2
  exit 1
}

BENCH_OUT="$tmp" BENCH_SMOKE=1 BENCH_REPETITIONS=2 BENCH_MIN_TIME=0.01 \
  bash "$root/scripts/run-bench.sh" "$build" >"$tmp/run.log" 2>&1 || {
  tail -40 "$tmp/run.log" >&2
  fail "run-bench.sh failed"
}
result=$(tail -1 "$tmp/run.log")
[[ -s "$result" ]] || fail "no merged result file ($result)"
count=$(grep -c '"repetition_index":0' "$result" || true)
[[ "$count" -gt 0 ]] || fail "no benchmark in $result"
echo "bench-smoke: ran $count benchmarks in $(($(date +%s) - start)) s"

set +e
python3 "$root/bench/compare" "$result" "$result" >"$tmp/same.txt" 2>&1
same=$?
python3 "$root/bench/compare" --scale-new 1.5 "$result" "$result" >"$tmp/slow.txt" 2>&1
slow=$?
set -e
if ((same != 0)); then
  grep -v ' same$' "$tmp/same.txt" >&2 || true
  fail "compare of a result with itself exited $same (expected 0)"
fi
((slow == 1)) || fail "compare against a 1.5x slower copy exited $slow (expected 1)"
echo "bench-smoke: compare: itself -> 0; 1.5x slower -> 1 ($(tail -1 "$tmp/slow.txt"))"

python3 "$root/bench/report" --out "$tmp/report.html" "$result" "$result" >/dev/null
[[ -s "$tmp/report.html" ]] || fail "empty report"
grep -q '<html' "$tmp/report.html" || fail "the report is not HTML"
grep -q '<svg' "$tmp/report.html" || fail "the report has no chart"
if grep -Eq '(src|href)="https?:' "$tmp/report.html"; then
  fail "the report links an external URL"
fi
charts=$(grep -o '<svg' "$tmp/report.html" | wc -l)
echo "bench-smoke: report: $(wc -c <"$tmp/report.html") bytes of HTML with $charts charts"

"$pytest" -q -p no:cacheprovider "$root/tests/bench" || fail "tests/bench failed"
echo "bench-smoke: OK in $(($(date +%s) - start)) s"
