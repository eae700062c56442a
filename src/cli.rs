//! Command line: every flag defined once, with its doc and environment variable,
//! validated into plain data before anything is built.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Without a subcommand, kspan-rs runs against the cluster (like kspan, whose
/// flags it accepts).
#[derive(Debug, Parser)]
#[command(
    name = "kspan",
    version,
    about = "Kubernetes activity as OpenTelemetry traces: one trace per rollout",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay captures and dumps (kspan captures, kubectl -o json|yaml, watch-event
    /// lines, cluster-info dumps, directory trees) into traces. Without a path, the
    /// bundled example capture (a real kubectl rollout of a 2-pod Deployment).
    Replay(Box<ReplayArgs>),
    /// Watch a cluster (in-cluster config or kubeconfig) and export each rollout
    /// as a trace when it settles.
    Run(Box<RunArgs>),
    /// Watch a cluster and write everything observed as watch-event JSON lines
    /// with arrival times, for `kspan replay`.
    Record(RecordArgs),
    /// Write a deterministic synthetic capture (watch-event JSON lines) of many
    /// workloads rolling out at once, for benchmarks and scale tests.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: KUBECONFIG, ~/.kube/config, else in-cluster].
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context [default: the current context].
    #[arg(long)]
    pub context: Option<String>,

    /// Watch only this namespace (repeatable) [default: all].
    #[arg(long = "namespace", short = 'n')]
    pub namespaces: Vec<String>,

    /// Which Event API to watch.
    #[arg(long, default_value = "core/v1", env = "KSPAN_EVENTS_API")]
    pub events_api: EventsApiArg,

    /// Do not watch this namespace (repeatable; a field selector, so the API
    /// server does not even send its objects).
    #[arg(long = "exclude-namespace")]
    pub exclude_namespaces: Vec<String>,

    /// Also replay the Events the API server still holds from this long ago
    /// (they live about one hour) [default: only activity from now on].
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Where spans go.
    #[arg(long, short, default_value = "otlp")]
    pub output: Output,

    /// Write to this file instead of stdout (waterfall, otlp-json).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Also write everything observed to this file, as `kspan record` does.
    #[arg(long)]
    pub capture_to: Option<PathBuf>,

    /// Most finished spans queued for the sink (besides the batch being sent);
    /// beyond it the oldest are dropped (counted).
    #[arg(long, default_value_t = 50_000, env = "KSPAN_QUEUE_SIZE")]
    pub queue_size: usize,

    /// Where /metrics, /healthz and /readyz are served (port 0: any free port).
    #[arg(long, default_value = "0.0.0.0:8080", env = "KSPAN_METRICS_ADDR")]
    pub metrics_addr: std::net::SocketAddr,

    /// Label the pod startup and rollout histograms with the top-level object's
    /// name (`workload`): one series per workload, so off by default.
    #[arg(long, env = "KSPAN_METRICS_WORKLOAD_LABEL")]
    pub metrics_workload_label: bool,

    /// The Pod kspan-rs runs as (downward API): its own failures are reported as
    /// Warning Events on it.
    #[arg(long, env = "POD_NAME", requires = "pod_namespace")]
    pub pod_name: Option<String>,

    /// Namespace of --pod-name.
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,

    /// On SIGTERM, time allowed to finish and deliver what is pending.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    #[command(flatten)]
    pub leader: LeaderArgs,

    #[command(flatten)]
    pub correlation: CorrelationArgs,

    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct LeaderArgs {
    /// Run as one of several replicas: they elect a leader through a Lease; all
    /// watch and correlate, only the leader exports. A replica's identity is
    /// --pod-name (else the hostname), its pid and start time.
    #[arg(long)]
    pub leader_elect: bool,

    /// Name of the coordination.k8s.io Lease.
    #[arg(long, default_value = "kspan-rs", env = "KSPAN_LEASE_NAME")]
    pub lease_name: String,

    /// Namespace of the Lease [default: POD_NAMESPACE].
    #[arg(long)]
    pub lease_namespace: Option<String>,

    /// How long the lease holds after the leader's last renewal: the longest a
    /// dead leader goes unnoticed (whole seconds).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,

    /// How often the leader renews the lease (whole seconds, shorter than
    /// --lease-duration).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub lease_renew_interval: Duration,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// The capture file (watch-event JSON lines).
    #[arg(long)]
    pub out: PathBuf,

    /// Stop after this long [default: at SIGINT/SIGTERM].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `kspan synth`: write a synthetic capture.
#[derive(Debug, Clone, Args)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Each trace as an indented Gantt chart in the terminal.
    Waterfall,
    /// OTLP/JSON: one ExportTraceServiceRequest per line (the collector's file exporter format).
    OtlpJson,
    /// Send to an OTLP collector.
    Otlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsApiArg {
    #[value(name = "core/v1")]
    CoreV1,
    #[value(name = "events.k8s.io/v1")]
    EventsV1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    Grpc,
    #[value(name = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Files or directories to replay (format detected per file).
    pub paths: Vec<PathBuf>,

    /// Where spans go [default: waterfall on a terminal, otlp-json otherwise].
    #[arg(long, short)]
    pub output: Option<Output>,

    /// Write to this file instead of stdout (waterfall, otlp-json).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Waterfall: hide the Kubernetes Events under each span.
    #[arg(long)]
    pub no_events: bool,

    #[command(flatten)]
    pub correlation: CorrelationArgs,

    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct CorrelationArgs {
    /// Quiet time (capture time) after which a rollout's spans are finished.
    #[arg(long, default_value = "5s", value_parser = parse_duration, env = "KSPAN_SETTLE")]
    pub settle: Duration,

    /// Longest a rollout stays open while pods are still in flight.
    #[arg(long, default_value = "10m", value_parser = parse_duration, env = "KSPAN_MAX_OPEN")]
    pub max_open: Duration,

    /// Most events waiting for their object before the oldest is placed early.
    #[arg(long, default_value_t = 10_000, env = "KSPAN_PENDING_LIMIT")]
    pub pending_limit: usize,

    /// Export only rollouts whose top-level object's labels match this label
    /// selector (`app=web,tier!=db,env in (prod,staging),!canary`). A top-level
    /// object never seen counts as one without labels.
    #[arg(long, short = 'l', value_parser = crate::correlate::Selector::parse, env = "KSPAN_SELECTOR")]
    pub selector: Option<crate::correlate::Selector>,

    /// The annotation in which a CI or GitOps pipeline writes its W3C traceparent
    /// on the top-level object it changes.
    #[arg(
        long,
        default_value = crate::observe::traceparent::DEFAULT_ANNOTATION,
        value_parser = parse_annotation_key,
        env = "KSPAN_TRACEPARENT_ANNOTATION"
    )]
    pub traceparent_annotation: String,

    /// What the pipeline's traceparent makes of the rollout's root: a link to the
    /// pipeline's span, or its child in the pipeline's trace.
    #[arg(long, value_enum, default_value = "link", env = "KSPAN_TRACEPARENT_MODE")]
    pub traceparent_mode: TraceparentModeArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceparentModeArg {
    /// The rollout keeps its own trace; its root links to the pipeline's span.
    Link,
    /// The rollout joins the pipeline's trace, its root a child of the pipeline's span.
    Parent,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// One service.name for every span, instead of the reporting component.
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,

    /// Resource attribute k8s.cluster.name.
    #[arg(long, env = "KSPAN_CLUSTER_NAME")]
    pub cluster_name: Option<String>,

    /// OTLP collector endpoint, e.g. http://127.0.0.1:4317 [default: from
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else localhost].
    #[arg(long, alias = "otlp-endpoint")]
    pub otlp_addr: Option<String>,

    /// OTLP transport [default: from OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, else grpc].
    #[arg(long)]
    pub otlp_protocol: Option<OtlpProtocol>,

    /// Extra OTLP request headers, `key=value,key2=value2` [also read from
    /// OTEL_EXPORTER_OTLP_HEADERS by the exporter].
    #[arg(long, value_delimiter = ',', value_parser = parse_header)]
    pub otlp_headers: Vec<(String, String)>,

    /// gRPC over TLS (kspan's flag); the server certificate must chain to a
    /// system root or to --otlp-ca-file.
    #[arg(long)]
    pub otlp_secured: bool,

    /// CA certificate (PEM) that signs the collector's certificate; implies TLS.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_CERTIFICATE")]
    pub otlp_ca_file: Option<PathBuf>,

    /// OTLP export timeout per request.
    #[arg(long, value_parser = parse_duration)]
    pub otlp_timeout: Option<Duration>,
}

/// An annotation key as Kubernetes takes it: `[prefix/]name`, the prefix a DNS
/// subdomain, the name alphanumerics with `-`, `_`, `.` inside.
pub fn parse_annotation_key(key: &str) -> Result<String, String> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let name_ok = name.len() <= 63
        && alnum(name.chars().next())
        && alnum(name.chars().last())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let prefix_ok = !key.contains('/')
        || (prefix.len() <= 253
            && prefix.split('.').all(|l| {
                alnum(l.chars().next())
                    && alnum(l.chars().last())
                    && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            }));
    if name_ok && prefix_ok {
        Ok(key.to_string())
    } else {
        Err(format!(
            "{key:?} is not an annotation key ([prefix/]name, e.g. example.com/traceparent)"
        ))
    }
}

/// "500ms", "5s", "10m", "1h", "1h30m".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    if chars.peek().is_none() {
        return Err("empty duration".into());
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&next) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
            unit.push(next);
            chars.next();
        }
        let value: f64 =
            number.parse().map_err(|_| format!("{text:?}: expected a number before {unit:?}"))?;
        let seconds = match unit.as_str() {
            "ms" => value / 1000.0,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s, m, h)")),
        };
        total += Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("{text:?}: missing unit (use ms, s, m, h)"));
    }
    // Longer is a typo; and instants plus durations must stay far from overflow.
    if total > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!("{text:?}: longer than a year"));
    }
    Ok(total)
}

/// One `key=value` of `--otlp-headers k=v,k2=v2` (the OTEL_EXPORTER_OTLP_HEADERS syntax).
pub fn parse_header(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("{pair:?}: expected key=value")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("kspan").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn run(args: &[&str]) -> RunArgs {
        match parse(&[&["run"], args].concat()).command {
            Some(Command::Run(run)) => *run,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn replay(args: &[&str]) -> ReplayArgs {
        match parse(&[&["replay"], args].concat()).command {
            Some(Command::Replay(replay)) => *replay,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("9000h").is_err());
        assert!(parse_duration("1e300h").is_err());
    }

    #[test]
    fn cluster_flags() {
        let args = run(&[
            "--kubeconfig=/k",
            "--context=c",
            "-n=a",
            "--namespace=b",
            "--events-api=events.k8s.io/v1",
            "--exclude-namespace=kube-system",
            "--since=10m",
        ]);
        let c = args.cluster;
        assert_eq!(c.kubeconfig.as_deref(), Some(Path::new("/k")));
        assert_eq!(c.context.as_deref(), Some("c"));
        assert_eq!(c.namespaces, ["a", "b"]);
        assert_eq!(c.events_api, EventsApiArg::EventsV1);
        assert_eq!(c.exclude_namespaces, ["kube-system"]);
        assert_eq!(c.since, Some(Duration::from_secs(600)));
        assert_eq!(run(&["--events-api", "core/v1"]).cluster.events_api, EventsApiArg::CoreV1);
    }

    #[test]
    fn run_flags() {
        let args = run(&[
            "-o=otlp-json",
            "--out=/o",
            "--capture-to=/c",
            "--queue-size=7",
            "--metrics-addr=127.0.0.1:9",
            "--metrics-workload-label",
            "--pod-name=p",
            "--pod-namespace=ns",
            "--shutdown-grace=3s",
        ]);
        assert_eq!(args.output, Output::OtlpJson);
        assert_eq!(args.out.as_deref(), Some(Path::new("/o")));
        assert_eq!(args.capture_to.as_deref(), Some(Path::new("/c")));
        assert_eq!(args.queue_size, 7);
        assert_eq!(args.metrics_addr, "127.0.0.1:9".parse().unwrap());
        assert!(args.metrics_workload_label);
        assert!(!run(&[]).metrics_workload_label);
        assert_eq!(args.pod_name.as_deref(), Some("p"));
        assert_eq!(args.pod_namespace.as_deref(), Some("ns"));
        assert_eq!(args.shutdown_grace, Duration::from_secs(3));
        assert_eq!(run(&["--output", "waterfall"]).output, Output::Waterfall);
        assert_eq!(run(&["--shutdown-grace=1s"]).output, Output::Otlp, "the default");
    }

    #[test]
    fn leader_flags() {
        let l = run(&[
            "--leader-elect",
            "--lease-name=l",
            "--lease-namespace=ns",
            "--lease-duration=20s",
            "--lease-renew-interval=4s",
        ])
        .leader;
        assert!(l.leader_elect);
        assert_eq!(l.lease_name, "l");
        assert_eq!(l.lease_namespace.as_deref(), Some("ns"));
        assert_eq!(l.lease_duration, Duration::from_secs(20));
        assert_eq!(l.lease_renew_interval, Duration::from_secs(4));
        assert!(!run(&[]).leader.leader_elect);
    }

    #[test]
    fn correlation_flags() {
        let c =
            replay(&["--settle=2s", "--max-open=1m", "--pending-limit=9", "-l=app=web,tier!=db"])
                .correlation;
        assert_eq!(c.settle, Duration::from_secs(2));
        assert_eq!(c.max_open, Duration::from_secs(60));
        assert_eq!(c.pending_limit, 9);
        assert_eq!(c.selector.map(|s| s.to_string()).as_deref(), Some("app=web,tier!=db"));
        assert!(Cli::try_parse_from(["kspan", "replay", "--selector=app in"]).is_err());
    }

    #[test]
    fn traceparent_flags() {
        let c = replay(&[]).correlation;
        assert_eq!(c.traceparent_annotation, "kspan.io/traceparent");
        assert_eq!(c.traceparent_mode, TraceparentModeArg::Link);
        let c = run(&["--traceparent-annotation=ci.example.com/trace-parent"]).correlation;
        assert_eq!(c.traceparent_annotation, "ci.example.com/trace-parent");
        assert_eq!(
            replay(&["--traceparent-annotation=traceparent"]).correlation.traceparent_annotation,
            "traceparent"
        );
        let c = replay(&["--traceparent-mode", "parent"]).correlation;
        assert_eq!(c.traceparent_mode, TraceparentModeArg::Parent);
        for bad in ["", "a/", "/x", "Bad_Prefix/x", "x/y/z", "-x", "x y"] {
            let arg = format!("--traceparent-annotation={bad}");
            assert!(Cli::try_parse_from(["kspan", "replay", &arg]).is_err(), "{bad:?}");
        }
        assert!(Cli::try_parse_from(["kspan", "replay", "--traceparent-mode=child"]).is_err());
    }

    #[test]
    fn export_flags() {
        let e = run(&[
            "--service-name=s",
            "--cluster-name=prod",
            "--otlp-addr=http://c:4317",
            "--otlp-protocol=http/protobuf",
            "--otlp-headers=a=1,b = 2",
            "--otlp-secured",
            "--otlp-ca-file=/ca.pem",
            "--otlp-timeout=5s",
        ])
        .export;
        assert_eq!(e.service_name.as_deref(), Some("s"));
        assert_eq!(e.cluster_name.as_deref(), Some("prod"));
        assert_eq!(e.otlp_addr.as_deref(), Some("http://c:4317"));
        assert_eq!(e.otlp_protocol, Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(e.otlp_headers, [("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert!(e.otlp_secured);
        assert_eq!(e.otlp_ca_file.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(e.otlp_timeout, Some(Duration::from_secs(5)));
        // kspan's own spelling.
        let e = run(&["--otlp-endpoint=c:4317", "--otlp-protocol=grpc"]).export;
        assert_eq!(e.otlp_addr.as_deref(), Some("c:4317"));
        assert_eq!(e.otlp_protocol, Some(OtlpProtocol::Grpc));
        assert!(Cli::try_parse_from(["kspan", "run", "--otlp-headers=novalue"]).is_err());
    }

    #[test]
    fn replay_flags() {
        let r = replay(&["a.yaml", "dir", "-o=waterfall", "--out=/o", "--no-events"]);
        assert_eq!(r.paths, [Path::new("a.yaml"), Path::new("dir")]);
        assert_eq!(r.output, Some(Output::Waterfall));
        assert_eq!(r.out.as_deref(), Some(Path::new("/o")));
        assert!(r.no_events);
        assert_eq!(replay(&[]).output, None, "chosen by where stdout goes");
    }

    #[test]
    fn record_flags() {
        match parse(&["record", "--out=/c.jsonl", "--duration=1m", "-n=a"]).command {
            Some(Command::Record(r)) => {
                assert_eq!(r.out, Path::new("/c.jsonl"));
                assert_eq!(r.duration, Some(Duration::from_secs(60)));
                assert_eq!(r.cluster.namespaces, ["a"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["kspan", "record"]).is_err(), "--out is required");
    }

    #[test]
    fn synth_flags() {
        let args = [
            "synth",
            "--pods=10",
            "--pods-per-workload=5",
            "--rollouts=2",
            "--seed=3",
            "--warnings-percent=1.5",
            "--rate=4",
            "--out=/s.jsonl",
        ];
        match parse(&args).command {
            Some(Command::Synth(s)) => {
                assert_eq!((s.pods, s.pods_per_workload, s.rollouts, s.seed), (10, 5, 2, 3));
                assert_eq!((s.warnings_percent, s.rate), (1.5, 4.0));
                assert_eq!(s.out.as_deref(), Some(Path::new("/s.jsonl")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_subcommand_it_runs_with_kspans_flags() {
        let cli = parse(&["--otlp-addr=collector:4317", "-n=default"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.run.export.otlp_addr.as_deref(), Some("collector:4317"));
        assert_eq!(cli.run.cluster.namespaces, ["default"]);
    }
}
