//! Span trees without times, to compare what a receiver got with a replay of the
//! same run.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub use crate::support::rotel::{trees, Row};

pub fn replay_trees(capture: &Path, settle: &str) -> BTreeSet<Row> {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json", "--settle", settle])
        .arg(capture)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = capture.with_extension("replayed.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    otlp_json_trees(&file)
}

/// Span trees from an OTLP/JSON lines file.
pub fn otlp_json_trees(file: &Path) -> BTreeSet<Row> {
    let mut set = BTreeSet::new();
    for line in std::fs::read_to_string(file).unwrap().lines() {
        let request: Value = serde_json::from_str(line).unwrap();
        for rs in request["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let uids = s["events"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|e| e["attributes"].as_array().unwrap())
                        .filter(|kv| kv["key"] == "k8s.event.uid")
                        .map(|kv| kv["value"]["stringValue"].as_str().unwrap().to_string())
                        .collect();
                    set.insert((
                        s["traceId"].as_str().unwrap().to_string(),
                        s["spanId"].as_str().unwrap().to_string(),
                        s["parentSpanId"].as_str().unwrap_or_default().to_string(),
                        s["name"].as_str().unwrap().to_string(),
                        uids,
                    ));
                }
            }
        }
    }
    set
}
