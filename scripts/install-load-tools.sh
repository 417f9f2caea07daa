#!/usr/bin/env bash
# Builds the pinned load generator the load scripts drive at a fixed rate (vegeta), from source
# with `go install`, into the tools dir outside the repo:
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/vegeta-<ver>/vegeta
# A binary that is already there is not rebuilt, so a second run takes milliseconds. The Go
# module and build caches are the ones scripts/install-authz-servers.sh uses (go/mod,
# go/cache in the tools dir), so CI can cache that one directory. YG_VEGETA names an existing
# binary to use instead. Prints `vegeta=<path>` on stdout at the end.
set -euo pipefail

VEGETA_VERSION=v12.13.0
VEGETA_PKG=github.com/tsenart/vegeta/v12

tools="${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}"
vegeta_dir="$tools/go/vegeta-$VEGETA_VERSION"

log() { printf '[install-load-tools] %s\n' "$*" >&2; }

vegeta_bin="${YG_VEGETA:-$vegeta_dir/vegeta}"

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
