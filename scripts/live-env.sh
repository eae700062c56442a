#!/usr/bin/env bash
# Live test environment for kspan-rs: a real Kubernetes control plane (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler; the current release
# or v1.20.2) on loopback,
# plus an OTLP receiver (rotel) that prints every received span, and optionally
# a TLS-terminating, header-logging proxy (nginx) in front of it, and Jaeger
# (v2 all-in-one, in-memory) to read traces back through its query API, and
# OpenTelemetry Collectors running the configurations of examples/.
#
#   scripts/live-env.sh install [COMPONENT...]
#                                        install packages, build + cache binaries (once);
#                                        every component, or those named
#   scripts/live-env.sh check [COMPONENT...]
#                                        exit 0 if everything `install` provides is present
#   scripts/live-env.sh start <dir> [--k8s VERSION] [--owner-pid PID]
#                                        start a control plane whose state lives in <dir>;
#                                        of release VERSION (default: KSPAN_K8S_VERSION, else
#                                        the current one); with --owner-pid it is stopped
#                                        when PID exits
#   scripts/live-env.sh versions         the Kubernetes releases it runs, and where installed
#   scripts/live-env.sh stop <dir>       stop everything started for <dir>
#   scripts/live-env.sh node <dir> [--owner-pid PID]
#                                        (after `start <dir>`, current release) start a real
#                                        node joined to it: containerd, runc, the kubelet, and a
#                                        registry on loopback serving the test images; node
#                                        name, registry and image names in <dir>/node.env
#   scripts/live-env.sh stop-node <dir>  stop the node, its containers and what they mounted
#   scripts/live-env.sh load-image <dir> <archive>
#                                        load an image archive (scripts/image) into the node
#   scripts/live-env.sh demo [<dir>] [--keep]
#                                        control plane, real node, receiver and `kspan run`; roll
#                                        out a small Deployment, print its trace as a waterfall;
#                                        stop it all (unless --keep)
#   scripts/live-env.sh receiver <dir> [--owner-pid PID]
#                                        start an OTLP receiver, ports in <dir>/receiver.env
#   scripts/live-env.sh stop-receiver <dir>
#   scripts/live-env.sh tls-proxy <dir> [--owner-pid PID]
#                                        (after `receiver <dir>`) start nginx terminating TLS in
#                                        front of the receiver (gRPC + HTTP), logging request
#                                        headers; endpoints and CA in <dir>/tls-proxy.env
#   scripts/live-env.sh stop-tls-proxy <dir>
#   scripts/live-env.sh jaeger <dir> [--owner-pid PID]
#                                        start Jaeger v2 all-in-one (in-memory storage): OTLP
#                                        endpoints and query URL in <dir>/jaeger.env
#   scripts/live-env.sh stop-jaeger <dir>
#   scripts/live-env.sh collector <dir> <config> [--to HOST:PORT]... [--owner-pid PID]
#                                        start an OpenTelemetry Collector running <config> (e.g.
#                                        examples/collector-jaeger.yaml) unchanged, with a second
#                                        config merged over it: its OTLP receiver on free loopback
#                                        ports, its exporters sending to the --to endpoints;
#                                        endpoints in <dir>/collector.env (one collector a dir)
#   scripts/live-env.sh stop-collector <dir>
#   scripts/live-env.sh restart-apiserver <dir> [SECONDS]
#                                        kill kube-apiserver, start it again after SECONDS
#   scripts/live-env.sh compact-etcd <dir>
#                                        compact etcd's history (watches from before get 410 Gone)
#   scripts/live-env.sh paths            print the cache dir, the binaries' dir, the venv and helm
#
# Components (one file each in scripts/live/): control-plane, node, receiver, tls-proxy,
# jaeger, collector, helm (a tool only: renders and installs deploy/helm/kspan-rs), and,
# installed only when named, events-collector (the live benchmark's peer).
# kube-apiserver writes an audit log (level Metadata) to <dir>/logs/audit.log.
# Everything binds to 127.0.0.1. Ports are picked free per instance, so several
# instances (in different dirs) can run at once.
# See scripts/README-live.md.

# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
LIVE="$(dirname "$SELF")/live"
# In the order `install` installs and `check` checks them; `stop` goes backwards.
# shellcheck disable=SC2034  # used by the sourced files
COMPONENTS=(control-plane node receiver tls-proxy jaeger collector helm)
# Installed only when named: what the benchmarks alone use.
# shellcheck disable=SC2034
ON_REQUEST_COMPONENTS=(events-collector)

# shellcheck source=live/common.sh
. "$LIVE/common.sh"
# shellcheck source=live/process.sh
. "$LIVE/process.sh"
# shellcheck source=live/components.sh
. "$LIVE/components.sh"
# shellcheck source=live/k8s-debian.sh
. "$LIVE/k8s-debian.sh"
# shellcheck source=live/k8s-modules.sh
. "$LIVE/k8s-modules.sh"
# shellcheck source=live/control-plane.sh
. "$LIVE/control-plane.sh"
# shellcheck source=live/node.sh
. "$LIVE/node.sh"
# shellcheck source=live/receiver.sh
. "$LIVE/receiver.sh"
# shellcheck source=live/demo.sh
. "$LIVE/demo.sh"
# shellcheck source=live/tls-proxy.sh
. "$LIVE/tls-proxy.sh"
# shellcheck source=live/go-tool.sh
. "$LIVE/go-tool.sh"
# shellcheck source=live/jaeger.sh
. "$LIVE/jaeger.sh"
# shellcheck source=live/collector.sh
. "$LIVE/collector.sh"
# shellcheck source=live/helm.sh
. "$LIVE/helm.sh"
# shellcheck source=live/events-collector.sh
. "$LIVE/events-collector.sh"

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    install) cmd_install "$@" ;;
    check) cmd_check "$@" ;;
    start) cmd_start "$@" ;;
    versions) cmd_versions ;;
    stop) cmd_stop "$@" ;;
    receiver) cmd_receiver "$@" ;;
    stop-receiver) cmd_stop_receiver "$@" ;;
    demo) cmd_demo "$@" ;;
    node) cmd_node "$@" ;;
    stop-node) cmd_stop_node "$@" ;;
    load-image) cmd_load_image "$@" ;;
    tls-proxy) cmd_tls_proxy "$@" ;;
    stop-tls-proxy) cmd_stop_tls_proxy "$@" ;;
    jaeger) cmd_jaeger "$@" ;;
    stop-jaeger) cmd_stop_jaeger "$@" ;;
    collector) cmd_collector "$@" ;;
    stop-collector) cmd_stop_collector "$@" ;;
    restart-apiserver) cmd_restart_apiserver "$@" ;;
    compact-etcd) cmd_compact_etcd "$@" ;;
    _watchdog) cmd_watchdog "$@" ;;
    paths) printf 'KSPAN_CACHE=%s\nKSPAN_K8S_VERSION=%s\nBIN=%s\nVENV=%s\nHELM=%s\nEVENTS_COLLECTOR=%s\n' \
      "$CACHE" "$K8S_VERSION" "$BIN" "$VENV" "$HELM_BIN" "$EVENTS_COLLECTOR_BIN" ;;
    -h|--help|help|"") usage ;;
    *) usage; die "unknown command: $cmd" ;;
  esac
}

# Parsed as one unit (and each sourced file is read whole), so editing these
# files while it runs cannot affect the run.
{ main "$@"; exit $?; }
