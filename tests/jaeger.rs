//! `kspan replay --output otlp` into a real Jaeger (v2 all-in-one, in-memory), read
//! back through Jaeger's query API: each trace, span tree, span event, status,
//! link and service name is what `kspan replay -o otlp-json` says for the same
//! input, and Jaeger has nothing to warn about but what is listed here.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::jaeger::{JaegerSpan, JaegerTrace};
use support::script::require_installed;
use support::{replay, LiveJaeger};

/// What kspan-rs sends for `input`: its OTLP/JSON spans, and by span id their
/// links and status message.
struct Sent {
    spans: Vec<common::Span>,
    links: BTreeMap<String, Vec<(String, String)>>,
    status_messages: BTreeMap<String, String>,
}

fn sent(input: &Path) -> Sent {
    let json = replay::otlp_json(input);
    let (mut links, mut status_messages) = (BTreeMap::new(), BTreeMap::new());
    for line in json.lines() {
        let request: Value = serde_json::from_str(line).unwrap();
        for s in request["resourceSpans"].as_array().unwrap().iter().flat_map(|rs| {
            rs["scopeSpans"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|ss| ss["spans"].as_array().unwrap())
        }) {
            let to = s["links"].as_array().into_iter().flatten().map(|l| {
                (
                    l["traceId"].as_str().unwrap().to_string(),
                    l["spanId"].as_str().unwrap().to_string(),
                )
            });
            let id = s["spanId"].as_str().unwrap().to_string();
            let message = s["status"]["message"].as_str().unwrap_or_default();
            status_messages.insert(id.clone(), message.to_string());
            links.insert(id, to.collect());
        }
    }
    Sent { spans: common::spans(&json), links, status_messages }
}

/// A directory of its own for each Jaeger.
fn jaeger_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-jaeger-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Stops Jaeger and removes its directory.
fn remove(jaeger: LiveJaeger) {
    let dir = jaeger.dir().to_path_buf();
    drop(jaeger);
    let _ = std::fs::remove_dir_all(dir);
}

/// Replays `input` into a new Jaeger over `protocol`; returns Jaeger (to query) and
/// what kspan-rs sent, once Jaeger holds every span of it.
fn replay_into_jaeger(
    name: &str,
    input: &Path,
    protocol: &str,
) -> (LiveJaeger, Sent, Vec<JaegerTrace>) {
    let jaeger = LiveJaeger::start_in(&jaeger_dir(name)).expect("jaeger starts");
    let endpoint =
        if protocol == "grpc" { jaeger.otlp_grpc_endpoint() } else { jaeger.otlp_http_endpoint() };
    replay::send(input, protocol, endpoint);
    let sent = sent(input);
    let ids: Vec<String> =
        sent.spans.iter().map(|s| s.trace.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let traces = jaeger.query().wait_for_traces(&ids, sent.spans.len()).unwrap();
    (jaeger, sent, traces)
}

/// Tags Jaeger adds to every span: the instrumentation scope and the span kind.
const JAEGER_TAGS: [&str; 3] = ["otel.scope.name", "otel.scope.version", "span.kind"];

/// One span as Jaeger shows it against the span kspan-rs sent.
fn assert_span_as_sent(what: &str, got: &JaegerSpan, span: &common::Span, sent: &Sent) {
    let at = format!("{what}: {} {}", span.name, span.id);
    assert_eq!(
        (&got.trace, &got.parent, &got.name, &got.service),
        (&span.trace, &span.parent, &span.name, &span.service),
        "{at}: trace, parent, name, service"
    );
    assert_eq!(got.follows_from, sent.links[&span.id], "{at}: links are FOLLOWS_FROM references");
    // Every attribute, as sent; besides them, the scope, the kind and the status.
    for (k, v) in &span.attributes {
        assert_eq!(got.tags.get(k), Some(v), "{at}: tag {k}");
    }
    let error = span.status_code == 2;
    let message = &sent.status_messages[&span.id];
    let status_tags: &[&str] = match (error, message.is_empty()) {
        (false, _) => &[],
        (true, true) => &["error", "otel.status_code"],
        (true, false) => &["error", "otel.status_code", "otel.status_description"],
    };
    let extra: BTreeSet<&str> =
        got.tags.keys().map(String::as_str).filter(|k| !span.attributes.contains_key(*k)).collect();
    let expected_extra: BTreeSet<&str> = JAEGER_TAGS.iter().chain(status_tags).copied().collect();
    assert_eq!(extra, expected_extra, "{at}: tags Jaeger adds");
    if error {
        assert_eq!(got.tags["otel.status_code"], "ERROR", "{at}");
        assert_eq!(got.tags["error"], "true", "{at}");
        if !message.is_empty() {
            assert_eq!(&got.tags["otel.status_description"], message, "{at}");
        }
    }
    // Span events are Jaeger logs: their attributes are the fields, the event name
    // one more field, `event`.
    let mut logs: Vec<BTreeMap<String, String>> = got
        .logs
        .iter()
        .map(|l| {
            let mut fields = l.clone();
            assert!(fields.remove("event").is_some_and(|n| !n.is_empty()), "{at}: event name");
            fields
        })
        .collect();
    let mut events = span.events.clone();
    logs.sort();
    events.sort();
    assert_eq!(logs, events, "{at}: span events as logs");
    // Jaeger keeps microseconds.
    assert_eq!(got.start_us, span.start / 1000, "{at}: start");
    assert_eq!(got.duration_us, span.end.saturating_sub(span.start) / 1000, "{at}: duration");
}

const SKEW_NOT_APPLIED: &str = "clock skew adjustment disabled; not applying calculated delta of ";

/// Jaeger's clock skew delta for a child against its parent (its query service's
/// adjuster, which compares every child with its parent when their resources name
/// no host, as kspan-rs's do): none when the child fits in the parent or outlasts it
/// without starting before it.
fn clock_skew(child: &common::Span, parent: &common::Span) -> i128 {
    let (cs, ce, ps, pe) =
        (child.start as i128, child.end as i128, parent.start as i128, parent.end as i128);
    if ce - cs > pe - ps {
        return if cs < ps { ps - cs } else { 0 };
    }
    if cs >= ps && ce <= pe {
        return 0;
    }
    ps + ((pe - ps) - (ce - cs)) / 2 - cs
}

/// The warnings Jaeger attaches to a span kspan-rs sent: none, but for a child of
/// a later episode (a root is emitted once, when its first episode settles; see the
/// README's limits) that does not fit in its parent. Jaeger takes it for clock skew,
/// which it does not correct (its `max_clock_skew_adjust` is 0 by default) but reports.
fn assert_warnings(
    what: &str,
    got: &JaegerSpan,
    span: &common::Span,
    parent: Option<&common::Span>,
) {
    let at = format!("{what}: {} {}", span.name, span.id);
    assert!(span.end > span.start, "{at}: lasts no time");
    let skew = parent.is_some_and(|p| clock_skew(span, p) != 0);
    let expected: &[&str] = if skew { &[SKEW_NOT_APPLIED] } else { &[] };
    assert_eq!(got.warnings.len(), expected.len(), "{at}: {:?}", got.warnings);
    for (w, prefix) in got.warnings.iter().zip(expected) {
        assert!(w.starts_with(prefix), "{at}: {w:?}, expected {prefix:?}");
    }
}

/// Every trace Jaeger holds is the one kspan-rs sent, span for span, with no
/// warning on the trace (clock skew, a parent missing from the trace).
fn assert_traces_as_sent(what: &str, jaeger: &LiveJaeger, sent: &Sent, traces: &[JaegerTrace]) {
    let by_id: BTreeMap<&str, &common::Span> =
        sent.spans.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut seen = BTreeSet::new();
    for trace in traces {
        assert!(
            trace.warnings.is_empty(),
            "{what}: trace {} warnings {:?}",
            trace.id,
            trace.warnings
        );
        for got in &trace.spans {
            let span = by_id
                .get(got.id.as_str())
                .unwrap_or_else(|| panic!("{what}: Jaeger made up {got:?}"));
            assert!(seen.insert(&got.id), "{what}: span {} twice", got.id);
            assert_span_as_sent(what, got, span, sent);
            assert_warnings(what, got, span, by_id.get(span.parent.as_str()).copied());
        }
    }
    assert_eq!(seen.len(), sent.spans.len(), "{what}: every span sent is in Jaeger");
    let services: BTreeSet<String> = sent.spans.iter().map(|s| s.service.clone()).collect();
    assert_eq!(
        jaeger.query().services().unwrap(),
        services.into_iter().collect::<Vec<_>>(),
        "{what}: services"
    );
}

/// The root's own object name, e.g. (`k8s.deployment.name`, `px`).
fn workload_tag(root: &common::Span) -> (String, String) {
    root.attributes
        .iter()
        .find(|(k, _)| k.starts_with("k8s.") && k.ends_with(".name") && *k != "k8s.namespace.name")
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_else(|| panic!("no object name on {root:?}"))
}

/// Searching Jaeger for each root's service and object name finds exactly the
/// traces with a span of that service carrying that name (on the span or one of
/// its events, where Jaeger's search looks).
fn assert_search_finds_each_root(what: &str, jaeger: &LiveJaeger, sent: &Sent) {
    for root in sent.spans.iter().filter(|s| s.parent.is_empty()) {
        let (key, value) = workload_tag(root);
        let carries = |s: &common::Span| {
            s.attributes.get(&key) == Some(&value)
                || s.events.iter().any(|e| e.get(&key) == Some(&value))
        };
        let expected: BTreeSet<&str> = sent
            .spans
            .iter()
            .filter(|s| s.service == root.service && carries(s))
            .map(|s| s.trace.as_str())
            .collect();
        let found = jaeger.query().find_traces(&root.service, &[(&key, &value)]).unwrap();
        let found: BTreeSet<&str> = found.iter().map(|t| t.id.as_str()).collect();
        assert!(found.contains(root.trace.as_str()), "{what}: {} {key}={value}", root.service);
        assert_eq!(found, expected, "{what}: search {} {key}={value}", root.service);
    }
}

#[test]
fn a_deployment_rollout_is_one_trace_in_jaeger_found_by_its_name() {
    if !require_installed("a_deployment_rollout_is_one_trace_in_jaeger_found_by_its_name") {
        return;
    }
    let input = common::fixture("kspan/deployment-2-pods.main.yaml");
    for protocol in ["grpc", "http/protobuf"] {
        let (jaeger, sent, traces) =
            replay_into_jaeger(&protocol.replace('/', "-"), &input, protocol);
        let found = jaeger
            .query()
            .find_traces("deployment-controller", &[("k8s.deployment.name", "px")])
            .unwrap();
        assert_eq!(found.len(), 1, "{protocol}: one rollout of px, one trace");
        assert_eq!(found[0].id, sent.spans[0].trace, "{protocol}");
        let root: Vec<&JaegerSpan> =
            found[0].spans.iter().filter(|s| s.parent.is_empty()).collect();
        assert_eq!(root.len(), 1, "{protocol}: one root");
        assert_eq!(root[0].name, "Deployment.Rollout", "{protocol}");
        assert_traces_as_sent(protocol, &jaeger, &sent, &traces);
        remove(jaeger);
    }
}

#[test]
fn every_real_capture_reads_back_from_jaeger_as_kspan_sent_it() {
    if !require_installed("every_real_capture_reads_back_from_jaeger_as_kspan_sent_it") {
        return;
    }
    let inputs = common::real_captures();
    let mut errors = 0;
    for input in &inputs {
        let name = input.file_stem().unwrap().to_str().unwrap();
        let (jaeger, sent, traces) = replay_into_jaeger(name, input, "grpc");
        assert_traces_as_sent(name, &jaeger, &sent, &traces);
        assert_search_finds_each_root(name, &jaeger, &sent);
        errors +=
            traces.iter().flat_map(|t| &t.spans).filter(|s| s.tags.contains_key("error")).count();
        remove(jaeger);
    }
    // The sonobuoy tree's Warning events make Error spans: the status check above ran.
    assert!(errors > 0, "no Error span in any capture");
}
