//! The synthetic capture generator (`kspan synth`): deterministic, Kubernetes-shaped,
//! and its rollouts replay like the real captures do: no input errors, every Event
//! exactly once, every pod Event under its pod's span in the trace rooted at the
//! pod's top-level owner (read from the capture's own owner references).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use common::*;
use kspan::synth::{self, generate, SynthConfig};
use serde_json::Value;

fn capture(config: &SynthConfig) -> (Vec<u8>, synth::SynthSummary) {
    let mut out = Vec::new();
    let summary = generate(config, &mut out).unwrap();
    (out, summary)
}

fn small() -> SynthConfig {
    SynthConfig {
        pods: 400,
        pods_per_workload: 20,
        rollouts: 2,
        warnings_percent: 10.0,
        ..SynthConfig::default()
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let config = SynthConfig { pods: 120, pods_per_workload: 12, ..SynthConfig::default() };
    let (a, summary) = capture(&config);
    let (b, _) = capture(&config);
    assert!(a == b, "same seed, same bytes");
    let (c, _) = capture(&SynthConfig { seed: 2, ..config });
    assert!(a != c, "another seed, another capture");
    assert_eq!(summary.bytes, a.len() as u64);
}

#[test]
fn lines_are_watch_events_in_time_order_about_ten_events_per_pod() {
    let (out, summary) = capture(&small());
    let text = String::from_utf8(out).unwrap();
    let (mut events, mut objects, mut last) = (0, 0, String::new());
    let mut uids = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        assert!(["ADDED", "MODIFIED", "DELETED"].contains(&doc["type"].as_str().unwrap()));
        let time = doc["time"].as_str().unwrap().to_string();
        assert!(
            time.ends_with('Z') && time >= last,
            "arrival times never go back: {time} after {last}"
        );
        last = time;
        let object = &doc["object"];
        assert!(
            object["metadata"]["uid"].is_string()
                && object["metadata"]["resourceVersion"].is_string()
        );
        kinds.insert(object["kind"].as_str().unwrap().to_string());
        if object["kind"] == "Event" {
            events += 1;
            uids.insert(object["metadata"]["uid"].as_str().unwrap().to_string());
            assert!(object["involvedObject"]["uid"].is_string());
            assert!(object["count"].as_u64().unwrap() >= 1);
        } else {
            objects += 1;
        }
    }
    assert_eq!((summary.events, summary.objects), (events, objects));
    assert_eq!(summary.lines, events + objects);
    assert_eq!(summary.event_records, uids.len() as u64);
    assert!(summary.events > summary.event_records, "some Events repeat");
    let per_pod = summary.events as f64 / summary.pods_created as f64;
    assert!((8.0..12.0).contains(&per_pod), "{per_pod} events per pod");
    for kind in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "Pod", "Event"] {
        assert!(kinds.contains(kind), "{kind} in the capture");
    }
    for reason in [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "SuccessfulDelete",
        "Scheduled",
        "Pulling",
        "Pulled",
        "Created",
        "Started",
        "Killing",
        "FailedScheduling",
        "Unhealthy",
        "BackOff",
        "Completed",
    ] {
        assert!(text.contains(&format!(r#""reason":"{reason}""#)), "{reason} in the capture");
    }
    assert!(text.contains(" in StatefulSet ") && text.contains("already present on machine"));
}

/// Replays the small capture and checks every Event and pod against what the
/// capture itself says.
fn replay_and_check() {
    let (out, summary) = capture(&small());
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("synth-small.jsonl");
    std::fs::write(&path, &out).unwrap();
    let (input, _, json) = run(std::slice::from_ref(&path));
    std::fs::remove_file(&path).unwrap();
    assert!(
        input.errors.is_empty(),
        "{:?}",
        input.errors.iter().take(5).map(|e| e.to_string()).collect::<Vec<_>>()
    );

    // What the input says, read independently: each Event's subject, each pod's
    // owner, each ReplicaSet's Deployment.
    let text = String::from_utf8(out).unwrap();
    let mut pod_events: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut event_subjects: BTreeMap<String, String> = BTreeMap::new();
    let mut owner: HashMap<String, (String, String)> = HashMap::new();
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let o = &doc["object"];
        let uid = o["metadata"]["uid"].as_str().unwrap().to_string();
        if o["kind"] == "Event" {
            let about = &o["involvedObject"];
            event_subjects.insert(uid.clone(), about["kind"].as_str().unwrap().into());
            if about["kind"] == "Pod" {
                let key =
                    (about["uid"].as_str().unwrap().into(), about["name"].as_str().unwrap().into());
                pod_events.insert(uid, key);
            }
        } else if let Some(o_ref) = o["metadata"]["ownerReferences"].get(0) {
            let by =
                (o_ref["kind"].as_str().unwrap().into(), o_ref["name"].as_str().unwrap().into());
            owner.insert(uid, by.clone());
            let name = o["metadata"]["name"].as_str().unwrap();
            owner.insert(format!("{}/{name}", o["kind"].as_str().unwrap()), by);
        }
    }
    assert_eq!(event_subjects.len() as u64, summary.event_records);

    let spans = spans(&json);
    assert_traces_well_formed(&spans, "the synthetic capture");
    let counts = event_uid_counts(&spans);
    for (uid, about) in &event_subjects {
        match counts.get(uid) {
            Some(n) => assert_eq!(*n, 1, "event {uid} appears exactly once"),
            None => panic!("event {uid} about a {about} is missing from the traces"),
        }
    }
    assert_eq!(counts.len(), event_subjects.len(), "no invented uids");

    let mut by_event: HashMap<&str, &Span> = HashMap::new();
    for s in &spans {
        for e in &s.events {
            if let Some(uid) = e.get("k8s.event.uid") {
                by_event.insert(uid, s);
            }
        }
    }
    let roots: HashMap<&str, &Span> =
        spans.iter().filter(|s| s.parent.is_empty()).map(|s| (s.trace.as_str(), s)).collect();
    let mut checked = BTreeMap::<String, usize>::new();
    for (uid, (pod_uid, pod)) in &pod_events {
        let span = by_event[uid.as_str()];
        assert_eq!(span.attributes.get("k8s.pod.name"), Some(pod), "{uid} under its pod");
        assert!(span.name.starts_with("Pod."), "{uid} in a pod span, not {}", span.name);
        let (mut kind, mut name) = owner[pod_uid].clone();
        if kind == "ReplicaSet" {
            (kind, name) = owner[&format!("ReplicaSet/{name}")].clone();
        }
        let root = roots.get(span.trace.as_str()).expect("every trace has a root");
        let key = format!("k8s.{}.name", kind.to_lowercase());
        assert_eq!(
            root.attributes.get(&key),
            Some(&name),
            "pod {pod}'s trace is rooted at {kind} {name}"
        );
        *checked.entry(root.name.clone()).or_default() += 1;
    }
    for root in ["Deployment.Rollout", "StatefulSet.Rollout", "DaemonSet.Rollout", "Job.Run"] {
        assert!(checked.get(root).is_some_and(|n| *n > 0), "pod events under {root}: {checked:?}");
    }
}

#[test]
fn the_capture_replays_like_a_real_one() {
    replay_and_check();
}
