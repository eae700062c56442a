# shellcheck shell=bash
# `demo [DIR] [--keep]`: kspan-rs without a cluster of one's own. A control plane,
# a real node and an OTLP receiver; `kspan run` exporting to the receiver while a
# small Deployment rolls out; then the rollout's trace as a waterfall (a replay of
# what kspan-rs observed). Everything stops at the end unless --keep (and a dir it
# made is removed). Sourced by scripts/live-env.sh.

# The kspan binary: KSPAN_BIN, else the release build of this checkout (built if
# missing).
demo_kspan() {
  if [ -n "${KSPAN_BIN:-}" ]; then
    [ -x "$KSPAN_BIN" ] || die "KSPAN_BIN=$KSPAN_BIN is not an executable"
    echo "$KSPAN_BIN"
    return
  fi
  local root target
  root=$(cd "$LIVE/../.." && pwd)
  target=${CARGO_TARGET_DIR:-$root/target}
  if [ ! -x "$target/release/kspan" ]; then
    command -v cargo >/dev/null || die "no kspan binary: set KSPAN_BIN, or install a Rust toolchain (cargo)"
    log "building kspan (cargo build --release, once)"
    (cd "$root" && nice -n 10 cargo build --release --locked >&2) || die "cargo build --release failed"
  fi
  echo "$target/release/kspan"
}

cmd_demo() {
  local dir="" keep=0 made=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --keep) keep=1; shift ;;
      -*) die "demo: unknown option $1" ;;
      *) dir=$1; shift ;;
    esac
  done
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/kspan-demo.XXXXXX")
    made=$dir
  fi
  local kspan
  kspan=$(demo_kspan)
  cmd_check control-plane node receiver >/dev/null 2>&1 \
    || die "the demo needs the control plane, the node and the receiver: run scripts/live-env.sh install control-plane node receiver"
  dir=$(abs_dir "$dir")
  [ "$keep" = 1 ] || trap "main stop '$dir' >/dev/null 2>&1 || true; rm -rf '$made'" EXIT
  cmd_start "$dir"
  cmd_receiver "$dir"
  # shellcheck disable=SC1091
  . "$dir/receiver.env"
  log "kspan run -> the receiver ($KSPAN_OTLP_GRPC_ENDPOINT), recording to $dir/capture.jsonl"
  RUST_LOG=info "$kspan" run --kubeconfig "$dir/kubeconfig" --otlp-addr "$KSPAN_OTLP_GRPC_ENDPOINT" \
    --metrics-addr 127.0.0.1:0 --settle 3s --capture-to "$dir/capture.jsonl" \
    </dev/null >/dev/null 2>"$dir/logs/kspan.log" &
  local kspan_pid=$!
  # shellcheck disable=SC2064  # the pid now
  [ "$keep" = 1 ] || trap "kill $kspan_pid 2>/dev/null || true; main stop '$dir' >/dev/null 2>&1 || true; rm -rf '$made'" EXIT
  wait_for 60 "kspan run's initial lists" "" grep -q "initial lists synced" "$dir/logs/kspan.log"
  # The node joins once kspan-rs watches: its Events are activity, not history.
  cmd_node "$dir"
  # shellcheck disable=SC1091
  . "$dir/node.env"
  log "a Deployment of 2 pods of the test app: starts in 1 s, ready 2 s later"
  "$KSPAN_KUBECTL" --kubeconfig "$dir/kubeconfig" apply -f - >&2 <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, namespace: default, labels: {app: hello}}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      containers:
        - name: main
          image: "$KSPAN_BIG_IMAGE"
          env: [{name: START_DELAY, value: 1s}, {name: READY_AFTER, value: 2s}]
          readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
EOF
  "$KSPAN_KUBECTL" --kubeconfig "$dir/kubeconfig" rollout status deployment/hello --timeout=180s >&2
  # Past the settle time, then kspan-rs delivers what it holds and exits.
  sleep 5
  kill -TERM "$kspan_pid"
  wait "$kspan_pid" || die "kspan run failed; see $dir/logs/kspan.log"
  log "spans received: $(grep -c 'Name *:' "$dir/rotel.log" 2>/dev/null || echo '?') (printed in $dir/rotel.log)"
  "$kspan" replay --output waterfall --settle 3s --selector app=hello "$dir/capture.jsonl"
  if [ "$keep" = 1 ]; then
    log "still running: source $dir/env; scripts/live-env.sh stop $dir when done"
  fi
}
