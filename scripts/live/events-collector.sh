# shellcheck shell=bash
# The OpenTelemetry Collector's own way to Kubernetes Events, for the live
# benchmark to run beside kspan-rs (benches/live.rs, `scripts/bench live`): the
# contrib k8s_events receiver writing logs through the file exporter, built from
# scripts/live/events-collector/main.go. Installed only when named (`install
# events-collector`): the tests do not use it. Nothing to start: the benchmark
# runs the binary itself. Sourced by scripts/live-env.sh.

# The module proxy serves the k8s_events receiver at v0.111.0 only (newer
# versions answer 403), so this collector is at that release, its core modules
# at v1.17.0, unlike the examples' collector (collector.sh).
EVENTS_COLLECTOR_VERSION=v0.111.0
EVENTS_COLLECTOR_CORE_VERSION=v1.17.0
EVENTS_COLLECTOR_DIR="$CACHE/otelcol-k8sevents-$EVENTS_COLLECTOR_VERSION"
EVENTS_COLLECTOR_BIN="$EVENTS_COLLECTOR_DIR/bin/otelcol-k8sevents"
EVENTS_COLLECTOR_SOURCE="$LIVE/events-collector"

events_collector_packages() { :; }

events_collector_processes() { :; }

events_collector_built() {
  [ -x "$EVENTS_COLLECTOR_BIN" ] && cmp -s "$EVENTS_COLLECTOR_SOURCE/main.go" "$EVENTS_COLLECTOR_DIR/module/main.go"
}

events_collector_install() {
  if events_collector_built; then
    log "events collector $EVENTS_COLLECTOR_VERSION: present in $EVENTS_COLLECTOR_BIN"
    return
  fi
  [ -x "$OTELCOL_GO" ] || die "events collector: no Go toolchain at $OTELCOL_GO (set KSPAN_GO)"
  local t0 mod="$EVENTS_COLLECTOR_DIR/module" core=go.opentelemetry.io/collector
  local contrib=github.com/open-telemetry/opentelemetry-collector-contrib
  t0=$(now)
  log "building the events collector $EVENTS_COLLECTOR_VERSION with $("$OTELCOL_GO" version) in $mod"
  mkdir -p "$mod" "$EVENTS_COLLECTOR_DIR/bin"
  cp "$EVENTS_COLLECTOR_SOURCE/main.go" "$mod/main.go"
  rm -f "$mod/go.sum"
  printf 'module kspan-rs/otelcol-k8sevents\n\ngo 1.26\n' >"$mod/go.mod"
  (cd "$mod" &&
    nice -n 10 "$OTELCOL_GO" get \
      "$core/otelcol@$EVENTS_COLLECTOR_VERSION" \
      "$core/processor/batchprocessor@$EVENTS_COLLECTOR_VERSION" \
      "$core/confmap/provider/envprovider@$EVENTS_COLLECTOR_CORE_VERSION" \
      "$core/confmap/provider/fileprovider@$EVENTS_COLLECTOR_CORE_VERSION" \
      "$contrib/receiver/k8seventsreceiver@$EVENTS_COLLECTOR_VERSION" \
      "$contrib/exporter/fileexporter@$EVENTS_COLLECTOR_VERSION" &&
    nice -n 10 "$OTELCOL_GO" mod tidy &&
    nice -n 10 "$OTELCOL_GO" build -o "$EVENTS_COLLECTOR_BIN.tmp" .) >"$EVENTS_COLLECTOR_DIR/build.log" 2>&1 \
    || { tail -n 30 "$EVENTS_COLLECTOR_DIR/build.log" >&2; die "building the events collector failed; see $EVENTS_COLLECTOR_DIR/build.log"; }
  mv "$EVENTS_COLLECTOR_BIN.tmp" "$EVENTS_COLLECTOR_BIN"
  log "events collector built in $(elapsed "$t0") s: $EVENTS_COLLECTOR_BIN"
}

events_collector_check() {
  events_collector_built || { log "missing: the events collector in $EVENTS_COLLECTOR_BIN"; return 1; }
}
