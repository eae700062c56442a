//! What the simulated API server holds: workloads, ReplicaSets, pods.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl WorkloadKind {
    /// Mostly Deployments; the first few workloads have every kind.
    pub(super) fn of(index: usize) -> Self {
        match index % 10 {
            1 => WorkloadKind::StatefulSet,
            3 => WorkloadKind::DaemonSet,
            5 => WorkloadKind::Job,
            _ => WorkloadKind::Deployment,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Container {
    pub(super) name: String,
    pub(super) image: String,
}

/// An object as an owner reference or an Event's involvedObject names it.
#[derive(Debug, Clone)]
pub(super) struct ObjectRef {
    pub(super) api: &'static str,
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) uid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Warning {
    None,
    FailedScheduling,
    Unhealthy,
    CrashLoop,
}

/// What the API server holds of a live pod.
#[derive(Debug, Clone)]
pub(super) struct Pod {
    pub(super) name: String,
    pub(super) generate_name: Option<String>,
    pub(super) uid: String,
    pub(super) labels: String,
    pub(super) owner: ObjectRef,
    pub(super) containers: Vec<Container>,
    pub(super) restart_policy: &'static str,
    pub(super) node: usize,
    pub(super) ip: String,
    pub(super) created: i64,
    pub(super) scheduled: i64,
    /// Start of each container (the last start after a restart).
    pub(super) started: Vec<i64>,
    pub(super) ready: i64,
    pub(super) restarts: u32,
    /// A crash: (when the failed container started, when it exited).
    pub(super) crashed: Option<(i64, i64)>,
}

/// A pod's state in one copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PodView {
    Pending,
    Unschedulable(i64),
    Scheduled,
    CrashLoop,
    Running,
    Succeeded(i64),
}

#[derive(Debug, Clone)]
pub(super) struct ReplicaSet {
    pub(super) name: String,
    pub(super) hash: String,
    pub(super) uid: String,
    pub(super) revision: u32,
    pub(super) generation: i64,
    pub(super) replicas: u32,
    pub(super) created: i64,
    pub(super) containers: Vec<Container>,
}

pub(super) struct Workload {
    pub(super) kind: WorkloadKind,
    pub(super) name: String,
    pub(super) app: String,
    pub(super) namespace: String,
    pub(super) uid: String,
    pub(super) replicas: u32,
    pub(super) created: i64,
    pub(super) generation: i64,
    pub(super) spec_time: i64,
    pub(super) manager: (&'static str, &'static str),
    pub(super) version: u32,
    pub(super) containers: Vec<Container>,
    pub(super) current: Option<ReplicaSet>,
    pub(super) previous: Option<ReplicaSet>,
    /// StatefulSet and DaemonSet controller revision.
    pub(super) revision: String,
    pub(super) pods: Vec<Pod>,
    pub(super) first_node: usize,
}

/// Replica counts of a workload's status.
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    pub(super) observed: i64,
    pub(super) replicas: u32,
    pub(super) updated: u32,
    pub(super) ready: u32,
}

impl Progress {
    pub(super) fn complete(w: &Workload) -> Self {
        Progress {
            observed: w.generation,
            replicas: w.replicas,
            updated: w.replicas,
            ready: w.replicas,
        }
    }
}

pub(super) const MANAGERS: &[(&str, &str)] = &[
    ("kubectl-client-side-apply", "Update"),
    ("kubectl-set", "Update"),
    ("helm", "Update"),
    ("argocd-controller", "Apply"),
    ("kustomize-controller", "Apply"),
];
pub(super) const DEPLOYMENT_WORDS: &[&str] = &[
    "api", "web", "worker", "cart", "search", "auth", "billing", "ingest", "checkout", "catalog",
    "gateway", "notify",
];
pub(super) const STATEFUL_WORDS: &[&str] =
    &["db", "cache", "kafka", "zookeeper", "etcd", "elastic"];
pub(super) const DAEMON_WORDS: &[&str] = &["agent", "log-shipper", "node-exporter", "csi-node"];
pub(super) const JOB_WORDS: &[&str] = &["batch", "report", "etl", "backup"];
pub(super) const SIDECAR: &str = "docker.io/istio/proxyv2:1.22.3";

pub(super) fn node_name(n: usize) -> String {
    format!("node-{n:05}")
}

pub(super) fn node_ip(n: usize) -> String {
    format!("10.0.{}.{}", n / 250, n % 250 + 1)
}

impl Workload {
    pub(super) fn reference(&self) -> ObjectRef {
        let (api, kind) = match self.kind {
            WorkloadKind::Deployment => ("apps/v1", "Deployment"),
            WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
            WorkloadKind::DaemonSet => ("apps/v1", "DaemonSet"),
            WorkloadKind::Job => ("batch/v1", "Job"),
        };
        ObjectRef { api, kind, name: self.name.clone(), uid: self.uid.clone() }
    }

    pub(super) fn image(&self) -> String {
        format!("registry.local/{}/{}:1.{}.0", self.namespace, self.app, self.version)
    }

    pub(super) fn set_version(&mut self, version: u32) {
        self.version = version;
        self.containers[0].image = self.image();
    }
}

impl ReplicaSet {
    pub(super) fn reference(&self) -> ObjectRef {
        ObjectRef {
            api: "apps/v1",
            kind: "ReplicaSet",
            name: self.name.clone(),
            uid: self.uid.clone(),
        }
    }
}

impl Pod {
    pub(super) fn reference(&self) -> ObjectRef {
        ObjectRef { api: "v1", kind: "Pod", name: self.name.clone(), uid: self.uid.clone() }
    }
}
