//! `kspan run` against the real control plane, the node simulator playing the
//! kubelet, exporting straight to a real Jaeger (v2 all-in-one, in-memory); the
//! traces are read back through Jaeger's query API as its UI reads them: one trace
//! per rollout found by service and tag, the span tree, every API Event once as a
//! log with its `k8s.event.*` fields, Error status on the failed pull, the services,
//! and no warning from Jaeger on any trace or span.

mod driver;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use driver::*;
use support::jaeger::{JaegerQuery, JaegerSpan, JaegerTrace};
use support::{LiveJaeger, NodeSimConfig};

/// Every trace Jaeger holds, whole: searched by each service it knows.
fn every_trace(query: &JaegerQuery) -> Vec<JaegerTrace> {
    let mut ids = BTreeSet::new();
    for service in query.services().unwrap() {
        for t in query.find_traces(&service, &[]).unwrap() {
            ids.insert(t.id);
        }
    }
    ids.iter().map(|id| query.trace(id).unwrap()).collect()
}

/// Event uid -> the spans whose logs carry it.
fn logged_events(traces: &[JaegerTrace]) -> BTreeMap<String, Vec<&JaegerSpan>> {
    let mut by_uid: BTreeMap<String, Vec<&JaegerSpan>> = BTreeMap::new();
    for s in traces.iter().flat_map(|t| &t.spans) {
        for log in &s.logs {
            if let Some(uid) = log.get("k8s.event.uid") {
                by_uid.entry(uid.clone()).or_default().push(s);
            }
        }
    }
    by_uid
}

/// The names below each span name that a Deployment's rollout may have.
fn allowed_children(name: &str) -> &'static [&'static str] {
    match name {
        "Deployment.Rollout" => &["ReplicaSet.ScaleUp", "ReplicaSet.ScaleDown"],
        "ReplicaSet.ScaleUp" => &["Pod.Startup"],
        "ReplicaSet.ScaleDown" => &["Pod.Termination"],
        "Pod.Startup" => {
            &["Pod.Scheduling", "Pod.ImagePull", "Pod.ContainerStart", "Pod.Readiness"]
        }
        _ => &[],
    }
}

fn seconds(s: &JaegerSpan) -> f64 {
    s.duration_us as f64 / 1e6
}

#[test]
fn live_rollouts_read_back_from_jaeger_one_trace_each_without_warnings() {
    let Some(live) =
        Live::start_or_skip("live_rollouts_read_back_from_jaeger_one_trace_each_without_warnings")
    else {
        return;
    };
    let jaeger_dir = live.dir().join("jaeger");
    std::fs::create_dir_all(&jaeger_dir).unwrap();
    let jaeger = LiveJaeger::start_in(&jaeger_dir).expect("jaeger starts");
    let mut kspan = live.kspan(&["--otlp-addr", jaeger.otlp_grpc_endpoint(), "--settle", "3s"]);
    // A slow pull on every pod; the failing pull retried only after the test's end,
    // so its rollout is one episode.
    let pull = Duration::from_millis(2500);
    let _sim = live.node_sim(NodeSimConfig {
        pull_delay: pull,
        image_cache: false,
        back_off_initial: Duration::from_secs(120),
        back_off_max: Duration::from_secs(120),
        ..NodeSimConfig::with_nodes(2)
    });

    live.apply("web.yaml", &deployment("web", "nginx:1.19", 2, "100m"));
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(5));
    live.kubectl(&["set", "image", "deployment/web", "main=nginx:1.20"]);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    live.apply("broken.yaml", &deployment("broken", "registry.example/missing-app:1.0", 2, "100m"));
    live.wait_for_reason("default", "Failed", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(6));
    kspan.stop();

    // Jaeger stores what it receives in batches: wait until every API Event is logged.
    let events = live.api_events("default");
    let t0 = Instant::now();
    let traces = loop {
        let traces = every_trace(jaeger.query());
        let logged = logged_events(&traces);
        if events.keys().all(|uid| logged.contains_key(uid)) {
            break traces;
        }
        let missing: Vec<_> =
            events.iter().filter(|(uid, _)| !logged.contains_key(*uid)).map(|(_, e)| e).collect();
        assert!(t0.elapsed() < Duration::from_secs(30), "not in Jaeger: {missing:?}");
        std::thread::sleep(Duration::from_millis(500));
    };

    // Every API Event once, as a log with its fields.
    for (uid, spans) in logged_events(&traces) {
        assert_eq!(spans.len(), 1, "event {uid} logged on {} spans", spans.len());
        let log = spans[0].logs.iter().find(|l| l.get("k8s.event.uid") == Some(&uid)).unwrap();
        for field in ["event", "k8s.event.reason", "k8s.event.type", "k8s.event.message"] {
            assert!(log.get(field).is_some_and(|v| !v.is_empty()), "event {uid}: {field}");
        }
    }

    // No warning anywhere: no clock skew, no missing parent, no zero-length span.
    for t in &traces {
        assert!(t.warnings.is_empty(), "trace {}: {:?}", t.id, t.warnings);
        let ids: BTreeSet<&str> = t.spans.iter().map(|s| s.id.as_str()).collect();
        for s in &t.spans {
            assert!(s.warnings.is_empty(), "{} {}: {:?}", s.name, s.id, s.warnings);
            assert!(s.parent.is_empty() || ids.contains(s.parent.as_str()), "{s:?}");
            let keys: BTreeSet<&String> = s.tag_keys.iter().collect();
            assert_eq!(keys.len(), s.tag_keys.len(), "a tag twice: {s:?}");
        }
    }

    // One trace per rollout of web, found as a user finds it.
    let query = jaeger.query();
    let web =
        query.find_traces("deployment-controller", &[("k8s.deployment.name", "web")]).unwrap();
    assert_eq!(web.len(), 2, "create and set image: {web:#?}");
    let mut generations = BTreeSet::new();
    for t in &web {
        let roots: Vec<&JaegerSpan> = t.spans.iter().filter(|s| s.parent.is_empty()).collect();
        assert_eq!(roots.len(), 1, "trace {}", t.id);
        assert_eq!(roots[0].name, "Deployment.Rollout");
        assert_eq!(roots[0].service, "deployment-controller");
        generations.insert(roots[0].tags["kspan.rollout.generation"].clone());
        let by_id: BTreeMap<&str, &JaegerSpan> =
            t.spans.iter().map(|s| (s.id.as_str(), s)).collect();
        for s in t.spans.iter().filter(|s| !s.parent.is_empty()) {
            let parent = by_id[s.parent.as_str()];
            assert!(
                allowed_children(&parent.name).contains(&s.name.as_str()),
                "{} under {}",
                s.name,
                parent.name
            );
        }
        // Both pods of the rollout, each with its slow pull, the slowest step.
        let starts: Vec<&&JaegerSpan> =
            by_id.values().filter(|s| s.name == "Pod.Startup").collect();
        assert_eq!(starts.len(), 2, "trace {}", t.id);
        for span in by_id.values().filter(|s| s.name == "Pod.ImagePull") {
            let d = seconds(span);
            assert!((d - pull.as_secs_f64()).abs() <= 0.25, "pull {d:.3} s, expected 2.5 s");
            assert_eq!(span.service, "kubelet");
        }
    }
    assert_eq!(generations, BTreeSet::from(["1".to_string(), "2".to_string()]));

    // The failed pull: an Error span with the kubelet's message of why.
    let broken =
        query.find_traces("deployment-controller", &[("k8s.deployment.name", "broken")]).unwrap();
    assert_eq!(broken.len(), 1);
    let failed: Vec<&JaegerSpan> =
        broken[0].spans.iter().filter(|s| s.tags.contains_key("error")).collect();
    assert!(!failed.is_empty(), "{broken:#?}");
    for s in failed {
        assert_eq!(
            (s.tags["error"].as_str(), s.tags["otel.status_code"].as_str()),
            ("true", "ERROR")
        );
        assert!(s.tags["otel.status_description"].contains("not found"), "{s:?}");
    }

    // The services are the components that reported, named without instance ids.
    let services = query.services().unwrap();
    for expected in
        ["default-scheduler", "deployment-controller", "kubelet", "replicaset-controller"]
    {
        assert!(services.iter().any(|s| s == expected), "{expected} in {services:?}");
    }
    assert!(services.len() <= 5, "few services: {services:?}");
}
