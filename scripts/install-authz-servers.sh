#!/usr/bin/env bash
# Builds the pinned OPA and OpenFGA servers the authorization tests run against, from source
# with `go install`, into the tools dir outside the repo:
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/opa-<ver>/opa
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/openfga-<ver>/openfga
# A binary that is already there is not rebuilt, so a second run takes milliseconds. The Go
# module and build caches live in the tools dir too (go/mod, go/cache), so CI can cache that
# one directory. YG_OPA / YG_OPENFGA (as for scripts/lib/yg_authz.py) name existing binaries
# to use instead. Prints `opa=<path>` and `openfga=<path>` on stdout at the end.
set -euo pipefail

OPA_VERSION=v1.22.3
OPENFGA_VERSION=v1.22.1
OPA_PKG=github.com/open-policy-agent/opa
OPENFGA_PKG=github.com/openfga/openfga/cmd/openfga

tools="${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}"
opa_dir="$tools/go/opa-$OPA_VERSION"
fga_dir="$tools/go/openfga-$OPENFGA_VERSION"

log() { printf '[install-authz-servers] %s\n' "$*" >&2; }

# go_install GOBIN PKG@VERSION: one pinned, static, reproducible-path build.
go_install() {
  local gobin="$1" target="$2"
  mkdir -p "$gobin"
  log "building $target into $gobin (takes a few minutes the first time)"
  GOBIN="$gobin" GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/cache" CGO_ENABLED=0 \
    go install -trimpath -modcacherw "$target"
}

opa_bin="${YG_OPA:-$opa_dir/opa}"
fga_bin="${YG_OPENFGA:-$fga_dir/openfga}"
need=()
[ -n "${YG_OPA:-}" ] || [ -x "$opa_bin" ] || need+=(opa)
[ -n "${YG_OPENFGA:-}" ] || [ -x "$fga_bin" ] || need+=(openfga)

if [ ${#need[@]} -gt 0 ]; then
  if ! command -v go >/dev/null 2>&1; then
    log "error: 'go' is not on PATH; it is needed to build ${need[*]}."
    log "Install Go (https://go.dev/dl/, 1.26 or newer) or point YG_OPA / YG_OPENFGA at existing binaries."
    exit 1
  fi
  # Both builds at once: they share the module and build caches, and Go locks those safely.
  pids=()
  for n in "${need[@]}"; do
    case "$n" in
      opa) go_install "$opa_dir" "$OPA_PKG@$OPA_VERSION" & ;;
      openfga) go_install "$fga_dir" "$OPENFGA_PKG@$OPENFGA_VERSION" & ;;
    esac
    pids+=($!)
  done
  rc=0
  for p in "${pids[@]}"; do
    wait "$p" || rc=$?
  done
  if [ "$rc" -ne 0 ]; then
    log "error: go install failed (status $rc); see the messages above"
    exit "$rc"
  fi
fi

for b in "$opa_bin" "$fga_bin"; do
  if [ ! -x "$b" ]; then
    log "error: $b is missing or not executable"
    exit 1
  fi
done
printf 'opa=%s\nopenfga=%s\n' "$opa_bin" "$fga_bin"
