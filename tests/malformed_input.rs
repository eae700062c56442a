//! Malformed input never panics: the real fixtures, mutated byte by byte and node by
//! node, go through the replay readers (`Timeline::from_text`: whole documents, and
//! recorded watch lines, one fixture being turned into those), the
//! observation mapping and the correlator, and the spans through both encoders.
//!
//! The number of cases per property is `KSPAN_FUZZ_CASES` (default 256, what CI
//! runs); a long run is e.g.
//! `KSPAN_FUZZ_CASES=10000000 cargo test --release --test malformed_input`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pipeline::pipeline;
use proptest::prelude::*;
use serde_json::Value;

#[path = "common/pipeline.rs"]
mod pipeline;

/// A fixture: its name (the kind hint of dumps like `Pods.json` comes from it),
/// its text, and its documents as values.
struct Fixture {
    name: String,
    lines: Vec<String>,
    documents: Vec<Value>,
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            files(&e, out);
        } else if e.extension().is_some_and(|x| x == "json" || x == "yaml") {
            out.push(e);
        }
    }
}

fn corpus() -> &'static [Fixture] {
    static CORPUS: OnceLock<Vec<Fixture>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("tests/fixtures/real"), &mut paths);
        paths.push(root.join("examples/deployment-2-pods.yaml"));
        let mut fixtures: Vec<Fixture> = paths
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).unwrap();
                let documents: Vec<Value> = if text.trim_start().starts_with(['{', '[']) {
                    match serde_json::from_str::<Value>(&text).unwrap() {
                        Value::Object(mut map) if map.get("items").is_some_and(Value::is_array) => {
                            let Some(Value::Array(items)) = map.remove("items") else {
                                unreachable!()
                            };
                            items
                        }
                        v => vec![v],
                    }
                } else {
                    text.split("\n---")
                        .filter_map(|d| serde_yaml::from_str::<Value>(d).ok())
                        .filter(|v| !v.is_null())
                        .collect()
                };
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let lines = text.split_inclusive('\n').map(str::to_string).collect();
                Fixture { name, lines, documents }
            })
            .collect();
        // The example once more as `kspan record` writes it: the line reader's input.
        let example = fixtures.last().expect("the example");
        let lines: Vec<String> = example
            .documents
            .iter()
            .enumerate()
            .map(|(i, doc)| {
                let time = format!("2021-05-05T16:22:{:02}.{i:03}Z", i % 60);
                serde_json::json!({"type": "ADDED", "object": doc, "time": time}).to_string() + "\n"
            })
            .collect();
        let documents = example.documents.clone();
        fixtures.push(Fixture { name: "recorded.jsonl".into(), lines, documents });
        fixtures
    })
}

fn cases() -> u32 {
    std::env::var("KSPAN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

#[derive(Debug, Clone)]
enum Edit {
    Flip { at: usize, bit: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Repeat { at: usize, len: usize, times: usize },
    Utf16 { big_endian: bool },
}

/// Tokens that mean something to YAML, JSON or Kubernetes.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ": ",
    "\n- ",
    "\n  ",
    "---\n",
    "null",
    "-1",
    "1e999",
    "99999999999999999999",
    "\\u0000",
    "&a ",
    "*a",
    "!!binary ",
    "kind: Event\n",
    "kind: Pod\n",
    "\"0001-01-01T00:00:00Z\"",
    "\"9000-01-01T00:00:00Z\"",
    "ownerReferences:\n- {kind: Pod, name: x, uid: u, controller: true}\n",
    "é",
    "\u{1F600}",
    "\u{FEFF}",
    "\r\n",
    "\n```json\n",
    "\n~~~\n",
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        6 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        6 => (any::<usize>(), prop::sample::select(TOKENS))
            .prop_map(|(at, t)| Edit::Insert { at, bytes: t.as_bytes().to_vec() }),
        6 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        6 => (any::<usize>(), 1usize..32, 2usize..64).prop_map(|(at, len, times)| Edit::Repeat {
            at,
            len,
            times
        }),
        1 => any::<bool>().prop_map(|big_endian| Edit::Utf16 { big_endian }),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        if let Edit::Insert { bytes: b, .. } = edit {
            bytes.extend_from_slice(b);
        }
        return;
    }
    let n = bytes.len();
    match edit {
        Edit::Flip { at, bit } => bytes[at % n] ^= 1 << bit,
        Edit::Insert { at, bytes: b } => {
            let at = at % (n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Edit::Delete { at, len } => {
            let at = at % n;
            bytes.drain(at..(at + len).min(n));
        }
        Edit::Repeat { at, len, times } => {
            let at = at % n;
            let piece = bytes[at..(at + len).min(n)].to_vec();
            let copies: Vec<u8> = piece.iter().copied().cycle().take(piece.len() * times).collect();
            bytes.splice(at..at, copies);
        }
        Edit::Utf16 { big_endian } => {
            // The text so far saved as UTF-16 with its byte-order mark, as Windows does.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mark = if *big_endian { [0xFE, 0xFF] } else { [0xFF, 0xFE] };
            let units = text.encode_utf16().flat_map(|u| match big_endian {
                true => u.to_be_bytes(),
                false => u.to_le_bytes(),
            });
            *bytes = mark.into_iter().chain(units).collect();
        }
    }
}

/// A value to put in place of a node of a real document.
fn replacement() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(TOKENS).prop_map(|t| Value::String(t.to_string())),
        prop::sample::select(
            &[
                "0001-01-01T00:00:00Z",
                "1970-01-01T00:00:00Z",
                "9999-12-31T23:59:59.999999Z",
                "2021-05-19T09:42:58Z",
                "2021-05-19T09:42:58.123456Z",
                "not a time",
            ][..]
        )
        .prop_map(|t| Value::String(t.to_string())),
        // Around the 4 KiB message bound, in multibyte characters.
        (2040usize..2060, prop::sample::select(&["é", "\u{1F600}", "a"][..]))
            .prop_map(|(n, c)| Value::String(c.repeat(n))),
        prop::sample::select(&["Pod", "ReplicaSet", "Deployment", "Event", "Node", "Job"][..])
            .prop_map(|t| Value::String(t.to_string())),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(
                    &["kind", "name", "uid", "namespace", "controller", "type", "object", "x"][..]
                ),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

/// A node of `value` chosen by `selector`: a walk from the root that stops at each
/// level with a chance of one in four (or at a leaf), else goes into a child.
fn pick(value: &mut Value, mut selector: u64) -> &mut Value {
    let mut next = || {
        // splitmix64: cheap, well mixed, deterministic in the selector.
        selector = selector.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = selector;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as usize
    };
    let mut at = value;
    loop {
        let stop = next() % 4 == 0;
        let children = match &*at {
            Value::Object(map) => map.len(),
            Value::Array(items) => items.len(),
            _ => 0,
        };
        if stop || children == 0 {
            return at;
        }
        let i = next() % children;
        at = match at {
            Value::Object(map) => map.values_mut().nth(i).unwrap(),
            Value::Array(items) => &mut items[i],
            _ => unreachable!(),
        };
    }
}

#[derive(Debug, Clone)]
enum NodeEdit {
    Replace(u64, Value),
    /// Removes a child of the container picked.
    Remove(u64, usize),
    /// Copies one node over another (a uid where a name was, a whole object in a field).
    Copy(u64, u64),
}

fn node_edit() -> impl Strategy<Value = NodeEdit> {
    prop_oneof![
        3 => (any::<u64>(), replacement()).prop_map(|(i, v)| NodeEdit::Replace(i, v)),
        1 => (any::<u64>(), any::<usize>()).prop_map(|(i, c)| NodeEdit::Remove(i, c)),
        1 => (any::<u64>(), any::<u64>()).prop_map(|(a, b)| NodeEdit::Copy(a, b)),
    ]
}

fn apply_node_edit(value: &mut Value, edit: &NodeEdit) {
    match edit {
        NodeEdit::Replace(i, v) => *pick(value, *i) = v.clone(),
        NodeEdit::Remove(i, child) => match pick(value, *i) {
            Value::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(child % map.len()).unwrap().clone();
                map.remove(&key);
            }
            Value::Array(items) if !items.is_empty() => {
                items.remove(child % items.len());
            }
            _ => {}
        },
        NodeEdit::Copy(from, to) => {
            let copy = pick(value, *from).clone();
            *pick(value, *to) = copy;
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// A window of lines of a real fixture, with byte-level edits.
    #[test]
    fn mutated_bytes_of_the_real_fixtures_never_panic(
        file in any::<prop::sample::Index>(),
        start in any::<prop::sample::Index>(),
        lines in prop_oneof![4 => 1usize..40, 1 => 40usize..200],
        edits in prop::collection::vec(edit(), 0..8),
    ) {
        let fixture = file.get(corpus());
        let start = start.index(fixture.lines.len());
        let end = (start + lines).min(fixture.lines.len());
        let mut bytes: Vec<u8> = fixture.lines[start..end].concat().into_bytes();
        for e in &edits {
            apply(&mut bytes, e);
        }
        // The readers get text as `read_file` decodes it (a byte-order mark an
        // edit wrote makes the rest UTF-16), lossily.
        pipeline(&fixture.name, &kspan::source::text::decode(&bytes));
    }

    /// A few real documents (objects and events of one fixture), with nodes replaced,
    /// removed or copied, as JSON or YAML.
    #[test]
    fn mutated_documents_of_the_real_fixtures_never_panic(
        file in any::<prop::sample::Index>(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        edits in prop::collection::vec(node_edit(), 1..6),
        as_yaml in any::<bool>(),
    ) {
        let fixture = file.get(corpus());
        prop_assume!(!fixture.documents.is_empty());
        let mut documents: Vec<Value> =
            picks.iter().map(|p| p.get(&fixture.documents).clone()).collect();
        for (i, e) in edits.iter().enumerate() {
            let n = documents.len();
            apply_node_edit(&mut documents[i % n], e);
        }
        let text = if as_yaml {
            documents.iter().map(|d| serde_yaml::to_string(d).unwrap()).collect::<Vec<_>>().join("---\n")
        } else {
            serde_json::to_string(&Value::Array(documents)).unwrap()
        };
        pipeline(&fixture.name, &text);
    }
}

/// The corpus is what it claims: every fixture yields documents and spans unmutated.
#[test]
fn the_corpus_reads_and_correlates() {
    let corpus = corpus();
    assert!(corpus.len() >= 10, "{} fixtures", corpus.len());
    let mut spans = 0;
    for f in corpus {
        assert!(!f.documents.is_empty(), "{}", f.name);
        spans += pipeline(&f.name, &f.lines.concat());
    }
    assert!(spans > 50, "{spans} spans from the unmutated corpus");
}

/// Found by the fuzzer (scripts/fuzz): an Event dated in the year 9000 overflowed
/// the arithmetic of its pod's span (its time plus the settle window). Instants
/// after 2199 are not taken as real: the Event is timed by its arrival, and a pull
/// "in 99999999999h" is no measure.
#[test]
fn an_event_from_the_year_9000_is_placed_without_overflow() {
    let event = |uid: &str, reason: &str, message: &str| {
        serde_json::json!({
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": uid, "namespace": "default", "uid": uid},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "p1"},
            "reason": reason, "message": message, "count": 1,
            "firstTimestamp": "9000-01-01T00:00:00Z", "lastTimestamp": "9000-01-01T00:00:00Z",
        })
    };
    let pod = serde_json::json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web-1", "namespace": "default", "uid": "p1",
                     "creationTimestamp": "2021-05-05T16:22:00Z"},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "9000-01-01T00:00:00Z"}]},
    });
    let items = vec![
        pod,
        event("e1", "Pulling", "Pulling image \"nginx:1.19\""),
        event("e2", "Pulled", "Successfully pulled image \"nginx:1.19\" in 99999999999h"),
    ];
    let text = serde_json::json!({"kind": "List", "items": items}).to_string();
    assert!(pipeline("events.json", &text) > 0);
}
