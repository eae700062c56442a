# shellcheck shell=bash
# A real node for the control plane of a dir: containerd + runc (Debian) and the
# release's own kubelet, pulling the test images from a registry on loopback;
# `node`, `stop-node` (`stop` stops it too). Runs on the current release (the
# kubelet is built with it, k8s-modules.sh). Sourced by scripts/live-env.sh.
#
# Images: the test app (scripts/live/images/app: an HTTP server whose start-up,
# readiness, exit and memory are set by env vars) as kspan-test/app:1.0 and :2.0,
# the same app with a large layer (a slow pull) as kspan-test/big:1.0, and the pod
# sandbox (scripts/live/images/pause) as kspan-test/pause:1.0. Built once as OCI
# images (Go static binaries, umoci) and pushed into a registry storage dir in the
# cache, which every node's registry serves read-only.

NODE_IMAGES="$CACHE/node-images-v1"
NODE_SOURCES="$LIVE/images"
# The large layer of kspan-test/big: random bytes, so nothing compresses it.
NODE_BIG_LAYER_MB=200
NODE_NAME=kspan-node

node_packages() { echo containerd runc containernetworking-plugins docker-registry umoci skopeo iproute2 iptables; }

# The kubernetes Service's address (the first of --service-cluster-ip-range):
# in-cluster clients such as kspan-rs' own Pods find the API server there.
NODE_KUBERNETES_SERVICE=10.96.0.1

# The kubelet, the containers and containerd are stopped by node_teardown, which
# `stop` calls before it signals these.
node_processes() { echo node-watchdog registry; }

node_install() {
  if [ -f "$NODE_IMAGES/done" ]; then
    log "node images: present in $NODE_IMAGES"
    return
  fi
  [ -x "$K8S_MODULES_GO" ] || die "no Go toolchain at $K8S_MODULES_GO (set KSPAN_GO to a go >= 1.22)"
  local t0 tmp
  t0=$(now)
  tmp="$NODE_IMAGES.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp/bin" "$tmp/gocache"
  log "node images: building the test app and the pause binary (static Go) into $NODE_IMAGES"
  local b
  for b in app pause; do
    (cd "$NODE_SOURCES/$b" && GOCACHE="$tmp/gocache" CGO_ENABLED=0 nice -n 10 \
      "$K8S_MODULES_GO" build -trimpath -ldflags "-s -w" -o "$tmp/bin/$b" .) >&2 \
      || die "building $NODE_SOURCES/$b failed"
  done
  rm -rf "$tmp/gocache"
  umoci init --layout "$tmp/oci" >&2
  node_image "$tmp" app 1.0 app 0
  node_image "$tmp" app 2.0 app 0
  node_image "$tmp" big 1.0 app "$NODE_BIG_LAYER_MB"
  node_image "$tmp" pause 1.0 pause 0
  node_push_images "$tmp"
  # The registry's storage is what nodes use; the layout was its source.
  rm -rf "$tmp/oci"
  mv "$tmp" "$NODE_IMAGES"
  touch "$NODE_IMAGES/done"
  log "node images built and stored in $(elapsed "$t0") s"
}

# node_image DIR NAME TAG BINARY BALLAST-MB: an OCI image NAME-TAG in DIR/oci running
# DIR/bin/BINARY, with a layer of BALLAST-MB random MiB.
node_image() {
  local dir=$1 name=$2 tag=$3 binary=$4 mb=$5 ref bundle
  ref="$dir/oci:$name-$tag"
  bundle="$dir/bundle"
  rm -rf "$bundle"
  umoci new --image "$ref" >&2
  umoci unpack --image "$ref" "$bundle" >&2
  cp "$dir/bin/$binary" "$bundle/rootfs/$binary"
  umoci repack --image "$ref" "$bundle" >&2
  if [ "$mb" -gt 0 ]; then
    rm -rf "$bundle"
    umoci unpack --image "$ref" "$bundle" >&2
    head -c "${mb}M" /dev/urandom >"$bundle/rootfs/ballast"
    umoci repack --image "$ref" "$bundle" >&2
  fi
  rm -rf "$bundle"
  # The tag in a label: every tag is an image of its own (a new tag is a real pull).
  umoci config --image "$ref" --config.entrypoint "/$binary" --config.label "org.kspan-rs.image=$name:$tag" >&2
}

# node_registry_config FILE STORAGE PORT
node_registry_config() {
  cat >"$1" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $2}
  delete: {enabled: false}
http: {addr: "127.0.0.1:$3"}
EOF
}

# node_push_images DIR: every image of DIR/oci into the registry storage DIR/registry.
node_push_images() {
  local dir=$1 port pid ref
  port=$(free_ports 1)
  node_registry_config "$dir/registry.yml" "$dir/registry" "$port"
  setsid docker-registry serve "$dir/registry.yml" </dev/null >"$dir/registry.log" 2>&1 &
  pid=$!
  wait_for_port 30 "docker-registry" "$pid" "$port"
  for ref in app:1.0 app:2.0 big:1.0 pause:1.0; do
    skopeo --insecure-policy copy -q --dest-tls-verify=false \
      "oci:$dir/oci:${ref/:/-}" "docker://127.0.0.1:$port/kspan-test/$ref" >&2 \
      || { kill "$pid"; die "pushing kspan-test/$ref failed"; }
  done
  kill "$pid"
  wait_gone "$pid"
  rm -f "$dir/registry.yml" "$dir/registry.log"
}

node_check() {
  local ok=1 c
  [ -f "$NODE_IMAGES/done" ] || { log "missing: node images in $NODE_IMAGES"; ok=0; }
  for c in containerd runc docker-registry; do
    command -v "$c" >/dev/null || { log "missing: $c (package $c)"; ok=0; }
  done
  [ -x /usr/lib/cni/bridge ] || { log "missing: /usr/lib/cni/bridge (package containernetworking-plugins)"; ok=0; }
  [ "$ok" = 1 ]
}

# What a node needs of the machine, each missing piece named (never a silent skip).
node_machine_missing() {
  [ "$(id -u)" = 0 ] || echo "root (containerd and the kubelet run as root)"
  grep -qw overlay /proc/filesystems || echo "overlay filesystem support (modprobe overlay)"
  local c
  for c in cpu cpuacct cpuset memory pids devices freezer; do
    [ -d "/sys/fs/cgroup/$c" ] || echo "cgroup v1 controller $c (mounted at /sys/fs/cgroup/$c)"
  done
  [ -x "$BIN/kubelet" ] || echo "the kubelet of $K8S_VERSION at $BIN/kubelet (the real node runs on $K8S_CURRENT)"
  node_check >/dev/null 2>&1 || echo "node packages and images (run scripts/live-env.sh install)"
  ip link add kspan-probe type bridge 2>/dev/null && ip link del kspan-probe 2>/dev/null \
    || echo "network administration (creating a bridge interface: CAP_NET_ADMIN)"
}

# The node's cgroups live under /NODE_CGROUP in every controller: one node's pods
# are found and killed there, apart from any other node's.
node_cgroup_dirs() {
  local c
  for c in /sys/fs/cgroup/*/; do
    if [ -d "$c$1" ]; then printf '%s\n' "$c$1"; fi
  done
}

# node_pod_network BRIDGE GATEWAY ID: what kube-proxy and a routable host would
# give pods here, where everything listens on loopback. Two NAT rules on the pods'
# bridge: the kubernetes Service (NODE_KUBERNETES_SERVICE:443) leads to the API
# server, and GATEWAY:any port to the same port on 127.0.0.1, so pods reach the
# receiver and the collectors. route_localnet lets the bridge carry 127.0.0.1.
# The rules carry the comment kspan-node-ID, by which node_teardown removes them.
node_pod_network() {
  local bridge=$1 gateway=$2 id=$3 api_port
  api_port=${KSPAN_APISERVER##*:}
  # CNI's bridge plugin takes the bridge as it finds it, gateway address included.
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  # The node's address (the kubelet serves there, and the API server reaches it
  # for logs): it must exist before the first pod, and not be loopback.
  ip addr replace "$gateway/24" dev "$bridge"
  ip link set "$bridge" up
  sysctl -qw "net.ipv4.conf.$bridge.route_localnet=1"
  iptables -t nat -A PREROUTING -i "$bridge" -d "$NODE_KUBERNETES_SERVICE" -p tcp --dport 443 \
    -m comment --comment "kspan-node-$id" -j DNAT --to-destination "127.0.0.1:$api_port"
  iptables -t nat -A PREROUTING -i "$bridge" -d "$gateway" -p tcp \
    -m comment --comment "kspan-node-$id" -j DNAT --to-destination 127.0.0.1
}

# node_pod_network_teardown ID: the NAT rules of node_pod_network.
node_pod_network_teardown() {
  local rules rule
  rules=$(iptables -t nat -S PREROUTING 2>/dev/null | grep -F -- "--comment kspan-node-$1 " || true)
  while read -r rule; do
    # shellcheck disable=SC2086
    [ -z "$rule" ] || iptables -t nat ${rule/-A /-D } 2>/dev/null || true
  done <<<"$rules"
}

# ------------------------------------------------------------------- start ----

cmd_node() {
  [ $# -ge 1 ] || die "usage: $0 node <dir> [--owner-pid PID]"
  local owner t0
  owner=$(owner_arg "$@")
  DIR=$(abs_dir "$1")
  [ -f "$DIR/env" ] || die "no control plane for $DIR: run scripts/live-env.sh start $DIR first"
  # shellcheck disable=SC1091
  . "$DIR/env"
  select_k8s "$KSPAN_K8S_VERSION"
  [ "$K8S_VERSION" = "$K8S_CURRENT" ] || die "the real node runs on Kubernetes $K8S_CURRENT only (this control plane: $K8S_VERSION)"
  local missing
  missing=$(node_machine_missing)
  [ -z "$missing" ] || die "containers cannot run on this machine; missing: $(awk 'NR > 1 { printf "; " } { printf "%s", $0 }' <<<"$missing")"
  if running kubelet; then
    log "node already running for $DIR ($DIR/node.env)"
    return 0
  fi
  [ -f "$DIR/pki/node-token" ] || die "$DIR/pki/node-token missing (a control plane started before the node existed): start it again"
  t0=$(now)
  local n="$DIR/node" id cgroup registry_port kubelet_port healthz_port subnet bridge gateway
  id=$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
  cgroup="kspan-node-$id"
  bridge="kspan$id"
  # One /24 of 10.244.0.0/16 per node, from the dir's hash.
  subnet="10.244.$(( 16#${id:0:2} )).0/24"
  gateway="${subnet%.0/24}.1"
  read -r registry_port kubelet_port healthz_port < <(free_ports 3)
  mkdir -p "$n/cni" "$n/certs.d/127.0.0.1:$registry_port" "$n/kubelet" "$DIR/logs" "$DIR/pids"
  local registry="127.0.0.1:$registry_port"

  node_registry_config "$n/registry.yml" "$NODE_IMAGES/registry" "$registry_port"
  local pid
  pid=$(spawn registry "$DIR/logs/registry.log" docker-registry serve "$n/registry.yml")
  wait_for_port 30 "docker-registry" "$pid" "$registry_port"

  cat >"$n/certs.d/$registry/hosts.toml" <<EOF
server = "http://$registry"
[host."http://$registry"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$n/cni/10-kspan.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kspan",
  "plugins": [{
    "type": "bridge", "bridge": "$bridge", "isGateway": true, "isDefaultGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "dataDir": "$n/ipam"}
  }]
}
EOF
  cat >"$n/containerd.toml" <<EOF
version = 2
root = "$n/containerd/root"
state = "$n/containerd/state"
[grpc]
  address = "$n/containerd.sock"
[ttrpc]
  address = "$n/containerd.ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$registry/kspan-test/pause:1.0"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  # No CAP_SYS_RESOURCE here (e.g. in a container): containers' OOM scores no
  # lower than containerd's own, where the sandbox's -998 would fail.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$n/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$n/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$n/certs.d"
EOF
  node_pod_network "$bridge" "$gateway" "$id"
  log "containerd on $n/containerd.sock; registry on $registry"
  pid=$(spawn containerd "$DIR/logs/containerd.log" containerd --config "$n/containerd.toml")
  wait_for 60 "containerd" "$pid" ctr --address "$n/containerd.sock" version

  local c
  for c in /sys/fs/cgroup/*/; do
    [ -L "${c%/}" ] || mkdir -p "$c$cgroup"
  done
  cat >"$n/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kspan-live
  cluster: {server: "$KSPAN_APISERVER", certificate-authority: "$KSPAN_CA_FILE"}
users:
- name: $NODE_NAME
  user: {token: "$(cat "$DIR/pki/node-token")"}
contexts:
- name: node
  context: {cluster: kspan-live, user: $NODE_NAME}
current-context: node
EOF
  cat >"$n/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine's cgroups are v1 (cgroupfs); kubelet refuses v1 unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup
failSwapOn: false
containerRuntimeEndpoint: unix://$n/containerd.sock
address: $gateway
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
# The API server (kubectl logs, exec) is let in without a client certificate,
# which this control plane does not issue; the port is on the pods' bridge only.
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
makeIPTablesUtilChains: false
resolvConf: /etc/resolv.conf
# A shared, busy test machine: no eviction or image GC because its disk fills up.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# No DNS server runs; without one the kubelet warns (MissingClusterDNS) at every pod.
clusterDNS: [10.96.0.10]
clusterDomain: cluster.local
EOF
  if [ -n "${KSPAN_NODE_TRACING_ENDPOINT:-}" ]; then
    # Kubelet tracing (GA since 1.34): every pod sync, exported over OTLP gRPC.
    printf 'tracing: {endpoint: "%s", samplingRatePerMillion: 1000000}\n' \
      "$KSPAN_NODE_TRACING_ENDPOINT" >>"$n/kubelet.yaml"
  fi
  log "kubelet $NODE_NAME (port $kubelet_port, healthz $healthz_port, cgroups /$cgroup, pods $subnet on $bridge)"
  pid=$(spawn kubelet "$DIR/logs/kubelet.log" "$BIN/kubelet" \
    --config "$n/kubelet.yaml" --kubeconfig "$n/kubeconfig" \
    --root-dir "$n/kubelet" --cert-dir "$n/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$gateway" --v=2)
  cat >"$DIR/node.env" <<EOF
# generated by scripts/live-env.sh node; source it
export KSPAN_NODE_NAME='$NODE_NAME'
export KSPAN_REGISTRY='$registry'
export KSPAN_TEST_IMAGE='$registry/kspan-test/app:1.0'
export KSPAN_TEST_IMAGE_V2='$registry/kspan-test/app:2.0'
export KSPAN_BIG_IMAGE='$registry/kspan-test/big:1.0'
export KSPAN_MISSING_IMAGE='$registry/kspan-test/app:missing'
export KSPAN_NODE_CGROUP='$cgroup'
export KSPAN_NODE_BRIDGE='$bridge'
export KSPAN_POD_SUBNET='$subnet'
# The host as pods see it: its loopback services (receiver, collector, Jaeger) answer here.
export KSPAN_NODE_HOST_IP='$gateway'
export KSPAN_KUBELET_PID=$pid
EOF
  wait_for 120 "node $NODE_NAME Ready" "$pid" node_ready
  # The node lifecycle controller, which lifts the taint a kubelet registers with,
  # is off (it would also manage the simulator's nodes).
  "$KSPAN_KUBECTL" --kubeconfig "$DIR/kubeconfig" taint node "$NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >&2
  watch_owner "$owner" stop-node "$DIR/logs/node-watchdog.log" >/dev/null
  log "node $NODE_NAME ready in $(elapsed "$t0") s; source $DIR/node.env"
}

node_ready() {
  [ "$("$KSPAN_KUBECTL" --kubeconfig "$DIR/kubeconfig" get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# load-image DIR ARCHIVE: a docker or OCI archive (scripts/image) into the node's
# containerd, where the kubelet finds it present and pulls nothing.
cmd_load_image() {
  [ $# -ge 2 ] || die "usage: $0 load-image <dir> <archive>"
  local dir
  dir=$(abs_dir "$1")
  [ -f "$dir/node.env" ] || die "no node for $dir: run scripts/live-env.sh node $dir first"
  [ -f "$2" ] || die "no image archive at $2"
  ctr --address "$dir/node/containerd.sock" -n k8s.io images import "$2" >&2 \
    || die "importing $2 into the node's containerd failed"
}

# -------------------------------------------------------------------- stop ----

cmd_stop_node() {
  [ $# -ge 1 ] || die "usage: $0 stop-node <dir>"
  [ -d "$1" ] || { log "no node to stop: $1 does not exist"; return 0; }
  local dir
  dir=$(cd "$1" && pwd)
  [ -f "$dir/pids/node-watchdog" ] && stop_pidfile "$dir/pids/node-watchdog" >/dev/null
  node_teardown "$dir"
  stop_pids "$dir" registry >/dev/null
}

# node_teardown DIR: the kubelet, then every container of the node (its processes,
# found in its cgroups, and runc's shims), containerd, and what they left on the
# machine: mounts under DIR/node, CNI's cached results, the pods' bridge, the cgroups.
node_teardown() {
  local dir=$1 pids
  [ -f "$dir/node.env" ] || return 0
  # shellcheck disable=SC1091
  . "$dir/node.env"
  pids=$(stop_pids "$dir" kubelet)
  local cg procs deadline=$(( $(date +%s) + 20 ))
  while :; do
    procs=$(node_cgroup_dirs "$KSPAN_NODE_CGROUP" | while read -r cg; do
      find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)
    [ -n "$procs" ] || break
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    [ "$(date +%s)" -lt "$deadline" ] || { log "node: processes still in /$KSPAN_NODE_CGROUP: $procs"; break; }
    sleep 0.2
  done
  local shim shims=""
  for shim in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$shim/cmdline" | grep -q -- "containerd-shim.*-address $dir/node/containerd.sock"; then
      shims+="${shim#/proc/} "
    fi
  done
  # shellcheck disable=SC2086
  [ -z "$shims" ] || kill -KILL $shims 2>/dev/null || true
  pids+=$(stop_pids "$dir" containerd)
  # CNI's result cache is machine-wide (/var/lib/cni/results); the pods were never
  # torn down through CNI, so their entries go here, by sandbox id.
  local sandbox
  for sandbox in "$dir"/node/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*/; do
    [ -d "$sandbox" ] || continue
    rm -f /var/lib/cni/results/*-"$(basename "$sandbox")"-*
  done
  local m
  awk -v p="$dir/node/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  ip link del "$KSPAN_NODE_BRIDGE" 2>/dev/null || true
  node_pod_network_teardown "${KSPAN_NODE_CGROUP#kspan-node-}"
  node_cgroup_dirs "$KSPAN_NODE_CGROUP" | while read -r cg; do
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  log "node stopped (kubelet, containerd: ${pids:-none}${shims:+; shims $shims})"
}
