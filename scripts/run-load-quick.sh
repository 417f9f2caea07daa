#!/usr/bin/env bash
# Runs every load campaign in its --quick mode (make load-quick, part of make test): each must
# pass its machine-independent checks (zero errors, RSS bounds, hit rates, generous ratios, the
# config verified through metrics). All campaigns run even when one fails; the exit status is
# non-zero if any failed. Results go to $out (not load/results/, which holds the committed full
# runs).
#   scripts/run-load-quick.sh BINARY OUT_DIR [campaign...]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:?binary}
out=${2:?out dir}
shift 2
campaigns=("$@")
if [[ ${#campaigns[@]} -eq 0 ]]; then
  campaigns=(pipeline mixed streaming concurrency cpu_scaling cache_size endurance chaos
             reload_shutdown)
fi
python=${YG_PYTHON:-${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/venv/bin/python}
mkdir -p "$out"
failed=()
summary=()
for c in "${campaigns[@]}"; do
  echo "=== load/$c.py --quick"
  start=$(date +%s)
  "$python" "$root/load/$c.py" --quick --binary "$binary" --out-dir "$out" \
    >"$out/$c.log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  # The campaign's own table and checks, then a one-line verdict.
  grep -E '^\s+\[(ok|FAILED)\]|^\|' "$out/$c.log" | tail -n 60
  if [[ $rc -ne 0 ]]; then
    failed+=("$c")
    echo "--- $c FAILED (exit $rc, ${secs}s); last lines of $out/$c.log:"
    tail -n 40 "$out/$c.log"
  fi
  summary+=("$(printf '%-16s %-6s %4ss' "$c" "$([[ $rc -eq 0 ]] && echo ok || echo FAILED)" "$secs")")
done
echo "=== load campaigns (--quick)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
