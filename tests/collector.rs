//! kspan-rs through OpenTelemetry Collectors running the configurations of
//! `examples/` as they are (the script points their endpoints at loopback) into
//! real Jaegers: every span `kspan replay -o otlp-json` says it sends arrives, once,
//! and the loadbalancing example keeps every trace whole at one backend.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::jaeger::JaegerTrace;
use support::script::require_installed;
use support::{replay, LiveCollector, LiveJaeger};

/// A directory of its own for each piece.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-collector-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A span as it travels: (trace, span, parent, name, service).
type Ids = (String, String, String, String, String);

/// What kspan-rs sends for `input`.
fn sent(input: &Path) -> Vec<Ids> {
    let spans = common::spans(&replay::otlp_json(input));
    spans.into_iter().map(|s| (s.trace, s.id, s.parent, s.name, s.service)).collect()
}

fn trace_ids(spans: &[Ids]) -> Vec<String> {
    spans.iter().map(|s| s.0.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// What a backend stored.
fn stored(traces: &[JaegerTrace]) -> Vec<Ids> {
    let spans = traces.iter().flat_map(|t| &t.spans);
    spans
        .map(|s| {
            (s.trace.clone(), s.id.clone(), s.parent.clone(), s.name.clone(), s.service.clone())
        })
        .collect()
}

fn sorted(mut spans: Vec<Ids>) -> Vec<Ids> {
    spans.sort();
    spans
}

/// A collector running `examples/collector-jaeger.yaml` in front of a Jaeger of its own.
struct Backend {
    // Declared first, dropped first: nothing is left in flight to a stopped Jaeger.
    collector: LiveCollector,
    jaeger: LiveJaeger,
}

impl Backend {
    fn start(name: &str) -> Backend {
        let jaeger = LiveJaeger::start_in(&dir(&format!("{name}-jaeger"))).expect("jaeger starts");
        let collector = LiveCollector::start_in(
            &dir(&format!("{name}-collector")),
            "collector-jaeger.yaml",
            &[jaeger.otlp_grpc_endpoint()],
        )
        .expect("the collector starts with examples/collector-jaeger.yaml");
        Backend { collector, jaeger }
    }

    /// Stops both and removes their directories.
    fn remove(self) {
        let dirs = [self.collector.dir().to_path_buf(), self.jaeger.dir().to_path_buf()];
        drop(self);
        for d in dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn every_span_of_every_real_capture_reaches_jaeger_through_the_collector_example() {
    if !require_installed(
        "every_span_of_every_real_capture_reaches_jaeger_through_the_collector_example",
    ) {
        return;
    }
    let mut delivered = 0;
    for (i, input) in common::real_captures().iter().enumerate() {
        let name = input.file_stem().unwrap().to_str().unwrap();
        // The example takes OTLP over gRPC and HTTP: the first capture goes over HTTP.
        let protocol = if i == 0 { "http/protobuf" } else { "grpc" };
        let backend = Backend::start(name);
        let endpoint = &backend.collector.env[if i == 0 {
            "KSPAN_COLLECTOR_OTLP_HTTP_ENDPOINT"
        } else {
            "KSPAN_COLLECTOR_OTLP_GRPC_ENDPOINT"
        }];
        replay::send(input, protocol, endpoint);
        let sent = sent(input);
        let traces =
            backend.jaeger.query().wait_for_traces(&trace_ids(&sent), sent.len()).unwrap_or_else(
                |e| panic!("{name}: {e:#}\ncollector log:\n{}", backend.collector.log()),
            );
        assert_eq!(sorted(stored(&traces)), sorted(sent.clone()), "{name} over {protocol}");
        delivered += sent.len();
        backend.remove();
    }
    assert!(delivered > 100, "the captures made {delivered} spans");
}

/// Polls both backends until they hold `sent.len()` spans of the traces sent in
/// all; returns each backend's traces by id.
fn wait_for_both(backends: &[Backend; 2], sent: &[Ids]) -> [BTreeMap<String, JaegerTrace>; 2] {
    let ids = trace_ids(sent);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = backends.each_ref().map(|b| {
            let query = b.jaeger.query();
            let traces = ids.iter().filter_map(|id| query.trace(id).ok());
            traces.map(|t| (t.id.clone(), t)).collect::<BTreeMap<_, _>>()
        });
        let spans: usize = held.iter().flat_map(|h| h.values()).map(|t| t.spans.len()).sum();
        if spans >= sent.len() || Instant::now() > deadline {
            return held;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_loadbalancing_example_keeps_every_trace_whole_at_one_backend() {
    if !require_installed("the_loadbalancing_example_keeps_every_trace_whole_at_one_backend") {
        return;
    }
    let backends = [Backend::start("backend-a"), Backend::start("backend-b")];
    let targets = backends.each_ref().map(|b| b.collector.grpc_endpoint());
    let tier1 = LiveCollector::start_in(&dir("tier1"), "collector-loadbalancing.yaml", &targets)
        .expect("the collector starts with examples/collector-loadbalancing.yaml");
    // Every real capture in one replay: 29 traces.
    let input = common::fixtures();
    replay::send(&input, "grpc", tier1.grpc_endpoint());
    let sent = sent(&input);
    let held = wait_for_both(&backends, &sent);

    let logs = || format!("tier 1 log:\n{}", tier1.log());
    let all: Vec<JaegerTrace> = held.iter().flat_map(|h| h.values().cloned()).collect();
    assert_eq!(sorted(stored(&all)), sorted(sent.clone()), "every span once\n{}", logs());
    for id in trace_ids(&sent) {
        let at: Vec<usize> = (0..2).filter(|b| held[*b].contains_key(&id)).collect();
        assert_eq!(at.len(), 1, "trace {id} at backends {at:?}");
    }
    let counts = held.each_ref().map(BTreeMap::len);
    assert!(counts.iter().all(|n| *n > 0), "traces per backend {counts:?}: both get some");

    let tier1_dir = tier1.dir().to_path_buf();
    drop(tier1);
    let _ = std::fs::remove_dir_all(tier1_dir);
    backends.into_iter().for_each(Backend::remove);
}
