# shellcheck shell=bash
# Helm, to render and install deploy/helm/kspan-rs. Debian does not package it:
# built once as a Go tool from the module proxy into the cache. Nothing to start
# or stop. Sourced by scripts/live-env.sh.

HELM_VERSION=v4.3.2
HELM_DIR="$CACHE/helm-$HELM_VERSION"
HELM_BIN="$HELM_DIR/bin/helm"
HELM_GO="${KSPAN_GO:-/usr/local/go/bin/go}"

helm_packages() { :; }

helm_processes() { :; }

helm_install() {
  # helm reports its version from this (unset, v4.x-dev or so).
  go_tool_install helm "$HELM_VERSION" "$HELM_DIR" "$HELM_BIN" "$HELM_GO" helm.sh/helm/v4/cmd/helm 5 \
    "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
}

helm_check() {
  [ -x "$HELM_BIN" ] || { log "missing: $HELM_BIN"; return 1; }
}
