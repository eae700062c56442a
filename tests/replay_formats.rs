//! The same real rollout in every input shape kspan-rs reads: the traces must not
//! depend on the shape. And broken input: reported by file and document, the rest
//! still replayed.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const MAIN: &str = "kspan/deployment-2-pods.main.yaml";

/// (header time, document) pairs of a kspan capture.
fn capture_documents(path: &Path) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.split("\n---\n")
        .filter_map(|chunk| {
            let chunk = chunk.trim_start_matches("---\n");
            let header = chunk.lines().next()?.strip_prefix("# ")?;
            let header: Value = serde_json::from_str(header).ok()?;
            let doc: Value = serde_yaml::from_str(chunk).ok()?;
            Some((header["time"].as_str()?.to_string(), doc))
        })
        .collect()
}

/// The shape of the traces, without times: (trace, name, subject, parent name, event uids).
fn structure(spans: &[Span]) -> BTreeSet<(String, String, String, String, Vec<String>)> {
    let subject = |s: &Span| {
        ["k8s.pod.uid", "k8s.pod.name", "k8s.replicaset.name", "k8s.deployment.name"]
            .iter()
            .find_map(|k| s.attributes.get(*k).cloned())
            .unwrap_or_default()
    };
    spans
        .iter()
        .map(|s| {
            let parent = spans
                .iter()
                .find(|p| p.id == s.parent)
                .map(|p| format!("{} {}", p.name, subject(p)));
            let mut uids: Vec<String> =
                s.events.iter().filter_map(|e| e.get("k8s.event.uid").cloned()).collect();
            uids.sort();
            (s.trace.clone(), s.name.clone(), subject(s), parent.unwrap_or_default(), uids)
        })
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn watch_event_lines_with_arrival_times_give_identical_output() {
    let dir = temp_dir("watch");
    let lines: String = capture_documents(&fixture(MAIN))
        .into_iter()
        .map(|(time, doc)| json!({"type": "ADDED", "object": doc, "time": time}).to_string() + "\n")
        .collect();
    let file = dir.join("watch.jsonl");
    std::fs::write(&file, lines).unwrap();
    let (input, _, from_lines) = run(&[file]);
    assert!(input.errors.is_empty());
    let (_, _, from_yaml) = run(&[fixture(MAIN)]);
    assert_eq!(from_lines, from_yaml, "same observations, same bytes");
}

#[test]
fn lists_arrays_dumps_and_directory_trees_give_the_same_traces() {
    let docs: Vec<Value> = capture_documents(&fixture(MAIN)).into_iter().map(|(_, d)| d).collect();
    let of_kind =
        |kind: &str| docs.iter().filter(|d| d["kind"] == kind).cloned().collect::<Vec<_>>();
    let dir = temp_dir("shapes");

    // kubectl get -o json: a List; a bare JSON array; plain multi-document YAML.
    std::fs::write(
        dir.join("list.json"),
        serde_json::to_string_pretty(&json!({"apiVersion": "v1", "kind": "List", "items": docs}))
            .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("array.json"), serde_json::to_string(&docs).unwrap()).unwrap();
    let yaml: String =
        docs.iter().map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap())).collect();
    std::fs::write(dir.join("plain.yaml"), yaml).unwrap();

    // kubectl cluster-info dump: typed lists, items without kind, logs in between.
    let mut stream = String::new();
    for kind in ["Event", "ReplicaSet", "Deployment", "Pod"] {
        let items: Vec<Value> = of_kind(kind)
            .into_iter()
            .map(|mut d| {
                d.as_object_mut().unwrap().remove("kind");
                d
            })
            .collect();
        stream += &serde_json::to_string_pretty(
            &json!({"kind": format!("{kind}List"), "apiVersion": "v1", "items": items}),
        )
        .unwrap();
        stream += "\n==== START logs for container podinfo of pod default/px-5d567cc74c-ss4lb ====\n{\"level\":\"info\",\"msg\":\"Starting podinfo\"}\nnot json at all {\n==== END logs for container podinfo of pod default/px-5d567cc74c-ss4lb ====\n";
    }
    std::fs::write(dir.join("cluster-info.dump"), &stream).unwrap();

    // kubectl cluster-info dump --output-directory: <ns>/<kind>.json, plus logs.
    let tree = dir.join("dump-tree");
    std::fs::create_dir_all(tree.join("default/px-5d567cc74c-ss4lb")).unwrap();
    for (file, kind) in [
        ("events.json", "Event"),
        ("replicasets.json", "ReplicaSet"),
        ("deployments.json", "Deployment"),
        ("pods.json", "Pod"),
    ] {
        let list =
            json!({"kind": format!("{kind}List"), "apiVersion": "v1", "items": of_kind(kind)});
        std::fs::write(
            tree.join("default").join(file),
            serde_json::to_string_pretty(&list).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(tree.join("default/px-5d567cc74c-ss4lb/logs.txt"), "plain log line\n").unwrap();

    // Without arrival times every shape is the same snapshot of the same objects.
    let (_, _, reference) = run(&[dir.join("plain.yaml")]);
    let reference = structure(&spans(&reference));
    assert!(reference.len() >= 9, "{reference:?}");
    for input in ["list.json", "array.json", "cluster-info.dump", "dump-tree"] {
        let (replay, _, json) = run(&[dir.join(input)]);
        assert!(
            replay.errors.is_empty(),
            "{input}: {:?}",
            replay.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(structure(&spans(&json)), reference, "{input}");
    }
}

#[test]
fn events_k8s_io_v1_shape_is_read_like_core_v1() {
    let docs: Vec<Value> = capture_documents(&fixture(MAIN)).into_iter().map(|(_, d)| d).collect();
    let converted: Vec<Value> = docs
        .into_iter()
        .map(|d| {
            if d["kind"] != "Event" {
                return d;
            }
            let when = d["lastTimestamp"].as_str().map(|t| t.replace('Z', ".000000Z"));
            json!({
                "apiVersion": "events.k8s.io/v1",
                "kind": "Event",
                "metadata": d["metadata"],
                "eventTime": d["eventTime"].as_str().map(str::to_string).or(when),
                "regarding": d["involvedObject"],
                "reason": d["reason"],
                "note": d["message"],
                "type": d["type"],
                "reportingController": d["source"]["component"].as_str().unwrap_or("default-scheduler"),
                "reportingInstance": "",
                "action": "Act",
                "deprecatedCount": d["count"],
                "deprecatedFirstTimestamp": d["firstTimestamp"],
                "deprecatedLastTimestamp": d["lastTimestamp"],
            })
        })
        .collect();
    let dir = temp_dir("new-events");
    let file = dir.join("events-v1.json");
    std::fs::write(&file, serde_json::to_string(&converted).unwrap()).unwrap();
    let (replay, _, json) = run(&[file]);
    assert!(
        replay.errors.is_empty(),
        "{:?}",
        replay.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
    );
    let spans = spans(&json);
    let counts = event_uid_counts(&spans);
    assert_eq!(counts.len(), 19);
    assert!(counts.values().all(|&c| c == 1));
    assert_eq!(spans.iter().filter(|s| s.name == "ReplicaSet.ScaleUp").count(), 2);
    assert!(spans.iter().any(|s| s.service == "kubelet"));
}

#[test]
fn broken_documents_are_named_and_the_rest_is_replayed() {
    let dir = temp_dir("broken");
    let good = std::fs::read_to_string(fixture(MAIN)).unwrap();
    let broken = format!(
        "{good}---\nkind: Event\napiVersion: v1\nmetadata: {{name: x, uid: [unclosed\n---\n\
         apiVersion: v1\nkind: Event\nmetadata: {{name: orphan, namespace: default, uid: u-1}}\nreason: Nothing\n---\n\
         {{\"hello\": \"world\"}}\n"
    );
    let file = dir.join("capture.yaml");
    std::fs::write(&file, broken).unwrap();
    let documents = good.matches("\n---\n").count() + 1;
    let output = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status says input was broken; stderr: {stderr}"
    );
    let name = file.display().to_string();
    for (index, what) in [
        (documents + 1, "invalid YAML"),
        (documents + 2, "involvedObject"),
        (documents + 3, "no `kind`"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("document {index} ")))
            .unwrap_or_else(|| panic!("document {index} in {stderr}"));
        assert!(line.starts_with(&format!("error: {name}: document {index} (line ")), "{line}");
        assert!(line.contains(what), "{line} should say {what}");
    }
    let counts = event_uid_counts(&spans(&String::from_utf8(output.stdout).unwrap()));
    assert_eq!(counts.len(), 19, "all good events still replayed");
}

/// A recording is read a line at a time: a broken line is named by its number and
/// the lines after it are still replayed.
#[test]
fn broken_lines_of_a_recording_are_named_and_the_rest_is_replayed() {
    let dir = temp_dir("broken-lines");
    let mut lines: Vec<String> = capture_documents(&fixture(MAIN))
        .into_iter()
        .map(|(time, doc)| json!({"type": "ADDED", "object": doc, "time": time}).to_string())
        .collect();
    let time = "2021-05-05T16:22:16Z";
    let bad = [
        r#"{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p""#
            .to_string(),
        json!({"type": "ADDED", "time": time, "object":
            {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "bent"}, "spec": 5}})
        .to_string(),
        json!({"type": "BOOKMARK", "time": time, "object":
            {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}})
        .to_string(),
        json!({"type": "ERROR", "time": time, "object": {"kind": "Status", "code": 410}})
            .to_string(),
    ];
    for (i, line) in bad.iter().enumerate() {
        lines.insert(3 + 2 * i, line.clone());
    }
    let file = dir.join("recorded.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "exit status says input was broken: {stderr}");
    let name = file.display().to_string();
    for (line, what) in [(4, "invalid JSON"), (6, "Pod \"bent\""), (10, "\"ERROR\"")] {
        let error = format!("error: {name}: document {line} (line {line}): ");
        let found = stderr.lines().find(|l| l.starts_with(&error));
        assert!(found.is_some_and(|l| l.contains(what)), "line {line}, {what}: {stderr}");
    }
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 3, "{stderr}");
    let counts = event_uid_counts(&spans(&String::from_utf8(output.stdout).unwrap()));
    assert_eq!(counts.len(), 19, "all good events still replayed");
}

#[test]
fn shuffled_arrival_within_the_settle_window_gives_the_same_trees() {
    let docs = capture_documents(&fixture(MAIN));
    let (_, _, reference) = run(&[fixture(MAIN)]);
    let reference = structure(&spans(&reference));
    let dir = temp_dir("shuffle");
    for seed in 1..=8u64 {
        // Swap arrival times between documents less than 2 s apart (well within 5 s).
        let mut times: Vec<String> = docs.iter().map(|(t, _)| t.clone()).collect();
        let mut state = seed;
        for _ in 0..times.len() * 3 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (state >> 33) as usize % times.len();
            let j = ((state >> 13) as usize % 5 + i).min(times.len() - 1);
            let (a, b) =
                (kspan::time::parse(&times[i]).unwrap(), kspan::time::parse(&times[j]).unwrap());
            if (a - b).abs() < 2 * kspan::time::SECOND {
                times.swap(i, j);
            }
        }
        assert_ne!(
            times,
            docs.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
            "seed {seed} moved something"
        );
        let text: String = docs
            .iter()
            .zip(&times)
            .map(|((_, doc), time)| {
                format!(
                    "---\n# {{\"time\":\"{time}\",\"style\":\"event\"}}\n{}",
                    serde_yaml::to_string(doc).unwrap()
                )
            })
            .collect();
        let file = dir.join(format!("shuffled-{seed}.yaml"));
        std::fs::write(&file, text).unwrap();
        let (_, _, json) = run(&[file]);
        assert_eq!(structure(&spans(&json)), reference, "seed {seed}");
    }
}

#[test]
fn bare_kspan_takes_kspans_flags_and_runs_against_the_cluster() {
    // kspan users swap the binary: `kspan --otlp-addr ... --kubeconfig ...` is `kspan run`.
    let output = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["--otlp-addr", "http://127.0.0.1:4317", "--metrics-addr", "127.0.0.1:0"])
        .args(["--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/kubeconfig"),
        "it tried to load the kubeconfig: {stderr}"
    );
}

/// A recording is read a line at a time in one pass over the fields kspan-rs
/// reads: a kind it does not model is read for its metadata whatever its spec and
/// status hold, and a timestamp that is no instant fails its line, named.
#[test]
fn other_kinds_whatever_their_shape_and_broken_timestamps_in_a_recording() {
    let dir = temp_dir("views");
    let time = "2021-05-05T16:22:16Z";
    let lines = [
        json!({"type": "ADDED", "time": time, "object": {
            "kind": "Widget", "apiVersion": "example.com/v1",
            "metadata": {"name": "w", "namespace": "default", "uid": "u-w"},
            "spec": {"replicas": "three", "nodeName": 7}, "status": {"conditions": "none"}}}),
        json!({"type": "ADDED", "time": time, "object": {
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p", "namespace": "default", "uid": "u-p",
                         "creationTimestamp": "yesterday"}}}),
        json!({"type": "ADDED", "time": time, "object": {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "w.1", "namespace": "default", "uid": "e-1"},
            "involvedObject": {"kind": "Widget", "name": "w", "namespace": "default", "uid": "u-w"},
            "reason": "Reconciled", "message": "ok", "type": "Normal", "count": 1,
            "firstTimestamp": time, "lastTimestamp": time,
            "source": {"component": "widget-controller"}}}),
    ];
    let file = dir.join("recorded.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n") + "\n").unwrap();

    let replay = kspan::source::timeline::load(std::slice::from_ref(&file));
    let errors: Vec<String> = replay.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let expected = format!("{}: document 2 (line 2): Pod \"p\": ", file.display());
    assert!(errors[0].starts_with(&expected), "{}", errors[0]);
    assert!(errors[0].contains("invalid timestamp \"yesterday\""), "{}", errors[0]);

    let widget = replay.observations.iter().find_map(|o| match &o.what {
        kspan::observe::Observed::Object(seen) if seen.key.name == "w" => Some(seen),
        _ => None,
    });
    let widget = widget.expect("the Widget is read despite its spec and status");
    assert_eq!(widget.key.kind.as_str(), "Widget");
    assert_eq!(widget.uid, "u-w");
    assert!(widget.conditions.is_empty() && widget.pod.is_none() && widget.workload.is_none());
    let event = replay.observations.iter().find_map(|o| match &o.what {
        kspan::observe::Observed::Event(e) => Some(e),
        _ => None,
    });
    let event = event.expect("the Event is read");
    assert_eq!(
        (event.reason.as_str(), event.component.as_str()),
        ("Reconciled", "widget-controller")
    );
    assert_eq!(event.involved.key.to_string(), "Widget/default/w");
}
