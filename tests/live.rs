//! kspan-rs against a real control plane (kube-apiserver, controller-manager and
//! scheduler on loopback), with the node simulator playing the kubelet, exporting
//! to a real OTLP receiver (rotel). Assertions are on the spans the receiver got.
//!
//! Needs `scripts/live-env.sh install` once (the README test command does it).
//! Under CI=true a missing install fails the tests; elsewhere they are skipped
//! with a notice.

mod driver;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use driver::*;
use support::rotel::{self, Span};
use support::NodeSimConfig;

#[test]
fn deployment_create_set_image_and_scale_each_give_one_trace() {
    deployment_story("deployment_create_set_image_and_scale_each_give_one_trace", &[]);
}

/// The same story with the Events read through events.k8s.io/v1 (`regarding`, `note`,
/// `series`, `reportingController`): the same traces.
#[test]
fn deployment_story_read_through_events_k8s_io_v1() {
    deployment_story(
        "deployment_story_read_through_events_k8s_io_v1",
        &["--events-api", "events.k8s.io/v1"],
    );
}

/// Create, set image, scale: each a trace of its own holding every Event once, with
/// kspan-rs run with `args` besides its endpoint, settle time and capture.
fn deployment_story(test: &str, args: &[&str]) {
    let Some(live) = Live::start_or_skip(test) else {
        return;
    };
    let receiver = live.receiver();
    let dir = live.dir().to_path_buf();
    let capture = dir.join("capture.jsonl");
    let kubeconfig = live.kubeconfig();
    let base = [
        "--otlp-addr",
        receiver.grpc_endpoint(),
        "--settle",
        "2s",
        "--cluster-name",
        "live-test",
        "--capture-to",
        capture.to_str().unwrap(),
    ];
    let mut kspan = live.kspan(&[&base[..], args].concat());
    // `kspan record` beside it: the same observations, for replay.
    let recording = dir.join("record.jsonl");
    let mut record = std::process::Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args([
            "record",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--out",
            recording.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // The nodes join after kspan-rs started: their events are activity, not history.
    let _sim = live.node_sim(NodeSimConfig::with_nodes(2));

    // Three spec changes, each left to settle before the next.
    for step in [
        vec!["create", "deployment", "web", "--image=nginx:1.19", "--replicas=2"],
        vec!["set", "image", "deployment/web", "nginx=nginx:1.20"],
        vec!["scale", "deployment/web", "--replicas=3"],
    ] {
        live.kubectl(&step);
        live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
        std::thread::sleep(Duration::from_secs(4));
    }
    // Self-observability while it runs: ready after sync, counters moving with the rollout.
    assert_eq!(kspan.get("/healthz").0, 200);
    assert_eq!(kspan.get("/readyz").0, 200);
    let metrics = kspan.get("/metrics").1;
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value(
            r#"kspan_events_total{type="Normal",reason="ScalingReplicaSet",involved_object="Deployment"}"#
        ) >= 3.0,
        "{metrics}"
    );
    assert!(value("kspan_spans_exported_total") > 0.0, "{metrics}");
    assert!(value("kspan_traces_total") >= 3.0, "{metrics}");
    assert_eq!(value(r#"kspan_spans_dropped_total{stage="queue"}"#), 0.0, "{metrics}");
    assert!(metrics.contains("kspan_tracked_objects "), "{metrics}");
    let _ = std::process::Command::new("kill").args(["-INT", &record.id().to_string()]).status();
    assert!(record.wait().unwrap().success());
    let log = kspan.stop();
    println!("{}", log.lines().last().unwrap_or_default());

    let events = live.api_events("default");
    let spans = rotel::parse(&receiver.output());
    let placed = span_events(&spans);
    println!(
        "live deployment: {} events in the API server, {} spans received",
        events.len(),
        spans.len()
    );
    assert!(
        events.len() >= 20,
        "the real controllers and the simulator produced events: {events:?}"
    );

    // Every Event exactly once, each in the right place.
    let missing: Vec<_> = events.iter().filter(|(uid, _)| !placed.contains_key(*uid)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events not delivered: {missing:#?}",
        missing.len(),
        events.len()
    );
    for (uid, (kind, name, reason)) in &events {
        let holders = &placed[uid];
        assert_once_per_occurrence(uid, holders);
        let span = holders[0];
        let top = root(&spans, span);
        if kind == "Node" {
            assert_eq!(
                (top.name.as_str(), top.attr("k8s.node.name")),
                ("Node.Activity", Some(name.as_str()))
            );
            continue;
        }
        assert_eq!(
            top.name, "Deployment.Rollout",
            "{reason} on {kind}/{name} is in a Deployment trace"
        );
        assert_eq!(top.attr("k8s.deployment.name"), Some("web"));
        assert_eq!(top.resource_attr("k8s.cluster.name"), Some("live-test"));
        match kind.as_str() {
            "Pod" => {
                assert_eq!(
                    span.attr("k8s.pod.name"),
                    Some(name.as_str()),
                    "{reason} under its pod"
                );
                assert!(span.name.starts_with("Pod."), "{reason} in {}", span.name);
            }
            "Deployment" if reason == "ScalingReplicaSet" => {
                assert!(span.name.starts_with("ReplicaSet.Scale"), "{}", span.name);
                assert_eq!(
                    span.parent_id.as_deref(),
                    Some(top.span_id.as_str()),
                    "a step is a child of the root"
                );
            }
            _ => {}
        }
    }

    // One trace per spec change, by generation, with who changed it.
    let roots: Vec<&Span> =
        spans.iter().filter(|s| s.is_root() && s.name == "Deployment.Rollout").collect();
    let generations: BTreeSet<&str> =
        roots.iter().filter_map(|r| r.attr("kspan.rollout.generation")).collect();
    assert_eq!(generations, BTreeSet::from(["1", "2", "3"]), "roots: {roots:#?}");
    assert_eq!(roots.len(), 3, "one root per rollout, no duplicates");
    let manager = |g: &str| {
        roots
            .iter()
            .find(|r| r.attr("kspan.rollout.generation") == Some(g))
            .unwrap()
            .attr("kspan.change.manager")
    };
    assert_eq!(manager("1"), Some("kubectl-create"));
    assert_eq!(manager("2"), Some("kubectl-set"));
    // `kubectl scale` goes through the scale subresource: 1.20 leaves it out of
    // managedFields, 1.37 records it without a time, so neither tells who scaled.
    assert_eq!(manager("3"), None);
    // The image change: the new ReplicaSet scaled up and the old one down, pods below the steps.
    let rollout2 = roots.iter().find(|r| r.attr("kspan.rollout.generation") == Some("2")).unwrap();
    let steps: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_id.as_deref() == Some(rollout2.span_id.as_str()))
        .collect();
    assert!(
        steps.iter().any(|s| s.name == "ReplicaSet.ScaleUp")
            && steps.iter().any(|s| s.name == "ReplicaSet.ScaleDown")
    );
    let below_steps = spans
        .iter()
        .filter(|s| steps.iter().any(|st| Some(st.span_id.as_str()) == s.parent_id.as_deref()));
    let names: BTreeSet<&str> = below_steps.map(|s| s.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["Pod.Startup", "Pod.Termination"]));
    assert!(spans.iter().all(|s| s.span_id.len() == 16 && s.trace_id.len() == 32));
    let ids: BTreeSet<(&str, &str)> =
        spans.iter().map(|s| (s.trace_id.as_str(), s.span_id.as_str())).collect();
    assert_eq!(ids.len(), spans.len(), "no span delivered twice");

    // What `kspan record` wrote replays to the same events in the same traces.
    let recorded = replay_trees(&recording, "2s");
    let placed_in =
        |rows: &std::collections::BTreeSet<Row>| -> std::collections::BTreeSet<(String, String)> {
            rows.iter()
                .flat_map(|(trace, _, _, _, uids)| {
                    uids.iter().map(move |u| (trace.clone(), u.clone()))
                })
                .collect()
        };
    let live_events: std::collections::BTreeSet<(String, String)> = placed_in(&trees(&spans))
        .into_iter()
        .filter(|(trace, _)| {
            spans.iter().any(|s| &s.trace_id == trace && s.name == "Deployment.Rollout")
        })
        .collect();
    assert!(
        live_events.is_subset(&placed_in(&recorded)),
        "kspan record captured the rollout's events"
    );

    // The recorded run replays to the same trees.
    assert_eq!(replay_trees(&capture, "2s"), trees(&spans), "capture replay equals the live run");
}

#[test]
fn statefulset_daemonset_and_job_over_http_protobuf() {
    let Some(live) = Live::start_or_skip("statefulset_daemonset_and_job_over_http_protobuf") else {
        return;
    };
    let receiver = live.receiver();
    let dir = live.dir().to_path_buf();
    let capture = dir.join("capture.jsonl");
    let mut kspan = live.kspan(&[
        "--otlp-protocol",
        "http/protobuf",
        "--otlp-addr",
        receiver.http_endpoint(),
        "--otlp-headers",
        "x-scope-orgid=live-test",
        "--settle",
        "2s",
        "--capture-to",
        capture.to_str().unwrap(),
    ]);
    // The nodes join after kspan-rs started: their events are activity, not history.
    // Pull, start and readiness long enough to measure within 10%.
    let (pull, start, ready) =
        (Duration::from_millis(1500), Duration::from_millis(1500), Duration::from_millis(2000));
    let config = NodeSimConfig {
        pull_delay: pull,
        start_delay: start,
        ready_delay: ready,
        ..NodeSimConfig::with_nodes(2)
    };
    let _sim = live.node_sim(config);

    live.apply(
        "workloads.yaml",
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:15"}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "fluent-bit:2"}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "busybox:1.36"}]
"#,
    );
    live.kubectl(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    live.kubectl(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(4));
    // A rolling update of the StatefulSet: pods replaced in reverse ordinal order.
    live.kubectl(&["set", "image", "statefulset/db", "db=postgres:16"]);
    live.kubectl(&["rollout", "status", "statefulset/db", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(4));
    let log = kspan.stop();
    println!("{}", log.lines().last().unwrap_or_default());

    let events = live.api_events("default");
    let spans = rotel::parse(&receiver.output());
    let placed = span_events(&spans);
    println!(
        "live workloads: {} events in the API server, {} spans received",
        events.len(),
        spans.len()
    );
    let owner_root = |name: &str| {
        if name.starts_with("db") {
            ("StatefulSet.Rollout", "k8s.statefulset.name", "db")
        } else if name.starts_with("agent") {
            ("DaemonSet.Rollout", "k8s.daemonset.name", "agent")
        } else {
            ("Job.Run", "k8s.job.name", "migrate")
        }
    };
    let mut seen_kinds = BTreeSet::new();
    let missing: Vec<_> = events.iter().filter(|(uid, _)| !placed.contains_key(*uid)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events not delivered: {missing:#?}",
        missing.len(),
        events.len()
    );
    for (uid, (kind, name, reason)) in &events {
        let holders = &placed[uid];
        assert_once_per_occurrence(uid, holders);
        let span = holders[0];
        let top = root(&spans, span);
        if kind == "Node" {
            assert_eq!(
                (top.name.as_str(), top.attr("k8s.node.name")),
                ("Node.Activity", Some(name.as_str()))
            );
            continue;
        }
        let (root_name, key, value) = owner_root(name);
        assert_eq!(
            (top.name.as_str(), top.attr(key)),
            (root_name, Some(value)),
            "{reason} on {kind}/{name}"
        );
        if kind == "Pod" {
            assert_eq!(span.attr("k8s.pod.name"), Some(name.as_str()));
        }
        seen_kinds.insert(root_name);
    }
    assert_eq!(seen_kinds.len(), 3, "{seen_kinds:?}");
    // The StatefulSet's two spec changes are two traces.
    let sts_roots: BTreeSet<&str> = spans
        .iter()
        .filter(|s| s.is_root() && s.name == "StatefulSet.Rollout")
        .filter_map(|s| s.attr("kspan.rollout.generation"))
        .collect();
    assert_eq!(sts_roots, BTreeSet::from(["1", "2"]));
    // Each StatefulSet pod's steps took what the simulator took, and the pods
    // start one after another: the next only once the previous is Ready.
    let db_pods: Vec<&rotel::Span> = spans
        .iter()
        .filter(|s| s.name == "Pod.Startup")
        .filter(|s| s.attr("k8s.pod.name").is_some_and(|p| p.starts_with("db-")))
        .collect();
    assert_eq!(db_pods.len(), 4, "two pods, twice: {db_pods:#?}");
    let child = |pod: &rotel::Span, name: &str| -> Option<rotel::Span> {
        spans
            .iter()
            .find(|s| s.name == name && s.parent_id.as_deref() == Some(&pod.span_id))
            .cloned()
    };
    let within_10_percent = |s: &rotel::Span, expected: Duration| {
        let took = (s.end_unix_nano - s.start_unix_nano) as f64 / 1e9;
        let expected = expected.as_secs_f64();
        assert!(
            (took - expected).abs() <= expected * 0.1,
            "{} of {}: {took:.3} s, expected {expected:.3} s ± 10%",
            s.name,
            s.attr("k8s.pod.name").unwrap_or_default()
        );
    };
    for pod in &db_pods {
        let pulled = child(pod, "Pod.ImagePull").expect("an image pull span");
        // A pull of an image the node has is "already present" and takes no time.
        if pulled.events.iter().any(|e| e.name == "Pulling") {
            within_10_percent(&pulled, pull);
        }
        within_10_percent(&child(pod, "Pod.ContainerStart").expect("a start span"), start);
        let readiness = child(pod, "Pod.Readiness");
        within_10_percent(
            &readiness.unwrap_or_else(|| panic!("a readiness span: {pod:#?}")),
            ready,
        );
    }
    for generation in ["1", "2"] {
        let root = spans
            .iter()
            .find(|s| {
                s.is_root()
                    && s.name == "StatefulSet.Rollout"
                    && s.attr("kspan.rollout.generation") == Some(generation)
            })
            .unwrap();
        let mut pods: Vec<&&rotel::Span> =
            db_pods.iter().filter(|p| p.trace_id == root.trace_id).collect();
        pods.sort_by_key(|p| p.start_unix_nano);
        let order: Vec<&str> = pods.iter().filter_map(|p| p.attr("k8s.pod.name")).collect();
        // Created in ordinal order, updated in reverse.
        let expected = if generation == "1" { ["db-0", "db-1"] } else { ["db-1", "db-0"] };
        assert_eq!(order, expected, "generation {generation}");
        let first_ready = child(pods[0], "Pod.Readiness").unwrap();
        assert!(
            pods[1].start_unix_nano + 50_000_000 >= first_ready.end_unix_nano,
            "generation {generation}: {} began before {} was Ready",
            order[1],
            order[0]
        );
    }
    assert_eq!(replay_trees(&capture, "2s"), trees(&spans), "capture replay equals the live run");
}

#[test]
fn a_restart_mid_rollout_keeps_the_trace_id() {
    let Some(live) = Live::start_or_skip("a_restart_mid_rollout_keeps_the_trace_id") else {
        return;
    };
    let receiver = live.receiver();
    let args = ["--otlp-addr", receiver.grpc_endpoint(), "--settle", "2s"];
    let mut first = live.kspan(&args);
    // Slow pulls keep the rollout in flight long enough to restart in the middle.
    let config =
        NodeSimConfig { pull_delay: Duration::from_secs(3), ..NodeSimConfig::with_nodes(2) };
    let _sim = live.node_sim(config);
    live.kubectl(&["create", "deployment", "slow", "--image=nginx:1.19", "--replicas=3"]);
    std::thread::sleep(Duration::from_secs(2));
    first.stop(); // SIGTERM: what it has is delivered
    let before = rotel::parse(&receiver.output());
    let mut second = live.kspan(&args);
    live.kubectl(&["rollout", "status", "deployment/slow", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(4));
    second.stop();
    let all = rotel::parse(&receiver.output());
    let after: Vec<&Span> = all[before.len()..].iter().collect();
    let before: Vec<&Span> = before.iter().collect();
    let traces = |spans: &[&Span]| -> BTreeSet<String> {
        spans.iter().filter(|s| !s.name.starts_with("Node.")).map(|s| s.trace_id.clone()).collect()
    };
    println!("restart: {} spans before, {} after", before.len(), after.len());
    assert_eq!(
        traces(&before).len(),
        1,
        "the first instance delivered part of the rollout: {before:#?}"
    );
    assert_eq!(traces(&before), traces(&after), "the second instance continued the same trace");
    let root = |spans: &[&Span]| {
        spans.iter().find(|s| s.name == "Deployment.Rollout").map(|s| s.span_id.clone())
    };
    assert_eq!(root(&before), root(&after), "the same root span id");
}

#[test]
fn as_its_service_account_over_grpc_tls_with_headers_a_200_pod_rollout_costs_no_api_requests() {
    let Some(live) = Live::start_or_skip("as_its_service_account_over_grpc_tls_with_headers")
    else {
        return;
    };
    let receiver = live.receiver();
    let proxy = live.tls_proxy();

    // The project's own manifests, as the README applies them: namespace,
    // ServiceAccount, least-privilege RBAC.
    let identity = live.deployed_identity("deploy");
    let user = "system:serviceaccount:kspan:kspan";
    let secrets = live
        .cluster
        .kubectl()
        .args(["--kubeconfig", identity.to_str().unwrap(), "get", "secrets", "-A"])
        .output()
        .unwrap();
    assert!(!secrets.status.success(), "secrets must be forbidden to kspan-rs");
    assert!(
        String::from_utf8_lossy(&secrets.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&secrets.stderr)
    );

    let ca_file = proxy.ca_file();
    let mut kspan = live.kspan_as(
        &identity,
        &[
            "--otlp-addr",
            proxy.grpc_endpoint(),
            "--otlp-ca-file",
            ca_file.to_str().unwrap(),
            "--otlp-headers",
            "x-scope-orgid=tenant-a",
            "--settle",
            "3s",
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    let after_sync = live.cluster.audit_requests(user).len();

    let config = NodeSimConfig { max_pods: "250".into(), ..NodeSimConfig::with_nodes(4) };
    let _sim = live.node_sim(config);
    live.kubectl(&["create", "deployment", "wide", "--image=nginx:1.19", "--replicas=200"]);
    live.kubectl(&["rollout", "status", "deployment/wide", "--timeout=240s"]);
    std::thread::sleep(Duration::from_secs(6));
    let requests = live.cluster.audit_requests(user);
    let log = kspan.stop();
    let events = live.api_events("default");
    let during: Vec<_> =
        requests[after_sync..].iter().map(|r| format!("{} {}", r.verb, r.request_uri)).collect();
    println!(
        "200-pod rollout: {} events, {} API requests by kspan-rs before sync, {} after: {during:?}; {}",
        events.len(),
        after_sync,
        during.len(),
        log.lines().last().unwrap_or_default()
    );
    assert!(events.len() >= 800, "200 pods make about 4 Events each: {}", events.len());
    assert!(during.len() * 1000 <= events.len(), "at most 1 request per 1000 events: {during:?}");
    assert!(requests[..after_sync]
        .iter()
        .all(|r| r.verb == "list" || r.verb == "watch" || r.verb == "get"));
    // The test's own kubectl calls as the ServiceAccount aside, every request names kspan-rs.
    let agents: std::collections::BTreeSet<_> = requests
        .iter()
        .map(|r| r.user_agent.as_str())
        .filter(|a| !a.starts_with("kubectl/"))
        .collect();
    assert!(
        !agents.is_empty() && agents.iter().all(|a| a.starts_with("kspan-rs/")),
        "kspan-rs names itself in the audit log: {agents:?}"
    );

    // Delivered through TLS with the header, every event of the rollout in place.
    let spans = rotel::parse(&receiver.output());
    let startups = spans
        .iter()
        .filter(|s| {
            s.name == "Pod.Startup"
                && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with("wide-"))
        })
        .count();
    assert_eq!(startups, 200);
    let placed = span_events(&spans);
    let missing = events.keys().filter(|uid| !placed.contains_key(*uid)).count();
    assert_eq!(missing, 0, "every Event delivered");
    let log = proxy.access_log();
    let exports: Vec<_> = log
        .iter()
        .filter(|l| l["path"] == "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        .collect();
    assert!(!exports.is_empty());
    assert!(
        exports.iter().all(|l| l["x_scope_orgid"] == "tenant-a"
            && l["status"] == 200
            && l["ssl_protocol"].as_str().is_some_and(|p| p.starts_with("TLS"))),
        "{exports:?}"
    );
}

#[test]
fn export_failures_are_reported_as_warning_events_on_its_own_pod() {
    let Some(live) =
        Live::start_or_skip("export_failures_are_reported_as_warning_events_on_its_own_pod")
    else {
        return;
    };
    let identity = live.deployed_identity("deploy/base");
    // A collector that is not there: a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut kspan = live.kspan_as(
        &identity,
        &[
            "--otlp-addr",
            &format!("http://{closed}"),
            "--settle",
            "1s",
            "--pod-name",
            "kspan-self",
            "--pod-namespace",
            "kspan",
        ],
    );
    let _sim = live.node_sim(NodeSimConfig::with_nodes(1));
    live.kubectl(&["create", "deployment", "web", "--image=nginx:1.19"]);
    let t0 = std::time::Instant::now();
    let event = loop {
        let json = live.kubectl(&["get", "events", "-n", "kspan", "-o", "json"]);
        let list: serde_json::Value = serde_json::from_str(&json).unwrap();
        let found = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["reason"] == "ExportFailed")
            .cloned();
        if let Some(e) = found {
            break e;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "no ExportFailed Event: {}",
            std::fs::read_to_string(&kspan.log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    kspan.stop();
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["involvedObject"]["kind"], "Pod");
    assert_eq!(event["involvedObject"]["name"], "kspan-self");
    assert!(event["message"].as_str().unwrap().contains("export failing"), "{event}");
    println!("own event: {}", event["message"]);
}
