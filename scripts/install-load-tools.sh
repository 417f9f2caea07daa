#!/usr/bin/env bash
# Installs the load generators and comparison servers the load scripts drive, and nothing that
# is already there (a second run takes milliseconds):
#
#   scripts/install-load-tools.sh              # everything below
#   scripts/install-load-tools.sh vegeta       # only vegeta
#   scripts/install-load-tools.sh varnish      # only Varnish
#
# - vegeta (load/authz_overhead.py: fixed-rate load), built from source with `go install` into
#   the tools dir outside the repo: ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/vegeta-<ver>/vegeta
#   The Go module and build caches are the ones scripts/install-authz-servers.sh uses (go/mod,
#   go/cache in the tools dir), so CI can cache that one directory. YG_VEGETA names an existing
#   binary to use instead.
# - Varnish (load/cache_compare.py: the cache-hit comparison), Debian's package `varnish`
#   via apt. Its service is not started (policy-rc.d while installing): the load script runs its
#   own varnishd on a free loopback port. YG_VARNISHD names an existing varnishd instead.
#
# Prints `vegeta=<path>` and/or `varnishd=<path>` on stdout at the end.
set -euo pipefail

VEGETA_VERSION=v12.13.0
VEGETA_PKG=github.com/tsenart/vegeta/v12

tools="${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}"

log() { printf '[install-load-tools] %s\n' "$*" >&2; }

want_vegeta=0
want_varnish=0
if [ $# -eq 0 ]; then
  want_vegeta=1
  want_varnish=1
fi
for arg in "$@"; do
  case "$arg" in
    vegeta) want_vegeta=1 ;;
    varnish) want_varnish=1 ;;
    *) log "error: unknown tool '$arg' (vegeta, varnish)"; exit 2 ;;
  esac
done

install_vegeta() {
  local vegeta_dir="$tools/go/vegeta-$VEGETA_VERSION"
  local vegeta_bin="${YG_VEGETA:-$vegeta_dir/vegeta}"
  if [ -z "${YG_VEGETA:-}" ] && [ ! -x "$vegeta_bin" ]; then
    if ! command -v go >/dev/null 2>&1; then
      log "error: 'go' is not on PATH; it is needed to build vegeta."
      log "Install Go (https://go.dev/dl/, 1.26 or newer) or point YG_VEGETA at an existing binary."
      exit 1
    fi
    mkdir -p "$vegeta_dir"
    log "building $VEGETA_PKG@$VEGETA_VERSION into $vegeta_dir"
    if ! GOBIN="$vegeta_dir" GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/cache" CGO_ENABLED=0 \
        go install -trimpath -modcacherw "$VEGETA_PKG@$VEGETA_VERSION"; then
      log "error: go install failed; see the messages above"
      exit 1
    fi
  fi
  if [ ! -x "$vegeta_bin" ]; then
    log "error: $vegeta_bin is missing or not executable"
    exit 1
  fi
  printf 'vegeta=%s\n' "$vegeta_bin"
}

install_varnish() {
  local bin="${YG_VARNISHD:-}"
  if [ -z "$bin" ]; then
    bin="$(command -v varnishd || true)"
    if [ -z "$bin" ] && [ -x /usr/sbin/varnishd ]; then
      bin=/usr/sbin/varnishd
    fi
  fi
  if [ -z "$bin" ]; then
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
      sudo=(sudo)
    fi
    # Keep the package's scripts from starting the varnish service.
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
      "${sudo[@]}" chmod +x "$policy"
      made_policy=1
    fi
    log "installing the Debian package varnish"
    {
      "${sudo[@]}" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
          varnish
    } >&2 || rc=$?
    if [ "$made_policy" -eq 1 ]; then
      "${sudo[@]}" rm -f "$policy"
    fi
    [ "$rc" -eq 0 ] || { log "error: apt-get install varnish failed"; exit 1; }
    bin=/usr/sbin/varnishd
  fi
  if [ ! -x "$bin" ]; then
    log "error: $bin is missing or not executable"
    exit 1
  fi
  printf 'varnishd=%s\n' "$bin"
}

if [ "$want_vegeta" -eq 1 ]; then
  install_vegeta
fi
if [ "$want_varnish" -eq 1 ]; then
  install_varnish
fi
