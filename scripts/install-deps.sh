#!/usr/bin/env bash
# Installs what building and testing Yatagarasu needs on Debian 12, and nothing that is
# already there. Safe to run again: with everything present it finishes in well under a second.
#
#   scripts/install-deps.sh            # apt packages + Python tool venv
#   YG_SKIP_APT=1 scripts/install-deps.sh   # venv only
#   YG_SKIP_AUTHZ=1 scripts/install-deps.sh # without building the OPA/OpenFGA test servers
#
# Python tools live in a venv outside the repo so a clean checkout stays clean:
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/venv
# The last line printed is that venv's path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/venv.sh
source "$here/lib/venv.sh"

# What building the binary needs is listed once, in scripts/build-packages.txt (the Dockerfile's
# build stage installs the same; scripts/check-deploy.py compares them). Here: that list plus
# what the tests, sanitizers, fuzzers, benchmarks and load scripts need.
mapfile -t apt_packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/build-packages.txt")
if [ ${#apt_packages[@]} -eq 0 ]; then
  printf '[install-deps] error: %s lists no package\n' "$here/build-packages.txt" >&2
  exit 1
fi
apt_packages+=(
  ccache clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  wrk nginx-light redis-server curl python3-venv
  chromium
)

log() { printf '[install-deps] %s\n' "$*" >&2; }

install_apt() {
  local missing=() p installed
  # One dpkg-query for all packages: this runs on every `make run` / `make test`.
  installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${apt_packages[@]}" 2>/dev/null |
    awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }')" || true
  for p in "${apt_packages[@]}"; do
    if ! grep -qx "$p" <<<"$installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  log "installing apt packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
  fi
  # Keep package scripts from starting services (nginx, redis-server): tests and load scripts
  # start their own instances on free ports, and a system nginx on :80 helps nobody.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    made_policy=1
  fi
  local rc=0
  {
    "${sudo[@]}" apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
  } || rc=$?
  if [ "$made_policy" -eq 1 ]; then
    "${sudo[@]}" rm -f "$policy"
  fi
  return $rc
}

stop_system_nginx() {
  # If a package install (ours or an earlier one) left Debian's nginx service running, stop it.
  local pidfile=/run/nginx.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    log "stopping the nginx service started by the package install"
    service nginx stop >/dev/null 2>&1 || nginx -s quit 2>/dev/null || true
  fi
}

install_venv() {
  local venv req stamp want
  venv="$(yg_venv_dir)"
  req="$here/requirements-test.txt"
  stamp="$venv/.yg-requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  # Debian's interpreter when present: it is what a fresh Debian 12 machine has.
  local py=python3
  if [ -x /usr/bin/python3 ]; then
    py=/usr/bin/python3
  fi
  log "installing Python tools into $venv"
  mkdir -p "$(dirname "$venv")"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" >"$stamp"
}

# playwright-core (browser tests) goes to ${tools}/node, pinned by tests/browser/package.json;
# it drives Debian's chromium and downloads no browser of its own.
install_node_modules() {
  local dir want stamp
  dir="${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/node"
  stamp="$dir/.yg-package.sha256"
  want="$(sha256sum "$here/../tests/browser/package.json" | cut -d' ' -f1)"
  if [ -d "$dir/node_modules/playwright-core" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    # Debian's node + npm, unless a node that bundles npm is already installed.
    apt_packages=(nodejs npm)
    install_apt
  fi
  log "installing playwright-core into $dir"
  mkdir -p "$dir"
  cp "$here/../tests/browser/package.json" "$dir/package.json"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent)
  echo "$want" >"$stamp"
}

# OPA and OpenFGA (authorization tests), built from source with Go into ${tools}/go; see
# scripts/install-authz-servers.sh. Its stdout (the binary paths) goes to stderr here so the
# last line this script prints stays the venv path.
install_authz_servers() {
  if [ "${YG_SKIP_AUTHZ:-0}" = 1 ]; then
    return 0
  fi
  "$here/install-authz-servers.sh" >&2
}

# vegeta (the reload-under-load test and the load scripts), built the same way into ${tools}/go
# by scripts/install-load-tools.sh, and Debian's varnish (the load campaigns' side-by-side runs);
# nothing happens when they are already there.
install_vegeta() {
  if [ "${YG_SKIP_AUTHZ:-0}" = 1 ]; then
    return 0
  fi
  "$here/install-load-tools.sh" vegeta varnish >&2
}

if [ "${YG_SKIP_APT:-0}" != 1 ]; then
  install_apt
  stop_system_nginx
fi
install_venv
install_node_modules
install_authz_servers
install_vegeta
yg_venv_dir
