//! `kspan run` under load on the real control plane (BENCHMARKS.md, "Live"): the
//! node simulator plays `--nodes` nodes, `--deployments` Deployments of `--pods`
//! pods roll out together and are then scaled to half, while kspan-rs (with the
//! ServiceAccount and ClusterRole of deploy/) watches and exports to a real OTLP
//! receiver. Beside it, `kubectl get events -A -w -o json` watches the same Events
//! (the cost of the watch alone), and, when installed (`scripts/live-env.sh install
//! events-collector`), the OpenTelemetry Collector's k8s_events receiver writes
//! them as logs to a file: the peer kspan-rs is compared with.
//!
//! ```sh
//! cargo bench --bench live -- --deployments 100 --pods 50 --nodes 50
//! ```
//!
//! Prints one line of `key=value` figures:
//! - `requests_per_1000_events`: kspan-rs' API requests after its initial lists
//!   (from the API server's audit log, by its ServiceAccount) per 1,000 Events;
//!   `initial_requests` before them;
//! - `delay_p50_s`, `delay_p99_s`, `delay_max_s`: for each Deployment rollout's
//!   trace, from its latest timestamp (its last observed change; Event times are
//!   whole seconds, so this reads up to 1 s high) to the moment the receiver had
//!   printed its last span (polled every 100 ms);
//! - `kspan_peak_rss_kib`, `kspan_cpu_s`, `events_per_s` (Events over the time from
//!   the first apply to the last Event), and the same for the kubectl watch;
//! - `collector_peak_rss_kib`, `collector_cpu_s`, `collector_records` (log records
//!   written), `collector_events` (distinct Event uids among them) and
//!   `collector_missing` (the API server's Events of the workload it did not
//!   write), or `collector=absent`;
//! - `missing`, `twice`: Events of the API server not delivered, or recorded twice.
//!
//! Without arguments (as `cargo test --all-targets` runs it) it checks itself on a
//! small workload and exits.

#[path = "../tests/driver/mod.rs"]
mod driver;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use driver::{check_delivery, deployment, wait_for_events, Live};
use support::rotel::Span;
use support::NodeSimConfig;

#[derive(Parser)]
#[command(name = "live-bench", about = "kspan run under load on a real control plane")]
struct Args {
    #[arg(long, default_value_t = 2)]
    deployments: usize,
    #[arg(long, default_value_t = 4)]
    pods: usize,
    #[arg(long, default_value_t = 2)]
    nodes: usize,
    /// kspan-rs' --settle.
    #[arg(long, default_value = "5s")]
    settle: String,
    /// What `cargo bench` passes to every benchmark.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let Some(live) = Live::start_or_skip("live benchmark") else {
        return;
    };
    let (figures, lost) = run(&live, &args);
    println!("{figures}");
    assert!(lost.is_empty(), "Events lost or recorded twice: {lost:#?}");
}

/// The figures, and what went wrong with the Events (none missing, none twice).
fn run(live: &Live, args: &Args) -> (String, Vec<String>) {
    let receiver = live.receiver();
    let arrivals = Arrivals::follow(receiver.log_path());
    let identity = live.deployed_identity("deploy/base");
    let user = support::cluster::service_account_user("kspan", "kspan");
    let nodes = NodeSimConfig {
        max_pods: (args.deployments * args.pods).div_ceil(args.nodes).max(110).to_string(),
        cpu: "64".into(),
        ..NodeSimConfig::with_nodes(args.nodes)
    };
    // Both watchers first: the nodes' Events are part of the load.
    let mut kspan = live
        .kspan_as(&identity, &["--otlp-addr", receiver.grpc_endpoint(), "--settle", &args.settle]);
    let initial_requests = live.cluster.audit_requests(&user).len();
    let baseline = KubectlWatch::start(live);
    let collector = EventsCollector::start(live);
    let _sim = live.node_sim(nodes);

    let started = Instant::now();
    let names: Vec<String> = (1..=args.deployments).map(|i| format!("load-{i}")).collect();
    let manifests: String =
        names.iter().map(|n| deployment(n, "nginx:1.19", args.pods as u32, "10m")).collect();
    live.apply("load.yaml", &manifests);
    wait_available(live, args.deployments * args.pods);
    let half = (args.pods / 2).max(1).to_string();
    let targets: Vec<String> = names.iter().map(|n| format!("deployment/{n}")).collect();
    let mut scale = vec!["scale", "--replicas", &half];
    scale.extend(targets.iter().map(String::as_str));
    live.kubectl(&scale);
    wait_available(live, args.deployments * (args.pods / 2).max(1));
    let busy = started.elapsed();

    let events = live.api_events("default");
    let spans = wait_for_events(&live.rt, &receiver.log_path(), Duration::from_secs(300), &events)
        .unwrap_or_else(|got| got);
    let (peak_rss, cpu) = (peak_rss_kib(kspan.pid()), cpu_seconds(kspan.pid()));
    let (watch_rss, watch_cpu, watch_events) = baseline.stop();
    let collector = collector.map_or("collector=absent".into(), |c| c.stop(&events));
    kspan.stop();
    let after_sync = live.cluster.audit_requests(&user).split_off(initial_requests);
    for r in &after_sync {
        eprintln!("after the initial lists: {} {} {}", r.timestamp, r.verb, r.request_uri);
    }
    let requests = after_sync.len();
    let delivery = check_delivery(&events, &spans);
    let delays = delays(&spans, &arrivals.stop());
    let pct = |p: f64| delays.get(((delays.len() as f64 - 1.0) * p).round() as usize).copied();
    let fmt = |d: Option<f64>| d.map_or("none".into(), |d| format!("{d:.2}"));
    let figures = format!(
        "deployments={} pods={} nodes={} events={} traces={} initial_requests={initial_requests} \
         requests={requests} requests_per_1000_events={:.2} delay_p50_s={} delay_p99_s={} \
         delay_max_s={} kspan_peak_rss_kib={peak_rss} kspan_cpu_s={cpu:.2} events_per_s={:.0} \
         watch_peak_rss_kib={watch_rss} watch_cpu_s={watch_cpu:.2} watch_events={watch_events} \
         {collector} missing={} twice={} repeated_spans={}",
        args.deployments,
        args.deployments * args.pods,
        args.nodes,
        events.len(),
        delays.len(),
        requests as f64 * 1000.0 / events.len().max(1) as f64,
        fmt(pct(0.5)),
        fmt(pct(0.99)),
        fmt(delays.last().copied()),
        events.len() as f64 / busy.as_secs_f64(),
        delivery.missing.len(),
        delivery.twice.len(),
        delivery.repeated_spans.len(),
    );
    let missing = delivery.missing.iter().map(|uid| format!("not delivered: {:?}", events[uid]));
    let lost = missing.chain(delivery.twice).chain(delivery.repeated_spans).collect();
    (figures, lost)
}

/// Waits until the Deployments of namespace `default` have `pods` available in all.
fn wait_available(live: &Live, pods: usize) {
    let t0 = Instant::now();
    loop {
        let out = live.kubectl(&[
            "get",
            "deployments",
            "-o",
            "jsonpath={range .items[*]}{.status.availableReplicas} {.status.replicas}{\"\\n\"}{end}",
        ]);
        let (available, total) = out.lines().fold((0, 0), |(a, t), l| {
            let mut n = l.split(' ').map(|v| v.parse::<usize>().unwrap_or(0));
            (a + n.next().unwrap_or(0), t + n.next().unwrap_or(0))
        });
        if available == pods && total == pods {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(1800), "{available}/{pods} pods available");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// For each Deployment rollout's trace: seconds from its latest timestamp to the
/// arrival of its last span, sorted.
fn delays(spans: &[Span], arrived: &HashMap<String, u64>) -> Vec<f64> {
    let mut latest: HashMap<&str, u64> = HashMap::new();
    for s in spans {
        let t = latest.entry(s.trace_id.as_str()).or_default();
        *t = (*t).max(s.end_unix_nano);
    }
    let mut delays: Vec<f64> = spans
        .iter()
        .filter(|s| s.is_root() && s.name == "Deployment.Rollout")
        .filter_map(|root| {
            let at = arrived.get(&root.trace_id)?;
            Some(at.saturating_sub(latest[root.trace_id.as_str()]) as f64 / 1e9)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    delays
}

/// When the receiver printed the last span of each trace: its log followed every 100 ms.
struct Arrivals {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<HashMap<String, u64>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Arrivals {
    fn follow(log: std::path::PathBuf) -> Arrivals {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut offset = 0;
            while !stop2.load(Ordering::Relaxed) {
                offset = read_trace_ids(&log, offset, |trace| {
                    seen2.lock().unwrap().insert(trace.to_string(), unix_nanos());
                });
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Arrivals { stop, seen, thread }
    }

    fn stop(self) -> HashMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        Arc::try_unwrap(self.seen).unwrap().into_inner().unwrap()
    }
}

/// Calls `each` with the trace id of every span printed after `offset` (whole lines
/// only); the offset to read from next.
fn read_trace_ids(log: &Path, offset: u64, mut each: impl FnMut(&str)) -> u64 {
    let Ok(mut file) = File::open(log) else {
        return offset;
    };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut reader = BufReader::new(file);
    let (mut at, mut line) = (offset, String::new());
    while let Ok(n) = reader.read_line(&mut line) {
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        at += n as u64;
        if let Some(id) = line.trim().strip_prefix("Trace ID") {
            each(id.trim_start_matches([' ', ':']).trim());
        }
        line.clear();
    }
    at
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// `kubectl get events -A -w -o json`: the cost of watching the Events alone.
struct KubectlWatch {
    child: Child,
    out: std::path::PathBuf,
}

impl KubectlWatch {
    fn start(live: &Live) -> KubectlWatch {
        let out = live.dir().join("kubectl-watch.json");
        let child = live
            .cluster
            .kubectl()
            .args(["get", "events", "-A", "-w", "-o", "json"])
            .stdout(File::create(&out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl watch starts");
        KubectlWatch { child, out }
    }

    /// Peak RSS (KiB), CPU seconds and Events printed, then stops it.
    fn stop(mut self) -> (u64, f64, usize) {
        let pid = self.child.id();
        let figures = (peak_rss_kib(pid), cpu_seconds(pid));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let printed = text.matches("\"kind\": \"Event\"").count();
        (figures.0, figures.1, printed)
    }
}

/// The OpenTelemetry Collector's k8s_events receiver writing logs to a file
/// (`scripts/live-env.sh install events-collector`), as the admin: the peer.
struct EventsCollector {
    child: Child,
    out: std::path::PathBuf,
}

impl EventsCollector {
    /// Started when installed; `None` (the figures say `collector=absent`) when not.
    fn start(live: &Live) -> Option<EventsCollector> {
        let paths =
            std::process::Command::new("bash").arg(support::script::script()).arg("paths").output();
        let paths = String::from_utf8(paths.ok()?.stdout).ok()?;
        let binary = paths.lines().find_map(|l| l.strip_prefix("EVENTS_COLLECTOR="))?;
        if !Path::new(binary).exists() {
            return None;
        }
        let out = live.dir().join("collector-events.json");
        let config = live.dir().join("collector-events.yaml");
        let yaml = format!(
            "receivers:\n  k8s_events: {{auth_type: kubeConfig}}\n\
             processors:\n  batch: {{}}\n\
             exporters:\n  file: {{path: {}}}\n\
             service:\n  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}\n  \
             pipelines:\n    logs: {{receivers: [k8s_events], processors: [batch], exporters: [file]}}\n",
            out.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let child = std::process::Command::new(binary)
            .arg("--config")
            .arg(&config)
            .env("KUBECONFIG", live.kubeconfig())
            .stdout(Stdio::null())
            .stderr(File::create(live.dir().join("collector-events.log")).unwrap())
            .spawn()
            .expect("the events collector starts");
        // Its receiver drops Events stamped (in whole seconds) before it started.
        std::thread::sleep(Duration::from_secs(2));
        Some(EventsCollector { child, out })
    }

    /// Its figures as `key=value`s (peak RSS, CPU, log records and distinct Events
    /// written, and how many of `events`, the API server's, it did not write),
    /// after a last flush; then stops it.
    fn stop<T>(mut self, events: &std::collections::BTreeMap<String, T>) -> String {
        std::thread::sleep(Duration::from_secs(2));
        let pid = self.child.id();
        let (rss, cpu) = (peak_rss_kib(pid), cpu_seconds(pid));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let mut records = 0;
        let mut uids = std::collections::HashSet::new();
        for line in text.lines() {
            let Ok(batch) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let resources = batch["resourceLogs"].as_array().cloned().unwrap_or_default();
            for scope in resources
                .iter()
                .flat_map(|r| r["scopeLogs"].as_array().cloned().unwrap_or_default())
            {
                for record in scope["logRecords"].as_array().cloned().unwrap_or_default() {
                    records += 1;
                    let attributes = record["attributes"].as_array().cloned().unwrap_or_default();
                    let uid = attributes.iter().find(|a| a["key"] == "k8s.event.uid");
                    if let Some(uid) = uid.and_then(|a| a["value"]["stringValue"].as_str()) {
                        uids.insert(uid.to_string());
                    }
                }
            }
        }
        format!(
            "collector_peak_rss_kib={rss} collector_cpu_s={cpu:.2} collector_records={records} \
             collector_events={} collector_missing={}",
            uids.len(),
            events.keys().filter(|uid| !uids.contains(*uid)).count()
        )
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User and system CPU time of `pid` (clock ticks of 10 ms, as on every Linux build here).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
