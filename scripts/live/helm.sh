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
  if [ -x "$HELM_BIN" ]; then
    log "helm $HELM_VERSION: present in $HELM_BIN"
    return
  fi
  [ -x "$HELM_GO" ] || die "helm: no Go toolchain at $HELM_GO (set KSPAN_GO to a go >= 1.25)"
  local t0 mod="$HELM_DIR/module"
  t0=$(now)
  log "building helm $HELM_VERSION (cmd/helm) with $("$HELM_GO" version) in $mod"
  log "  from the Go module proxy (about 5 CPU-minutes)"
  # A module of its own in the cache dir, as for jaeger: `go get -tool` records
  # exactly this version and its dependencies.
  mkdir -p "$mod" "$HELM_DIR/bin"
  printf 'module kspan-rs/helm-tool\n\ngo 1.26\n' >"$mod/go.mod"
  # helm reports its version from these (unset they read v4.x-dev or so).
  local ldflags="-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
  (cd "$mod" &&
    "$HELM_GO" get -tool "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" &&
    nice -n 10 "$HELM_GO" build -ldflags "$ldflags" -o "$HELM_BIN.tmp" helm.sh/helm/v4/cmd/helm) \
    >"$HELM_DIR/build.log" 2>&1 \
    || { tail -n 30 "$HELM_DIR/build.log" >&2; die "building helm failed; see $HELM_DIR/build.log"; }
  mv "$HELM_BIN.tmp" "$HELM_BIN"
  log "helm built in $(elapsed "$t0") s: $HELM_BIN"
}

helm_check() {
  [ -x "$HELM_BIN" ] || { log "missing: $HELM_BIN"; return 1; }
}
