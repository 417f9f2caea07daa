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

# go_tool NAME PKG VERSION OVERRIDE LDFLAGS: builds PKG@VERSION into $tools/go/NAME-VERSION unless
# it is there or OVERRIDE (a binary path) is set; prints NAME=<path>.
go_tool() {
  local name=$1 pkg=$2 version=$3 override=$4 ldflags=$5
  local dir="$tools/go/$name-$version"
  local bin="${override:-$dir/$name}"
  if [ -z "$override" ] && [ ! -x "$bin" ]; then
    if ! command -v go >/dev/null 2>&1; then
      log "error: 'go' is not on PATH; it is needed to build $name."
      log "Install Go (https://go.dev/dl/, 1.26 or newer) or point YG_${name^^} at a binary."
      exit 1
    fi
    mkdir -p "$dir"
    log "building $pkg@$version into $dir (minutes the first time)"
    if ! GOBIN="$dir" GOMODCACHE="$tools/go/mod" GOCACHE="$tools/go/cache" CGO_ENABLED=0 \
        go install -trimpath -modcacherw -ldflags "$ldflags" "$pkg@$version"; then
      log "error: go install failed; see the messages above"
      exit 1
    fi
  fi
  if [ ! -x "$bin" ]; then
    log "error: $bin is missing or not executable"
    exit 1
  fi
  printf '%s=%s\n' "$name" "$bin"
}

# The -X flags are those of helm's Makefile: the version `helm version` prints and the
# Kubernetes version helm assumes offline (a plain `go install` leaves 1.20).
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done
go_tool helm "$HELM_PKG" "$HELM_VERSION" "${YG_HELM:-}" "$helm_ldflags"
go_tool kustomize "$KUSTOMIZE_PKG" "$KUSTOMIZE_VERSION" "${YG_KUSTOMIZE:-}" "-s -w"
