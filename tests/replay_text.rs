//! Dumps as people save and share them: written by Windows PowerShell (UTF-16
//! with a byte-order mark, CRLF), pasted into markdown between code fences, or
//! a file of other text given by mistake. The traces must be those of the
//! original; text with no document is named once, and the rest still replayed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};

const MAIN: &str = "kspan/deployment-2-pods.main.yaml";
const SONOBUOY: &str = "sonobuoy-v1.8";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kspan-text-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn kspan_replay(paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json"])
        .args(paths)
        .output()
        .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Encoding {
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

/// `text` as Windows saves it: CRLF line ends, a byte-order mark, the encoding.
fn windows_bytes(text: &str, encoding: Encoding) -> Vec<u8> {
    let text = text.replace('\n', "\r\n");
    match encoding {
        Encoding::Utf8Bom => [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat(),
        Encoding::Utf16Le => {
            [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
        }
        Encoding::Utf16Be => {
            [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect()
        }
    }
}

/// Copies the tree `from` to `to`, every file re-encoded.
fn copy_encoded(from: &Path, to: &Path, encoding: Encoding) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_encoded(&path, &target, encoding);
        } else {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(target, windows_bytes(&text, encoding)).unwrap();
        }
    }
}

/// The sonobuoy result as one `kubectl cluster-info dump` stream: the nodes, then
/// each namespace's typed lists (the items without `kind`, as the API returns
/// them), then its containers' logs.
fn cluster_info_dump() -> String {
    let root = fixture(SONOBUOY).join("resources");
    let list = |kind: &str, file: &Path| {
        let items: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let list = json!({"kind": format!("{kind}List"), "apiVersion": "v1",
                          "metadata": {"resourceVersion": "2048"}, "items": items});
        serde_json::to_string_pretty(&list).unwrap() + "\n"
    };
    let mut dump = list("Node", &root.join("cluster/Nodes.json"));
    for namespace in ["default", "heptio-sonobuoy", "kube-system"] {
        let dir = root.join("ns").join(namespace);
        for kind in ["Event", "DaemonSet", "Deployment", "ReplicaSet", "Pod"] {
            let file = dir.join(format!("{kind}s.json"));
            if file.exists() {
                dump += &list(kind, &file);
            }
        }
        dump += &format!(
            "==== START logs for container c of pod {namespace}/p ====\n\
             I1213 17:41:02.5 1 main.go:42] Starting: {{\"port\": 8080}}\n\
             ==== END logs for container c of pod {namespace}/p ====\n"
        );
    }
    dump
}

/// The main capture as `kspan record` writes it: the input of the line reader.
fn recording() -> String {
    let text = std::fs::read_to_string(fixture(MAIN)).unwrap();
    text.split("\n---\n")
        .filter_map(|chunk| {
            let chunk = chunk.trim_start_matches("---\n");
            let header: Value =
                serde_json::from_str(chunk.lines().next()?.strip_prefix("# ")?).ok()?;
            let doc: Value = serde_yaml::from_str(chunk).ok()?;
            Some(json!({"type": "ADDED", "object": doc, "time": header["time"]}).to_string() + "\n")
        })
        .collect()
}

fn errors(replay: &kspan::source::timeline::Replay) -> Vec<String> {
    replay.errors.iter().map(|e| e.to_string()).collect()
}

#[test]
fn a_dump_saved_by_windows_powershell_replays_like_the_original() {
    let dir = temp_dir("windows");
    std::fs::write(dir.join("dump.txt"), cluster_info_dump()).unwrap();
    std::fs::write(dir.join("recorded.jsonl"), recording()).unwrap();
    let originals =
        [fixture(MAIN), fixture(SONOBUOY), dir.join("dump.txt"), dir.join("recorded.jsonl")];
    for encoding in [Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Utf8Bom] {
        for original in &originals {
            let copy = dir.join(format!("{encoding:?}")).join(original.file_name().unwrap());
            if original.is_dir() {
                copy_encoded(original, &copy, encoding);
            } else {
                std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                let text = std::fs::read_to_string(original).unwrap();
                std::fs::write(&copy, windows_bytes(&text, encoding)).unwrap();
            }
            let (expected, _, reference) = run(std::slice::from_ref(original));
            let (replay, _, json) = run(std::slice::from_ref(&copy));
            assert!(!spans(&reference).is_empty(), "{original:?} gives spans");
            assert!(errors(&expected).is_empty(), "{:?}", errors(&expected));
            assert!(errors(&replay).is_empty(), "{encoding:?} {copy:?}: {:?}", errors(&replay));
            assert_eq!(replay.observations.len(), expected.observations.len(), "{copy:?}");
            assert_eq!(replay.skipped.len(), expected.skipped.len(), "{copy:?}");
            assert_eq!(json, reference, "{encoding:?} {copy:?}: the same spans, byte for byte");
        }
    }
    // What the issue saw: `kubectl cluster-info dump > dump.txt` in PowerShell.
    let output = kspan_replay(&[&dir.join("Utf16Le/dump.txt")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// A cluster-info dump and a YAML capture pasted into an issue, between prose
/// and a shell snippet: read from their fences, as if they were files.
#[test]
fn a_dump_pasted_into_markdown_is_read_from_its_fences() {
    let dir = temp_dir("markdown");
    let dump = cluster_info_dump();
    std::fs::write(dir.join("dump.txt"), &dump).unwrap();
    let issue = format!(
        "### Rollout hangs\n\nSteps: run this, then look:\n\n```sh\nkubectl cluster-info dump > dump.txt\n```\n\n\
         <details><summary>dump.txt</summary>\n\n```json\n{dump}```\n</details>\n\nAny idea: anyone?\n"
    );
    let file = dir.join("issue.md");
    std::fs::write(&file, &issue).unwrap();
    let (expected, _, reference) = run(&[dir.join("dump.txt")]);
    let (replay, _, json) = run(std::slice::from_ref(&file));
    assert!(errors(&replay).is_empty(), "{:?}", errors(&replay));
    assert_eq!(replay.observations.len(), expected.observations.len());
    assert!(!spans(&reference).is_empty());
    assert_eq!(json, reference, "the same spans as the dump on its own");

    // Plain YAML documents in a fence, one broken: named by its line in the file.
    let capture = std::fs::read_to_string(fixture(MAIN)).unwrap();
    let broken = "apiVersion: v1\nkind: Event\nmetadata: {name: x, uid: [unclosed\n";
    let wiki =
        format!("Seen on staging:\n\n~~~yaml\n{capture}---\n{broken}~~~\n\nNote: more later.\n");
    let file = dir.join("wiki.md");
    std::fs::write(&file, &wiki).unwrap();
    let output = kspan_replay(&[&file]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a broken document: {stderr}");
    let line = wiki.lines().position(|l| l.starts_with("metadata: {name: x")).unwrap() - 1;
    let documents = capture.matches("\n---\n").count() + 2;
    let error =
        format!("error: {}: document {documents} (line {line}): invalid YAML", file.display());
    assert!(stderr.lines().any(|l| l.starts_with(&error)), "{error} in {stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    let (_, _, original) = run(&[fixture(MAIN)]);
    assert_eq!(
        event_uid_counts(&spans(&String::from_utf8(output.stdout).unwrap())),
        event_uid_counts(&spans(&original)),
        "every event of the capture is replayed"
    );
}

/// Text with no document is named once (not a YAML error per paragraph), the
/// other input is still replayed, and the exit status says input was bad; found
/// by walking a directory (a container's log), it is skipped with a note.
#[test]
fn text_with_no_documents_is_named_and_the_rest_is_replayed() {
    let dir = temp_dir("no-documents");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "Rollout of px, 19 May.\nThe pods: stuck: no idea why.\n").unwrap();
    let readme = dir.join("README.md");
    std::fs::write(&readme, "# Steps\n\n```sh\nkubectl cluster-info dump > dump.txt\n```\n")
        .unwrap();
    let output = kspan_replay(&[&notes, &fixture(MAIN), &readme]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    let expected: Vec<String> = [&notes, &readme]
        .iter()
        .map(|f| {
            format!(
                "error: no Kubernetes documents found in {} \
                 (is it a cluster-info dump wrapped in other text?)",
                f.display()
            )
        })
        .collect();
    assert_eq!(errors, expected, "{stderr}");
    assert!(!stderr.contains("mapping values"), "{stderr}");
    let counts = event_uid_counts(&spans(&String::from_utf8(output.stdout).unwrap()));
    assert_eq!(counts.len(), 19, "all events of the capture still replayed");

    // `kubectl cluster-info dump --output-directory`: each container's log beside the lists.
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("default/px-1")).unwrap();
    std::fs::copy(fixture(MAIN), tree.join("default/capture.yaml")).unwrap();
    let log = tree.join("default/px-1/logs.txt");
    std::fs::write(&log, "I0519 10:02:11 main.go:12] Starting: podinfo\nlevel: info msg: ready\n")
        .unwrap();
    let output = kspan_replay(&[&tree]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let note = format!("note: {}: no Kubernetes objects, skipped", log.display());
    assert!(stderr.lines().any(|l| l == note), "{note} in {stderr}");
}
