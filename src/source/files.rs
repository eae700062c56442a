//! Replay input: files and directory trees, format detected per file, every document
//! decoded on its own so one broken document never loses the rest.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde_json::Value;

use super::document::{decode, decode_view, kind_from_file_name, Decoded, DocumentError};
use super::{text, wrapped};
use crate::observe::view::{ObjectView, Text};
use crate::time::{self, Nanos};

/// Where a document came from: named in every error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based index of the document in its file.
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {} (line {})", self.file.display(), self.document, self.line)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{origin}: {fault}")]
    Document { origin: Origin, fault: DocumentFault },
    /// A named file of text that holds no document: what it has is not worth
    /// a syntax error per paragraph.
    #[error("no Kubernetes documents found in {} (is it a cluster-info dump wrapped in other text?)", .0.display())]
    NoDocuments(PathBuf),
}

/// What is wrong with one document: text that is not JSON or YAML, or a value
/// that is not a Kubernetes shape.
#[derive(Debug, thiserror::Error)]
pub enum DocumentFault {
    #[error("{0}")]
    Syntax(String),
    #[error(transparent)]
    Decode(#[from] DocumentError),
}

/// A decoded observation with its arrival time, if the input recorded one.
pub struct Item {
    pub decoded: Decoded,
    pub arrival: Option<Nanos>,
}

#[derive(Default)]
pub struct ReadOutcome {
    pub items: Vec<Item>,
    pub errors: Vec<ReadError>,
    /// Files met while walking a directory that hold no Kubernetes objects at all
    /// (a sonobuoy `serverversion.json`, say): skipped, and said so.
    pub skipped: Vec<PathBuf>,
}

/// Every file to read, each with whether it was found by walking a directory
/// (sorted for a stable order); paths that cannot be read are errors.
pub fn collect_paths(paths: &[PathBuf], errors: &mut Vec<ReadError>) -> Vec<(PathBuf, bool)> {
    let mut all = Vec::new();
    for path in paths {
        let mut files = Vec::new();
        match collect_files(path, &mut files) {
            Ok(()) => {}
            Err(e) => {
                errors.push(ReadError::Io(path.clone(), e));
                continue;
            }
        }
        let walked = path.is_dir();
        all.extend(files.into_iter().map(|f| (f, walked)));
    }
    all
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if [".json", ".yaml", ".yml", ".jsonl", ".ndjson", ".log", ".txt"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(entry);
        }
    }
    Ok(())
}

pub fn read_file(file: &Path, walked: bool, outcome: &mut ReadOutcome) {
    match std::fs::read(file) {
        Ok(bytes) => read_text(file, &text::decode(&bytes), walked, outcome),
        Err(e) => outcome.errors.push(ReadError::Io(file.to_path_buf(), e)),
    }
}

/// Reads one file's text; `walked` says it was found in a directory rather than named.
pub fn read_text(file: &Path, text: &str, walked: bool, outcome: &mut ReadOutcome) {
    let hint = kind_hint(file);
    let documents = documents(text);
    let (mut items, mut errors) = (Vec::new(), Vec::new());
    for (index, raw) in documents.into_iter().enumerate() {
        let document = index + 1;
        let origin = Origin { file: file.to_path_buf(), document, line: raw.line };
        let value = match raw.value {
            Ok(value) => value,
            Err(message) => {
                errors.push(ReadError::Document { origin, fault: DocumentFault::Syntax(message) });
                continue;
            }
        };
        let mut decoded = Vec::new();
        let result = decode(value, hint, &mut decoded);
        items.extend(decoded.into_iter().map(|d| Item { decoded: d, arrival: raw.arrival }));
        if let Err(e) = result {
            errors.push(ReadError::Document { origin, fault: e.into() });
        }
    }
    let nothing_kubernetes = items.is_empty()
        && !errors.is_empty()
        && errors.iter().all(|e| {
            matches!(
                e,
                ReadError::Document { fault: DocumentFault::Decode(DocumentError::NoKind), .. }
            )
        });
    // Other text (notes, a log, markdown without a dump): said once, not as
    // the YAML errors of its paragraphs.
    let other_text = items.is_empty()
        && !is_json(text)
        && has_content(text)
        && !wrapped::mentions_kubernetes(text);
    if walked && (nothing_kubernetes || other_text) {
        outcome.skipped.push(file.to_path_buf());
        return;
    }
    if other_text {
        outcome.errors.push(ReadError::NoDocuments(file.to_path_buf()));
        return;
    }
    outcome.items.extend(items);
    outcome.errors.extend(errors);
}

/// The arrival time of `line` if it is a watch event as `kspan record` writes
/// it: such files are read a line at a time.
pub fn recorded_line(line: &str) -> Option<Nanos> {
    let recorded = serde_json::from_str::<Recorded<IgnoredAny>>(line.trim()).ok()?;
    recorded.time.as_deref().and_then(time::parse)
}

/// A watch event as `kspan record` writes it, its object read as `O`: skipped
/// (telling such a line apart) or a view (reading it in one pass).
#[derive(serde::Deserialize)]
struct Recorded<'a, O> {
    #[serde(borrow, rename = "type")]
    kind: Text<'a>,
    object: O,
    #[serde(borrow, default)]
    time: Option<Text<'a>>,
}

/// The kind of the objects in `file` when its name says it (`pods.json`) and
/// they do not.
pub fn kind_hint(file: &Path) -> Option<&'static str> {
    file.file_name().and_then(|n| n.to_str()).and_then(kind_from_file_name)
}

/// Reads one line of a recorded watch-event file (line `line`, 1-based, is its
/// document too); `hint` is the file's `kind_hint`.
pub fn read_line(
    file: &Path,
    hint: Option<&str>,
    line: usize,
    text: &str,
    outcome: &mut ReadOutcome,
) {
    if text.trim().is_empty() {
        return;
    }
    // Built only for an error: most lines have none.
    let origin = || Origin { file: file.to_path_buf(), document: line, line };
    let mut decoded = Vec::new();
    let (arrival, result) = match serde_json::from_str::<Recorded<ObjectView>>(text) {
        Ok(recorded) => (
            recorded.time.as_deref().and_then(time::parse),
            decode_view(&recorded.kind, &recorded.object, hint, &mut decoded),
        ),
        // Not the recorded shape, or an object the one-pass view cannot read (a
        // kind with fields of its own shape, a broken one): the general reader
        // reads it or says what is wrong with it.
        Err(_) => match serde_json::from_str::<Value>(text) {
            Ok(mut value) => (take_arrival(&mut value), decode(value, hint, &mut decoded)),
            Err(e) => {
                let fault = DocumentFault::Syntax(format!("invalid JSON: {e}"));
                outcome.errors.push(ReadError::Document { origin: origin(), fault });
                return;
            }
        },
    };
    outcome.items.extend(decoded.into_iter().map(|d| Item { decoded: d, arrival }));
    if let Err(e) = result {
        outcome.errors.push(ReadError::Document { origin: origin(), fault: e.into() });
    }
}

fn is_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

/// Whether YAML text has more than blank lines and comments.
fn has_content(text: &str) -> bool {
    text.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// The documents of a file: JSON, YAML, or (when the file is not YAML: a paste
/// into markdown or other text) those in its code fences that look like
/// Kubernetes, else its lines of JSON; numbered in file order.
fn documents(text: &str) -> Vec<RawDocument> {
    if is_json(text) {
        return json_documents(text);
    }
    let documents = yaml_documents(text);
    if documents.iter().all(|d| d.value.is_ok()) {
        return documents;
    }
    let blocks: Vec<_> = wrapped::fenced_blocks(text)
        .into_iter()
        .filter(|b| wrapped::mentions_kubernetes(&b.text))
        .collect();
    if !blocks.is_empty() {
        let mut found = Vec::new();
        for block in blocks {
            let documents = match is_json(&block.text) {
                true => json_documents(&block.text),
                false => yaml_documents(&block.text),
            };
            found.extend(
                documents.into_iter().map(|d| RawDocument { line: d.line + block.line - 1, ..d }),
            );
        }
        return found;
    }
    // No YAML document at all: JSON after a line of prose, perhaps, which the
    // JSON reader passes over as it passes over a dump's logs.
    let structured = |d: &RawDocument| matches!(d.value, Ok(Value::Object(_) | Value::Array(_)));
    if documents.iter().any(structured) {
        return documents;
    }
    let json = json_documents(text);
    match json.iter().any(structured) {
        true => json,
        false => documents,
    }
}

struct RawDocument {
    value: Result<Value, String>,
    arrival: Option<Nanos>,
    line: usize,
}

/// YAML documents split on `---`, each with the kspan capture header
/// `# {"time": ..., "style": ..., "kind": ...}` when present.
fn yaml_documents(text: &str) -> Vec<RawDocument> {
    let mut documents = Vec::new();
    let mut body = String::new();
    let mut arrival = None;
    let mut start = 1;
    let mut flush = |body: &mut String, arrival: &mut Option<Nanos>, start: usize| {
        if has_content(body) {
            let value =
                serde_yaml::from_str::<Value>(body).map_err(|e| format!("invalid YAML: {e}"));
            documents.push(RawDocument { value, arrival: *arrival, line: start });
        }
        body.clear();
        *arrival = None;
    };
    for (index, line) in text.lines().enumerate() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            flush(&mut body, &mut arrival, start);
            start = index + 2;
            continue;
        }
        if let Some(header) = line.strip_prefix("# {") {
            if let Ok(header) = serde_json::from_str::<Value>(&format!("{{{header}")) {
                arrival =
                    header.get("time").and_then(Value::as_str).and_then(time::parse).or(arrival);
            }
        }
        if body.is_empty() && line.trim().is_empty() {
            start = index + 2;
        }
        body.push_str(line);
        body.push('\n');
    }
    flush(&mut body, &mut arrival, start);
    documents
}

/// JSON: one value, a stream of values (JSON lines of watch events), or
/// `kubectl cluster-info dump` output where container logs sit between the lists.
/// A broken value is reported and reading resumes at the next line starting a value.
fn json_documents(text: &str) -> Vec<RawDocument> {
    let mut documents = Vec::new();
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let line_of = |offset: usize| line_starts.partition_point(|&s| s <= offset);
    let mut offset = 0;
    while offset < text.len() {
        let rest = &text[offset..];
        let skip = rest.len() - rest.trim_start().len();
        offset += skip;
        let rest = &text[offset..];
        if rest.is_empty() {
            break;
        }
        if rest.starts_with("==== START logs") {
            // A container's log in a cluster-info dump: skip to its END marker.
            offset += rest.find("==== END logs").map_or(rest.len(), |end| {
                end + rest[end..].find('\n').map_or(rest.len() - end, |i| i + 1)
            });
            continue;
        }
        if !rest.starts_with(['{', '[']) {
            // Container logs of a cluster-info dump, or other text: skip the line.
            offset += rest.find('\n').map_or(rest.len(), |i| i + 1);
            continue;
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(mut value)) => {
                let arrival = take_arrival(&mut value);
                documents.push(RawDocument { value: Ok(value), arrival, line: line_of(offset) });
                offset += stream.byte_offset();
            }
            Some(Err(e)) => {
                let message = format!("invalid JSON: {e}");
                documents.push(RawDocument {
                    value: Err(message),
                    arrival: None,
                    line: line_of(offset),
                });
                // Resume at the next line that starts a value at column 0.
                let next = rest[1..].find("\n{").or(rest[1..].find("\n[")).map(|i| i + 2);
                offset += next.unwrap_or(rest.len());
            }
            None => break,
        }
    }
    documents
}

/// Watch-event lines written by `kspan record` carry their arrival time beside
/// `type` and `object`.
fn take_arrival(value: &mut Value) -> Option<Nanos> {
    let map = value.as_object_mut()?;
    if !map.contains_key("object") {
        return None;
    }
    map.remove("time").as_ref().and_then(Value::as_str).and_then(time::parse)
}
