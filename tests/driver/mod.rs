//! Drives `kspan run` as a child process in live tests and reads back what it
//! delivered (rotel's output, OTLP/JSON files) and what the API server holds.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::rotel::Span;
use crate::support::{LiveCluster, NodeSim, NodeSimConfig};

/// A span tree row without times: (trace, span, parent, name, event uids).
pub type Row = (String, String, String, String, BTreeSet<String>);

/// `kspan run` as a child process; SIGTERM (graceful flush) when stopped or dropped.
pub struct Kspan {
    child: Child,
    pub log: PathBuf,
}

impl Kspan {
    pub fn start(dir: &Path, args: &[&str]) -> Kspan {
        Kspan::start_named(dir, "kspan", args)
    }

    /// Like [`Kspan::start`], logging to `<dir>/<name>.log` (several side by side).
    pub fn start_named(dir: &Path, name: &str, args: &[&str]) -> Kspan {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_kspan"))
            .arg("run")
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("kspan starts");
        Kspan { child, log }
    }

    /// The address of /metrics, /healthz and /readyz (from the log).
    pub fn metrics_address(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let line = log.lines().find(|l| l.contains("serving /metrics")).expect("metrics served");
        let at = line.find("address=").expect("address logged") + "address=".len();
        let rest = &line[at..];
        let clean: String =
            rest.chars().filter(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
        clean.trim_end_matches(':').to_string()
    }

    /// GET a path of the metrics server: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(self.metrics_address()).expect("metrics server reachable");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: kspan\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    /// A value of /metrics, e.g. `kspan_leader`; None while it is not served yet.
    pub fn served_metric(&self, name: &str) -> Option<f64> {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        if !log.contains("serving /metrics") {
            return None;
        }
        let (_, body) = self.get("/metrics");
        body.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// SIGKILL: nothing is flushed, no lease released.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, from /proc (KiB).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// One metric from /metrics, summed over its label sets (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.get("/metrics").1, name)
    }

    /// SIGTERM, then wait: what is pending must be delivered before exit.
    pub fn stop(&mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "kspan exited with {status}");
                return std::fs::read_to_string(&self.log).unwrap_or_default();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("kspan did not exit within 30 s of SIGTERM");
    }
}

impl Drop for Kspan {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A metric of a Prometheus text exposition, summed over its label sets (0 when absent).
pub fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Kills kube-apiserver, keeps it down `seconds`, starts it again and waits until ready.
pub fn restart_apiserver(cluster: &LiveCluster, seconds: u32) {
    let status = Command::new("bash")
        .arg(crate::support::script::script())
        .args(["restart-apiserver", cluster.dir().to_str().unwrap(), &seconds.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "restart-apiserver");
}

/// Compacts etcd's history up to now: a watch resuming from before gets 410 Gone.
pub fn compact_etcd(cluster: &LiveCluster) -> u64 {
    let out = Command::new("bash")
        .arg(crate::support::script::script())
        .args(["compact-etcd", cluster.dir().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "compact-etcd: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a revision")
}

/// Polls the API server's Events of `namespace` until one has `reason`.
pub fn wait_for_reason(cluster: &LiveCluster, namespace: &str, reason: &str, timeout: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if api_events(cluster, namespace).values().any(|(_, _, r)| r == reason) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {reason} Event within {timeout:?}");
}

/// One live test at a time in a binary: each starts its own control plane (the
/// machine is small), and some set the receiver's ports through the environment.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a receiver got, measured against the API server's Events.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Events of the API server in no delivered span.
    pub missing: Vec<String>,
    /// Spans delivered more than once (same trace and span id): name, trace, span.
    pub repeated_spans: Vec<String>,
    /// Events recorded twice for one occurrence (among distinct spans).
    pub twice: Vec<String>,
}

/// Measures `spans` against the API server's Events.
pub fn check_delivery(
    events: &BTreeMap<String, (String, String, String)>,
    spans: &[Span],
) -> Delivery {
    let mut seen = BTreeSet::new();
    let mut unique = Vec::new();
    let mut repeated_spans = Vec::new();
    for s in spans {
        if seen.insert((s.trace_id.clone(), s.span_id.clone())) {
            unique.push(s.clone());
        } else {
            repeated_spans.push(format!("{} {}/{}", s.name, s.trace_id, s.span_id));
        }
    }
    let placed = span_events(&unique);
    let twice = placed.iter().filter_map(|(uid, holders)| twice_recorded(uid, holders)).collect();
    let missing = events.keys().filter(|uid| !placed.contains_key(*uid)).cloned().collect();
    Delivery { missing, repeated_spans, twice }
}

pub fn kubectl(cluster: &LiveCluster, args: &[&str]) -> String {
    let out = cluster.kubectl().args(args).output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Events of the namespace as the API server has them: uid -> (involved kind, name, reason).
pub fn api_events(
    cluster: &LiveCluster,
    namespace: &str,
) -> BTreeMap<String, (String, String, String)> {
    let list: Value =
        serde_json::from_str(&kubectl(cluster, &["get", "events", "-n", namespace, "-o", "json"]))
            .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&e["metadata"]["uid"]),
                (s(&e["involvedObject"]["kind"]), s(&e["involvedObject"]["name"]), s(&e["reason"])),
            )
        })
        .collect()
}

/// Waits up to `timeout` until every Event of `events` (see `api_events`) is on a
/// span the receiver logging to `log` printed; `Err` holds the spans that came.
pub fn wait_for_events<T>(
    rt: &tokio::runtime::Runtime,
    log: &Path,
    timeout: Duration,
    events: &BTreeMap<String, T>,
) -> Result<Vec<Span>, Vec<Span>> {
    rt.block_on(crate::support::rotel::wait_for_spans(log, timeout, |spans| {
        let placed = span_events(spans);
        events.keys().all(|uid| placed.contains_key(uid))
    }))
}

pub fn span_events(spans: &[Span]) -> BTreeMap<String, Vec<&Span>> {
    let mut by_uid: BTreeMap<String, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        for uid in s
            .attr("k8s.event.uid")
            .into_iter()
            .chain(s.events.iter().filter_map(|e| e.attr("k8s.event.uid")))
        {
            by_uid.entry(uid.to_string()).or_default().push(s);
        }
    }
    by_uid
}

/// An Event is one record per trace: the recorder of a controller reuses an Event
/// (count 2, 3...) when the same thing happens again minutes later, in a later
/// rollout. Each record then carries a higher count, in a different trace; never
/// two records for one occurrence.
pub fn assert_once_per_occurrence(uid: &str, holders: &[&Span]) {
    if let Some(e) = twice_recorded(uid, holders) {
        panic!("{e}");
    }
}

/// Says how `uid` was recorded twice for one occurrence, if it was.
pub fn twice_recorded(uid: &str, holders: &[&Span]) -> Option<String> {
    let count = |s: &Span| {
        let own =
            s.attr("k8s.event.uid").filter(|u| *u == uid).and_then(|_| s.attr("k8s.event.count"));
        let event = s.events.iter().find(|e| e.attr("k8s.event.uid") == Some(uid));
        own.or_else(|| event.and_then(|e| e.attr("k8s.event.count")))
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let mut records: Vec<(i64, &str)> =
        holders.iter().map(|s| (count(s), s.trace_id.as_str())).collect();
    records.sort();
    for pair in records.windows(2) {
        if pair[0].0 >= pair[1].0 || pair[0].1 == pair[1].1 {
            let spans: Vec<String> = holders
                .iter()
                .map(|s| format!("{} {}/{}", s.name, s.trace_id, s.span_id))
                .collect();
            return Some(format!("event {uid}: two records {pair:?} in {spans:?}"));
        }
    }
    None
}

pub fn root<'a>(spans: &'a [Span], s: &'a Span) -> &'a Span {
    let mut at = s;
    while let Some(parent) = &at.parent_id {
        at = spans
            .iter()
            .find(|x| &x.span_id == parent && x.trace_id == at.trace_id)
            .expect("parent delivered");
    }
    at
}

/// Waits until every watcher has its initial list: activity after this is all seen.
pub fn wait_for_sync(kspan: &Kspan) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if std::fs::read_to_string(&kspan.log).is_ok_and(|l| l.contains("initial lists synced")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "kspan did not sync within 30 s: {}",
        std::fs::read_to_string(&kspan.log).unwrap_or_default()
    );
}

/// Span trees without times, comparable between the receiver and a replay.
pub fn trees(spans: &[Span]) -> BTreeSet<Row> {
    spans
        .iter()
        .map(|s| {
            let uids = s
                .events
                .iter()
                .filter_map(|e| e.attr("k8s.event.uid").map(str::to_string))
                .collect();
            (
                s.trace_id.clone(),
                s.span_id.clone(),
                s.parent_id.clone().unwrap_or_default(),
                s.name.clone(),
                uids,
            )
        })
        .collect()
}

pub fn replay_trees(capture: &Path, settle: &str) -> BTreeSet<Row> {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json", "--settle", settle])
        .arg(capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = capture.with_extension("replayed.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    otlp_json_trees(&file)
}

/// Span trees from an OTLP/JSON lines file.
pub fn otlp_json_trees(file: &Path) -> BTreeSet<Row> {
    let mut set = BTreeSet::new();
    for line in std::fs::read_to_string(file).unwrap().lines() {
        let request: Value = serde_json::from_str(line).unwrap();
        for rs in request["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let uids = s["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|e| e["attributes"].as_array().unwrap())
                        .filter(|kv| kv["key"] == "k8s.event.uid")
                        .map(|kv| kv["value"]["stringValue"].as_str().unwrap().to_string())
                        .collect();
                    set.insert((
                        s["traceId"].as_str().unwrap().to_string(),
                        s["spanId"].as_str().unwrap().to_string(),
                        s["parentSpanId"].as_str().unwrap_or_default().to_string(),
                        s["name"].as_str().unwrap().to_string(),
                        uids,
                    ));
                }
            }
        }
    }
    set
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// What most live tests begin with: a control plane, a receiver, and `kspan run`
/// exporting to it over gRPC, synced. Fields drop in order: kspan-rs is stopped
/// (flushing) before the receiver and the control plane go.
pub struct Live {
    pub kspan: Kspan,
    pub client: kube::Client,
    pub receiver: crate::support::LiveReceiver,
    pub rt: tokio::runtime::Runtime,
    pub cluster: LiveCluster,
}

impl Live {
    /// `args` follow `--kubeconfig` and `--otlp-addr` (e.g. `--settle 3s`).
    pub fn start_or_skip(test: &str, args: &[&str]) -> Option<Live> {
        let cluster = LiveCluster::start_or_skip(test)?;
        let rt = runtime();
        let receiver =
            crate::support::LiveReceiver::start_in(cluster.dir()).expect("receiver starts");
        let client = rt.block_on(cluster.client()).unwrap();
        let kubeconfig = cluster.kubeconfig_path();
        let base = ["--kubeconfig", kubeconfig.to_str().unwrap(), "--otlp-addr"];
        let kspan =
            Kspan::start(cluster.dir(), &[&base[..], &[receiver.grpc_endpoint()], args].concat());
        wait_for_sync(&kspan);
        Some(Live { kspan, client, receiver, rt, cluster })
    }

    /// A node simulator playing the kubelet of `config`'s nodes.
    pub fn node_sim(&self, config: NodeSimConfig) -> NodeSim {
        self.rt
            .block_on(NodeSim::start(self.client.clone(), config))
            .expect("node simulator starts")
    }

    /// Writes `yaml` into the cluster's dir and `kubectl apply`s it.
    pub fn apply(&self, name: &str, yaml: &str) {
        let path = self.cluster.dir().join(name);
        std::fs::write(&path, yaml).unwrap();
        kubectl(&self.cluster, &["apply", "-f", path.to_str().unwrap()]);
    }

    pub fn kubectl(&self, args: &[&str]) -> String {
        kubectl(&self.cluster, args)
    }

    /// Stops kspan-rs (it flushes), prints its summary line, and returns what the
    /// receiver got.
    pub fn stop(&mut self) -> Vec<Span> {
        println!("{}", self.kspan.stop().lines().last().unwrap_or_default());
        crate::support::rotel::parse(&self.receiver.output())
    }

    /// Every Event the API server holds for `namespace` is in `spans`, once per occurrence.
    pub fn assert_every_event_once(&self, namespace: &str, spans: &[Span]) {
        let placed = span_events(spans);
        for (uid, what) in api_events(&self.cluster, namespace) {
            assert!(placed.contains_key(&uid), "event not delivered: {what:?}");
        }
        for (uid, holders) in &placed {
            assert_once_per_occurrence(uid, holders);
        }
    }
}
