# shellcheck shell=bash
# The control plane: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler on loopback, and kubectl, of either release: the current one
# (built from Go modules, k8s-modules.sh) or v1.20.2 (Debian, k8s-debian.sh).
# `start` (--k8s VERSION or KSPAN_K8S_VERSION), `versions`, `restart-apiserver`,
# `compact-etcd` (`stop`, in components.sh, stops every component of a dir).
# Sourced by scripts/live-env.sh.

# The releases this harness runs: the current one (the default) and the oldest
# kspan-rs supports. Each in its own cache dir, $CACHE/k8s-VERSION/bin.
K8S_CURRENT=v1.37.2
K8S_VERSIONS=("$K8S_CURRENT" "$K8S_DEBIAN_VERSION")

k8s_bin() { echo "$CACHE/k8s-$1/bin"; }

# k8s_bins VERSION: what its bin dir holds (v1.20.2 runs Debian's etcd from PATH).
k8s_bins() {
  if [ "$1" = "$K8S_DEBIAN_VERSION" ]; then
    echo kube-apiserver kube-controller-manager kube-scheduler kubectl
  else
    echo etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl
  fi
}

# k8s_present VERSION: every binary of VERSION is there.
k8s_present() {
  local b
  for b in $(k8s_bins "$1"); do [ -x "$(k8s_bin "$1")/$b" ] || return 1; done
}

# select_k8s VERSION: the release `start` runs (with or without the leading v):
# sets K8S_VERSION and BIN.
select_k8s() {
  local v="v${1#v}" known
  for known in "${K8S_VERSIONS[@]}"; do
    if [ "$v" = "$known" ]; then
      K8S_VERSION=$v
      BIN=$(k8s_bin "$v")
      return
    fi
  done
  die "unknown Kubernetes version '$1' (KSPAN_K8S_VERSION or --k8s): one of ${K8S_VERSIONS[*]}"
}

K8S_VERSION=""
BIN=""
select_k8s "${KSPAN_K8S_VERSION:-$K8S_CURRENT}"

control_plane_packages() {
  echo golang-go dpkg-dev make rsync jq openssl curl etcd-server etcd-client golang-github-modern-go-reflect2-dev
}

control_plane_processes() {
  echo watchdog kube-scheduler kube-controller-manager kube-apiserver etcd
}

# Both releases: a test run picks one with KSPAN_K8S_VERSION.
control_plane_install() {
  build_k8s_from_debian
  install_kubectl_from_debian
  build_k8s_from_modules "$K8S_CURRENT"
}

control_plane_check() {
  local ok=1 v b
  for v in "${K8S_VERSIONS[@]}"; do
    for b in $(k8s_bins "$v"); do
      [ -x "$(k8s_bin "$v")/$b" ] || { log "missing: $(k8s_bin "$v")/$b"; ok=0; }
    done
  done
  command -v etcd >/dev/null || { log "missing: etcd (package etcd-server)"; ok=0; }
  command -v etcdctl >/dev/null || { log "missing: etcdctl (package etcd-client)"; ok=0; }
  command -v openssl >/dev/null || { log "missing: openssl"; ok=0; }
  [ "$ok" = 1 ]
}

# versions: the releases installed, the default marked.
cmd_versions() {
  local v mark
  for v in "${K8S_VERSIONS[@]}"; do
    mark=""
    [ "$v" != "$K8S_CURRENT" ] || mark=" (default)"
    if k8s_present "$v"; then
      echo "$v$mark $(k8s_bin "$v")"
    else
      echo "$v$mark not installed"
    fi
  done
}

# ------------------------------------------------------------------- start ----

cmd_start() {
  [ $# -ge 1 ] || die "usage: $0 start <dir> [--k8s VERSION] [--owner-pid PID]"
  local dir_arg=$1 owner=""
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --owner-pid) owner=${2:?--owner-pid needs a pid}; shift 2 ;;
      --k8s) select_k8s "${2:?--k8s needs a version}"; shift 2 ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  k8s_present "$K8S_VERSION" || { cmd_check control-plane || true; die "Kubernetes $K8S_VERSION not installed: run scripts/live-env.sh install"; }
  DIR=$(abs_dir "$dir_arg")
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
  # The real node's kubelet (node.sh): a node's identity, which the Node authorizer
  # and NodeRestriction hold to its own node and pods.
  openssl rand -hex 24 >"$DIR/pki/node-token"
  echo "$(cat "$DIR/pki/node-token"),system:node:$NODE_NAME,system:node:$NODE_NAME,system:nodes" >>"$DIR/pki/tokens.csv"
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

  # What differs between the releases: flags removed since 1.20 (the insecure
  # ports), controller names, and, on the current one, what a kubeadm cluster sets.
  local etcd=etcd api_flags kcm_flags sched_flags controllers
  if [ "$K8S_VERSION" = "$K8S_DEBIAN_VERSION" ]; then
    api_flags=(--insecure-port 0 --authorization-mode RBAC)
    kcm_flags=(--port 0)
    sched_flags=(--port 0)
    controllers='*,-nodeipam,-nodelifecycle,-attachdetach,-persistentvolume-expander,-cloud-node-lifecycle,-service,-route'
  else
    etcd="$BIN/etcd"
    # The node simulator writes as system:masters, which NodeRestriction and the
    # Node authorizer leave alone.
    api_flags=(--authorization-mode "Node,RBAC" --enable-admission-plugins NodeRestriction
      --allow-privileged=true --enable-bootstrap-token-auth=true)
    kcm_flags=()
    sched_flags=()
    # The cloud controllers (service, route, cloud-node-lifecycle) left kcm in 1.31.
    controllers='*,-node-ipam-controller,-node-lifecycle-controller,-persistentvolume-attach-detach-controller,-persistentvolume-expander-controller'
  fi

  log "Kubernetes $K8S_VERSION; etcd on 127.0.0.1:$etcd_client (data $DIR/etcd)"
  local etcd_pid
  etcd_pid=$(spawn etcd "$DIR/logs/etcd.log" "$etcd" \
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
    --secure-port "$api_port" "${api_flags[@]}" \
    --cert-dir "$DIR/pki" \
    --token-auth-file "$DIR/pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$DIR/pki/sa.pub" \
    --service-account-signing-key-file "$DIR/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --kubelet-preferred-address-types InternalIP,Hostname \
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
    --bind-address 127.0.0.1 --secure-port "$kcm_port" "${kcm_flags[@]}" \
    --cert-dir "$DIR/pki/kcm" \
    --service-account-private-key-file "$DIR/pki/sa.key" \
    --root-ca-file "$ca" \
    --use-service-account-credentials=false \
    --controllers "$controllers" \
    --concurrent-deployment-syncs 5 --concurrent-replicaset-syncs 5 \
    --horizontal-pod-autoscaler-sync-period 2s \
    --v=1)
  sched_pid=$(spawn kube-scheduler "$DIR/logs/kube-scheduler.log" "$BIN/kube-scheduler" \
    --kubeconfig "$DIR/kubeconfig" \
    --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$sched_port" "${sched_flags[@]}" \
    --cert-dir "$DIR/pki/sched" \
    --v=1)

  cat >"$DIR/env" <<EOF
# generated by scripts/live-env.sh start; source it
export KUBECONFIG='$DIR/kubeconfig'
export KSPAN_APISERVER='$api'
export KSPAN_ADMIN_TOKEN='$token'
export KSPAN_CA_FILE='$ca'
export KSPAN_KUBECTL='$BIN/kubectl'
export KSPAN_K8S_VERSION='$K8S_VERSION'
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
  local line
  while IFS= read -r line; do log "kubectl version: $line"; done \
    < <("$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" version 2>&1)
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
