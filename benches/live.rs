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
//!   trace, from its latest timestamp (Event times are whole seconds, so this
//!   reads up to 1 s high; and a throttled recorder writes Events minutes after
//!   their stamps, see `event_lag`) to the moment the receiver had printed its
//!   last span (polled every 100 ms);
//! - `observed_p50_s`, `observed_p99_s`, `observed_max_s`: the same, from the
//!   moment the last Event the trace holds reached a watch (the kubectl watch's
//!   output, followed every 100 ms): what kspan-rs adds after it could see a change;
//! - `change_p50_s`, `change_p99_s`, `change_max_s`: from the last change kspan-rs
//!   observed in the rollout (an Event, or an object: a ReplicaSet's status, a
//!   pod's deletion; as its debug lines say) to the receiver having printed the
//!   trace's spans: the delay the goal is about (`--settle` + 1 s);
//! - `correlate_*_s`, `export_*_s`, `receive_*_s` (p50, p99, max): where that time
//!   went: from that change to the correlator finishing the trace's last spans,
//!   from there to the sink delivering them, from there to the receiver printing
//!   them;
//! - `open_at_stop`: rollouts' traces kspan-rs was still adding to when it was
//!   stopped (Events the cluster wrote long after their stamps keep coming): it
//!   flushed them then, and the delays leave them out;
//! - `event_lag_p50_s`, `event_lag_p99_s`, `event_lag_max_s`: for each Event
//!   version, from its own stamp to that watch: how late the cluster's recorders
//!   wrote it (whole-second stamps: up to 1 s high);
//! - `kspan_peak_rss_kib`, `kspan_cpu_s`, `events_per_s` (Events over the time from
//!   the first apply to the last Event), and the same for the kubectl watch;
//! - `collector_peak_rss_kib`, `collector_cpu_s`, `collector_records` (log records
//!   written), `collector_events` (distinct Event uids among them) and
//!   `collector_missing` (the API server's Events of the workload it did not
//!   write), or `collector=absent`;
//! - `missing`, `twice`: Events of the API server not delivered, or recorded twice.
//!
//! `--traces-to FILE` also writes these times for each rollout's trace, a line each.
//!
//! Without arguments (as `cargo test --all-targets` runs it) it checks itself on a
//! small workload and exits.

#[path = "../tests/driver/mod.rs"]
mod driver;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// Also has kspan-rs record what it observed there (`--capture-to`), to
    /// replay the run offline.
    #[arg(long)]
    capture_to: Option<std::path::PathBuf>,
    /// Writes, for each Deployment rollout's trace, when its last change was
    /// seen, finished, delivered and printed (tab-separated, a line each).
    #[arg(long)]
    traces_to: Option<std::path::PathBuf>,
    /// What `cargo bench` passes to every benchmark.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    let Some(live) = Live::start_or_skip("live benchmark") else {
        return;
    };
    let (figures, faults) = run(&live, &args);
    println!("{figures}");
    assert!(
        faults.is_empty(),
        "Events lost or recorded twice, or traces not followed: {faults:#?}"
    );
}

/// The figures, and what went wrong: Events missing or recorded twice, rollout
/// traces kspan-rs' debug lines do not follow in order (built, finished, delivered).
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
    let mut kspan_args = vec!["--otlp-addr", receiver.grpc_endpoint(), "--settle", &args.settle];
    if let Some(path) = &args.capture_to {
        kspan_args.extend(["--capture-to", path.to_str().expect("a UTF-8 path")]);
    }
    let mut kspan = live.kspan_logging(&identity, &kspan_args, "info,kspan::trace=debug");
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
    // Every listed Event delivered (or 300 s): the run has settled.
    let _ = wait_for_events(&live.rt, &receiver.log_path(), Duration::from_secs(300), &events);
    let (peak_rss, cpu) = (peak_rss_kib(kspan.pid()), cpu_seconds(kspan.pid()));
    // kspan-rs stops first, so that the watch and the receiver see everything it
    // finished; what it still held (Events written long after their stamp keep
    // coming) is flushed on the way out and counted apart, as `open_at_stop`.
    let stopped = unix_nanos();
    kspan.stop();
    let (watch_rss, watch_cpu, watch_events, watched) = baseline.stop();
    let collector = collector.map_or("collector=absent".into(), |c| c.stop(&events));
    let after_sync = live.cluster.audit_requests(&user).split_off(initial_requests);
    for r in &after_sync {
        eprintln!("after the initial lists: {} {} {}", r.timestamp, r.verb, r.request_uri);
    }
    let requests = after_sync.len();
    let arrived = arrivals.stop().seen;
    // All of them: `spans` holds only what had come when the listed Events had.
    let spans = support::rotel::parse_file(&receiver.log_path());
    let delivery = check_delivery(&events, &spans);
    let stages = Stages::read(&kspan.log);
    let rollouts = rollout_times(&spans, &arrived, &watched, &stages);
    if let Some(path) = &args.traces_to {
        std::fs::write(path, TraceTimes::table(&rollouts)).expect("the traces file is written");
    }
    let unfollowed: Vec<String> = rollouts.iter().filter_map(TraceTimes::unfollowed).collect();
    let (settled, open): (Vec<TraceTimes>, Vec<TraceTimes>) =
        rollouts.into_iter().partition(|t| t.finished.is_some_and(|f| f < stopped));
    let from_stamps = seconds(&settled, |t| t.printed?.checked_sub(t.latest));
    let observed = seconds(&settled, |t| t.printed?.checked_sub(t.watched?));
    let change = seconds(&settled, |t| t.printed?.checked_sub(t.last_change?));
    let correlate = seconds(&settled, |t| t.finished?.checked_sub(t.last_change?));
    let export = seconds(&settled, |t| t.delivered?.checked_sub(t.finished?));
    let receive = seconds(&settled, |t| t.printed?.checked_sub(t.delivered?));
    let lags = sorted(watched.values().flat_map(|w| w.lags.iter().copied()).collect());
    let figures = format!(
        "deployments={} pods={} nodes={} events={} traces={} open_at_stop={} \
         initial_requests={initial_requests} \
         requests={requests} requests_per_1000_events={:.2} {} {} {} {} {} {} {} \
         kspan_peak_rss_kib={peak_rss} kspan_cpu_s={cpu:.2} events_per_s={:.0} \
         watch_peak_rss_kib={watch_rss} watch_cpu_s={watch_cpu:.2} watch_events={watch_events} \
         {collector} missing={} twice={} repeated_spans={}",
        args.deployments,
        args.deployments * args.pods,
        args.nodes,
        events.len(),
        from_stamps.len(),
        open.len(),
        requests as f64 * 1000.0 / events.len().max(1) as f64,
        percentiles("delay", &from_stamps),
        percentiles("observed", &observed),
        percentiles("change", &change),
        percentiles("correlate", &correlate),
        percentiles("export", &export),
        percentiles("receive", &receive),
        percentiles("event_lag", &lags),
        events.len() as f64 / busy.as_secs_f64(),
        delivery.missing.len(),
        delivery.twice.len(),
        delivery.repeated_spans.len(),
    );
    let missing = delivery.missing.iter().map(|uid| format!("not delivered: {:?}", events[uid]));
    let faults = missing.chain(delivery.twice).chain(delivery.repeated_spans).chain(unfollowed);
    (figures, faults.collect())
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

/// When a Deployment rollout's trace changed last and went through kspan-rs
/// (Unix nanoseconds).
#[derive(Debug)]
struct TraceTimes {
    trace_id: String,
    /// Its latest timestamp.
    latest: u64,
    /// When the latest version of the last Event it holds reached the kubectl watch.
    watched: Option<u64>,
    /// The last change kspan-rs observed in the episode it built last (Events and
    /// objects: a ReplicaSet's status, a pod's deletion), as it logs it.
    last_change: Option<u64>,
    /// When kspan-rs' correlator finished its last spans, and the sink delivered them.
    finished: Option<u64>,
    delivered: Option<u64>,
    /// When the receiver printed its last span.
    printed: Option<u64>,
    spans: usize,
}

impl TraceTimes {
    /// What is wrong with the `kspan::trace` lines of this trace, if anything: each
    /// stage logged, and in order.
    fn unfollowed(&self) -> Option<String> {
        let id = &self.trace_id;
        let (Some(change), Some(finished), Some(delivered)) =
            (self.last_change, self.finished, self.delivered)
        else {
            return Some(format!("trace {id}: a kspan::trace stage is not logged: {self:?}"));
        };
        (change > finished || finished > delivered)
            .then(|| format!("trace {id}: its stages are out of order: {self:?}"))
    }

    /// A header and a line per trace; times in seconds after the earliest `watched`.
    fn table(traces: &[TraceTimes]) -> String {
        let zero = traces.iter().filter_map(|t| t.watched).min().unwrap_or(0);
        let at = |t: Option<u64>| {
            t.map_or("-".into(), |t| format!("{:.3}", (t as f64 - zero as f64) / 1e9))
        };
        let mut out =
            "trace_id\tspans\tlatest\twatched\tlast_change\tfinished\tdelivered\tprinted\n"
                .to_string();
        for t in traces {
            out += &format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                t.trace_id,
                t.spans,
                at(Some(t.latest)),
                at(t.watched),
                at(t.last_change),
                at(t.finished),
                at(t.delivered),
                at(t.printed)
            );
        }
        out
    }
}

/// The times of each Deployment rollout's trace among `spans`.
fn rollout_times(
    spans: &[Span],
    printed: &HashMap<String, u64>,
    watched: &HashMap<String, WatchedEvent>,
    stages: &Stages,
) -> Vec<TraceTimes> {
    let mut traces: HashMap<&str, (u64, Option<u64>, usize)> = HashMap::new();
    for s in spans {
        let (latest, seen, count) = traces.entry(s.trace_id.as_str()).or_default();
        *latest = (*latest).max(s.end_unix_nano);
        *count += 1;
        let uids = s.attr("k8s.event.uid").into_iter();
        let uids = uids.chain(s.events.iter().filter_map(|e| e.attr("k8s.event.uid")));
        *seen = uids.filter_map(|uid| watched.get(uid).map(|w| w.arrived)).chain(*seen).max();
    }
    spans
        .iter()
        .filter(|s| s.is_root() && s.name == "Deployment.Rollout")
        .map(|root| {
            let id = root.trace_id.as_str();
            let (latest, watched, spans) = traces[id];
            TraceTimes {
                trace_id: id.to_string(),
                latest,
                watched,
                last_change: stages.last_change.get(id).copied(),
                finished: stages.finished.get(id).copied(),
                delivered: stages.delivered.get(id).copied(),
                printed: printed.get(id).copied(),
                spans,
            }
        })
        .collect()
}

/// Seconds of `span` for each trace that has one, sorted.
fn seconds(traces: &[TraceTimes], span: impl Fn(&TraceTimes) -> Option<u64>) -> Vec<f64> {
    sorted(traces.iter().filter_map(|t| Some(span(t)? as f64 / 1e9)).collect())
}

/// When kspan-rs last built, finished and delivered spans of each trace (Unix
/// nanoseconds), and the last change it had seen when it built them, from its
/// `kspan::trace` debug lines.
#[derive(Default)]
struct Stages {
    last_change: HashMap<String, u64>,
    finished: HashMap<String, u64>,
    delivered: HashMap<String, u64>,
}

impl Stages {
    fn read(log: &Path) -> Stages {
        let mut stages = Stages::default();
        for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
            let mut words = line.split_whitespace();
            let Some(at) = words.next().and_then(kspan::time::parse) else { continue };
            if words.nth(1) != Some("kspan::trace:") {
                continue;
            }
            let field = |key: &str| line.split_whitespace().find_map(|w| w.strip_prefix(key));
            let (Some(stage), Some(id)) = (field("stage="), field("trace_id=")) else { continue };
            let (times, at) = match stage {
                "Built" => match field("last_change=").and_then(kspan::time::parse) {
                    Some(change) => (&mut stages.last_change, change),
                    None => continue,
                },
                "Finished" => (&mut stages.finished, at),
                "Delivered" => (&mut stages.delivered, at),
                _ => continue,
            };
            let last = times.entry(id.to_string()).or_default();
            *last = (*last).max(at as u64);
        }
        stages
    }
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// `{name}_p50_s=… {name}_p99_s=… {name}_max_s=…` of sorted seconds.
fn percentiles(name: &str, sorted: &[f64]) -> String {
    let at = |p: f64| sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize);
    let fmt = |d: Option<&f64>| d.map_or("none".into(), |d| format!("{d:.2}"));
    let (p50, p99, max) = (fmt(at(0.5)), fmt(at(0.99)), fmt(sorted.last()));
    format!("{name}_p50_s={p50} {name}_p99_s={p99} {name}_max_s={max}")
}

/// A file another process writes, read as it grows (every 100 ms) into `T`.
struct Follower<T> {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<T>,
}

impl<T: Send + 'static> Follower<T> {
    fn start(path: std::path::PathBuf, mut state: T, take: fn(&mut T, &[u8])) -> Follower<T> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut offset = 0;
            loop {
                let last = stopping.load(Ordering::Relaxed);
                if let Ok(mut file) = File::open(&path) {
                    let mut grown = Vec::new();
                    if file.seek(SeekFrom::Start(offset)).is_ok() {
                        offset += file.read_to_end(&mut grown).unwrap_or(0) as u64;
                    }
                    take(&mut state, &grown);
                }
                if last {
                    return state;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Follower { stop, thread }
    }

    /// Reads what is left, then gives the state.
    fn stop(self) -> T {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// When the receiver printed the last span of each trace.
#[derive(Default)]
struct Arrivals {
    /// The start of a line not printed whole yet.
    pending: Vec<u8>,
    seen: HashMap<String, u64>,
}

impl Arrivals {
    fn follow(log: std::path::PathBuf) -> Follower<Arrivals> {
        Follower::start(log, Arrivals::default(), Arrivals::take)
    }

    fn take(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let whole = self.pending.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let now = unix_nanos();
        for line in String::from_utf8_lossy(&self.pending[..whole]).lines() {
            if let Some(id) = line.trim().strip_prefix("Trace ID") {
                self.seen.insert(id.trim_start_matches([' ', ':']).trim().to_string(), now);
            }
        }
        self.pending.drain(..whole);
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// `kubectl get events -A -w -o json`: the cost of watching the Events alone, and
/// when each Event version reached a watch.
struct KubectlWatch {
    child: Child,
    follower: Follower<Watched>,
}

/// What the kubectl watch printed, as it came.
#[derive(Default)]
struct Watched {
    /// Unparsed output: the start of a document not printed whole yet.
    pending: Vec<u8>,
    printed: usize,
    events: HashMap<String, WatchedEvent>,
}

/// One Event as the watch saw it.
struct WatchedEvent {
    /// When its latest version was printed (Unix nanoseconds).
    arrived: u64,
    /// For each version: seconds from its own stamp to its arrival.
    lags: Vec<f64>,
}

impl Watched {
    fn take(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let now = unix_nanos();
        let mut documents =
            serde_json::Deserializer::from_slice(&self.pending).into_iter::<serde_json::Value>();
        let mut used = 0;
        while let Some(Ok(event)) = documents.next() {
            used = documents.byte_offset();
            self.printed += 1;
            let Some(uid) = event["metadata"]["uid"].as_str() else { continue };
            let stamp = ["lastTimestamp", "eventTime"]
                .iter()
                .find_map(|k| event[k].as_str().and_then(kspan::time::parse));
            let seen = self
                .events
                .entry(uid.to_string())
                .or_insert(WatchedEvent { arrived: now, lags: Vec::new() });
            seen.arrived = now;
            seen.lags.extend(stamp.map(|t| (now as i64 - t) as f64 / 1e9));
        }
        self.pending.drain(..used);
    }
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
        let follower = Follower::start(out, Watched::default(), Watched::take);
        KubectlWatch { child, follower }
    }

    /// Peak RSS (KiB), CPU seconds, Events printed, and each Event by uid; then stops it.
    fn stop(mut self) -> (u64, f64, usize, HashMap<String, WatchedEvent>) {
        let pid = self.child.id();
        let figures = (peak_rss_kib(pid), cpu_seconds(pid));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let watched = self.follower.stop();
        (figures.0, figures.1, watched.printed, watched.events)
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
