# shellcheck shell=bash
# An OpenTelemetry Collector running one of the configurations of examples/ as it
# is, pointed at loopback by a second configuration merged over it
# (scripts/live/collector/overlay.py). Built once from the collector's modules at
# one release (scripts/live/collector/main.go: the components the examples use)
# into the cache; `collector`, `stop-collector`. Sourced by scripts/live-env.sh.

# The newest release at which the module proxy serves the loadbalancing exporter;
# every collector module at that release (core modules at v1.67.0 go with it).
OTELCOL_VERSION=v0.161.0
OTELCOL_CORE_VERSION=v1.67.0
OTELCOL_DIR="$CACHE/otelcol-$OTELCOL_VERSION"
OTELCOL_BIN="$OTELCOL_DIR/bin/otelcol-kspan"
OTELCOL_SOURCE="$LIVE/collector"
OTELCOL_GO="${KSPAN_GO:-/usr/local/go/bin/go}"

collector_packages() { echo python3-yaml; }

collector_processes() { echo collector-watchdog otelcol; }

# The binary is current when it was built from this main.go.
collector_built() {
  [ -x "$OTELCOL_BIN" ] && cmp -s "$OTELCOL_SOURCE/main.go" "$OTELCOL_DIR/module/main.go"
}

collector_install() {
  if collector_built; then
    log "collector $OTELCOL_VERSION: present in $OTELCOL_BIN"
    return
  fi
  [ -x "$OTELCOL_GO" ] || die "collector: no Go toolchain at $OTELCOL_GO (set KSPAN_GO to a go >= 1.24)"
  local t0 mod="$OTELCOL_DIR/module" core=go.opentelemetry.io/collector
  t0=$(now)
  log "building the collector $OTELCOL_VERSION with $("$OTELCOL_GO" version) in $mod"
  log "  from the Go module proxy (about 6 CPU-minutes)"
  mkdir -p "$mod" "$OTELCOL_DIR/bin"
  cp "$OTELCOL_SOURCE/main.go" "$mod/main.go"
  rm -f "$mod/go.sum"
  printf 'module kspan-rs/otelcol\n\ngo 1.26\n' >"$mod/go.mod"
  # The loadbalancing exporter asks for AWS servicediscovery v1.48.0, which the
  # module proxy does not serve; v1.40.2 (served) builds, and its AWS Cloud Map
  # resolver is not one the examples use.
  (cd "$mod" &&
    "$OTELCOL_GO" mod edit -replace \
      github.com/aws/aws-sdk-go-v2/service/servicediscovery=github.com/aws/aws-sdk-go-v2/service/servicediscovery@v1.40.2 &&
    nice -n 10 "$OTELCOL_GO" get \
      "$core/otelcol@$OTELCOL_VERSION" \
      "$core/receiver/otlpreceiver@$OTELCOL_VERSION" \
      "$core/processor/batchprocessor@$OTELCOL_VERSION" \
      "$core/exporter/otlpexporter@$OTELCOL_VERSION" \
      "$core/exporter/debugexporter@$OTELCOL_VERSION" \
      "$core/confmap/provider/envprovider@$OTELCOL_CORE_VERSION" \
      "$core/confmap/provider/fileprovider@$OTELCOL_CORE_VERSION" \
      "$core/confmap/provider/yamlprovider@$OTELCOL_CORE_VERSION" \
      "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter@$OTELCOL_VERSION" &&
    nice -n 10 "$OTELCOL_GO" mod tidy &&
    nice -n 10 "$OTELCOL_GO" build -o "$OTELCOL_BIN.tmp" .) >"$OTELCOL_DIR/build.log" 2>&1 \
    || { tail -n 30 "$OTELCOL_DIR/build.log" >&2; die "building the collector failed; see $OTELCOL_DIR/build.log"; }
  mv "$OTELCOL_BIN.tmp" "$OTELCOL_BIN"
  log "collector built in $(elapsed "$t0") s: $OTELCOL_BIN"
}

collector_check() {
  collector_built || { log "missing: $OTELCOL_BIN built from $OTELCOL_SOURCE/main.go"; return 1; }
  python3 -c 'import yaml' 2>/dev/null || { log "missing: python3's yaml module (python3-yaml)"; return 1; }
}

# collector DIR CONFIG [--to HOST:PORT]... [--owner-pid PID]
cmd_collector() {
  local usage="usage: $0 collector <dir> <config> [--to HOST:PORT]... [--owner-pid PID]"
  [ $# -ge 2 ] || die "$usage"
  local config owner="" targets=()
  [ -f "$2" ] || die "collector: no config file $2"
  DIR=$(abs_dir "$1")
  config=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --to) targets+=("${2:?--to needs HOST:PORT}"); shift 2 ;;
      --owner-pid) owner=${2:?--owner-pid needs a pid}; shift 2 ;;
      *) die "$usage" ;;
    esac
  done
  collector_built || die "collector not installed: run scripts/live-env.sh install collector"
  mkdir -p "$DIR/pids"
  if running otelcol; then
    log "collector already running for $DIR ($DIR/collector.env)"
    return 0
  fi
  # The example as it is first: the overlay replaces parts of it (a DNS resolver),
  # which must not hide a mistake there.
  local invalid
  invalid=$("$OTELCOL_BIN" validate --config "$config" 2>&1) \
    || die "collector: $config is not a valid configuration: $invalid"
  local grpc http protocols pid attempt p port up
  # As for the receiver: ports picked free can be taken before the collector binds them.
  for attempt in 1 2 3; do
    read -r grpc http < <(free_ports 2)
    protocols=$(python3 "$OTELCOL_SOURCE/overlay.py" "$config" "$grpc" "$http" "${targets[@]}" \
      2>&1 >"$DIR/collector-overlay.yaml") || die "$protocols"
    protocols=${protocols#protocols: }
    pid=$(spawn otelcol "$DIR/collector.log" "$OTELCOL_BIN" \
      --config "$config" --config "$DIR/collector-overlay.yaml")
    up=1
    for p in $protocols; do
      [ "$p" = grpc ] && port=$grpc || port=$http
      (wait_for_port 30 "collector OTLP/$p port" "$pid" "$port") || { up=0; break; }
    done
    [ "$up" = 0 ] || break
    log "collector did not come up on ports $grpc/$http (attempt $attempt): $(tail -n 3 "$DIR/collector.log" 2>/dev/null | tr '\n' ' ')"
    kill "$pid" 2>/dev/null || true
    [ "$attempt" -lt 3 ] || die "collector did not start in 3 attempts; see $DIR/collector.log"
  done
  {
    echo "# generated by scripts/live-env.sh collector; source it"
    [[ " $protocols " != *" grpc "* ]] || echo "export KSPAN_COLLECTOR_OTLP_GRPC_ENDPOINT='http://127.0.0.1:$grpc'"
    [[ " $protocols " != *" http "* ]] || echo "export KSPAN_COLLECTOR_OTLP_HTTP_ENDPOINT='http://127.0.0.1:$http'"
    echo "export KSPAN_COLLECTOR_CONFIG='$config'"
    echo "export KSPAN_COLLECTOR_LOG='$DIR/collector.log'"
    echo "export KSPAN_COLLECTOR_PID=$pid"
  } >"$DIR/collector.env"
  watch_owner "$owner" stop-collector "$DIR/collector-watchdog.log" >/dev/null
  log "collector pid $pid: $(basename "$config") on 127.0.0.1:$grpc/$http ($protocols), to ${targets[*]:-nowhere}"
}

cmd_stop_collector() {
  [ $# -ge 1 ] || die "usage: $0 stop-collector <dir>"
  stop_service collector stop-collector otelcol "$1"
}
