//! A node simulator: plays the kubelet for simulated nodes of a real control plane
//! that has no kubelet or container runtime (what kwok does).
//!
//! For every node it
//! * creates the Node object, patches its status Ready (capacity, addresses,
//!   nodeInfo) through the status subresource and removes the
//!   `node.kubernetes.io/not-ready` taint, posting the kubelet's node events;
//! * watches the pods bound to it (`spec.nodeName`) and, per pod, posts
//!   kubelet-style core/v1 Events (`source.component=kubelet`, `source.host=<node>`):
//!   Pulling / Pulled / Created / Started with realistic delays, then patches the
//!   pod status (Pending -> Running -> Ready) with conditions, container statuses,
//!   podIP, hostIP and startTime;
//! * on graceful deletion (`deletionTimestamp` set) posts Killing per running
//!   container and then deletes the pod with grace period 0, so rollouts complete.
//!
//! What a container does is decided by a hook ([`NodeSimConfig::behaviour`]); the
//! default ([`default_behaviour`]) runs everything normally, except image names
//! containing `missing` (ErrImagePull / ImagePullBackOff), `crashloop`
//! (CrashLoopBackOff) and `unready` (readiness probe fails).
//!
//! Repeated identical events are aggregated like client-go's event correlator:
//! the existing Event's `count` and `lastTimestamp` are patched.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{Event, EventSource, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio::sync::Mutex as AsyncMutex;

use super::kubelet_release::KubeletRelease;
use tokio::task::{JoinHandle, JoinSet};

// ---------------------------------------------------------------- config ----

/// What a simulated container does. Chosen per container by [`NodeSimConfig::behaviour`].
#[derive(Clone, Debug, PartialEq)]
pub enum ContainerBehaviour {
    /// Pull (unless the image is on the node already), create, start, become ready.
    Run,
    /// The image cannot be pulled: `Failed` (ErrImagePull), then `BackOff` /
    /// `Failed` (ImagePullBackOff), retried with exponential back-off until deleted.
    PullError { message: String },
    /// Starts, exits with `exit_code` after `run_for`, is restarted with back-off
    /// (`BackOff` "Back-off restarting failed container", CrashLoopBackOff).
    CrashLoop { run_for: Duration, exit_code: i32 },
    /// Starts, runs for `run_for` and exits with `exit_code`, never restarted (a
    /// Job's pod, restartPolicy Never): the pod ends Succeeded, or Failed when a
    /// container exited non-zero. Like the kubelet, no Event tells the exit.
    Exit { run_for: Duration, exit_code: i32 },
    /// Starts, but its readiness probe fails: `Unhealthy` events every probe
    /// period, the pod is Running and never Ready.
    NeverReady,
}

/// What the behaviour hook gets to look at.
pub struct ContainerInfo<'a> {
    pub pod: &'a Pod,
    pub node: &'a str,
    pub container: &'a str,
    pub image: &'a str,
    pub init: bool,
}

pub type BehaviourFn = Arc<dyn Fn(&ContainerInfo<'_>) -> ContainerBehaviour + Send + Sync>;

/// `missing` in the image name: pull error; `crashloop`: CrashLoopBackOff;
/// `unready`: never ready; anything else runs.
pub fn default_behaviour(c: &ContainerInfo<'_>) -> ContainerBehaviour {
    if c.image.contains("missing") {
        ContainerBehaviour::PullError {
            message: format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": \
                 failed to resolve reference \"{img}\": {img}: not found",
                img = qualified_image(c.image)
            ),
        }
    } else if c.image.contains("crashloop") {
        ContainerBehaviour::CrashLoop { run_for: Duration::from_millis(500), exit_code: 1 }
    } else if c.image.contains("unready") && !c.init {
        ContainerBehaviour::NeverReady
    } else {
        ContainerBehaviour::Run
    }
}

#[derive(Clone)]
pub struct NodeSimConfig {
    /// Names of the simulated nodes.
    pub nodes: Vec<String>,
    /// Delay between the pod being bound and the kubelet acting on it.
    pub sync_delay: Duration,
    /// Image pull time (between Pulling and Pulled).
    pub pull_delay: Duration,
    /// Container create time (before Created).
    pub create_delay: Duration,
    /// Container start time (between Created and Started).
    pub start_delay: Duration,
    /// Time from all containers Started until the pod is Ready (readiness probe).
    pub ready_delay: Duration,
    /// Time from Killing until the pod is removed (container shutdown).
    pub stop_delay: Duration,
    /// Back-off for image pulls and crash loops: initial and maximum.
    pub back_off_initial: Duration,
    pub back_off_max: Duration,
    /// Readiness probe period for [`ContainerBehaviour::NeverReady`].
    pub probe_period: Duration,
    /// Images are pulled once per node (imagePullPolicy IfNotPresent); later pods
    /// get "Container image ... already present on machine". `Always` always pulls.
    pub image_cache: bool,
    pub cpu: String,
    pub memory: String,
    pub max_pods: String,
    pub behaviour: BehaviourFn,
}

impl Default for NodeSimConfig {
    fn default() -> Self {
        NodeSimConfig {
            nodes: vec!["sim-node-1".into()],
            sync_delay: Duration::from_millis(20),
            pull_delay: Duration::from_millis(300),
            create_delay: Duration::from_millis(40),
            start_delay: Duration::from_millis(60),
            ready_delay: Duration::from_millis(150),
            stop_delay: Duration::from_millis(150),
            back_off_initial: Duration::from_secs(1),
            back_off_max: Duration::from_secs(10),
            probe_period: Duration::from_secs(1),
            image_cache: true,
            cpu: "4".into(),
            memory: "8Gi".into(),
            max_pods: "110".into(),
            behaviour: Arc::new(default_behaviour),
        }
    }
}

impl NodeSimConfig {
    /// `n` nodes named `sim-node-1..n`, default timings.
    pub fn with_nodes(n: usize) -> Self {
        NodeSimConfig {
            nodes: (1..=n).map(|i| format!("sim-node-{i}")).collect(),
            ..Default::default()
        }
    }
}

// ------------------------------------------------------------- simulator ----

/// A running simulator. Dropping it stops the simulation (the nodes stay).
pub struct NodeSim {
    client: Client,
    cfg: Arc<NodeSimConfig>,
    watch_task: Option<JoinHandle<()>>,
    pods: Arc<Mutex<HashMap<String, PodEntry>>>,
    kubelets: HashMap<String, Arc<Kubelet>>,
}

struct PodEntry {
    node: String,
    task: Option<JoinHandle<()>>,
    terminating: bool,
    run: Arc<PodRun>,
}

impl NodeSim {
    /// Registers the nodes (Ready, untainted) and starts watching their pods.
    pub async fn start(client: Client, cfg: NodeSimConfig) -> Result<Self> {
        let cfg = Arc::new(cfg);
        let release = Arc::new(KubeletRelease::of_server(&client).await?);
        let recorder = Arc::new(Recorder::new(client.clone(), release.clone()));
        let mut kubelets = HashMap::new();
        for (i, name) in cfg.nodes.iter().enumerate() {
            let k = Arc::new(Kubelet {
                client: client.clone(),
                cfg: cfg.clone(),
                node: name.clone(),
                index: i as u32 + 1,
                host_ip: format!("192.0.2.{}", i + 10),
                images: Mutex::new(HashSet::new()),
                next_ip: AtomicU32::new(2),
                recorder: recorder.clone(),
                release: release.clone(),
            });
            k.register().await.with_context(|| format!("registering node {name}"))?;
            kubelets.insert(name.clone(), k);
        }
        let pods: Arc<Mutex<HashMap<String, PodEntry>>> = Arc::new(Mutex::new(HashMap::new()));
        let watch_task = tokio::spawn(watch_pods(client.clone(), kubelets.clone(), pods.clone()));
        Ok(NodeSim { client, cfg, watch_task: Some(watch_task), pods, kubelets })
    }

    pub fn nodes(&self) -> &[String] {
        &self.cfg.nodes
    }

    /// The kubelet of `node` reports it NotReady (a container runtime problem):
    /// the `NodeNotReady` node event only; the Node's status and its pods are left as they are.
    pub async fn report_not_ready(&self, node: &str) -> Result<()> {
        let kubelet =
            self.kubelets.get(node).with_context(|| format!("no simulated node {node}"))?;
        kubelet
            .node_event(
                "Normal",
                "NodeNotReady",
                format!("Node {node} status is now: NodeNotReady"),
            )
            .await;
        Ok(())
    }

    /// The kubelet of the pod's node evicts it for memory pressure, as the real one
    /// does: `EvictionThresholdMet` on the node, `Evicted` on the pod, its containers
    /// killed and the pod Failed with reason Evicted (left for its controller to replace).
    pub async fn evict(&self, namespace: &str, name: &str) -> Result<()> {
        let run = {
            let mut pods = self.pods.lock().unwrap();
            let entry = pods
                .values_mut()
                .find(|e| e.run.namespace == namespace && e.run.name == name)
                .with_context(|| format!("no simulated pod {namespace}/{name}"))?;
            if let Some(t) = entry.task.take() {
                t.abort();
            }
            entry.run.clone()
        };
        run.kubelet
            .node_event("Warning", "EvictionThresholdMet", "Attempting to reclaim memory".into())
            .await;
        let message = {
            let mut st = run.status.lock().await;
            let now = Timestamp::now();
            let mut message = "The node was low on resource: memory. ".to_string();
            for c in st.containers.iter_mut().filter(|c| !c.init) {
                message += &format!(
                    "Container {} was using 1048576Ki, which exceeds its request of 0. ",
                    c.name
                );
                let started_at = match c.state {
                    CState::Running { started_at } => started_at,
                    _ => now,
                };
                c.state = CState::Terminated {
                    exit_code: 137,
                    reason: "Error".into(),
                    started_at,
                    finished_at: now,
                };
                c.ready = false;
            }
            st.evicted = Some(message.clone());
            message
        };
        run.event(None, "Warning", "Evicted", message).await;
        run.patch_status().await
    }

    /// Stops watching and aborts every in-flight pod simulation.
    pub fn shutdown(&mut self) {
        if let Some(t) = self.watch_task.take() {
            t.abort();
        }
        if let Ok(mut pods) = self.pods.lock() {
            for (_, e) in pods.drain() {
                if let Some(t) = e.task {
                    t.abort();
                }
            }
        }
    }

    /// Deletes the simulated Node objects.
    pub async fn delete_nodes(&self) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        for n in &self.cfg.nodes {
            let _ = api.delete(n, &DeleteParams::default()).await;
        }
        Ok(())
    }
}

impl Drop for NodeSim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Next item of a stream, without depending on the `futures` crate: the
/// `Stream` methods are reachable through the `WatchStreamExt` bound.
async fn next_item<S>(s: &mut S) -> Option<S::Item>
where
    S: WatchStreamExt + Unpin,
{
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

async fn watch_pods(
    client: Client,
    kubelets: HashMap<String, Arc<Kubelet>>,
    pods: Arc<Mutex<HashMap<String, PodEntry>>>,
) {
    let api: Api<Pod> = Api::all(client);
    // One watch for all simulated nodes; filtered locally by spec.nodeName.
    let mut stream = Box::pin(watcher(api, watcher::Config::default()).default_backoff());
    while let Some(ev) = next_item(&mut stream).await {
        match ev {
            Ok(watcher::Event::Apply(pod)) | Ok(watcher::Event::InitApply(pod)) => {
                on_pod(&kubelets, &pods, pod);
            }
            Ok(watcher::Event::Delete(pod)) => {
                let uid = pod.uid().unwrap_or_default();
                if let Some(e) = pods.lock().unwrap().remove(&uid) {
                    if !e.terminating {
                        if let Some(t) = e.task {
                            t.abort();
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("nodesim: pod watch error: {e}"),
        }
    }
}

fn on_pod(
    kubelets: &HashMap<String, Arc<Kubelet>>,
    pods: &Arc<Mutex<HashMap<String, PodEntry>>>,
    pod: Pod,
) {
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
        return;
    };
    let Some(kubelet) = kubelets.get(&node) else {
        return;
    };
    let Some(uid) = pod.uid() else { return };
    let mut map = pods.lock().unwrap();
    let deleting = pod.metadata.deletion_timestamp.is_some();
    match map.get_mut(&uid) {
        None => {
            let run = Arc::new(PodRun::new(kubelet.clone(), &pod));
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            let adopt = matches!(phase.as_str(), "Running" | "Succeeded" | "Failed");
            let task = if deleting {
                let r = run.clone();
                Some(tokio::spawn(async move { r.terminate(pod).await }))
            } else if adopt {
                // Running already (e.g. a restarted simulator): leave it alone.
                None
            } else {
                let r = run.clone();
                Some(tokio::spawn(async move { r.run().await }))
            };
            map.insert(uid, PodEntry { node, task, terminating: deleting, run });
        }
        Some(entry) => {
            if deleting && !entry.terminating {
                entry.terminating = true;
                if let Some(t) = entry.task.take() {
                    t.abort();
                }
                let r = entry.run.clone();
                entry.task = Some(tokio::spawn(async move { r.terminate(pod).await }));
            }
        }
    }
}

// --------------------------------------------------------------- kubelet ----

struct Kubelet {
    client: Client,
    cfg: Arc<NodeSimConfig>,
    node: String,
    index: u32,
    host_ip: String,
    images: Mutex<HashSet<String>>,
    next_ip: AtomicU32,
    recorder: Arc<Recorder>,
    /// The API server's release: the kubelet version written, and its texts.
    release: Arc<KubeletRelease>,
}

impl Kubelet {
    fn node_ref(&self) -> ObjectReference {
        // The kubelet uses the node name as the uid of its node events.
        ObjectReference {
            kind: Some("Node".into()),
            name: Some(self.node.clone()),
            uid: Some(self.node.clone()),
            ..Default::default()
        }
    }

    async fn node_event(&self, type_: &str, reason: &str, message: String) {
        self.recorder.record("default", self.node_ref(), &self.node, type_, reason, message).await;
    }

    async fn register(&self) -> Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = &self.node;
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "simulated",
                    "kspan.dev/simulated": "true",
                },
                "annotations": { "node.alpha.kubernetes.io/ttl": "0" },
            },
            "spec": {
                "podCIDR": format!("10.244.{}.0/24", self.index),
                "podCIDRs": [format!("10.244.{}.0/24", self.index)],
            },
        }))?;
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => self.node_event("Normal", "Starting", "Starting kubelet.".into()).await,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        // Node status through the status subresource.
        let now = k8s_time(Timestamp::now());
        let cond = |type_: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": type_, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            })
        };
        let resources = json!({
            "cpu": self.cfg.cpu, "memory": self.cfg.memory, "pods": self.cfg.max_pods,
            "ephemeral-storage": "100Gi",
        });
        let status = json!({
            "status": {
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [
                    { "type": "InternalIP", "address": self.host_ip },
                    { "type": "Hostname", "address": name },
                ],
                "capacity": resources,
                "allocatable": resources,
                "daemonEndpoints": { "kubeletEndpoint": { "Port": 10250 } },
                "nodeInfo": {
                    "machineID": fake_hex(&[name, "machine"], 32),
                    "systemUUID": fake_hex(&[name, "uuid"], 32),
                    "bootID": fake_hex(&[name, "boot"], 32),
                    "kernelVersion": "6.1.0-simulated",
                    "osImage": "Simulated Linux",
                    "containerRuntimeVersion": "containerd://1.4.0-simulated",
                    "kubeletVersion": self.release.git_version,
                    "kubeProxyVersion": self.release.kube_proxy_version(),
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            }
        });
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status)).await?;
        // The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready
        // on create; the node lifecycle controller (which would remove it) is off.
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "spec": { "taints": null } })),
        )
        .await?;
        for (reason, what) in [
            ("NodeHasSufficientMemory", "NodeHasSufficientMemory"),
            ("NodeHasNoDiskPressure", "NodeHasNoDiskPressure"),
            ("NodeHasSufficientPID", "NodeHasSufficientPID"),
        ] {
            self.node_event("Normal", reason, format!("Node {name} status is now: {what}")).await;
        }
        self.node_event(
            "Normal",
            "NodeAllocatableEnforced",
            "Updated Node Allocatable limit across pods".into(),
        )
        .await;
        self.node_event("Normal", "NodeReady", format!("Node {name} status is now: NodeReady"))
            .await;
        Ok(())
    }

    fn alloc_pod_ip(&self) -> String {
        let n = self.next_ip.fetch_add(1, Ordering::Relaxed);
        format!("10.244.{}.{}", self.index, 2 + (n - 2) % 250)
    }
}

// ------------------------------------------------------------------ pods ----

#[derive(Clone, Debug)]
enum CState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated { exit_code: i32, reason: String, started_at: Timestamp, finished_at: Timestamp },
}

#[derive(Clone, Debug)]
struct Container {
    name: String,
    image: String,
    pull_policy: String,
    init: bool,
    behaviour: ContainerBehaviour,
    state: CState,
    last_state: Option<CState>,
    ready: bool,
    restart_count: i32,
    container_id: Option<String>,
}

struct PodStatus {
    start_time: Option<Timestamp>,
    pod_ip: Option<String>,
    containers: Vec<Container>,
    /// Condition type -> (status, lastTransitionTime).
    conditions: HashMap<&'static str, (bool, Timestamp)>,
    /// PodScheduled as set by the scheduler, kept verbatim.
    scheduled: Option<Value>,
    /// Why the kubelet evicted the pod: the pod is Failed with reason Evicted.
    evicted: Option<String>,
}

struct PodRun {
    kubelet: Arc<Kubelet>,
    name: String,
    namespace: String,
    uid: String,
    pod: Pod,
    status: AsyncMutex<PodStatus>,
}

impl PodRun {
    fn new(kubelet: Arc<Kubelet>, pod: &Pod) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let mut containers = Vec::new();
        let node = kubelet.node.clone();
        let mut add = |c: &k8s_openapi::api::core::v1::Container, init: bool| {
            let image = c.image.clone().unwrap_or_default();
            let behaviour = (kubelet.cfg.behaviour)(&ContainerInfo {
                pod,
                node: &node,
                container: &c.name,
                image: &image,
                init,
            });
            let pull_policy = c.image_pull_policy.clone().unwrap_or_else(|| {
                if image.ends_with(":latest") || !image.contains(':') {
                    "Always".into()
                } else {
                    "IfNotPresent".into()
                }
            });
            containers.push(Container {
                name: c.name.clone(),
                image,
                pull_policy,
                init,
                behaviour,
                state: CState::Waiting {
                    reason: if init { "PodInitializing" } else { "ContainerCreating" }.into(),
                    message: None,
                },
                last_state: None,
                ready: false,
                restart_count: 0,
                container_id: None,
            });
        };
        for c in spec.init_containers.iter().flatten() {
            add(c, true);
        }
        for c in &spec.containers {
            add(c, false);
        }
        let scheduled = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .and_then(|c| serde_json::to_value(c).ok());
        PodRun {
            name: pod.name_any(),
            namespace: pod.namespace().unwrap_or_else(|| "default".into()),
            uid: pod.uid().unwrap_or_default(),
            pod: pod.clone(),
            kubelet,
            status: AsyncMutex::new(PodStatus {
                start_time: None,
                pod_ip: None,
                containers,
                conditions: HashMap::new(),
                scheduled,
                evicted: None,
            }),
        }
    }

    fn cfg(&self) -> &NodeSimConfig {
        &self.kubelet.cfg
    }

    fn container_ref(&self, container: Option<&Container>) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            uid: Some(self.uid.clone()),
            resource_version: self.pod.metadata.resource_version.clone(),
            field_path: container.map(|c| {
                if c.init {
                    format!("spec.initContainers{{{}}}", c.name)
                } else {
                    format!("spec.containers{{{}}}", c.name)
                }
            }),
        }
    }

    async fn event(&self, c: Option<&Container>, type_: &str, reason: &str, message: String) {
        self.kubelet
            .recorder
            .record(
                &self.namespace,
                self.container_ref(c),
                &self.kubelet.node,
                type_,
                reason,
                message,
            )
            .await;
    }

    async fn sleep(&self, d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    async fn container(&self, i: usize) -> Container {
        self.status.lock().await.containers[i].clone()
    }

    async fn set_container(&self, i: usize, f: impl FnOnce(&mut Container)) {
        let mut st = self.status.lock().await;
        f(&mut st.containers[i]);
    }

    /// Pulls the image of container `i` (or notes it is present). Returns false
    /// when the pull fails (and posts the kubelet's failure events).
    async fn pull(&self, i: usize, first: bool) -> bool {
        let c = self.container(i).await;
        let key = qualified_image(&c.image);
        let present = self.cfg().image_cache && self.kubelet.images.lock().unwrap().contains(&key);
        let fails = matches!(c.behaviour, ContainerBehaviour::PullError { .. });
        if present && c.pull_policy != "Always" && !fails {
            self.event(
                Some(&c),
                "Normal",
                "Pulled",
                format!("Container image \"{}\" already present on machine", c.image),
            )
            .await;
            return true;
        }
        if !first && !fails && c.pull_policy != "Always" {
            // Restarts reuse the image.
            self.event(
                Some(&c),
                "Normal",
                "Pulled",
                format!("Container image \"{}\" already present on machine", c.image),
            )
            .await;
            return true;
        }
        self.event(Some(&c), "Normal", "Pulling", format!("Pulling image \"{}\"", c.image)).await;
        let t0 = Instant::now();
        self.sleep(self.cfg().pull_delay).await;
        if let ContainerBehaviour::PullError { message } = &c.behaviour {
            self.event(
                Some(&c),
                "Warning",
                "Failed",
                format!("Failed to pull image \"{}\": {}", c.image, message),
            )
            .await;
            self.event(Some(&c), "Warning", "Failed", "Error: ErrImagePull".into()).await;
            self.set_container(i, |c| {
                c.state = CState::Waiting {
                    reason: "ErrImagePull".into(),
                    message: Some(message.clone()),
                };
            })
            .await;
            return false;
        }
        let took = go_duration_ms(t0.elapsed());
        self.kubelet.images.lock().unwrap().insert(key);
        self.event(
            Some(&c),
            "Normal",
            "Pulled",
            self.kubelet.release.pulled_message(&c.image, &took, image_size(&c.image)),
        )
        .await;
        true
    }

    /// Creates and starts container `i` (image already pulled).
    async fn create_and_start(&self, i: usize) {
        self.sleep(self.cfg().create_delay).await;
        let c = self.container(i).await;
        let release = &self.kubelet.release;
        self.event(Some(&c), "Normal", "Created", release.created_message(&c.name)).await;
        self.sleep(self.cfg().start_delay).await;
        self.event(Some(&c), "Normal", "Started", release.started_message(&c.name)).await;
        let id = format!(
            "containerd://{}",
            fake_hex(&[&self.uid, &c.name, &c.restart_count.to_string()], 64)
        );
        self.set_container(i, |c| {
            c.state = CState::Running { started_at: Timestamp::now() };
            c.container_id = Some(id);
            c.ready = false;
        })
        .await;
    }

    /// The kubelet's pod worker: start containers, report status, keep failing
    /// containers in their back-off loops until the pod is deleted.
    async fn run(self: Arc<Self>) {
        if let Err(e) = self.clone().run_inner().await {
            tracing::warn!("nodesim: pod {}/{}: {e:#}", self.namespace, self.name);
        }
    }

    async fn run_inner(self: Arc<Self>) -> Result<()> {
        self.sleep(self.cfg().sync_delay).await;
        {
            let mut st = self.status.lock().await;
            let now = Timestamp::now();
            st.start_time = Some(now);
            let has_init = st.containers.iter().any(|c| c.init);
            st.conditions.insert("Initialized", (!has_init, now));
            st.conditions.insert("Ready", (false, now));
            st.conditions.insert("ContainersReady", (false, now));
        }
        self.patch_status().await?;
        self.mount_volumes().await;

        // Init containers, one after the other, each to completion.
        let n = self.status.lock().await.containers.len();
        let mut background = JoinSet::new();
        for i in 0..n {
            let c = self.container(i).await;
            if !c.init {
                continue;
            }
            if !self.pull(i, true).await {
                self.patch_status().await?;
                // The pod stays in Init:ErrImagePull / Init:ImagePullBackOff.
                self.clone().pull_back_off(i).await;
                return Ok(());
            }
            self.create_and_start(i).await;
            self.patch_status().await?;
            self.sleep(self.cfg().start_delay).await;
            self.set_container(i, |c| {
                let started_at = match c.state {
                    CState::Running { started_at } => started_at,
                    _ => Timestamp::now(),
                };
                c.state = CState::Terminated {
                    exit_code: 0,
                    reason: "Completed".into(),
                    started_at,
                    finished_at: Timestamp::now(),
                };
                c.ready = true;
            })
            .await;
        }
        {
            let mut st = self.status.lock().await;
            st.conditions.insert("Initialized", (true, Timestamp::now()));
            if st.pod_ip.is_none() {
                st.pod_ip = Some(self.kubelet.alloc_pod_ip());
            }
        }

        // App containers: the kubelet starts them in order; a failing one does not
        // stop the others.
        let mut started = Vec::new();
        for i in 0..n {
            let c = self.container(i).await;
            if c.init {
                continue;
            }
            if !self.pull(i, true).await {
                let me = self.clone();
                background.spawn(async move { me.pull_back_off(i).await });
                continue;
            }
            self.create_and_start(i).await;
            started.push(i);
        }
        self.patch_status().await?;

        // Readiness.
        self.sleep(self.cfg().ready_delay).await;
        for &i in &started {
            let c = self.container(i).await;
            match c.behaviour {
                ContainerBehaviour::Run | ContainerBehaviour::PullError { .. } => {
                    self.set_container(i, |c| c.ready = true).await;
                }
                ContainerBehaviour::NeverReady => {
                    let me = self.clone();
                    background.spawn(async move { me.never_ready(i).await });
                }
                ContainerBehaviour::CrashLoop { .. } => {
                    let me = self.clone();
                    background.spawn(async move { me.crash_loop(i).await });
                }
                ContainerBehaviour::Exit { run_for, exit_code } => {
                    self.set_container(i, |c| c.ready = true).await;
                    let me = self.clone();
                    background.spawn(async move { me.exit(i, run_for, exit_code).await });
                }
            }
        }
        self.patch_status().await?;
        // Keep the back-off loops alive (aborted with this task on deletion).
        while background.join_next().await.is_some() {}
        Ok(())
    }

    async fn pull_back_off(self: Arc<Self>, i: usize) {
        let mut back_off = self.cfg().back_off_initial;
        loop {
            let c = self.container(i).await;
            self.sleep(Duration::from_millis(100)).await;
            self.event(
                Some(&c),
                "Normal",
                "BackOff",
                format!("Back-off pulling image \"{}\"", c.image),
            )
            .await;
            self.event(Some(&c), "Warning", "Failed", "Error: ImagePullBackOff".into()).await;
            self.set_container(i, |c| {
                c.state = CState::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: Some(format!("Back-off pulling image \"{}\"", c.image)),
                };
            })
            .await;
            let _ = self.patch_status().await;
            self.sleep(back_off).await;
            back_off = (back_off * 2).min(self.cfg().back_off_max);
            if self.pull(i, false).await {
                // Behaviour said it fails; a custom hook could change its mind.
                self.create_and_start(i).await;
                self.set_container(i, |c| c.ready = true).await;
                let _ = self.patch_status().await;
                return;
            }
            let _ = self.patch_status().await;
        }
    }

    async fn crash_loop(self: Arc<Self>, i: usize) {
        let (run_for, exit_code) = match self.container(i).await.behaviour {
            ContainerBehaviour::CrashLoop { run_for, exit_code } => (run_for, exit_code),
            _ => return,
        };
        let mut back_off = self.cfg().back_off_initial;
        loop {
            self.sleep(run_for).await;
            let now = Timestamp::now();
            self.set_container(i, |c| {
                let started_at = match c.state {
                    CState::Running { started_at } => started_at,
                    _ => now,
                };
                let terminated = CState::Terminated {
                    exit_code,
                    reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
                    started_at,
                    finished_at: now,
                };
                c.last_state = Some(terminated);
                c.restart_count += 1;
                c.ready = false;
                c.state = CState::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: Some(format!(
                        "back-off {} restarting failed container={} pod={}_{}({})",
                        go_duration_s(back_off),
                        c.name,
                        self.name,
                        self.namespace,
                        self.uid
                    )),
                };
            })
            .await;
            let c = self.container(i).await;
            let pod = format!("{}_{}({})", self.name, self.namespace, self.uid);
            let message = self.kubelet.release.crash_back_off_message(&c.name, &pod);
            self.event(Some(&c), "Warning", "BackOff", message).await;
            let _ = self.patch_status().await;
            self.sleep(back_off).await;
            back_off = (back_off * 2).min(self.cfg().back_off_max);
            self.pull(i, false).await;
            self.create_and_start(i).await;
            let _ = self.patch_status().await;
        }
    }

    /// Like the kubelet, waits for every ConfigMap and Secret volume's object to
    /// exist: `FailedMount` (aggregated) with back-off until it does.
    async fn mount_volumes(&self) {
        let volumes = self.pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default();
        let client = self.kubelet.client.clone();
        for v in volumes {
            let (kind, object) = match (&v.config_map, &v.secret) {
                (Some(c), _) => ("configmap", c.name.clone()),
                (_, Some(s)) => ("secret", s.secret_name.clone().unwrap_or_default()),
                _ => continue,
            };
            let mut back_off = self.cfg().back_off_initial;
            loop {
                let found = if kind == "configmap" {
                    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
                        client.clone(),
                        &self.namespace,
                    )
                    .get_opt(&object)
                    .await
                    .map(|o| o.is_some())
                } else {
                    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
                        client.clone(),
                        &self.namespace,
                    )
                    .get_opt(&object)
                    .await
                    .map(|o| o.is_some())
                };
                if found.unwrap_or(false) {
                    break;
                }
                let message = format!(
                    "MountVolume.SetUp failed for volume \"{}\" : {kind} \"{object}\" not found",
                    v.name
                );
                self.event(None, "Warning", "FailedMount", message).await;
                self.sleep(back_off).await;
                back_off = (back_off * 2).min(self.cfg().back_off_max);
            }
        }
    }

    async fn exit(self: Arc<Self>, i: usize, run_for: Duration, exit_code: i32) {
        self.sleep(run_for).await;
        let now = Timestamp::now();
        self.set_container(i, |c| {
            let started_at = match c.state {
                CState::Running { started_at } => started_at,
                _ => now,
            };
            c.state = CState::Terminated {
                exit_code,
                reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
                started_at,
                finished_at: now,
            };
            c.ready = false;
        })
        .await;
        let _ = self.patch_status().await;
    }

    async fn never_ready(self: Arc<Self>, i: usize) {
        loop {
            let c = self.container(i).await;
            self.event(
                Some(&c),
                "Warning",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
            )
            .await;
            self.sleep(self.cfg().probe_period).await;
        }
    }

    /// Graceful deletion: Killing for each running container, container shutdown,
    /// then the final delete with grace period 0.
    async fn terminate(self: Arc<Self>, pod: Pod) {
        let mut running: Vec<Container> = Vec::new();
        {
            let st = self.status.lock().await;
            for c in &st.containers {
                if matches!(c.state, CState::Running { .. }) && !c.init {
                    running.push(c.clone());
                }
            }
        }
        if running.is_empty() {
            // A pod we did not start ourselves (adopted): read its status.
            let st = pod.status.clone().unwrap_or_default();
            let spec = pod.spec.clone().unwrap_or_default();
            for cs in st.container_statuses.iter().flatten() {
                if cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some() {
                    if let Some(c) = spec.containers.iter().find(|c| c.name == cs.name) {
                        running.push(Container {
                            name: c.name.clone(),
                            image: c.image.clone().unwrap_or_default(),
                            pull_policy: String::new(),
                            init: false,
                            behaviour: ContainerBehaviour::Run,
                            state: CState::Running { started_at: Timestamp::now() },
                            last_state: None,
                            ready: true,
                            restart_count: cs.restart_count,
                            container_id: cs.container_id.clone(),
                        });
                    }
                }
            }
        }
        for c in &running {
            self.event(Some(c), "Normal", "Killing", format!("Stopping container {}", c.name))
                .await;
        }
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(Duration::from_secs(30));
        if !running.is_empty() {
            self.sleep(self.cfg().stop_delay.min(grace)).await;
        }
        {
            let now = Timestamp::now();
            let mut st = self.status.lock().await;
            for c in st.containers.iter_mut() {
                if let CState::Running { started_at } = c.state {
                    c.state = CState::Terminated {
                        exit_code: 0,
                        reason: "Completed".into(),
                        started_at,
                        finished_at: now,
                    };
                }
                c.ready = false;
            }
        }
        if self.status.lock().await.start_time.is_some() {
            let _ = self.patch_status().await;
        }
        let api: Api<Pod> = Api::namespaced(self.kubelet.client.clone(), &self.namespace);
        let dp = DeleteParams::default()
            .grace_period(0)
            .preconditions(Preconditions { uid: Some(self.uid.clone()), resource_version: None });
        match retrying(|| api.delete(&self.name, &dp)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => tracing::warn!("nodesim: deleting pod {}/{}: {e}", self.namespace, self.name),
        }
    }

    /// Renders the whole pod status (as the kubelet does) and merge-patches it.
    async fn patch_status(&self) -> Result<()> {
        let body = {
            let mut st = self.status.lock().await;
            render_status(
                &mut st,
                &self.kubelet.host_ip,
                self.kubelet.release.ready_to_start_condition(),
            )
        };
        let api: Api<Pod> = Api::namespaced(self.kubelet.client.clone(), &self.namespace);
        let (pp, patch) = (PatchParams::default(), Patch::Merge(&body));
        match retrying(|| api.patch_status(&self.name, &pp, &patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e).with_context(|| {
                format!("patching status of pod {}/{}", self.namespace, self.name)
            }),
        }
    }
}

/// `ready_to_start`: with the condition PodReadyToStartContainers (the sandbox is
/// there from the first status on).
fn render_status(st: &mut PodStatus, host_ip: &str, ready_to_start: bool) -> Value {
    let now = Timestamp::now();
    let apps: Vec<&Container> = st.containers.iter().filter(|c| !c.init).collect();
    let inits: Vec<&Container> = st.containers.iter().filter(|c| c.init).collect();
    let initialized =
        inits.iter().all(|c| matches!(c.state, CState::Terminated { exit_code: 0, .. }));
    let all_ready = !apps.is_empty() && apps.iter().all(|c| c.ready);
    let any_running =
        apps.iter().any(|c| matches!(c.state, CState::Running { .. } | CState::Terminated { .. }))
            || apps.iter().any(|c| c.restart_count > 0);
    // Containers that exit for good (restartPolicy Never) end the pod.
    let finished = !apps.is_empty()
        && apps.iter().all(|c| {
            matches!(c.behaviour, ContainerBehaviour::Exit { .. })
                && matches!(c.state, CState::Terminated { .. })
        });
    let failed = apps
        .iter()
        .any(|c| matches!(c.state, CState::Terminated { exit_code, .. } if exit_code != 0));
    let phase = match (finished, failed) {
        _ if st.evicted.is_some() => "Failed",
        (true, true) => "Failed",
        (true, false) => "Succeeded",
        _ if initialized && any_running => "Running",
        _ => "Pending",
    };
    let not_ready: Vec<&str> = apps.iter().filter(|c| !c.ready).map(|c| c.name.as_str()).collect();
    let not_init: Vec<&str> = inits
        .iter()
        .filter(|c| !matches!(c.state, CState::Terminated { exit_code: 0, .. }))
        .map(|c| c.name.as_str())
        .collect();

    let mut set = |t: &'static str, v: bool| {
        let e = st.conditions.entry(t).or_insert((v, now));
        if e.0 != v {
            *e = (v, now);
        }
        e.1
    };
    let sandbox_since = set("PodReadyToStartContainers", true);
    let init_since = set("Initialized", initialized);
    let cready_since = set("ContainersReady", all_ready);
    let ready_since = set("Ready", all_ready);

    let cond = |t: &str, ok: bool, since: Timestamp, reason: &str, message: String| {
        let mut v = json!({
            "type": t, "status": if ok { "True" } else { "False" },
            "lastProbeTime": null, "lastTransitionTime": k8s_time(since),
        });
        if !ok {
            v["reason"] = json!(reason);
            v["message"] = json!(message);
        }
        v
    };
    let mut conditions = vec![
        cond(
            "Initialized",
            initialized,
            init_since,
            "ContainersNotInitialized",
            format!("containers with incomplete status: [{}]", not_init.join(" ")),
        ),
        cond(
            "Ready",
            all_ready,
            ready_since,
            "ContainersNotReady",
            format!("containers with unready status: [{}]", not_ready.join(" ")),
        ),
        cond(
            "ContainersReady",
            all_ready,
            cready_since,
            "ContainersNotReady",
            format!("containers with unready status: [{}]", not_ready.join(" ")),
        ),
    ];
    if ready_to_start {
        conditions
            .insert(0, cond("PodReadyToStartContainers", true, sandbox_since, "", String::new()));
    }
    if let Some(s) = &st.scheduled {
        conditions.push(s.clone());
    }

    let mut status = json!({
        "phase": phase,
        "hostIP": host_ip,
        "conditions": conditions,
        "containerStatuses": apps.iter().map(|c| container_status(c)).collect::<Vec<_>>(),
    });
    if let Some(message) = &st.evicted {
        status["reason"] = json!("Evicted");
        status["message"] = json!(message);
    }
    if !inits.is_empty() {
        status["initContainerStatuses"] =
            json!(inits.iter().map(|c| container_status(c)).collect::<Vec<_>>());
    }
    if let Some(t) = st.start_time {
        status["startTime"] = k8s_time(t);
    }
    if let Some(ip) = &st.pod_ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{ "ip": ip }]);
    }
    json!({ "status": status })
}

fn state_json(s: &CState) -> Value {
    match s {
        CState::Waiting { reason, message } => {
            let mut w = json!({ "reason": reason });
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({ "waiting": w })
        }
        CState::Running { started_at } => {
            json!({ "running": { "startedAt": k8s_time(*started_at) } })
        }
        CState::Terminated { exit_code, reason, started_at, finished_at } => json!({
            "terminated": {
                "exitCode": exit_code, "reason": reason,
                "startedAt": k8s_time(*started_at), "finishedAt": k8s_time(*finished_at),
            }
        }),
    }
}

fn container_status(c: &Container) -> Value {
    let pulled = c.container_id.is_some();
    let mut v = json!({
        "name": c.name,
        "image": qualified_image(&c.image),
        "imageID": if pulled {
            format!("{}@sha256:{}", image_repo(&qualified_image(&c.image)), fake_hex(&[&c.image], 64))
        } else {
            String::new()
        },
        "ready": c.ready,
        "restartCount": c.restart_count,
        "started": matches!(c.state, CState::Running { .. }),
        "state": state_json(&c.state),
        "lastState": c.last_state.as_ref().map(state_json).unwrap_or_else(|| json!({})),
    });
    if let Some(id) = &c.container_id {
        v["containerID"] = json!(id);
    }
    v
}

// -------------------------------------------------------------- recorder ----

/// Posts core/v1 Events like client-go's recorder for the kubelet, aggregating
/// repeats of the same (object, reason, message) into `count`.
struct Recorder {
    client: Client,
    release: Arc<KubeletRelease>,
    seen: AsyncMutex<HashMap<String, (String, String, i32)>>,
}

impl Recorder {
    fn new(client: Client, release: Arc<KubeletRelease>) -> Self {
        Recorder { client, release, seen: AsyncMutex::new(HashMap::new()) }
    }

    async fn record(
        &self,
        ns: &str,
        obj: ObjectReference,
        host: &str,
        type_: &str,
        reason: &str,
        message: String,
    ) {
        if let Err(e) = self.try_record(ns, obj, host, type_, reason, &message).await {
            tracing::warn!("nodesim: posting event {reason} ({message}): {e:#}");
        }
    }

    async fn try_record(
        &self,
        ns: &str,
        obj: ObjectReference,
        host: &str,
        type_: &str,
        reason: &str,
        message: &str,
    ) -> Result<()> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let key = format!(
            "{}|{}|{}|{}|{}|{}",
            obj.uid.as_deref().unwrap_or_default(),
            obj.field_path.as_deref().unwrap_or_default(),
            type_,
            reason,
            message,
            host
        );
        let now = Timestamp::now();
        let mut seen = self.seen.lock().await;
        if let Some((name, ens, count)) = seen.get_mut(&key) {
            *count += 1;
            let patch =
                json!({ "count": *count, "lastTimestamp": k8s_time(now), "message": message });
            let api: Api<Event> = Api::namespaced(self.client.clone(), ens);
            let (pp, patch) = (PatchParams::default(), Patch::Merge(&patch));
            match retrying(|| api.patch(name, &pp, &patch)).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => {} // expired or deleted: create anew
                Err(e) => return Err(e.into()),
            }
        }
        let base = obj.name.clone().unwrap_or_default();
        let mut nanos = now.as_nanosecond();
        for _ in 0..5 {
            let name = format!("{base}.{:x}", nanos);
            let ev = Event {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.to_string()),
                    ..Default::default()
                },
                involved_object: obj.clone(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                type_: Some(type_.to_string()),
                source: Some(EventSource {
                    component: Some("kubelet".into()),
                    host: Some(host.to_string()),
                }),
                first_timestamp: Some(Time(now)),
                last_timestamp: Some(Time(now)),
                count: Some(1),
                ..Default::default()
            };
            let ev = if self.release.reports_component() {
                Event {
                    reporting_component: Some("kubelet".into()),
                    reporting_instance: Some(host.to_string()),
                    ..ev
                }
            } else {
                ev
            };
            let pp = PostParams::default();
            match retrying(|| api.create(&pp, &ev)).await {
                Ok(_) => {
                    seen.insert(key, (name, ns.to_string(), 1));
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 => nanos += 1,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("could not find a free event name for {base}")
    }
}

// ----------------------------------------------------------------- utils ----

/// A request the API server did not answer (down, restarting) is tried again, as
/// the kubelet does, for up to a minute; an answer (even an error) is returned.
async fn retrying<T, F, Fut>(mut request: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let t0 = Instant::now();
    loop {
        match request().await {
            Err(kube::Error::Api(s)) if s.code < 500 => return Err(kube::Error::Api(s)),
            Err(e) if t0.elapsed() < Duration::from_secs(60) => {
                tracing::debug!("nodesim: API server unavailable ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

fn k8s_time(t: Timestamp) -> Value {
    serde_json::to_value(Time(t)).unwrap_or(Value::Null)
}

/// `nginx:1.19` -> `docker.io/library/nginx:1.19`, as containerd reports it.
fn qualified_image(image: &str) -> String {
    let with_tag =
        if image.contains('@') || image.rsplit('/').next().is_some_and(|l| l.contains(':')) {
            image.to_string()
        } else {
            format!("{image}:latest")
        };
    let first = with_tag.split('/').next().unwrap_or_default();
    let has_registry = with_tag.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_registry {
        with_tag
    } else if with_tag.contains('/') {
        format!("docker.io/{with_tag}")
    } else {
        format!("docker.io/library/{with_tag}")
    }
}

/// `docker.io/library/nginx:1.19` -> `docker.io/library/nginx`.
fn image_repo(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    }
}

/// A deterministic image size in bytes (10 to 60 MB), for the kubelet's pull message.
fn image_size(image: &str) -> u64 {
    10_000_000 + u64::from_str_radix(&fake_hex(&[image, "size"], 8), 16).unwrap_or(0) % 50_000_000
}

/// Deterministic fake hex string of `len` digits.
fn fake_hex(parts: &[&str], len: usize) -> String {
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < len {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        parts.hash(&mut h);
        i.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
        i += 1;
    }
    out.truncate(len);
    out
}

/// A duration as Go prints `d.Truncate(time.Millisecond)`: `302ms`, `1.204s`.
fn go_duration_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}s")
    }
}

/// Whole-second durations as Go prints them: `10s`, `1m20s`, `5m0s`.
fn go_duration_s(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(go_duration_ms(Duration::from_micros(302_500)), "302ms");
        assert_eq!(go_duration_ms(Duration::from_millis(1204)), "1.204s");
        assert_eq!(go_duration_ms(Duration::from_millis(2000)), "2s");
        assert_eq!(go_duration_s(Duration::from_secs(80)), "1m20s");
        assert_eq!(qualified_image("nginx:1.19"), "docker.io/library/nginx:1.19");
        assert_eq!(
            qualified_image("stefanprodan/podinfo"),
            "docker.io/stefanprodan/podinfo:latest"
        );
        assert_eq!(
            qualified_image("ghcr.io/stefanprodan/podinfo:5.0.0"),
            "ghcr.io/stefanprodan/podinfo:5.0.0"
        );
        assert_eq!(fake_hex(&["a"], 64).len(), 64);
        assert_eq!(image_repo("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(image_repo("localhost:5000/app"), "localhost:5000/app");
    }
}
