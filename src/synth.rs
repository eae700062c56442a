//! `kspan synth`: a deterministic synthetic capture, for benchmarks and scale tests.
//!
//! Writes watch-event JSON lines with arrival times (the format of `kspan record`,
//! read back by `kspan replay`): first the initial list of a cluster (Deployments
//! with their ReplicaSets, StatefulSets, DaemonSets and their running pods), then
//! rollouts of all of them and runs of Jobs, many at once, as a real cluster shows
//! them: the Events the controllers, the scheduler and the kubelets write (with the
//! texts Kubernetes writes), Warnings (FailedScheduling, BackOff, Unhealthy),
//! repeated Events (same uid, count 2..5, later lastTimestamp), and the object
//! updates around them (spec changes with managedFields, scale steps, pod status).
//!
//! Same configuration, same bytes: the randomness comes from a small seeded PRNG.
//! The output streams: only the rollouts in progress are held in memory (plus one
//! small record per live pod), whatever the number of rollouts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;
const DAY: i64 = 86_400 * SEC;

/// `kspan synth`: write a synthetic capture.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Live pods in the cluster; every one of them is replaced by each rollout.
    #[arg(long, default_value_t = 1000)]
    pub pods: u64,

    /// Pods per workload (the workloads are pods / this many).
    #[arg(long, default_value_t = 50)]
    pub pods_per_workload: u32,

    /// Rollouts of every workload (Job workloads run a new Job each time): more
    /// events over the same live objects.
    #[arg(long, default_value_t = 1)]
    pub rollouts: u32,

    /// Seed of the generator: same seed and flags, same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Share of new pods that meet a Warning (FailedScheduling, readiness probe
    /// failures or a crash loop), each repeated a few times.
    #[arg(long, default_value_t = 5.0)]
    pub warnings_percent: f64,

    /// Rollouts started per second of capture time (spread over the cluster).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Where to write the capture [default: stdout].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub pods: u64,
    pub pods_per_workload: u32,
    pub rollouts: u32,
    pub seed: u64,
    pub warnings_percent: f64,
    pub rate: f64,
    /// Start of the capture, nanoseconds since the Unix epoch.
    pub start: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            pods: 1000,
            pods_per_workload: 50,
            rollouts: 1,
            seed: 1,
            warnings_percent: 5.0,
            rate: 1.0,
            // 2024-05-13T08:00:00Z
            start: days_from_civil(2024, 5, 13) * DAY + 8 * 3600 * SEC,
        }
    }
}

impl From<&SynthArgs> for SynthConfig {
    fn from(a: &SynthArgs) -> Self {
        SynthConfig {
            pods: a.pods,
            pods_per_workload: a.pods_per_workload.max(1),
            rollouts: a.rollouts,
            seed: a.seed,
            warnings_percent: a.warnings_percent.clamp(0.0, 100.0),
            rate: if a.rate > 0.0 { a.rate } else { 1.0 },
            ..SynthConfig::default()
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Watch-event lines in all.
    pub lines: u64,
    /// Event lines (a repeated Event is one line per repetition).
    pub events: u64,
    /// Distinct Events (uids): what the traces must hold exactly once each.
    pub event_records: u64,
    /// Object lines (ADDED, MODIFIED, DELETED of workloads, ReplicaSets, pods).
    pub objects: u64,
    pub workloads: u64,
    /// Pods started by rollouts and Job runs (the initial list not counted).
    pub pods_created: u64,
    pub bytes: u64,
    /// Arrival times of the first and last line, nanoseconds since the Unix epoch.
    pub first: i64,
    pub last: i64,
}

/// Writes the capture for `args` to `--out` or stdout; the summary goes to stderr.
pub fn run(args: SynthArgs) -> anyhow::Result<i32> {
    let config = SynthConfig::from(&args);
    let summary = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            generate(&config, file)?
        }
        None => generate(&config, io::stdout().lock())?,
    };
    eprintln!(
        "synth: {} lines ({} events, {} distinct, {} objects), {} workloads, {} pods started, {:.1} MiB, {}s of capture",
        summary.lines,
        summary.events,
        summary.event_records,
        summary.objects,
        summary.workloads,
        summary.pods_created,
        summary.bytes as f64 / (1024.0 * 1024.0),
        (summary.last - summary.first) / SEC,
    );
    Ok(0)
}

/// Writes the capture for `config` to `out` as it is generated.
pub fn generate<W: Write>(config: &SynthConfig, out: W) -> io::Result<SynthSummary> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut generator = Generator::new(config);
    let mut summary = SynthSummary {
        workloads: generator.workloads.len() as u64,
        first: config.start,
        last: config.start,
        ..SynthSummary::default()
    };
    let mut write = |summary: &mut SynthSummary, line: &Line| -> io::Result<()> {
        out.write_all(line.text.as_bytes())?;
        summary.lines += 1;
        summary.bytes += line.text.len() as u64;
        summary.last = summary.last.max(line.at);
        if line.event {
            summary.events += 1;
        } else {
            summary.objects += 1;
        }
        Ok(())
    };

    // The initial list, as the watchers deliver it when a recording starts.
    let mut at = config.start;
    for w in 0..generator.workloads.len() {
        let mut emit = Emit::new(config.start);
        at = generator.initial(w, at, &mut emit);
        for line in &emit.lines {
            write(&mut summary, line)?;
        }
    }

    // Rollouts: each is simulated whole when it starts, its lines wait in a heap and
    // go out in time order, interleaved with every other rollout in progress.
    let count = generator.workloads.len();
    let per_round = ((count as f64 / config.rate) as i64 * SEC).max(600 * SEC);
    let nominal = |w: usize, k: u32| {
        let mut rng = Rng::from_parts(config.seed, &[w as u64, k as u64, 7]);
        let slot = (SEC as f64 / config.rate) as i64;
        config.start + 10 * SEC + k as i64 * per_round + w as i64 * slot + rng.between(0, slot)
    };
    let mut starts: BinaryHeap<Reverse<(i64, usize, u32)>> = BinaryHeap::new();
    if config.rollouts > 0 {
        starts.extend((0..count).map(|w| Reverse((nominal(w, 0), w, 0))));
    }
    let mut pending: BinaryHeap<Reverse<(i64, u64, Line)>> = BinaryHeap::new();
    let mut sequence = 0u64;
    loop {
        let next_line = pending.peek().map(|Reverse((at, _, _))| *at);
        let next_start = starts.peek().map(|Reverse((at, _, _))| *at);
        let expand = match (next_start, next_line) {
            (Some(start), Some(line)) => start <= line,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        match expand {
            true => {
                let Reverse((start, w, k)) = starts.pop().expect("peeked");
                let mut emit = Emit::new(config.start);
                let end = generator.rollout(w, k, start, &mut emit);
                summary.event_records += emit.records;
                summary.pods_created += emit.pods;
                for line in emit.lines {
                    pending.push(Reverse((line.at.max(start), sequence, line)));
                    sequence += 1;
                }
                if k + 1 < config.rollouts {
                    // The same workload again, once this rollout is long over.
                    let next = nominal(w, k + 1).max(end + 30 * SEC);
                    starts.push(Reverse((next, w, k + 1)));
                }
            }
            false => {
                let Reverse((_, _, line)) = pending.pop().expect("peeked");
                write(&mut summary, &line)?;
            }
        }
    }
    summary.event_records += generator.initial_records;
    out.flush()?;
    Ok(summary)
}

/// SplitMix64: small, fast, and the same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for one part of the simulation (a workload's rollout).
    pub fn from_parts(seed: u64, parts: &[u64]) -> Rng {
        let mut rng = Rng(seed ^ 0x243f_6a88_85a3_08d3);
        for part in parts {
            rng.0 ^= part.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            rng.next_u64();
        }
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }

    /// Log-uniform in `lo..hi`: most durations short, a few long, like real ones.
    fn spread(&mut self, lo: i64, hi: i64) -> i64 {
        let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(2) as f64).ln());
        (a + (b - a) * self.unit()).exp() as i64
    }

    fn uid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    /// Kubernetes' name suffix alphabet (no vowels, no look-alikes).
    fn word(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len).map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize] as char).collect()
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn write_date(s: &mut String, t: i64) {
    let secs = t.div_euclid(SEC);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let _ =
        write!(s, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod / 60 % 60, sod % 60);
}

/// Whole seconds, as Kubernetes writes `metav1.Time`.
fn stamp(t: i64) -> String {
    let mut s = String::with_capacity(20);
    write_date(&mut s, t);
    s.push('Z');
    s
}

/// Nanoseconds, as `kspan record` writes arrival times.
fn instant(t: i64) -> String {
    let mut s = String::with_capacity(30);
    write_date(&mut s, t);
    let _ = write!(s, ".{:09}Z", t.rem_euclid(SEC));
    s
}

/// Go's `time.Duration` text, as the kubelet writes pull times: `5.87s`, `812ms`.
fn go_duration(d: i64) -> String {
    let d = d - d % MS;
    let text =
        if d >= SEC { format!("{}.{:03}", d / SEC, d % SEC / MS) } else { format!("{}", d / MS) };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", if d >= SEC { "s" } else { "ms" })
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One output line, with its arrival time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    at: i64,
    event: bool,
    text: String,
}

/// The lines of one rollout (or of one workload's initial list), in any order.
struct Emit {
    /// The capture's start: resourceVersions count microseconds from it.
    origin: i64,
    lines: Vec<Line>,
    records: u64,
    pods: u64,
    last: i64,
}

/// An Event as its reporter keeps it: the same uid and name on each repetition.
struct EventRecord {
    uid: String,
    name: String,
    namespace: String,
    involved: String,
    reason: &'static str,
    message: String,
    warning: bool,
    component: &'static str,
    host: Option<String>,
    first: i64,
}

/// An object an Event is about.
#[derive(Debug, Clone)]
struct Subject {
    api: &'static str,
    kind: &'static str,
    name: String,
    uid: String,
}

/// Who writes Events about what: a controller about its object, a kubelet about
/// a pod's container.
struct Voice<'a> {
    namespace: &'a str,
    subject: &'a Subject,
    field_path: Option<&'a str>,
    component: &'static str,
    host: Option<&'a str>,
}

impl<'a> Voice<'a> {
    fn controller(component: &'static str, namespace: &'a str, subject: &'a Subject) -> Self {
        Voice { namespace, subject, field_path: None, component, host: None }
    }
}

impl Emit {
    fn new(origin: i64) -> Self {
        Emit { origin, lines: Vec::new(), records: 0, pods: 0, last: origin }
    }

    fn version(&self, at: i64) -> i64 {
        1_000_000 + (at - self.origin) / 1000
    }

    fn object(&mut self, kind: &str, at: i64, object: &str) {
        let mut text = String::with_capacity(object.len() + 80);
        let _ = writeln!(text, r#"{{"type":"{kind}","object":{object},"time":"{}"}}"#, instant(at));
        self.last = self.last.max(at);
        self.lines.push(Line { at, event: false, text });
    }

    /// A new Normal Event (count 1) that happened at `at`.
    fn say(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        at: i64,
    ) -> EventRecord {
        self.record(rng, v, reason, message, false, at)
    }

    /// A new Warning Event (count 1) that happened at `at`.
    fn warn(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        at: i64,
    ) -> EventRecord {
        self.record(rng, v, reason, message, true, at)
    }

    fn record(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        warning: bool,
        at: i64,
    ) -> EventRecord {
        let s = v.subject;
        let mut involved = format!(
            r#"{{"apiVersion":"{}","kind":"{}","namespace":"{}","name":"{}","uid":"{}","resourceVersion":"{}""#,
            s.api,
            s.kind,
            v.namespace,
            s.name,
            s.uid,
            self.version(at) - 3
        );
        if let Some(path) = v.field_path {
            let _ = write!(involved, r#","fieldPath":"{path}""#);
        }
        involved.push('}');
        let record = EventRecord {
            uid: rng.uid(),
            name: format!("{}.{:x}", s.name, at as u64 ^ rng.below(1 << 16)),
            namespace: v.namespace.to_string(),
            involved,
            reason,
            message: escape(&message),
            warning,
            component: v.component,
            host: v.host.map(str::to_string),
            first: at,
        };
        self.records += 1;
        self.repeat(rng, &record, 1, at);
        record
    }

    /// The Event (again): count `count`, last seen at `at`.
    fn repeat(&mut self, rng: &mut Rng, e: &EventRecord, count: u32, at: i64) {
        let arrival = at + rng.between(MS, 15 * MS);
        let mut text = String::with_capacity(900);
        let _ = write!(
            text,
            r#"{{"type":"{}","object":{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{}","creationTimestamp":"{}"}},"involvedObject":{},"reason":"{}","message":"{}","source":{{"component":"{}""#,
            if count == 1 { "ADDED" } else { "MODIFIED" },
            e.name,
            e.namespace,
            e.uid,
            self.version(arrival),
            stamp(e.first),
            e.involved,
            e.reason,
            e.message,
            e.component,
        );
        if let Some(host) = &e.host {
            let _ = write!(text, r#","host":"{host}""#);
        }
        let _ = writeln!(
            text,
            r#"}},"firstTimestamp":"{}","lastTimestamp":"{}","count":{count},"type":"{}","eventTime":null,"reportingComponent":"{}","reportingInstance":"{}"}},"time":"{}"}}"#,
            stamp(e.first),
            stamp(at),
            if e.warning { "Warning" } else { "Normal" },
            e.component,
            e.host.as_deref().unwrap_or(""),
            instant(arrival),
        );
        self.last = self.last.max(arrival);
        self.lines.push(Line { at: arrival, event: true, text });
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl WorkloadKind {
    /// Mostly Deployments; the first few workloads have every kind.
    fn of(index: usize) -> Self {
        match index % 10 {
            1 => WorkloadKind::StatefulSet,
            3 => WorkloadKind::DaemonSet,
            5 => WorkloadKind::Job,
            _ => WorkloadKind::Deployment,
        }
    }
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    image: String,
}

#[derive(Debug, Clone)]
struct Owner {
    api: &'static str,
    kind: &'static str,
    name: String,
    uid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Warning {
    None,
    FailedScheduling,
    Unhealthy,
    CrashLoop,
}

/// What the API server holds of a live pod.
#[derive(Debug, Clone)]
struct Pod {
    name: String,
    generate_name: Option<String>,
    uid: String,
    labels: String,
    owner: Owner,
    containers: Vec<Container>,
    restart_policy: &'static str,
    node: usize,
    ip: String,
    created: i64,
    scheduled: i64,
    /// Start of each container (the last start after a restart).
    started: Vec<i64>,
    ready: i64,
    restarts: u32,
    /// A crash: (when the failed container started, when it exited).
    crashed: Option<(i64, i64)>,
}

/// A pod's state in one copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodView {
    Pending,
    Unschedulable(i64),
    Scheduled,
    CrashLoop,
    Running,
    Succeeded(i64),
}

#[derive(Debug, Clone)]
struct ReplicaSet {
    name: String,
    hash: String,
    uid: String,
    revision: u32,
    generation: i64,
    replicas: u32,
    created: i64,
    containers: Vec<Container>,
}

struct Workload {
    kind: WorkloadKind,
    name: String,
    app: String,
    namespace: String,
    uid: String,
    replicas: u32,
    created: i64,
    generation: i64,
    spec_time: i64,
    manager: (&'static str, &'static str),
    version: u32,
    containers: Vec<Container>,
    current: Option<ReplicaSet>,
    previous: Option<ReplicaSet>,
    /// StatefulSet and DaemonSet controller revision.
    revision: String,
    pods: Vec<Pod>,
    first_node: usize,
}

struct Generator<'c> {
    config: &'c SynthConfig,
    nodes: usize,
    workloads: Vec<Workload>,
    initial_records: u64,
}

const MANAGERS: &[(&str, &str)] = &[
    ("kubectl-client-side-apply", "Update"),
    ("kubectl-set", "Update"),
    ("helm", "Update"),
    ("argocd-controller", "Apply"),
    ("kustomize-controller", "Apply"),
];
const DEPLOYMENT_WORDS: &[&str] = &[
    "api", "web", "worker", "cart", "search", "auth", "billing", "ingest", "checkout", "catalog",
    "gateway", "notify",
];
const STATEFUL_WORDS: &[&str] = &["db", "cache", "kafka", "zookeeper", "etcd", "elastic"];
const DAEMON_WORDS: &[&str] = &["agent", "log-shipper", "node-exporter", "csi-node"];
const JOB_WORDS: &[&str] = &["batch", "report", "etl", "backup"];
const SIDECAR: &str = "docker.io/istio/proxyv2:1.22.3";

fn node_name(n: usize) -> String {
    format!("node-{n:05}")
}

fn node_ip(n: usize) -> String {
    format!("10.0.{}.{}", n / 250, n % 250 + 1)
}

impl Workload {
    fn subject(&self) -> Subject {
        let (api, kind) = match self.kind {
            WorkloadKind::Deployment => ("apps/v1", "Deployment"),
            WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
            WorkloadKind::DaemonSet => ("apps/v1", "DaemonSet"),
            WorkloadKind::Job => ("batch/v1", "Job"),
        };
        Subject { api, kind, name: self.name.clone(), uid: self.uid.clone() }
    }

    fn owner(&self) -> Owner {
        let s = self.subject();
        Owner { api: s.api, kind: s.kind, name: s.name, uid: s.uid }
    }

    fn image(&self) -> String {
        format!("registry.local/{}/{}:1.{}.0", self.namespace, self.app, self.version)
    }

    fn set_version(&mut self, version: u32) {
        self.version = version;
        self.containers[0].image = self.image();
    }
}

impl ReplicaSet {
    fn subject(&self) -> Subject {
        Subject {
            api: "apps/v1",
            kind: "ReplicaSet",
            name: self.name.clone(),
            uid: self.uid.clone(),
        }
    }
}

impl Pod {
    fn subject(&self) -> Subject {
        Subject { api: "v1", kind: "Pod", name: self.name.clone(), uid: self.uid.clone() }
    }
}

fn containers_json(s: &mut String, containers: &[Container]) {
    s.push('[');
    for (i, c) in containers.iter().enumerate() {
        let _ = write!(
            s,
            r#"{}{{"name":"{}","image":"{}","imagePullPolicy":"IfNotPresent","ports":[{{"containerPort":8080,"protocol":"TCP"}}],"resources":{{}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}}"#,
            if i > 0 { "," } else { "" },
            c.name,
            c.image
        );
    }
    s.push(']');
}

fn template_json(s: &mut String, labels: &str, containers: &[Container], restart_policy: &str) {
    let _ = write!(s, r#"{{"metadata":{{"labels":{labels}}},"spec":{{"containers":"#);
    containers_json(s, containers);
    let _ = write!(
        s,
        r#","restartPolicy":"{restart_policy}","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler","securityContext":{{}}}}}}"#
    );
}

fn managed_fields(s: &mut String, w: &Workload, api: &str, status_time: i64) {
    let (manager, operation) = w.manager;
    let _ = write!(
        s,
        r#""managedFields":[{{"manager":"{manager}","operation":"{operation}","apiVersion":"{api}","time":"{}","fieldsType":"FieldsV1","fieldsV1":{{"f:spec":{{"f:replicas":{{}},"f:template":{{"f:spec":{{"f:containers":{{"k:{{\"name\":\"{}\"}}":{{".":{{}},"f:image":{{}},"f:name":{{}}}}}}}}}}}}}}}},{{"manager":"kube-controller-manager","operation":"Update","apiVersion":"{api}","time":"{}","fieldsType":"FieldsV1","fieldsV1":{{"f:status":{{"f:observedGeneration":{{}},"f:replicas":{{}}}}}},"subresource":"status"}}]"#,
        stamp(w.spec_time),
        w.containers[0].name,
        stamp(status_time)
    );
}

/// Replica counts of a workload's status.
#[derive(Debug, Clone, Copy)]
struct Progress {
    observed: i64,
    replicas: u32,
    updated: u32,
    ready: u32,
}

impl Progress {
    fn complete(w: &Workload) -> Self {
        Progress {
            observed: w.generation,
            replicas: w.replicas,
            updated: w.replicas,
            ready: w.replicas,
        }
    }
}

fn app_labels(w: &Workload) -> String {
    format!(r#"{{"app":"{}"}}"#, w.app)
}

fn workload_json(w: &Workload, at: i64, version: i64, p: Progress) -> String {
    let mut s = String::with_capacity(2500);
    let (api, kind) = match w.kind {
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
        WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
        WorkloadKind::DaemonSet => ("apps/v1", "DaemonSet"),
        WorkloadKind::Job => unreachable!("Jobs are written by job_json"),
    };
    let _ = write!(
        s,
        r#"{{"apiVersion":"{api}","kind":"{kind}","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":{},"creationTimestamp":"{}","labels":{}"#,
        w.name,
        w.namespace,
        w.uid,
        w.generation,
        stamp(w.created),
        app_labels(w),
    );
    if w.kind == WorkloadKind::Deployment {
        let revision = w.current.as_ref().map_or(1, |r| r.revision);
        let _ = write!(s, r#","annotations":{{"deployment.kubernetes.io/revision":"{revision}"}}"#);
    }
    s.push(',');
    managed_fields(&mut s, w, api, at);
    let _ = write!(
        s,
        r#"}},"spec":{{"replicas":{},"selector":{{"matchLabels":{}}},"template":"#,
        w.replicas,
        app_labels(w)
    );
    template_json(&mut s, &app_labels(w), &w.containers, "Always");
    let complete = p.observed == w.generation && p.updated == w.replicas && p.ready == w.replicas;
    match w.kind {
        WorkloadKind::Deployment => {
            let _ = write!(
                s,
                r#","strategy":{{"type":"RollingUpdate","rollingUpdate":{{"maxSurge":"25%","maxUnavailable":"25%"}}}},"revisionHistoryLimit":1,"progressDeadlineSeconds":600}},"status":{{"observedGeneration":{},"replicas":{},"updatedReplicas":{},"readyReplicas":{},"availableReplicas":{}"#,
                p.observed, p.replicas, p.updated, p.ready, p.ready
            );
            if p.ready < w.replicas {
                let _ = write!(s, r#","unavailableReplicas":{}"#, w.replicas - p.ready);
            }
            let rs = w.current.as_ref().map_or(String::new(), |r| r.name.clone());
            let (reason, message) = if complete {
                (
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \\\"{rs}\\\" has successfully progressed."),
                )
            } else {
                ("ReplicaSetUpdated", format!("ReplicaSet \\\"{rs}\\\" is progressing."))
            };
            let available = p.ready + w.replicas / 4 >= w.replicas;
            let _ = write!(
                s,
                r#","conditions":[{{"type":"Available","status":"{}","lastUpdateTime":"{}","lastTransitionTime":"{}","reason":"{}","message":"Deployment {} minimum availability."}},{{"type":"Progressing","status":"True","lastUpdateTime":"{}","lastTransitionTime":"{}","reason":"{reason}","message":"{message}"}}]}}}}"#,
                if available { "True" } else { "False" },
                stamp(at),
                stamp(w.created),
                if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                if available { "has" } else { "does not have" },
                stamp(at),
                stamp(w.spec_time),
            );
        }
        WorkloadKind::StatefulSet => {
            let current = if complete { &w.revision } else { "previous" };
            let _ = write!(
                s,
                r#","serviceName":"{}","podManagementPolicy":"OrderedReady","updateStrategy":{{"type":"RollingUpdate","rollingUpdate":{{"partition":0}}}},"revisionHistoryLimit":10}},"status":{{"observedGeneration":{},"replicas":{},"readyReplicas":{},"currentReplicas":{},"updatedReplicas":{},"availableReplicas":{},"currentRevision":"{}-{current}","updateRevision":"{}-{}","collisionCount":0}}}}"#,
                w.name,
                p.observed,
                p.replicas,
                p.ready,
                if complete { w.replicas } else { w.replicas - p.updated },
                p.updated,
                p.ready,
                w.name,
                w.name,
                w.revision
            );
        }
        WorkloadKind::DaemonSet => {
            let _ = write!(
                s,
                r#","updateStrategy":{{"type":"RollingUpdate","rollingUpdate":{{"maxUnavailable":"10%","maxSurge":0}}}},"revisionHistoryLimit":10}},"status":{{"observedGeneration":{},"currentNumberScheduled":{},"desiredNumberScheduled":{},"numberMisscheduled":0,"numberReady":{},"updatedNumberScheduled":{},"numberAvailable":{}}}}}"#,
                p.observed, p.replicas, w.replicas, p.ready, p.updated, p.ready
            );
        }
        WorkloadKind::Job => unreachable!(),
    }
    s
}

fn replica_set_json(w: &Workload, rs: &ReplicaSet, version: i64, ready: u32, pods: u32) -> String {
    let mut s = String::with_capacity(1800);
    let labels = format!(r#"{{"app":"{}","pod-template-hash":"{}"}}"#, w.app, rs.hash);
    let _ = write!(
        s,
        r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":{},"creationTimestamp":"{}","labels":{labels},"annotations":{{"deployment.kubernetes.io/desired-replicas":"{}","deployment.kubernetes.io/max-replicas":"{}","deployment.kubernetes.io/revision":"{}"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"{}","uid":"{}","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"replicas":{},"selector":{{"matchLabels":{labels}}},"template":"#,
        rs.name,
        w.namespace,
        rs.uid,
        rs.generation,
        stamp(rs.created),
        w.replicas,
        w.replicas + w.replicas.div_ceil(4),
        rs.revision,
        w.name,
        w.uid,
        rs.replicas,
    );
    template_json(&mut s, &labels, &rs.containers, "Always");
    let _ = write!(
        s,
        r#"}},"status":{{"replicas":{pods},"fullyLabeledReplicas":{pods},"readyReplicas":{ready},"availableReplicas":{ready},"observedGeneration":{}}}}}"#,
        rs.generation
    );
    s
}

fn condition(
    s: &mut String,
    first: &mut bool,
    kind: &str,
    ok: bool,
    at: i64,
    reason: Option<&str>,
) {
    let _ = write!(
        s,
        r#"{}{{"type":"{kind}","status":"{}","lastProbeTime":null,"lastTransitionTime":"{}""#,
        if *first { "" } else { "," },
        if ok { "True" } else { "False" },
        stamp(at)
    );
    if let Some(reason) = reason {
        let _ = write!(s, r#","reason":"{reason}""#);
    }
    s.push('}');
    *first = false;
}

fn pod_json(
    namespace: &str,
    p: &Pod,
    view: PodView,
    deleting: Option<i64>,
    version: i64,
    nodes: usize,
) -> String {
    let mut s = String::with_capacity(2000);
    let _ = write!(s, r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}","#, p.name);
    if let Some(g) = &p.generate_name {
        let _ = write!(s, r#""generateName":"{g}","#);
    }
    let _ = write!(
        s,
        r#""namespace":"{namespace}","uid":"{}","resourceVersion":"{version}","creationTimestamp":"{}","labels":{},"ownerReferences":[{{"apiVersion":"{}","kind":"{}","name":"{}","uid":"{}","controller":true,"blockOwnerDeletion":true}}]"#,
        p.uid,
        stamp(p.created),
        p.labels,
        p.owner.api,
        p.owner.kind,
        p.owner.name,
        p.owner.uid
    );
    if let Some(d) = deleting {
        let _ = write!(s, r#","deletionTimestamp":"{}","deletionGracePeriodSeconds":30"#, stamp(d));
    }
    s.push_str(r#"},"spec":{"#);
    let scheduled = !matches!(view, PodView::Pending | PodView::Unschedulable(_));
    if scheduled {
        let _ = write!(s, r#""nodeName":"{}","#, node_name(p.node));
    }
    s.push_str(r#""containers":"#);
    containers_json(&mut s, &p.containers);
    let _ = write!(
        s,
        r#","restartPolicy":"{}","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","schedulerName":"default-scheduler","enableServiceLinks":true,"priority":0}},"status":{{"phase":"{}""#,
        p.restart_policy,
        match view {
            PodView::Pending | PodView::Unschedulable(_) | PodView::Scheduled => "Pending",
            PodView::CrashLoop | PodView::Running => "Running",
            PodView::Succeeded(_) => "Succeeded",
        }
    );
    let mut first = true;
    s.push_str(r#","conditions":["#);
    match view {
        PodView::Pending => {}
        PodView::Unschedulable(at) => {
            condition(&mut s, &mut first, "PodScheduled", false, at, Some("Unschedulable"));
            s.pop();
            let _ = write!(s, r#","message":"0/{nodes} nodes are available: Insufficient cpu."}}"#);
        }
        PodView::Scheduled => {
            condition(&mut s, &mut first, "PodScheduled", true, p.scheduled, None);
        }
        PodView::CrashLoop | PodView::Running | PodView::Succeeded(_) => {
            let ready = view == PodView::Running;
            let ready_at = match view {
                PodView::Running => p.ready,
                PodView::Succeeded(end) => end,
                _ => p.crashed.map_or(p.ready, |c| c.1),
            };
            let reason = match view {
                PodView::Succeeded(_) => Some("PodCompleted"),
                PodView::CrashLoop => Some("ContainersNotReady"),
                _ => None,
            };
            condition(
                &mut s,
                &mut first,
                "Initialized",
                true,
                p.scheduled,
                reason.filter(|r| *r == "PodCompleted"),
            );
            condition(&mut s, &mut first, "Ready", ready, ready_at, reason);
            condition(&mut s, &mut first, "ContainersReady", ready, ready_at, reason);
            condition(&mut s, &mut first, "PodScheduled", true, p.scheduled, None);
        }
    }
    s.push(']');
    if scheduled {
        let _ =
            write!(s, r#","hostIP":"{}","startTime":"{}""#, node_ip(p.node), stamp(p.scheduled));
    }
    if matches!(view, PodView::Running | PodView::CrashLoop | PodView::Succeeded(_)) {
        let _ = write!(
            s,
            r#","podIP":"{}","podIPs":[{{"ip":"{}"}}],"containerStatuses":["#,
            p.ip, p.ip
        );
        for (i, c) in p.containers.iter().enumerate() {
            let digest = &p.uid.replace('-', "")[..24];
            let _ = write!(
                s,
                r#"{}{{"name":"{}","image":"{}","imageID":"{}@sha256:{digest}{:016x}{digest}","containerID":"containerd://{digest}{i:08x}{digest}","#,
                if i > 0 { "," } else { "" },
                c.name,
                c.image,
                c.image.split(':').next().unwrap_or_default(),
                c.image.len(),
            );
            let started = p.started.get(i).copied().unwrap_or(p.scheduled);
            let crashed = if i == 0 { p.crashed } else { None };
            match (view, crashed) {
                (PodView::CrashLoop, Some((from, to))) => {
                    let _ = write!(
                        s,
                        r#""ready":false,"started":false,"restartCount":1,"state":{{"waiting":{{"reason":"CrashLoopBackOff","message":"back-off 10s restarting failed container"}}}},"lastState":{{"terminated":{{"exitCode":1,"reason":"Error","startedAt":"{}","finishedAt":"{}"}}}}}}"#,
                        stamp(from),
                        stamp(to)
                    );
                }
                (PodView::Succeeded(end), _) => {
                    let _ = write!(
                        s,
                        r#""ready":false,"started":false,"restartCount":0,"state":{{"terminated":{{"exitCode":0,"reason":"Completed","startedAt":"{}","finishedAt":"{}"}}}},"lastState":{{}}}}"#,
                        stamp(started),
                        stamp(end)
                    );
                }
                _ => {
                    let _ = write!(
                        s,
                        r#""ready":{},"started":true,"restartCount":{},"state":{{"running":{{"startedAt":"{}"}}}},"lastState":"#,
                        view == PodView::Running,
                        if i == 0 { p.restarts } else { 0 },
                        stamp(started)
                    );
                    match crashed {
                        Some((from, to)) => {
                            let _ = write!(
                                s,
                                r#"{{"terminated":{{"exitCode":1,"reason":"Error","startedAt":"{}","finishedAt":"{}"}}}}}}"#,
                                stamp(from),
                                stamp(to)
                            );
                        }
                        None => s.push_str("{}}"),
                    }
                }
            }
        }
        s.push(']');
    }
    s.push_str(r#","qosClass":"BestEffort"}}"#);
    s
}

fn job_json(w: &Workload, job: &Owner, started: i64, version: i64, status: &str) -> String {
    let mut s = String::with_capacity(2000);
    let labels = format!(
        r#"{{"batch.kubernetes.io/controller-uid":"{}","batch.kubernetes.io/job-name":"{}","controller-uid":"{}","job-name":"{}"}}"#,
        job.uid, job.name, job.uid, job.name
    );
    let _ = write!(
        s,
        r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":1,"creationTimestamp":"{}","labels":{{"app":"{}"}},"#,
        job.name,
        w.namespace,
        job.uid,
        stamp(started),
        w.app
    );
    managed_fields(&mut s, w, "batch/v1", started);
    let _ = write!(
        s,
        r#"}},"spec":{{"parallelism":{},"completions":{},"backoffLimit":6,"completionMode":"NonIndexed","suspend":false,"ttlSecondsAfterFinished":60,"selector":{{"matchLabels":{{"batch.kubernetes.io/controller-uid":"{}"}}}},"template":"#,
        w.replicas, w.replicas, job.uid
    );
    template_json(&mut s, &labels, &w.containers, "Never");
    let _ = write!(s, r#"}},"status":{status}}}"#);
    s
}

/// A Deployment's rollout in progress: the two ReplicaSets and their pods.
struct Rolling {
    new: ReplicaSet,
    old: ReplicaSet,
    new_pods: Vec<Pod>,
    old_pods: Vec<Pod>,
    ready: Vec<i64>,
}

impl<'c> Generator<'c> {
    fn new(config: &'c SynthConfig) -> Self {
        let m = config.pods_per_workload.max(1) as u64;
        let count = config.pods.div_ceil(m) as usize;
        let nodes = (m as usize).max(config.pods.div_ceil(30) as usize).max(3);
        let mut workloads = Vec::with_capacity(count);
        for index in 0..count {
            let mut rng = Rng::from_parts(config.seed, &[index as u64, u64::MAX]);
            let kind = WorkloadKind::of(index);
            let words = match kind {
                WorkloadKind::Deployment => DEPLOYMENT_WORDS,
                WorkloadKind::StatefulSet => STATEFUL_WORDS,
                WorkloadKind::DaemonSet => DAEMON_WORDS,
                WorkloadKind::Job => JOB_WORDS,
            };
            let app = words[rng.below(words.len() as u64) as usize].to_string();
            let replicas = (config.pods - index as u64 * m).min(m) as u32;
            let created = config.start - rng.between(2 * DAY, 200 * DAY);
            let namespace = format!("team-{:03}", index / 20);
            let mut containers = vec![Container { name: app.clone(), image: String::new() }];
            if kind != WorkloadKind::DaemonSet && rng.chance(0.5) {
                containers.push(Container { name: "istio-proxy".into(), image: SIDECAR.into() });
            }
            let mut w = Workload {
                kind,
                name: format!("{app}-{index:05}"),
                app,
                namespace,
                uid: rng.uid(),
                replicas,
                created,
                generation: rng.between(1, 30),
                spec_time: config.start - rng.between(DAY / 2, DAY),
                manager: MANAGERS[rng.below(MANAGERS.len() as u64) as usize],
                version: 0,
                containers,
                current: None,
                previous: None,
                revision: rng.word(10),
                pods: Vec::new(),
                first_node: rng.below(nodes as u64) as usize,
            };
            w.set_version(rng.between(1, 40) as u32);
            workloads.push(w);
        }
        Generator { config, nodes, workloads, initial_records: 0 }
    }

    fn new_pod(
        &self,
        rng: &mut Rng,
        w: &Workload,
        owner: Owner,
        name: String,
        created: i64,
    ) -> Pod {
        let (labels, generate_name) = match w.kind {
            WorkloadKind::Deployment => {
                let hash = owner.name.rsplit('-').next().unwrap_or_default().to_string();
                (
                    format!(r#"{{"app":"{}","pod-template-hash":"{hash}"}}"#, w.app),
                    Some(format!("{}-", owner.name)),
                )
            }
            WorkloadKind::StatefulSet => (
                format!(
                    r#"{{"app":"{}","controller-revision-hash":"{}-{}","statefulset.kubernetes.io/pod-name":"{name}"}}"#,
                    w.app, w.name, w.revision
                ),
                Some(format!("{}-", w.name)),
            ),
            WorkloadKind::DaemonSet => (
                format!(
                    r#"{{"app":"{}","controller-revision-hash":"{}","pod-template-generation":"{}"}}"#,
                    w.app, w.revision, w.generation
                ),
                Some(format!("{}-", w.name)),
            ),
            WorkloadKind::Job => (
                format!(
                    r#"{{"batch.kubernetes.io/controller-uid":"{}","batch.kubernetes.io/job-name":"{}","controller-uid":"{}","job-name":"{}"}}"#,
                    owner.uid, owner.name, owner.uid, owner.name
                ),
                Some(format!("{}-", owner.name)),
            ),
        };
        Pod {
            name,
            generate_name,
            uid: rng.uid(),
            labels,
            owner,
            containers: w.containers.clone(),
            restart_policy: if w.kind == WorkloadKind::Job { "Never" } else { "Always" },
            node: rng.below(self.nodes as u64) as usize,
            ip: format!("10.{}.{}.{}", 64 + rng.below(64), rng.below(256), 1 + rng.below(254)),
            created,
            scheduled: created,
            started: Vec::new(),
            ready: created,
            restarts: 0,
            crashed: None,
        }
    }

    /// `count` pod names of `prefix-xxxxx`, distinct.
    fn pod_names(rng: &mut Rng, prefix: &str, count: usize, taken: &[Pod]) -> Vec<String> {
        let mut seen: HashSet<String> = taken.iter().map(|p| p.name.clone()).collect();
        let mut names = Vec::with_capacity(count);
        while names.len() < count {
            let name = format!("{prefix}-{}", rng.word(5));
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
        names
    }

    /// The workload as the initial list shows it: settled, its pods running.
    fn initial(&mut self, index: usize, mut at: i64, emit: &mut Emit) -> i64 {
        let mut rng = Rng::from_parts(self.config.seed, &[index as u64, u64::MAX - 1]);
        let mut step = |rng: &mut Rng| {
            at += rng.between(5_000, 40_000);
            at
        };
        let kind = self.workloads[index].kind;
        if kind == WorkloadKind::Job {
            return at;
        }
        let w = &self.workloads[index];
        let born = w.created;
        let mut pods = Vec::with_capacity(w.replicas as usize);
        let owner = match kind {
            WorkloadKind::Deployment => {
                let mut older = ReplicaSet {
                    name: format!("{}-{}", w.name, rng.word(10)),
                    hash: String::new(),
                    uid: rng.uid(),
                    revision: 1 + w.generation as u32,
                    generation: 3,
                    replicas: 0,
                    created: born + DAY,
                    containers: w.containers.clone(),
                };
                older.hash = older.name.rsplit('-').next().unwrap_or_default().to_string();
                let mut current = older.clone();
                current.name = format!("{}-{}", w.name, rng.word(10));
                current.hash = current.name.rsplit('-').next().unwrap_or_default().to_string();
                current.uid = rng.uid();
                current.revision += 1;
                current.replicas = w.replicas;
                current.created = w.spec_time;
                let w = &mut self.workloads[index];
                w.previous = Some(older);
                w.current = Some(current);
                let w = &self.workloads[index];
                let t = step(&mut rng);
                let rs = w.previous.as_ref().expect("set above");
                emit.object("ADDED", t, &replica_set_json(w, rs, emit.version(t), 0, 0));
                let t = step(&mut rng);
                let rs = w.current.as_ref().expect("set above");
                let n = w.replicas;
                emit.object("ADDED", t, &replica_set_json(w, rs, emit.version(t), n, n));
                let rs = w.current.as_ref().expect("set above");
                Owner {
                    api: "apps/v1",
                    kind: "ReplicaSet",
                    name: rs.name.clone(),
                    uid: rs.uid.clone(),
                }
            }
            _ => w.owner(),
        };
        let w = &self.workloads[index];
        let t = step(&mut rng);
        emit.object("ADDED", t, &workload_json(w, t, emit.version(t), Progress::complete(w)));
        let names: Vec<String> = match kind {
            WorkloadKind::StatefulSet => {
                (0..w.replicas).map(|i| format!("{}-{i}", w.name)).collect()
            }
            WorkloadKind::DaemonSet => Self::pod_names(&mut rng, &w.name, w.replicas as usize, &[]),
            _ => Self::pod_names(&mut rng, &owner.name, w.replicas as usize, &[]),
        };
        for (i, name) in names.into_iter().enumerate() {
            let created = w.spec_time + rng.between(0, 60 * SEC);
            let mut pod = self.new_pod(&mut rng, w, owner.clone(), name, created);
            if kind == WorkloadKind::DaemonSet {
                pod.node = (w.first_node + i) % self.nodes;
            }
            pod.scheduled = created + rng.between(10 * MS, 500 * MS);
            pod.started =
                pod.containers.iter().map(|_| pod.scheduled + rng.between(SEC, 8 * SEC)).collect();
            pod.ready =
                pod.started.iter().max().copied().unwrap_or(created) + rng.between(SEC, 5 * SEC);
            let t = step(&mut rng);
            emit.object(
                "ADDED",
                t,
                &pod_json(&w.namespace, &pod, PodView::Running, None, emit.version(t), self.nodes),
            );
            pods.push(pod);
        }
        self.workloads[index].pods = pods;
        at
    }

    /// Simulates rollout `k` of workload `index` from `start`; returns when its last line arrives.
    fn rollout(&mut self, index: usize, k: u32, start: i64, emit: &mut Emit) -> i64 {
        let mut rng = Rng::from_parts(self.config.seed, &[index as u64, k as u64]);
        match self.workloads[index].kind {
            WorkloadKind::Deployment => self.deployment(index, &mut rng, start, emit),
            WorkloadKind::StatefulSet => self.stateful_set(index, &mut rng, start, emit),
            WorkloadKind::DaemonSet => self.daemon_set(index, &mut rng, start, emit),
            WorkloadKind::Job => self.job(index, &mut rng, start, emit),
        }
        emit.last
    }

    fn warning(&self, rng: &mut Rng) -> Warning {
        if !rng.chance(self.config.warnings_percent / 100.0) {
            return Warning::None;
        }
        match rng.below(10) {
            0..=3 => Warning::FailedScheduling,
            4..=7 => Warning::Unhealthy,
            _ => Warning::CrashLoop,
        }
    }

    /// A spec change: new generation, new image, who did it.
    fn change_spec(&mut self, index: usize, start: i64, emit: &mut Emit) {
        let w = &mut self.workloads[index];
        w.generation += 1;
        w.spec_time = start;
        let version = w.version + 1;
        w.set_version(version);
        let previous = Progress { observed: w.generation - 1, ..Progress::complete(w) };
        let t = start + MS;
        emit.object("MODIFIED", t, &workload_json(w, t, emit.version(t), previous));
    }

    fn status(&self, index: usize, at: i64, p: Progress, emit: &mut Emit) {
        let w = &self.workloads[index];
        emit.object("MODIFIED", at, &workload_json(w, at, emit.version(at), p));
    }

    /// A new pod's life up to Ready: created at `created`, with its Events and
    /// status updates. Returns when it became ready.
    fn start_pod(
        &self,
        rng: &mut Rng,
        namespace: &str,
        pod: &mut Pod,
        created: i64,
        emit: &mut Emit,
    ) -> i64 {
        emit.pods += 1;
        let warning = self.warning(rng);
        let subject = pod.subject();
        let scheduler = Voice::controller("default-scheduler", namespace, &subject);
        let nodes = self.nodes;
        let object = |emit: &mut Emit, kind: &str, at: i64, pod: &Pod, view: PodView| {
            emit.object(kind, at, &pod_json(namespace, pod, view, None, emit.version(at), nodes));
        };
        object(emit, "ADDED", created + rng.between(MS, 4 * MS), pod, PodView::Pending);
        let scheduled = if warning == Warning::FailedScheduling {
            let mut at = created + rng.between(5 * MS, 40 * MS);
            let message = format!(
                "0/{n} nodes are available: {} Insufficient cpu, {} Insufficient memory. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.",
                1 + rng.below(nodes as u64),
                rng.below(4),
                n = nodes,
            );
            let record = emit.warn(rng, &scheduler, "FailedScheduling", message, at);
            object(emit, "MODIFIED", at + 2 * MS, pod, PodView::Unschedulable(at));
            for count in 2..=rng.between(2, 6) as u32 {
                at += rng.between(1500 * MS, 3500 * MS);
                emit.repeat(rng, &record, count, at);
            }
            at + rng.between(500 * MS, 2500 * MS)
        } else {
            created + rng.spread(5 * MS, 400 * MS)
        };
        pod.scheduled = scheduled;
        let node = node_name(pod.node);
        let message = format!("Successfully assigned {namespace}/{} to {node}", pod.name);
        emit.say(rng, &scheduler, "Scheduled", message, scheduled);
        object(emit, "MODIFIED", scheduled + 2 * MS, pod, PodView::Scheduled);

        // The kubelet: per container, its image, then create and start it.
        let mut t = scheduled + rng.between(300 * MS, 900 * MS);
        let paths: Vec<String> =
            pod.containers.iter().map(|c| format!("spec.containers{{{}}}", c.name)).collect();
        let kubelet = |i: usize| Voice {
            namespace,
            subject: &subject,
            field_path: Some(&paths[i]),
            component: "kubelet",
            host: Some(&node),
        };
        let (mut created_events, mut started_events, mut present) = (Vec::new(), Vec::new(), None);
        pod.started.clear();
        for (i, c) in pod.containers.iter().enumerate() {
            let v = kubelet(i);
            if rng.chance(if i == 0 { 0.85 } else { 0.1 }) {
                emit.say(rng, &v, "Pulling", format!("Pulling image \"{}\"", c.image), t);
                let pull = rng.spread(300 * MS, 15 * SEC);
                let waiting = pull + rng.spread(MS, 2 * SEC);
                t += waiting;
                let (pull, waiting) = (go_duration(pull), go_duration(waiting));
                let message = format!(
                    "Successfully pulled image \"{}\" in {pull} ({waiting} including waiting)",
                    c.image
                );
                emit.say(rng, &v, "Pulled", message, t);
            } else {
                t += rng.between(5 * MS, 40 * MS);
                let message = format!("Container image \"{}\" already present on machine", c.image);
                let record = emit.say(rng, &v, "Pulled", message, t);
                if i == 0 {
                    present = Some(record);
                }
            }
            t += rng.between(30 * MS, 150 * MS);
            created_events.push(emit.say(
                rng,
                &v,
                "Created",
                format!("Created container {}", c.name),
                t,
            ));
            t += rng.between(40 * MS, 200 * MS);
            started_events.push(emit.say(
                rng,
                &v,
                "Started",
                format!("Started container {}", c.name),
                t,
            ));
            pod.started.push(t);
        }
        let main = kubelet(0);
        match warning {
            Warning::CrashLoop => {
                // The container exits, the kubelet backs off, then starts it again:
                // the same Pulled/Created/Started Events, counted twice.
                let exited = t + rng.between(500 * MS, 1500 * MS);
                pod.crashed = Some((pod.started[0], exited));
                pod.restarts = 1;
                object(emit, "MODIFIED", exited + 3 * MS, pod, PodView::CrashLoop);
                let message = format!(
                    "Back-off restarting failed container {} in pod {}_{namespace}({})",
                    pod.containers[0].name, pod.name, pod.uid
                );
                let at = exited + rng.between(10 * MS, 100 * MS);
                emit.warn(rng, &main, "BackOff", message, at);
                t = exited + rng.between(2500 * MS, 4000 * MS);
                match &present {
                    Some(record) => emit.repeat(rng, record, 2, t),
                    None => {
                        let image = &pod.containers[0].image;
                        let message =
                            format!("Container image \"{image}\" already present on machine");
                        emit.say(rng, &main, "Pulled", message, t);
                    }
                }
                t += rng.between(30 * MS, 150 * MS);
                emit.repeat(rng, &created_events[0], 2, t);
                t += rng.between(40 * MS, 200 * MS);
                emit.repeat(rng, &started_events[0], 2, t);
                pod.started[0] = t;
                t += rng.spread(300 * MS, 2 * SEC);
            }
            Warning::Unhealthy => {
                let mut at = t + rng.between(800 * MS, 1500 * MS);
                let message = format!(
                    "Readiness probe failed: Get \"http://{ip}:8080/readyz\": dial tcp {ip}:8080: connect: connection refused",
                    ip = pod.ip
                );
                let record = emit.warn(rng, &main, "Unhealthy", message, at);
                for count in 2..=rng.between(2, 6) as u32 {
                    at += rng.between(1500 * MS, 3500 * MS);
                    emit.repeat(rng, &record, count, at);
                }
                t = at + rng.between(500 * MS, 2000 * MS);
            }
            _ => t += rng.spread(300 * MS, 3 * SEC),
        }
        pod.ready = t;
        object(emit, "MODIFIED", t + 2 * MS, pod, PodView::Running);
        t
    }

    /// A pod deleted at `at`: graceful termination, Killing per container, gone.
    /// Returns when it is gone.
    fn stop_pod(&self, rng: &mut Rng, namespace: &str, pod: &Pod, at: i64, emit: &mut Emit) -> i64 {
        let deadline = Some(at + 30 * SEC);
        let nodes = self.nodes;
        let t = at + rng.between(MS, 3 * MS);
        emit.object(
            "MODIFIED",
            t,
            &pod_json(namespace, pod, PodView::Running, deadline, emit.version(t), nodes),
        );
        let subject = pod.subject();
        let node = node_name(pod.node);
        for c in &pod.containers {
            let path = format!("spec.containers{{{}}}", c.name);
            let v = Voice {
                namespace,
                subject: &subject,
                field_path: Some(&path),
                component: "kubelet",
                host: Some(&node),
            };
            let t = at + rng.between(3 * MS, 30 * MS);
            emit.say(rng, &v, "Killing", format!("Stopping container {}", c.name), t);
        }
        let gone = at + rng.spread(300 * MS, 3 * SEC);
        emit.object(
            "DELETED",
            gone,
            &pod_json(namespace, pod, PodView::Running, deadline, emit.version(gone), nodes),
        );
        gone
    }

    fn deployment(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let m = w.replicas;
        let old = w.current.clone().expect("a Deployment has a ReplicaSet");
        let hash = rng.word(10);
        let new = ReplicaSet {
            name: format!("{}-{hash}", w.name),
            hash,
            uid: rng.uid(),
            revision: old.revision + 1,
            generation: 0,
            replicas: 0,
            created: start + rng.between(5 * MS, 20 * MS),
            containers: w.containers.clone(),
        };
        let mut t = new.created;
        let mut r =
            Rolling { new, old, new_pods: Vec::new(), old_pods: w.pods.clone(), ready: Vec::new() };
        let surge = m.div_ceil(4).max(1);
        let unavailable = m / 4;
        // The controller's first sync: surge, make room, surge again.
        self.scale_up(index, rng, &mut r, surge, t, emit);
        t += rng.between(20 * MS, 60 * MS);
        self.scale_down(index, rng, &mut r, m - unavailable, t, emit);
        t += rng.between(20 * MS, 60 * MS);
        self.scale_up(index, rng, &mut r, (surge + unavailable).min(m), t, emit);
        // Then at each sync after pods became ready: as many old pods go as
        // availability allows, as many new come as the surge allows.
        loop {
            let ready = r.ready.iter().filter(|&&at| at <= t).count() as u32;
            let old_count = r.old_pods.len() as u32;
            let progress = Progress {
                observed: self.workloads[index].generation,
                replicas: r.new.replicas + old_count,
                updated: r.new.replicas,
                ready: ready + old_count,
            };
            self.workloads[index].current = Some(r.new.clone());
            self.status(index, t + MS, progress, emit);
            if r.new.replicas == m && ready == m && old_count == 0 {
                break;
            }
            let next = r.ready.iter().copied().filter(|&at| at > t).min().unwrap_or(t);
            t = next + rng.between(50 * MS, 600 * MS);
            let ready = r.ready.iter().filter(|&&at| at <= t).count() as u32;
            let w = &self.workloads[index];
            emit.object(
                "MODIFIED",
                t,
                &replica_set_json(w, &r.new, emit.version(t), ready, r.new.replicas),
            );
            t += rng.between(5 * MS, 30 * MS);
            let old_target = (m - unavailable).saturating_sub(ready).min(old_count);
            if old_target < old_count {
                self.scale_down(index, rng, &mut r, old_target, t, emit);
                t += rng.between(20 * MS, 60 * MS);
            }
            let new_target = m.min(m + surge - old_target);
            if new_target > r.new.replicas {
                self.scale_up(index, rng, &mut r, new_target, t, emit);
            }
        }
        // revisionHistoryLimit 1: the ReplicaSet before the previous one goes.
        let w = &mut self.workloads[index];
        let older = w.previous.replace(r.old);
        w.current = Some(r.new);
        w.pods = r.new_pods;
        if let Some(older) = older {
            let at = t + rng.between(SEC, 2 * SEC);
            let w = &self.workloads[index];
            emit.object("DELETED", at, &replica_set_json(w, &older, emit.version(at), 0, 0));
        }
    }

    fn scale_up(
        &self,
        index: usize,
        rng: &mut Rng,
        r: &mut Rolling,
        to: u32,
        t: i64,
        emit: &mut Emit,
    ) {
        let w = &self.workloads[index];
        let subject = w.subject();
        let deployment = Voice::controller("deployment-controller", &w.namespace, &subject);
        let message = format!("Scaled up replica set {} to {to}", r.new.name);
        emit.say(rng, &deployment, "ScalingReplicaSet", message, t);
        let from = r.new.replicas;
        r.new.replicas = to;
        r.new.generation += 1;
        let at = t + rng.between(MS, 4 * MS);
        let ready = r.ready.iter().filter(|&&r| r <= at).count() as u32;
        let kind = if from == 0 { "ADDED" } else { "MODIFIED" };
        emit.object(kind, at, &replica_set_json(w, &r.new, emit.version(at), ready, from));
        let owner = Owner {
            api: "apps/v1",
            kind: "ReplicaSet",
            name: r.new.name.clone(),
            uid: r.new.uid.clone(),
        };
        let subject = r.new.subject();
        let controller = Voice::controller("replicaset-controller", &w.namespace, &subject);
        let mut created = at;
        for name in Self::pod_names(rng, &r.new.name, (to - from) as usize, &r.new_pods) {
            created += rng.between(2 * MS, 8 * MS);
            let mut pod = self.new_pod(rng, w, owner.clone(), name, created);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulCreate",
                format!("Created pod: {}", pod.name),
                at,
            );
            r.ready.push(self.start_pod(rng, &w.namespace, &mut pod, created, emit));
            r.new_pods.push(pod);
        }
    }

    fn scale_down(
        &self,
        index: usize,
        rng: &mut Rng,
        r: &mut Rolling,
        to: u32,
        t: i64,
        emit: &mut Emit,
    ) {
        let w = &self.workloads[index];
        let subject = w.subject();
        let deployment = Voice::controller("deployment-controller", &w.namespace, &subject);
        let message = format!("Scaled down replica set {} to {to}", r.old.name);
        emit.say(rng, &deployment, "ScalingReplicaSet", message, t);
        let from = r.old_pods.len() as u32;
        r.old.replicas = to;
        r.old.generation += 1;
        let at = t + rng.between(MS, 4 * MS);
        emit.object("MODIFIED", at, &replica_set_json(w, &r.old, emit.version(at), from, from));
        let subject = r.old.subject();
        let controller = Voice::controller("replicaset-controller", &w.namespace, &subject);
        let mut deleted = at;
        for _ in to..from {
            let pod = r.old_pods.pop().expect("counted");
            deleted += rng.between(MS, 5 * MS);
            let at = deleted + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulDelete",
                format!("Deleted pod: {}", pod.name),
                at,
            );
            self.stop_pod(rng, &w.namespace, &pod, deleted, emit);
        }
    }

    fn stateful_set(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        self.workloads[index].revision = rng.word(10);
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let (m, namespace, subject) = (w.replicas, w.namespace.clone(), w.subject());
        let controller = Voice::controller("statefulset-controller", &namespace, &subject);
        let mut pods = w.pods.clone();
        let mut t = start + rng.between(20 * MS, 80 * MS);
        let mut progress = Progress { observed: w.generation, replicas: m, updated: 0, ready: m };
        self.status(index, t, progress, emit);
        // Ordered: the highest ordinal first, the next once this one is ready again.
        for i in (0..pods.len()).rev() {
            t += rng.between(5 * MS, 30 * MS);
            let message =
                format!("delete Pod {} in StatefulSet {} successful", pods[i].name, subject.name);
            emit.say(rng, &controller, "SuccessfulDelete", message, t);
            let gone = self.stop_pod(rng, &namespace, &pods[i], t, emit);
            let created = gone + rng.between(20 * MS, 100 * MS);
            let w = &self.workloads[index];
            let mut pod = self.new_pod(rng, w, w.owner(), pods[i].name.clone(), created);
            let message =
                format!("create Pod {} in StatefulSet {} successful", pod.name, subject.name);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(rng, &controller, "SuccessfulCreate", message, at);
            let ready = self.start_pod(rng, &namespace, &mut pod, created, emit);
            pods[i] = pod;
            t = ready + rng.between(20 * MS, 300 * MS);
            progress.updated += 1;
            self.status(index, t, progress, emit);
        }
        self.workloads[index].pods = pods;
    }

    fn daemon_set(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        self.workloads[index].revision = rng.word(10);
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let (m, namespace, subject) = (w.replicas, w.namespace.clone(), w.subject());
        let controller = Voice::controller("daemonset-controller", &namespace, &subject);
        let mut pods = w.pods.clone();
        let mut t = start + rng.between(20 * MS, 80 * MS);
        let mut progress = Progress { observed: w.generation, replicas: m, updated: 0, ready: m };
        self.status(index, t, progress, emit);
        // maxUnavailable 10%: a batch of nodes at a time, each pod replaced in place.
        let batch = (m as usize / 10).max(1);
        for chunk in (0..pods.len()).collect::<Vec<_>>().chunks(batch) {
            let mut done = t;
            for &i in chunk {
                let deleted = t + rng.between(MS, 20 * MS);
                let message = format!("Deleted pod: {}", pods[i].name);
                let at = deleted + rng.between(2 * MS, 6 * MS);
                emit.say(rng, &controller, "SuccessfulDelete", message, at);
                let gone = self.stop_pod(rng, &namespace, &pods[i], deleted, emit);
                let created = gone + rng.between(200 * MS, 1200 * MS);
                let w = &self.workloads[index];
                let name = Self::pod_names(rng, &w.name, 1, &pods).remove(0);
                let mut pod = self.new_pod(rng, w, w.owner(), name, created);
                pod.node = pods[i].node;
                let message = format!("Created pod: {}", pod.name);
                let at = created + rng.between(2 * MS, 6 * MS);
                emit.say(rng, &controller, "SuccessfulCreate", message, at);
                done = done.max(self.start_pod(rng, &namespace, &mut pod, created, emit));
                pods[i] = pod;
            }
            t = done + rng.between(50 * MS, 500 * MS);
            progress.updated += chunk.len() as u32;
            self.status(index, t, progress, emit);
        }
        self.workloads[index].pods = pods;
    }

    fn job(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        let w = &mut self.workloads[index];
        w.spec_time = start;
        let version = w.version + 1;
        w.set_version(version);
        let w = &self.workloads[index];
        let job = Owner {
            api: "batch/v1",
            kind: "Job",
            name: format!("{}-{}", w.name, 28_000_000 + start / (60 * SEC)),
            uid: rng.uid(),
        };
        let namespace = w.namespace.clone();
        let subject =
            Subject { api: job.api, kind: job.kind, name: job.name.clone(), uid: job.uid.clone() };
        let controller = Voice::controller("job-controller", &namespace, &subject);
        let t = start + MS;
        let status = format!(r#"{{"startTime":"{}","active":0}}"#, stamp(start));
        emit.object("ADDED", t, &job_json(w, &job, start, emit.version(t), &status));
        let mut created = start + rng.between(5 * MS, 30 * MS);
        let mut pods = Vec::with_capacity(w.replicas as usize);
        let mut finished = start;
        for name in Self::pod_names(rng, &job.name, w.replicas as usize, &[]) {
            created += rng.between(2 * MS, 8 * MS);
            let mut pod = self.new_pod(rng, w, job.clone(), name, created);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulCreate",
                format!("Created pod: {}", pod.name),
                at,
            );
            let ready = self.start_pod(rng, &namespace, &mut pod, created, emit);
            let end = ready + rng.spread(2 * SEC, 20 * SEC);
            let view = PodView::Succeeded(end);
            emit.object(
                "MODIFIED",
                end,
                &pod_json(&namespace, &pod, view, None, emit.version(end), self.nodes),
            );
            finished = finished.max(end);
            pods.push((pod, end));
        }
        let t = finished + rng.between(10 * MS, 60 * MS);
        emit.say(rng, &controller, "Completed", "Job completed".into(), t);
        let complete = format!(
            r#"{{"startTime":"{}","completionTime":"{}","succeeded":{},"conditions":[{{"type":"Complete","status":"True","lastProbeTime":"{}","lastTransitionTime":"{}"}}]}}"#,
            stamp(start),
            stamp(t),
            w.replicas,
            stamp(t),
            stamp(t)
        );
        let at = t + 2 * MS;
        emit.object("MODIFIED", at, &job_json(w, &job, start, emit.version(at), &complete));
        // ttlSecondsAfterFinished: the Job and its pods go a minute later.
        let gone = t + 60 * SEC;
        emit.object("DELETED", gone, &job_json(w, &job, start, emit.version(gone), &complete));
        for (pod, end) in &pods {
            let at = gone + rng.between(20 * MS, 500 * MS);
            let view = PodView::Succeeded(*end);
            emit.object(
                "DELETED",
                at,
                &pod_json(&namespace, pod, view, Some(gone), emit.version(at), self.nodes),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339() {
        use super::{days_from_civil, go_duration, instant, stamp, SynthConfig, DAY};
        let t = SynthConfig::default().start;
        assert_eq!(stamp(t), "2024-05-13T08:00:00Z");
        assert_eq!(instant(t + 1_234_567), "2024-05-13T08:00:00.001234567Z");
        assert_eq!(stamp(days_from_civil(2000, 2, 29) * DAY), "2000-02-29T00:00:00Z");
        assert_eq!(go_duration(5_870_196_872), "5.87s");
        assert_eq!(go_duration(812_345_678), "812ms");
    }
}
