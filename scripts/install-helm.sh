#!/usr/bin/env bash
# Builds helm and kustomize (the deploy checks: `make deploy-check`, scripts/check-deploy.py)
# from source with `go install` into the tools dir outside the repo, and does nothing when they
# are already there (a second run takes milliseconds):
#
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/helm-<ver>/helm
#   ${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}/go/kustomize-<ver>/kustomize
#
# kustomize is built rather than taken from kubectl (`kubectl kustomize`): kubectl is not a
# Debian package, and a machine that happens to have it must not be what makes CI pass.
#
# The Go module and build caches are the ones scripts/install-authz-servers.sh and
# scripts/install-load-tools.sh use (go/mod, go/cache in the tools dir), so CI can cache that
# one directory. YG_HELM / YG_KUSTOMIZE name existing binaries to use instead.
#
# Prints `helm=<path>` and `kustomize=<path>` on stdout at the end.
set -euo pipefail

HELM_VERSION=v3.22.0
HELM_PKG=helm.sh/helm/v3/cmd/helm
KUSTOMIZE_VERSION=v5.7.1
KUSTOMIZE_PKG=sigs.k8s.io/kustomize/kustomize/v5
# The Kubernetes minor that helm's go.mod builds against (k8s.io/client-go v0.37.0): helm's own
# Makefile stamps it, and without it `helm template` assumes Kubernetes v1.20.0.
K8S_MAJOR=1
K8S_MINOR=37

tools="${YG_TOOLS_DIR:-$HOME/.cache/yatagarasu-tools}"

log() { printf '[install-helm] %s\n' "$*" >&2; }

helm_dir="$tools/go/helm-$HELM_VERSION"
helm_bin="${YG_HELM:-$helm_dir/helm}"
if [ -z "${YG_HELM:-}" ] && [ ! -x "$helm_bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    log "error: 'go' is not on PATH; it is needed to build helm."
    log "Install Go (https://go.dev/dl/, 1.26 or newer) or point YG_HELM at an existing binary."
    exit 1
  fi
  mkdir -p "$helm_dir"
  log "building $HELM_PKG@$HELM_VERSION into $helm_dir (a few minutes the first time)"
  # The -X flags are those of helm's Makefile: the version `helm version` prints and the
  # Kubernetes version helm assumes offline (a plain `go install` leaves 1.20).
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
  done
  if ! GOBIN="$helm_dir" GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/cache" CGO_ENABLED=0 \
      go install -trimpath -modcacherw -ldflags "$ldflags" "$HELM_PKG@$HELM_VERSION"; then
    log "error: go install failed; see the messages above"
    exit 1
  fi
fi
if [ ! -x "$helm_bin" ]; then
  log "error: $helm_bin is missing or not executable"
  exit 1
fi
printf 'helm=%s\n' "$helm_bin"

kustomize_dir="$tools/go/kustomize-$KUSTOMIZE_VERSION"
kustomize_bin="${YG_KUSTOMIZE:-$kustomize_dir/kustomize}"
if [ -z "${YG_KUSTOMIZE:-}" ] && [ ! -x "$kustomize_bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    log "error: 'go' is not on PATH; it is needed to build kustomize."
    exit 1
  fi
  mkdir -p "$kustomize_dir"
  log "building $KUSTOMIZE_PKG@$KUSTOMIZE_VERSION into $kustomize_dir (a minute or two the first time)"
  if ! GOBIN="$kustomize_dir" GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/cache" CGO_ENABLED=0 \
      go install -trimpath -modcacherw -ldflags "-s -w" "$KUSTOMIZE_PKG@$KUSTOMIZE_VERSION"; then
    log "error: go install failed; see the messages above"
    exit 1
  fi
fi
if [ ! -x "$kustomize_bin" ]; then
  log "error: $kustomize_bin is missing or not executable"
  exit 1
fi
printf 'kustomize=%s\n' "$kustomize_bin"
