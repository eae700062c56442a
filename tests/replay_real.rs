//! The real captures (recorded on real clusters by other people) replayed end to
//! end; assertions on the OTLP/JSON the program wrote, against what the input says.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

const CAPTURES: &[&str] = &[
    "kspan/deployment-2-pods.main.yaml",
    "kspan/deployment-2-pods.conditions-branch.yaml",
    "kspan/deployment-update-kind.yaml",
    "kspan/deployment-update-flux.yaml",
    "kspan/statefulset-update-flux.yaml",
    "kspan/deployment-managedfields-only.yaml",
    "sonobuoy-v1.8",
];

#[test]
fn every_capture_replays_and_every_event_appears_exactly_once() {
    for capture in CAPTURES {
        let path = fixture(capture);
        let (input, drafts, json) = run(std::slice::from_ref(&path));
        assert!(
            input.errors.is_empty(),
            "{capture}: {:?}",
            input.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
        // What viewers flag: a key set twice on a span, a span that ends when it starts.
        for d in &drafts {
            let mut keys: Vec<&str> = d.attributes.iter().map(|(k, _)| *k).collect();
            keys.sort();
            let before = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), before, "{capture}: {} has a key twice: {d:?}", d.name);
            assert!(d.end > d.start, "{capture}: {} lasts no time: {d:?}", d.name);
        }
        let spans = spans(&json);
        assert_traces_well_formed(&spans, capture);
        let counts = event_uid_counts(&spans);
        let expected = input_event_uids(&path);
        assert!(
            !capture.starts_with("kspan/deployment-2") || expected.len() >= 13,
            "{capture}: input has events"
        );
        for uid in &expected {
            assert_eq!(
                counts.get(uid),
                Some(&1),
                "{capture}: event {uid} must appear exactly once"
            );
        }
        assert_eq!(
            counts.len(),
            expected.iter().collect::<std::collections::BTreeSet<_>>().len(),
            "{capture}: no invented uids"
        );
        println!("{capture}: {} events -> {} spans in {} traces", expected.len(), spans.len(), {
            let mut t: Vec<_> = spans.iter().map(|s| &s.trace).collect();
            t.sort();
            t.dedup();
            t.len()
        });
    }
}

/// The top-level owner of every pod, from the input alone: owner references where
/// the object is in the capture, else Kubernetes' naming (a ReplicaSet's pods are
/// `<rs>-<hash>`, a StatefulSet's `<sts>-<ordinal>`, a ReplicaSet is `<deployment>-<hash>`).
fn expected_tops(docs: &[Value]) -> BTreeMap<(String, String), (String, String)> {
    let mut owner: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut known: Vec<(String, String)> = Vec::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or_default().to_string();
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        known.push((kind.clone(), name.clone()));
        if let Some(o) = d["metadata"]["ownerReferences"].as_array().and_then(|o| o.first()) {
            owner.insert(
                (kind, name),
                (o["kind"].as_str().unwrap().into(), o["name"].as_str().unwrap().into()),
            );
        }
    }
    let by_prefix = |name: &str, kinds: &[&str]| {
        known
            .iter()
            .filter(|(k, n)| kinds.contains(&k.as_str()) && name.starts_with(&format!("{n}-")))
            .max_by_key(|(_, n)| n.len())
            .cloned()
    };
    let mut tops = BTreeMap::new();
    for d in docs.iter().filter(|d| d["kind"] == "Event" && d["involvedObject"]["kind"] == "Pod") {
        let pod = d["involvedObject"]["name"].as_str().unwrap().to_string();
        let mut at = ("Pod".to_string(), pod.clone());
        for _ in 0..5 {
            let next = owner.get(&at).cloned().or_else(|| match at.0.as_str() {
                "Pod" if !known.contains(&at) => {
                    by_prefix(&at.1, &["ReplicaSet", "StatefulSet", "DaemonSet"])
                }
                "ReplicaSet" => by_prefix(&at.1, &["Deployment"]),
                _ => None,
            });
            match next {
                Some(n) => at = n,
                None => break,
            }
        }
        tops.insert(("Pod".to_string(), pod), at);
    }
    tops
}

#[test]
fn pod_events_sit_under_their_pod_in_the_trace_of_its_top_level_owner() {
    for capture in CAPTURES {
        let path = fixture(capture);
        let (_, _, json) = run(std::slice::from_ref(&path));
        let spans = spans(&json);
        let docs = input_documents(&path);
        let tops = expected_tops(&docs);
        let mut checked = 0;
        for d in
            docs.iter().filter(|d| d["kind"] == "Event" && d["involvedObject"]["kind"] == "Pod")
        {
            let uid = d["metadata"]["uid"].as_str().unwrap();
            let pod = d["involvedObject"]["name"].as_str().unwrap();
            let span = span_with_event(&spans, uid);
            assert_eq!(
                span.attributes.get("k8s.pod.name").map(String::as_str),
                Some(pod),
                "{capture}: {uid} under its pod"
            );
            assert!(
                span.name.starts_with("Pod."),
                "{capture}: {uid} in a pod span, not {}",
                span.name
            );
            let (kind, name) = &tops[&("Pod".to_string(), pod.to_string())];
            let root = root_of(&spans, span);
            let key = format!("k8s.{}.name", kind.to_lowercase());
            assert_eq!(
                root.attributes.get(&key),
                Some(name),
                "{capture}: pod {pod}'s trace is rooted at {kind} {name}, not {root:?}"
            );
            checked += 1;
        }
        println!("{capture}: {checked} pod events checked");
    }
}

#[test]
fn the_kubectl_rollout_is_one_trace_root_steps_pods_events() {
    let (_, _, json) = run(&[fixture("kspan/deployment-2-pods.main.yaml")]);
    let spans = spans(&json);
    let traces: std::collections::BTreeSet<_> = spans.iter().map(|s| s.trace.clone()).collect();
    assert_eq!(traces.len(), 1, "one rollout, one trace");
    let roots: Vec<_> = spans.iter().filter(|s| s.parent.is_empty()).collect();
    assert_eq!(roots.len(), 1);
    let root = roots[0];
    assert_eq!(root.name, "Deployment.Rollout");
    assert_eq!(root.attributes["k8s.deployment.name"], "px");
    assert_eq!(root.attributes["k8s.deployment.uid"], "71c42017-61a7-418e-8e2c-897cf237d6e3");
    assert_eq!(root.attributes["kspan.change.manager"], "kubectl-client-side-apply");
    assert_eq!(root.attributes["kspan.change.operation"], "Update");
    assert_eq!(root.attributes["kspan.rollout.generation"], "3");

    // Root -> the four ScalingReplicaSet steps, in the order the controller took them.
    let steps = children(&spans, root);
    let described: Vec<_> = steps
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.attributes["k8s.replicaset.name"].as_str(),
                s.attributes["kspan.replicas.target"].as_str(),
            )
        })
        .collect();
    for expected in [
        ("ReplicaSet.ScaleUp", "px-5d567cc74c", "1"),
        ("ReplicaSet.ScaleDown", "px-7df978b9bf", "1"),
        ("ReplicaSet.ScaleUp", "px-5d567cc74c", "2"),
        ("ReplicaSet.ScaleDown", "px-7df978b9bf", "0"),
    ] {
        assert!(described.contains(&expected), "{expected:?} in {described:?}");
    }
    assert_eq!(steps.len(), 4);

    // Each step -> the pod it created or deleted, as the controller's own event says.
    let docs = input_documents(&fixture("kspan/deployment-2-pods.main.yaml"));
    for d in docs
        .iter()
        .filter(|d| d["reason"] == "SuccessfulCreate" || d["reason"] == "SuccessfulDelete")
    {
        let message = d["message"].as_str().unwrap();
        let pod = message.rsplit(' ').next().unwrap();
        let span = span_with_event(&spans, d["metadata"]["uid"].as_str().unwrap());
        assert_eq!(span.attributes["k8s.pod.name"], pod);
        let expected =
            if d["reason"] == "SuccessfulCreate" { "Pod.Startup" } else { "Pod.Termination" };
        assert_eq!(span.name, expected);
        let step = spans.iter().find(|s| s.id == span.parent).unwrap();
        let direction =
            if expected == "Pod.Startup" { "ReplicaSet.ScaleUp" } else { "ReplicaSet.ScaleDown" };
        assert_eq!(step.name, direction, "{pod} under a {direction}");
        assert_eq!(
            step.attributes["k8s.replicaset.name"],
            d["involvedObject"]["name"].as_str().unwrap()
        );
    }
    // The first pod was made by the scale-up to 1, the second by the scale-up to 2.
    let step_of = |pod: &str| {
        let span = spans
            .iter()
            .find(|s| s.name == "Pod.Startup" && s.attributes["k8s.pod.name"] == pod)
            .unwrap();
        spans.iter().find(|s| s.id == span.parent).unwrap().attributes["kspan.replicas.target"]
            .clone()
    };
    assert_eq!(step_of("px-5d567cc74c-ss4lb"), "1");
    assert_eq!(step_of("px-5d567cc74c-pmvzr"), "2");
    // Pulled carries the kubelet's message and the event record fields.
    let pulled = docs.iter().find(|d| d["reason"] == "Pulled").unwrap();
    let span = span_with_event(&spans, pulled["metadata"]["uid"].as_str().unwrap());
    let event = span
        .events
        .iter()
        .find(|e| e.get("k8s.event.reason").is_some_and(|r| r == "Pulled"))
        .unwrap();
    assert_eq!(event["k8s.event.message"], pulled["message"].as_str().unwrap());
    assert_eq!(event["k8s.event.type"], "Normal");
    assert_eq!(event["k8s.event.count"], "1");
    assert_eq!(span.service, "kubelet");
}

#[test]
fn flux_captures_are_rooted_at_the_sync_event() {
    for (capture, rollout) in [
        ("kspan/deployment-update-flux.yaml", "Deployment.Rollout"),
        ("kspan/statefulset-update-flux.yaml", "StatefulSet.Rollout"),
    ] {
        let path = fixture(capture);
        let (_, _, json) = run(std::slice::from_ref(&path));
        let spans = spans(&json);
        let docs = input_documents(&path);
        let sync = docs.iter().find(|d| d["reason"] == "Sync").unwrap();
        assert_eq!(sync["metadata"]["annotations"]["topLevelSpan"], "true");
        let roots: Vec<_> = spans.iter().filter(|s| s.parent.is_empty()).collect();
        assert_eq!(roots.len(), 1, "{capture}: one root");
        assert_eq!(roots[0].name, "Event.Sync");
        assert_eq!(roots[0].attributes["k8s.event.uid"], sync["metadata"]["uid"].as_str().unwrap());
        assert_eq!(roots[0].service, "flux");
        let below = children(&spans, roots[0]);
        assert_eq!(below.len(), 1);
        assert_eq!(below[0].name, rollout, "{capture}");
        // Every other span hangs below the rollout.
        assert!(spans.iter().all(|s| s.trace == roots[0].trace), "{capture}: one trace");
    }
}

#[test]
fn same_name_pods_of_a_statefulset_stay_apart() {
    let (_, _, json) = run(&[fixture("kspan/statefulset-update-flux.yaml")]);
    let spans = spans(&json);
    let ingester3: Vec<_> = spans
        .iter()
        .filter(|s| s.attributes.get("k8s.pod.name").is_some_and(|n| n == "ingester-3"))
        .collect();
    let names: Vec<_> = ingester3.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"Pod.Termination") && names.contains(&"Pod.Startup"), "{names:?}");
    let start = ingester3.iter().find(|s| s.name == "Pod.Startup").unwrap();
    let end = ingester3.iter().find(|s| s.name == "Pod.Termination").unwrap();
    assert_ne!(
        start.attributes.get("k8s.pod.uid"),
        end.attributes.get("k8s.pod.uid"),
        "the recreated pod is another object"
    );
    // The statefulset-controller's "create Pod ingester-3" joins the new pod's startup.
    assert!(start
        .events
        .iter()
        .any(|e| e.get("k8s.event.reason").is_some_and(|r| r == "SuccessfulCreate")));
    assert!(end.events.iter().any(|e| e.get("k8s.event.reason").is_some_and(|r| r == "Killing")));
}

#[test]
/// The second variant: kubeadm created it, then a manager called "other" changed
/// the spec later (16:53:56 against 16:52:40); the third has no managedFields.
fn managed_fields_name_who_changed_the_spec() {
    let (input, _, _) = run(&[fixture("kspan/deployment-managedfields-only.yaml")]);
    let changes: Vec<_> = input
        .observations
        .iter()
        .filter_map(|o| match &o.what {
            kspan::observe::Observed::Object(seen) => {
                Some(seen.spec_change.as_ref().map(|c| c.manager.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![Some("kubeadm".to_string()), Some("other".to_string()), None],
        "{changes:?}"
    );
}

#[test]
fn replay_is_deterministic_byte_for_byte() {
    for capture in CAPTURES {
        let (_, _, first) = run(&[fixture(capture)]);
        let (_, _, second) = run(&[fixture(capture)]);
        assert!(!first.is_empty() || capture.contains("managedfields"), "{capture}");
        assert_eq!(first, second, "{capture}");
    }
}

#[test]
fn pod_spans_carry_the_pull_durations_the_kubelet_reported() {
    for capture in
        ["kspan/deployment-2-pods.main.yaml", "kspan/deployment-2-pods.conditions-branch.yaml"]
    {
        let path = fixture(capture);
        let (_, drafts, _) = run(std::slice::from_ref(&path));
        let docs = input_documents(&path);
        let mut checked = 0;
        for pulled in docs.iter().filter(|d| d["reason"] == "Pulled") {
            let message = pulled["message"].as_str().unwrap();
            let uid = pulled["metadata"]["uid"].as_str().unwrap();
            let span = drafts
                .iter()
                .find(|s| {
                    s.events.iter().any(|e| {
                        e.attributes
                            .iter()
                            .any(|(k, v)| *k == "k8s.event.uid" && v.to_string() == uid)
                    })
                })
                .unwrap();
            assert_eq!(span.name, "Pod.ImagePull");
            // "Successfully pulled image "x" in 5.870155181s": the span is that long.
            let seconds: Option<f64> = message
                .split(" in ")
                .nth(1)
                .and_then(|t| t.split([' ', '(']).next())
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse().ok());
            let duration = (span.end - span.start) as f64 / 1e9;
            match seconds {
                Some(s) => {
                    assert!(
                        (duration - s).abs() < 0.001,
                        "{capture}: {duration} s for '{message}'"
                    );
                    let ms = span.attribute("kspan.image.pull_ms").map(|v| v.to_string());
                    assert_eq!(ms, Some(((s * 1000.0) as i64).to_string()));
                }
                None => assert_eq!(
                    span.end - span.start,
                    kspan::correlate::INSTANT,
                    "{capture}: an image already present is an instant"
                ),
            }
            assert_eq!(
                span.attribute("container.image.tag").map(|v| v.to_string()).as_deref(),
                message.split('"').nth(1).and_then(|i| i.rsplit(':').next())
            );
            checked += 1;
        }
        assert!(checked >= 2, "{capture}");
    }
}

#[test]
fn conditions_from_the_watch_documents_show_on_the_timeline() {
    let path = fixture("kspan/deployment-2-pods.conditions-branch.yaml");
    let (_, drafts, _) = run(std::slice::from_ref(&path));
    let names = |span: &kspan::span::SpanDraft| -> Vec<String> {
        span.events.iter().map(|e| e.name.clone()).collect()
    };
    let root = drafts.iter().find(|s| s.parent.is_none()).unwrap();
    assert!(names(root).contains(&"Available=True".to_string()), "{:?}", names(root));
    let startups: Vec<_> = drafts.iter().filter(|s| s.name == "Pod.Startup").collect();
    assert_eq!(startups.len(), 2);
    for s in startups {
        for c in ["PodScheduled=True", "Initialized=True", "ContainersReady=True", "Ready=True"] {
            assert!(names(s).contains(&c.to_string()), "{c} in {:?}", names(s));
        }
        // Readiness: from the container start to the Ready condition.
        let readiness = drafts
            .iter()
            .find(|r| r.name == "Pod.Readiness" && r.parent == Some(s.span_id))
            .unwrap();
        let ready = s.events.iter().find(|e| e.name == "Ready=True").unwrap().time;
        assert_eq!(readiness.end, ready);
    }
}

/// `kspan replay --selector` on real captures: the flux capture's Deployment is
/// labelled `fluxcd.io/sync-gc-mark`; the kubectl capture's Deployment has no
/// labels (only its ReplicaSets and Pods do, and they are not top-level).
#[test]
fn a_selector_keeps_only_the_rollouts_of_matching_top_level_objects() {
    let replay = |capture: &str, selector: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kspan"))
            .args(["replay", "--output", "otlp-json", "--selector", selector])
            .arg(fixture(capture))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        spans(&String::from_utf8(out.stdout).unwrap())
    };
    let flux = "kspan/deployment-update-flux.yaml";
    let (_, _, json) = run(&[fixture(flux)]);
    let all = spans(&json);
    for selector in [
        "fluxcd.io/sync-gc-mark",
        "fluxcd.io/sync-gc-mark=sha256.3OUfC7OWDQ3jHPMCtb8Xm0EwoWiKMAgAMEwEJeYLpOA",
        "fluxcd.io/sync-gc-mark,app!=podinfo",
    ] {
        let kept = replay(flux, selector);
        assert_eq!(kept.len(), all.len(), "{selector}: the whole trace");
        assert!(kept.iter().any(|s| s.name == "Deployment.Rollout"));
    }
    for selector in ["fluxcd.io/sync-gc-mark=other", "!fluxcd.io/sync-gc-mark", "app=hello-world"] {
        assert!(replay(flux, selector).is_empty(), "{selector}: nothing");
    }
    let kubectl = "kspan/deployment-2-pods.main.yaml";
    assert!(replay(kubectl, "app=podinfo").is_empty(), "labels of owned objects do not count");
    let unlabelled = replay(kubectl, "!app");
    assert_eq!(unlabelled.iter().filter(|s| s.name == "Deployment.Rollout").count(), 1);
    println!(
        "selector: flux capture {} spans kept by a matching selector, 0 by a non-matching one; kubectl capture {} spans with !app",
        all.len(),
        unlabelled.len()
    );
}

/// Kubernetes 1.8's DaemonSet controller reported as `daemon-set`; the Endpoints
/// its leader elections were about are not in the dump, their Events name their uids.
#[test]
fn roots_are_their_controller_s_and_objects_known_by_reference_carry_their_uid() {
    let path = fixture("sonobuoy-v1.8");
    let (_, _, json) = run(std::slice::from_ref(&path));
    let spans = spans(&json);
    let daemon_sets: Vec<_> = spans.iter().filter(|s| s.name == "DaemonSet.Rollout").collect();
    assert_eq!(daemon_sets.len(), 4);
    assert!(daemon_sets.iter().all(|s| s.service == "daemonset-controller"));
    let mut pods = spans.iter().filter(|s| s.attributes.contains_key("k8s.pod.name"));
    assert!(pods.any(|s| s.service == "daemon-set"), "a pod span is its reporter's");

    let docs = input_documents(&path);
    let election = docs
        .iter()
        .find(|d| {
            d["involvedObject"]["name"] == "kube-scheduler" && d["reason"] == "LeaderElection"
        })
        .unwrap();
    let endpoints = span_with_event(&spans, election["metadata"]["uid"].as_str().unwrap());
    assert_eq!(endpoints.attributes["k8s.object.kind"], "Endpoints");
    assert_eq!(endpoints.attributes["k8s.object.uid"], election["involvedObject"]["uid"]);
    // A kubelet names a Node by its name in place of its uid.
    let nodes = spans.iter().filter(|s| s.name == "Node.Activity");
    for node in nodes {
        let (name, uid) = (&node.attributes["k8s.node.name"], node.attributes.get("k8s.node.uid"));
        assert_ne!(uid, Some(name), "{name}");
    }
}
