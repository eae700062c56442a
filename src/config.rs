//! Flags -> the plain settings of the correlator, the sources and the sinks.
//! Nothing past this module sees a clap type.

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::Path;

use crate::cli::{
    ClusterArgs, CorrelationArgs, EventsApiArg, ExportArgs, OtlpProtocol, Output, ReplayArgs,
    RunArgs, SynthArgs, TraceparentModeArg,
};
use crate::correlate;
use crate::error::{Error, Result};
use crate::leader::LeaseSettings;
use crate::sink::convert::ResourceOptions;
use crate::sink::json::JsonLines;
use crate::sink::otlp::{OtlpOptions, OtlpSink, Transport};
use crate::sink::{Mode, Out, Sink};
use crate::source::cluster::ClusterSettings;
use crate::source::watch::{now, EventsApi};
use crate::synth::SynthConfig;
use crate::time::Nanos;

/// The correlator's settings. The traceparent annotation's key is set for the
/// process here: objects are read with it, by every source.
pub fn correlation(args: &CorrelationArgs) -> correlate::Config {
    crate::observe::traceparent::set_annotation(&args.traceparent_annotation);
    correlate::Config {
        settle: args.settle.as_nanos() as Nanos,
        max_open: args.max_open.as_nanos() as Nanos,
        pending_limit: args.pending_limit,
        selector: args.selector.clone(),
        traceparent: match args.traceparent_mode {
            TraceparentModeArg::Link => correlate::TraceparentMode::Link,
            TraceparentModeArg::Parent => correlate::TraceparentMode::Parent,
        },
        ..correlate::Config::default()
    }
}

pub fn resource(args: &ExportArgs) -> ResourceOptions {
    ResourceOptions {
        service_name: args.service_name.clone(),
        cluster_name: args.cluster_name.clone(),
        extra: Vec::new(),
    }
}

pub fn otlp(args: &ExportArgs) -> OtlpOptions {
    OtlpOptions {
        endpoint: args.otlp_addr.clone(),
        transport: args.otlp_protocol.map(Transport::from),
        timeout: args.otlp_timeout,
        headers: args.otlp_headers.clone(),
        ca_file: args.otlp_ca_file.clone(),
        tls: args.otlp_secured,
    }
}

pub fn cluster(args: &ClusterArgs) -> ClusterSettings {
    ClusterSettings {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespaces: args.namespaces.clone(),
        exclude_namespaces: args.exclude_namespaces.clone(),
        events_api: args.events_api.into(),
        since: args.since,
    }
}

impl From<OtlpProtocol> for Transport {
    fn from(protocol: OtlpProtocol) -> Transport {
        match protocol {
            OtlpProtocol::Grpc => Transport::Grpc,
            OtlpProtocol::HttpProtobuf => Transport::HttpProtobuf,
        }
    }
}

impl From<EventsApiArg> for EventsApi {
    fn from(api: EventsApiArg) -> EventsApi {
        match api {
            EventsApiArg::CoreV1 => EventsApi::CoreV1,
            EventsApiArg::EventsV1 => EventsApi::EventsV1,
        }
    }
}

/// The Lease of `--leader-elect`, validated before anything starts.
pub fn lease(args: &RunArgs) -> Result<Option<LeaseSettings>> {
    let leader = &args.leader;
    if !leader.leader_elect {
        return Ok(None);
    }
    let namespace = leader.lease_namespace.clone().or_else(|| args.pod_namespace.clone());
    let namespace = namespace.ok_or_else(|| {
        Error::Flags("--leader-elect needs --lease-namespace (or POD_NAMESPACE)".into())
    })?;
    // Unique per process: a container restarted in the same Pod (same name, often
    // pid 1) is a new candidate, so a warm follower takes over instead of a
    // restarted leader reclaiming its own lease without the spans it had finished.
    let base = args.pod_name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
    });
    let identity = format!("{base}-{}-{:x}", std::process::id(), now() / 1_000_000);
    let settings = LeaseSettings {
        name: leader.lease_name.clone(),
        namespace,
        identity,
        duration: leader.lease_duration,
        renew_interval: leader.lease_renew_interval,
    };
    settings.validate().map_err(Error::Flags)?;
    Ok(Some(settings))
}

/// A replay draws a waterfall on a terminal, and writes OTLP/JSON for a program.
pub fn replay_output(args: &ReplayArgs) -> Output {
    args.output.unwrap_or(if args.out.is_none() && std::io::stdout().is_terminal() {
        Output::Waterfall
    } else {
        Output::OtlpJson
    })
}

/// The sink of `--output`, writing to `--out` or stdout. An OTLP sink is built
/// inside the tokio runtime that will drive it.
pub fn sink(
    output: Output,
    out: Option<&Path>,
    export: &ExportArgs,
    show_events: bool,
    mode: Mode,
) -> Result<Sink> {
    Ok(match output {
        Output::Otlp => Sink::Otlp(Box::new(OtlpSink::new(&otlp(export), resource(export))?)),
        Output::OtlpJson => {
            Sink::Json { lines: JsonLines::new(writer(out, mode)?, resource(export)), mode }
        }
        Output::Waterfall => Sink::waterfall(writer(out, mode)?, show_events, mode),
    })
}

/// A live run writes stdout as each batch comes, for whoever reads it.
fn writer(out: Option<&Path>, mode: Mode) -> Result<Out> {
    Ok(match out {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(Error::file(path))?)),
        None if mode == Mode::Live => Box::new(std::io::stdout()),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// The flags brought into range.
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
