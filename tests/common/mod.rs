//! Shared helpers of the replay tests: run the library on real input, read the
//! OTLP/JSON back, and read the input independently to know what to expect.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kspan::cmd::replay::correlate;
use kspan::correlate::Config;
use kspan::sink::convert::ResourceOptions;
use kspan::sink::json::JsonLines;
use kspan::source::timeline::{self, Replay};
use kspan::span::SpanDraft;
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    // The real captures live beside the project checkout, or at KSPAN_FIXTURES.
    std::env::var_os("KSPAN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real"))
}

pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// Each real capture on its own: kspan's captures, then the sonobuoy tree.
pub fn real_captures() -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixture("kspan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    inputs.sort();
    inputs.push(fixture("sonobuoy-v1.8"));
    inputs
}

pub fn run(paths: &[PathBuf]) -> (Replay, Vec<SpanDraft>, String) {
    let input = timeline::load(paths);
    let (batches, _) = correlate(&input, Config::default());
    let mut sink = JsonLines::new(Vec::new(), ResourceOptions::default());
    for batch in &batches {
        sink.write(batch.clone()).unwrap();
    }
    let json = String::from_utf8(sink.into_inner().unwrap()).unwrap();
    (input, batches.concat(), json)
}

/// A span read back from OTLP/JSON.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace: String,
    pub id: String,
    pub parent: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub events: Vec<BTreeMap<String, String>>,
    pub status_code: i64,
    pub service: String,
    pub start: u64,
    pub end: u64,
}

/// OTLP/JSON writes 64-bit times as decimal strings.
fn nanos(v: &Value) -> u64 {
    v.as_str().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("a time, not {v}"))
}

fn attributes(list: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in list.as_array().into_iter().flatten() {
        let key = kv["key"].as_str().unwrap().to_string();
        let v = &kv["value"];
        let text = v["stringValue"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                v.get("intValue")
                    .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
            })
            .or_else(|| v.get("boolValue").map(|b| b.to_string()))
            .unwrap_or_default();
        out.insert(key, text);
    }
    out
}

/// Parses OTLP/JSON lines (the collector file-exporter shape) into spans.
pub fn spans(json: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for line in json.lines() {
        let request: Value = serde_json::from_str(line).expect("each line is one JSON request");
        for rs in request["resourceSpans"].as_array().unwrap() {
            let resource = attributes(&rs["resource"]["attributes"]);
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    out.push(Span {
                        trace: s["traceId"].as_str().unwrap().to_string(),
                        id: s["spanId"].as_str().unwrap().to_string(),
                        parent: s["parentSpanId"].as_str().unwrap_or_default().to_string(),
                        name: s["name"].as_str().unwrap().to_string(),
                        attributes: attributes(&s["attributes"]),
                        events: s["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| attributes(&e["attributes"]))
                            .collect(),
                        status_code: s["status"]["code"].as_i64().unwrap_or(0),
                        service: resource.get("service.name").cloned().unwrap_or_default(),
                        start: nanos(&s["startTimeUnixNano"]),
                        end: nanos(&s["endTimeUnixNano"]),
                    });
                }
            }
        }
    }
    out
}

/// The shape every replay's traces must have, real captures and synthetic ones
/// alike: span ids unique, one root per trace, every other span's parent in its
/// own trace with no cycle, no span ending before it starts.
pub fn assert_traces_well_formed(spans: &[Span], input: &str) {
    let mut by_id = BTreeMap::new();
    let mut roots = BTreeMap::<&str, usize>::new();
    for s in spans {
        assert!(by_id.insert((&s.trace, &s.id), s).is_none(), "{input}: span {} twice", s.id);
        assert!(s.start <= s.end, "{input}: {} {} ends before it starts", s.name, s.id);
        if s.parent.is_empty() {
            *roots.entry(&s.trace).or_default() += 1;
        }
    }
    for s in spans {
        assert_eq!(
            roots.get(s.trace.as_str()),
            Some(&1),
            "{input}: trace {} has one root",
            s.trace
        );
        let mut at = s;
        for _ in 0..spans.len() {
            if at.parent.is_empty() {
                break;
            }
            at = by_id.get(&(&at.trace, &at.parent)).unwrap_or_else(|| {
                panic!("{input}: {} {}: parent {} not in its trace", at.name, at.id, at.parent)
            });
        }
        assert!(at.parent.is_empty(), "{input}: {} {} is in a cycle", s.name, s.id);
    }
}

/// Every `k8s.event.uid` in the output with how often it appears (span events and span attributes).
pub fn event_uid_counts(spans: &[Span]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for s in spans {
        for uid in s
            .attributes
            .get("k8s.event.uid")
            .into_iter()
            .chain(s.events.iter().filter_map(|e| e.get("k8s.event.uid")))
        {
            *counts.entry(uid.clone()).or_default() += 1;
        }
    }
    counts
}

/// Documents of the input files, parsed without the project's readers.
pub fn input_documents(path: &Path) -> Vec<Value> {
    let mut files = Vec::new();
    collect(path, &mut files);
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let kind_hint =
            file.file_stem().unwrap().to_str().unwrap().trim_end_matches('s').to_string();
        if file.extension().is_some_and(|e| e == "json") {
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for mut item in value.as_array().cloned().unwrap_or_else(|| vec![value]) {
                if item.get("kind").is_none() && item.get("metadata").is_some() {
                    item["kind"] = Value::String(kind_hint.clone());
                }
                docs.push(item);
            }
        } else {
            for doc in serde_yaml::Deserializer::from_str(&text) {
                use serde::Deserialize;
                let value = Value::deserialize(doc).unwrap();
                if !value.is_null() {
                    docs.push(value);
                }
            }
        }
    }
    docs
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> =
            std::fs::read_dir(path).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

pub fn input_event_uids(path: &Path) -> Vec<String> {
    input_documents(path)
        .iter()
        .filter(|d| d["kind"] == "Event")
        .map(|d| d["metadata"]["uid"].as_str().unwrap().to_string())
        .collect()
}

/// The root span of a span's trace.
pub fn root_of<'a>(spans: &'a [Span], span: &Span) -> &'a Span {
    spans
        .iter()
        .find(|s| s.trace == span.trace && s.parent.is_empty())
        .expect("every trace has a root")
}

/// The span whose events (or own attributes) carry this event uid.
pub fn span_with_event<'a>(spans: &'a [Span], uid: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| {
            s.attributes.get("k8s.event.uid").is_some_and(|u| u == uid)
                || s.events.iter().any(|e| e.get("k8s.event.uid").is_some_and(|u| u == uid))
        })
        .unwrap_or_else(|| panic!("event {uid} is in no span"))
}

pub fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.trace == parent.trace && s.parent == parent.id).collect()
}
