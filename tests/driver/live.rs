//! The set-up every live test stands on: a control plane of its own, a runtime and
//! an admin client for it, and, as the test asks, the OTLP receiver, the TLS proxy,
//! the node simulator or a real node, and `kspan run` against it.
//!
//! Each test gets its own control plane (its assertions count every Event of a
//! namespace and every span its receiver got). What the fixture starts stops when
//! it is dropped, also while a failing test unwinds, and the script's watchdogs
//! stop it when the test process dies first; ports are picked free by the script.
//! Drop order is declaration order reversed: declare the receiver after the
//! fixture and `kspan run` after the receiver, so kspan-rs goes first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{assert_once_per_occurrence, span_events, wait_for_sync, Kspan};
use crate::support::rotel::Span;
use crate::support::{LiveCluster, LiveReceiver, NodeSim, NodeSimConfig, RealNode, TlsProxy};

/// One live test's environment (see the module doc).
pub struct Live {
    pub client: kube::Client,
    pub rt: tokio::runtime::Runtime,
    pub cluster: LiveCluster,
}

impl Live {
    /// Starts a control plane for `test`; `None` (skip) when the live environment is
    /// not installed outside CI, a panic under CI.
    pub fn start_or_skip(test: &str) -> Option<Live> {
        let cluster = LiveCluster::start_or_skip(test)?;
        let rt = runtime();
        let client = rt.block_on(cluster.client()).unwrap();
        Some(Live { client, rt, cluster })
    }

    /// [`Self::start_or_skip`] for a test on the real node: `None` (skip, saying so)
    /// on a release other than the current one, which alone has a kubelet built.
    pub fn start_for_node_or_skip(test: &str) -> Option<Live> {
        let live = Live::start_or_skip(test)?;
        // The kubelet is built with the current release only (scripts/README-live.md).
        if live.cluster.k8s_minor() < 37 {
            eprintln!(
                "SKIPPED {test}: the real node runs on the current release, not {}",
                live.cluster.k8s_version()
            );
            return None;
        }
        Some(live)
    }

    /// The state dir of the control plane (logs, kubeconfigs, receiver output).
    pub fn dir(&self) -> &Path {
        self.cluster.dir()
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.cluster.kubeconfig_path()
    }

    /// Starts the OTLP receiver, on free ports.
    pub fn receiver(&self) -> LiveReceiver {
        LiveReceiver::start_in(self.dir()).expect("receiver starts")
    }

    /// Starts the OTLP receiver on the given ports: one that comes back where an
    /// exporter expects it.
    pub fn receiver_on(&self, grpc: u16, http: u16) -> LiveReceiver {
        LiveReceiver::start_on(self.dir(), grpc, http).expect("receiver starts")
    }

    /// Starts the TLS proxy in front of the receiver (start that first).
    pub fn tls_proxy(&self) -> TlsProxy {
        TlsProxy::start_in(self.dir()).expect("TLS proxy starts")
    }

    /// `kspan run --kubeconfig <admin kubeconfig> <args>`, synced.
    pub fn kspan(&self, args: &[&str]) -> Kspan {
        self.kspan_as(&self.kubeconfig(), args)
    }

    /// `kspan run --kubeconfig <kubeconfig> <args>`, synced.
    pub fn kspan_as(&self, kubeconfig: &Path, args: &[&str]) -> Kspan {
        self.kspan_logging(kubeconfig, args, "info")
    }

    /// Like [`Live::kspan_as`], with `RUST_LOG=<filter>`.
    pub fn kspan_logging(&self, kubeconfig: &Path, args: &[&str], filter: &str) -> Kspan {
        let base = ["--kubeconfig", kubeconfig.to_str().unwrap()];
        let args = [&base[..], args].concat();
        let kspan = Kspan::start_logging(self.dir(), "kspan", &args, filter);
        wait_for_sync(&kspan);
        kspan
    }

    /// The project's manifests `kustomization` (a dir under the crate root: `deploy`,
    /// `deploy/base`) applied with the Deployment scaled to 0, and a kubeconfig of
    /// their ServiceAccount kspan/kspan: kspan-rs with the rights it is deployed with.
    pub fn deployed_identity(&self, kustomization: &str) -> PathBuf {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(kustomization);
        self.kubectl(&["apply", "-k", dir.to_str().unwrap()]);
        self.kubectl(&["scale", "-n", "kspan", "deployment/kspan", "--replicas=0"]);
        self.cluster
            .service_account_kubeconfig("kspan", "kspan")
            .expect("a token for the ServiceAccount")
    }

    /// A node simulator playing the kubelet of `config`'s nodes.
    pub fn node_sim(&self, config: NodeSimConfig) -> NodeSim {
        self.rt
            .block_on(NodeSim::start(self.client.clone(), config))
            .expect("node simulator starts")
    }

    /// A real node (containerd, the kubelet) joined to the control plane, Ready.
    pub fn real_node(&self) -> RealNode {
        RealNode::start_in(self.dir()).expect("the real node starts")
    }

    /// [`Self::real_node`] whose kubelet exports its own traces to `receiver`.
    pub fn real_node_traced_to(&self, receiver: &LiveReceiver) -> RealNode {
        let endpoint = receiver.grpc_endpoint().trim_start_matches("http://");
        RealNode::start_traced_in(self.dir(), endpoint).expect("the real node starts")
    }

    /// Writes `yaml` into the cluster's dir and `kubectl apply`s it.
    pub fn apply(&self, name: &str, yaml: &str) {
        let path = self.dir().join(name);
        std::fs::write(&path, yaml).unwrap();
        self.kubectl(&["apply", "-f", path.to_str().unwrap()]);
    }

    /// Runs kubectl with the admin kubeconfig; its stdout (a failure panics with stderr).
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = self.cluster.kubectl().args(args).output().expect("kubectl runs");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Events of the namespace as the API server has them: uid -> (involved kind, name, reason).
    /// Not the API server's own about the `kubernetes` Service: its IP repair may
    /// write one (ClusterIPNotAllocated, a start-up race) at any time, after kspan-rs
    /// has stopped too, and no test's workload has anything to do with it.
    pub fn api_events(&self, namespace: &str) -> BTreeMap<String, (String, String, String)> {
        let list: Value =
            serde_json::from_str(&self.kubectl(&["get", "events", "-n", namespace, "-o", "json"]))
                .unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (
                    s(&e["metadata"]["uid"]),
                    (
                        s(&e["involvedObject"]["kind"]),
                        s(&e["involvedObject"]["name"]),
                        s(&e["reason"]),
                    ),
                )
            })
            .filter(|(_, (kind, name, _))| !(kind == "Service" && name == "kubernetes"))
            .collect()
    }

    /// Polls the API server's Events of `namespace` until one has `reason`.
    pub fn wait_for_reason(&self, namespace: &str, reason: &str, timeout: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.api_events(namespace).values().any(|(_, _, r)| r == reason) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no {reason} Event within {timeout:?}");
    }

    /// Every Event the API server holds for `namespace` is in `spans`, once per occurrence.
    pub fn assert_every_event_once(&self, namespace: &str, spans: &[Span]) {
        let placed = span_events(spans);
        for (uid, what) in self.api_events(namespace) {
            assert!(placed.contains_key(&uid), "event not delivered: {what:?}");
        }
        for (uid, holders) in &placed {
            assert_once_per_occurrence(uid, holders);
        }
    }

    /// Kills kube-apiserver, keeps it down `seconds`, starts it again and waits until ready.
    pub fn restart_apiserver(&self, seconds: u32) {
        let status = Command::new("bash")
            .arg(crate::support::script::script())
            .args(["restart-apiserver", self.dir().to_str().unwrap(), &seconds.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "restart-apiserver");
    }

    /// Compacts etcd's history up to now: a watch resuming from before gets 410 Gone.
    pub fn compact_etcd(&self) -> u64 {
        let out = Command::new("bash")
            .arg(crate::support::script::script())
            .args(["compact-etcd", self.dir().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "compact-etcd: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a revision")
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One live test at a time in a binary, for the tests that ask: each starts its own
/// control plane, and the machine is small.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
