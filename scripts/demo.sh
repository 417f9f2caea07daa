#!/usr/bin/env bash
# `make run`: a local S3 (moto, signature checking on) seeded with demo objects, and
# Yatagarasu in front of it on port 8080 (or $PORT). Ctrl-C stops both.
#
#   scripts/demo.sh                  # after `make build`
#   PORT=9090 scripts/demo.sh
#   YG_BINARY=/path/to/yatagarasu scripts/demo.sh
#   YG_DEMO_KEEP=1 scripts/demo.sh   # keep the temp dir with the logs after exit
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${YG_BINARY:-$repo/build/yatagarasu}"
config="$repo/config/demo.yaml"
export PORT="${PORT:-8080}"

say() { printf '\033[1m%s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ -x "$bin" ] || die "no proxy binary at $bin: run \`make build\` first (or set YG_BINARY)"
venv="$("$repo/scripts/install-deps.sh" | tail -n 1)"
py="$venv/bin/python"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is already in use; try PORT=9090 make run"
fi

work="$(mktemp -d -t yatagarasu-demo.XXXXXX)"
moto_pid=""
proxy_pid=""

stop_pid() {  # stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
  local pid="$1" name="$2" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "demo: $name (pid $pid) did not stop in 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true  # reaps the proxy (our child); moto is not our child
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo
  say "Stopping..."
  stop_pid "$proxy_pid" yatagarasu
  stop_pid "$moto_pid" moto
  if [ "${YG_DEMO_KEEP:-0}" = 1 ]; then
    echo "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Starting a local S3 (moto, signature checking on) and seeding demo objects..."
"$py" "$repo/scripts/lib/yg_moto.py" start --auth --workdir "$work" --env-file "$work/s3.env" \
  --seed demo
# shellcheck disable=SC1091
source "$work/s3.env"
moto_pid="$YG_MOTO_PID"
export YG_S3_ENDPOINT YG_S3_ACCESS_KEY YG_S3_SECRET_KEY YG_S3_BUCKET

"$bin" --test --config "$config" >/dev/null || die "config/demo.yaml did not pass --test"
"$bin" --config "$config" >"$work/proxy.log" 2>&1 &
proxy_pid=$!

base="http://127.0.0.1:$PORT"
for _ in $(seq 200); do
  if curl -fsS -o /dev/null "$base/health" 2>/dev/null; then
    break
  fi
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log" >&2; die "the proxy exited"; }
  sleep 0.05
done
curl -fsS -o /dev/null "$base/health" || die "the proxy did not answer /health"

cat <<MSG

$(say "Yatagarasu is serving $base  (S3 backend: moto at $YG_S3_ENDPOINT, bucket $YG_S3_BUCKET)")

Try:
  curl -i $base/demo/hello.txt                                # GET (X-Cache: MISS)
  curl -sI $base/demo/hello.txt | grep -i x-cache             # again: X-Cache: HIT
  curl -s $base/admin/cache/stats; echo                       # cache stats (admin API)
  curl -I $base/demo/big/100MiB.bin                           # HEAD
  curl -s -H 'Range: bytes=0-15' $base/demo/hello.txt; echo   # Range -> 206
  curl -s -o /tmp/gradient.png $base/demo/images/gradient.png && file /tmp/gradient.png
  curl -s -o /dev/null -w '%{speed_download} B/s\\n' $base/demo/big/100MiB.bin
  curl -i $base/demo/no-such-key.txt                          # 404 (JSON error)
  curl -i --path-as-is $base/demo/../etc/passwd                # traversal -> 400
  curl -i -X PUT $base/demo/hello.txt                         # 405, read-only
  curl -s $base/health; echo                                  # liveness
  curl -s $base/ready; echo                                   # readiness
  curl -s $base/metrics | grep yatagarasu_requests_total      # Prometheus metrics
  # open $base/admin/ in a browser: the live dashboard

Proxy log: $work/proxy.log  (config: config/demo.yaml)
Press Ctrl-C to stop.
MSG

wait "$proxy_pid" || true
proxy_pid=""
echo "demo: the proxy exited; see the log above" >&2
tail -n 20 "$work/proxy.log" >&2 || true
exit 1
