//! Parser for the span output of the OTLP receiver used in live tests:
//! `rotel-agent start --exporter blackhole --debug-log traces --debug-log-verbosity detailed`
//! (PyPI `rotel` 0.0.1a15). Format (see scripts/README-live.md):
//!
//! ```text
//! ResourceSpans #0
//! Resource SchemaURL:
//! Resource attributes:
//!      -> service.name: Str(kspan)
//! ScopeSpans #0
//! ScopeSpans SchemaURL:
//! InstrumentationScope kspan 0.1.0
//! Span #0
//!     Trace ID       : be69191f6d2a1986708997f64bc581ff
//!     Parent ID      : 1e892e7968c7f620            (empty for a root span)
//!     ID             : ec8ed209282c0973
//!     Name           : Pod.Start web-abc
//!     Kind           : SPAN_KIND_INTERNAL
//! Start time: 1795393516673229246                  (unix nanoseconds)
//! End time: 1795393516673362505
//!     Status code    : STATUS_CODE_ERROR           (only when a status was sent)
//!     Status message : image pull failed
//! Attributes:                                      (only when there are any)
//!      -> k8s.replicas: Int(2)
//! Events:                                          (only when there are any)
//! SpanEvent #0
//!      -> Name: Pulled
//!      -> Timestamp: 1795393516673280632
//!      -> DroppedAttributesCount: 0
//!      -> Attributes::
//!           -> k8s.event.uid: Str(0d562fec-2485-4f88-b09e-596783c0d0a2)
//! Links:                                           (only when there are any)
//! SpanLink #0
//!      -> Trace ID: be69191f6d2a1986708997f64bc581ff
//!      -> ID: 1e892e7968c7f620
//!      -> TraceState:
//!      -> DroppedAttributesCount: 0
//!      -> Attributes::
//!           -> link.kind: Str(test)
//! ```
//!
//! Values print as `Str(x)`, `Int(2)`, `Double(0.5)`, `Bool(true)`,
//! `Slice(Str(a), Str(b))`; a string with a newline continues on the next line(s).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// One attribute value: its type as printed (`Str`, `Int`, `Double`, `Bool`,
/// `Slice`, `Map`, `Bytes`, ...) and the text inside the parentheses.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrValue {
    pub kind: String,
    pub value: String,
}

pub type Attributes = Vec<(String, AttrValue)>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: Attributes,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub attributes: Attributes,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Span {
    pub resource: Attributes,
    /// `InstrumentationScope` line: name and version.
    pub scope: String,
    pub trace_id: String,
    /// None for a root span.
    pub parent_id: Option<String>,
    pub span_id: String,
    pub name: String,
    /// e.g. `SPAN_KIND_INTERNAL`
    pub kind: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// e.g. `STATUS_CODE_ERROR`; None when the span carried no status.
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub attributes: Attributes,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

fn lookup<'a>(attrs: &'a Attributes, key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.value.as_str())
}

impl Span {
    /// The text of attribute `key` (without its type).
    pub fn attr(&self, key: &str) -> Option<&str> {
        lookup(&self.attributes, key)
    }
    pub fn resource_attr(&self, key: &str) -> Option<&str> {
        lookup(&self.resource, key)
    }
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }
}

impl SpanEvent {
    pub fn attr(&self, key: &str) -> Option<&str> {
        lookup(&self.attributes, key)
    }
}

impl SpanLink {
    pub fn attr(&self, key: &str) -> Option<&str> {
        lookup(&self.attributes, key)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Resource,
    Span,
    SpanAttrs,
    Event,
    EventAttrs,
    Link,
    LinkAttrs,
}

/// `Str(abc)` -> (`Str`, `abc`). Returns None when the parentheses are not closed
/// (a value continued on the next line).
fn split_value(v: &str) -> Option<AttrValue> {
    let open = v.find('(')?;
    if !v.ends_with(')') {
        return None;
    }
    Some(AttrValue { kind: v[..open].to_string(), value: v[open + 1..v.len() - 1].to_string() })
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    // "    Trace ID       : abc" / "     -> Name: x"
    let t = line.trim_start().trim_start_matches("-> ");
    let rest = t.strip_prefix(name)?;
    let rest = rest.trim_start_matches(' ');
    let rest = rest.strip_prefix(':')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest).trim_end())
}

/// Parses everything rotel printed; unrelated lines (its own log) are skipped.
pub fn parse(output: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut resource: Attributes = Vec::new();
    let mut scope = String::new();
    let mut section = Section::None;
    let mut cur: Option<Span> = None;
    // An attribute whose value continues on the next line(s).
    let mut pending: Option<(String, String)> = None;

    fn push_attr(
        section: Section,
        resource: &mut Attributes,
        cur: &mut Option<Span>,
        k: String,
        v: AttrValue,
    ) {
        match (section, cur.as_mut()) {
            (Section::Resource, _) => resource.push((k, v)),
            (Section::SpanAttrs, Some(s)) => s.attributes.push((k, v)),
            (Section::EventAttrs, Some(s)) => {
                if let Some(e) = s.events.last_mut() {
                    e.attributes.push((k, v))
                }
            }
            (Section::LinkAttrs, Some(s)) => {
                if let Some(l) = s.links.last_mut() {
                    l.attributes.push((k, v))
                }
            }
            _ => {}
        }
    }

    for raw in output.split('\n') {
        let line = raw.trim_end_matches('\r').trim_start_matches('\0');
        if let Some((k, mut acc)) = pending.take() {
            acc.push('\n');
            acc.push_str(line);
            match split_value(&acc) {
                Some(v) => push_attr(section, &mut resource, &mut cur, k, v),
                None => pending = Some((k, acc)),
            }
            continue;
        }
        if line.starts_with("ResourceSpans #") {
            if let Some(s) = cur.take() {
                spans.push(s);
            }
            resource.clear();
            section = Section::Resource;
            continue;
        }
        if line.starts_with("ScopeSpans #")
            || line.starts_with("ScopeSpans SchemaURL")
            || line.starts_with("Resource SchemaURL")
        {
            continue;
        }
        if line == "Resource attributes:" {
            section = Section::Resource;
            continue;
        }
        if let Some(s) = line.strip_prefix("InstrumentationScope") {
            if let Some(sp) = cur.take() {
                spans.push(sp);
            }
            scope = s.trim().to_string();
            section = Section::None;
            continue;
        }
        if line.starts_with("Span #") {
            if let Some(s) = cur.take() {
                spans.push(s);
            }
            cur = Some(Span {
                resource: resource.clone(),
                scope: scope.clone(),
                ..Default::default()
            });
            section = Section::Span;
            continue;
        }
        let Some(span) = cur.as_mut() else {
            // Outside a span: resource attributes, or rotel's own log lines.
            if section == Section::Resource && line.trim_start().starts_with("-> ") {
                if let Some((k, v)) = line.trim_start()[3..].split_once(": ") {
                    match split_value(v) {
                        Some(v) => resource.push((k.to_string(), v)),
                        None => pending = Some((k.to_string(), v.to_string())),
                    }
                }
            }
            continue;
        };
        match line {
            "Attributes:" => {
                section = Section::SpanAttrs;
                continue;
            }
            "Events:" | "Links:" => {
                section = Section::Span;
                continue;
            }
            _ => {}
        }
        if line.starts_with("SpanEvent #") {
            span.events.push(SpanEvent::default());
            section = Section::Event;
            continue;
        }
        if line.starts_with("SpanLink #") {
            span.links.push(SpanLink::default());
            section = Section::Link;
            continue;
        }
        if section == Section::Span {
            if let Some(v) = field(line, "Trace ID") {
                span.trace_id = v.to_string();
            } else if let Some(v) = field(line, "Parent ID") {
                span.parent_id = (!v.is_empty()).then(|| v.to_string());
            } else if let Some(v) = field(line, "ID") {
                span.span_id = v.to_string();
            } else if let Some(v) = field(line, "Name") {
                span.name = v.to_string();
            } else if let Some(v) = field(line, "Kind") {
                span.kind = v.to_string();
            } else if let Some(v) = field(line, "Start time") {
                span.start_unix_nano = v.parse().unwrap_or_default();
            } else if let Some(v) = field(line, "End time") {
                span.end_unix_nano = v.parse().unwrap_or_default();
            } else if let Some(v) = field(line, "Status code") {
                span.status_code = Some(v.to_string());
            } else if let Some(v) = field(line, "Status message") {
                span.status_message = Some(v.to_string());
            }
            continue;
        }
        if matches!(section, Section::Event | Section::EventAttrs)
            && !line.starts_with("          -> ")
        {
            let e = span.events.last_mut().expect("event");
            if let Some(v) = field(line, "Name") {
                e.name = v.to_string();
            } else if let Some(v) = field(line, "Timestamp") {
                e.time_unix_nano = v.parse().unwrap_or_default();
            } else if line.trim() == "-> Attributes::" {
                section = Section::EventAttrs;
            }
            continue;
        }
        if matches!(section, Section::Link | Section::LinkAttrs)
            && !line.starts_with("          -> ")
        {
            let l = span.links.last_mut().expect("link");
            if let Some(v) = field(line, "Trace ID") {
                l.trace_id = v.to_string();
            } else if let Some(v) = field(line, "TraceState") {
                l.trace_state = v.to_string();
            } else if let Some(v) = field(line, "ID") {
                l.span_id = v.to_string();
            } else if line.trim() == "-> Attributes::" {
                section = Section::LinkAttrs;
            }
            continue;
        }
        if matches!(section, Section::SpanAttrs | Section::EventAttrs | Section::LinkAttrs)
            && line.trim_start().starts_with("-> ")
        {
            if let Some((k, v)) = line.trim_start()[3..].split_once(": ") {
                match split_value(v) {
                    Some(v) => push_attr(section, &mut resource, &mut cur, k.to_string(), v),
                    None => pending = Some((k.to_string(), v.to_string())),
                }
            }
        }
    }
    if let Some(s) = cur.take() {
        spans.push(s);
    }
    spans
}

/// Parses the receiver output file.
pub fn parse_file(path: &Path) -> Vec<Span> {
    parse(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Polls the receiver output until `done(spans)` holds, or returns the last parse
/// as an error after `timeout`.
pub async fn wait_for_spans(
    path: &Path,
    timeout: Duration,
    mut done: impl FnMut(&[Span]) -> bool,
) -> Result<Vec<Span>, Vec<Span>> {
    let t0 = Instant::now();
    loop {
        let spans = parse_file(path);
        if done(&spans) {
            return Ok(spans);
        }
        if t0.elapsed() > timeout {
            return Err(spans);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A span tree row without times: (trace, span, parent, name, event uids).
pub type Row = (String, String, String, String, BTreeSet<String>);

/// Span trees without times, comparable between the receiver and a replay.
pub fn trees(spans: &[Span]) -> BTreeSet<Row> {
    spans
        .iter()
        .map(|s| {
            let uids = s
                .events
                .iter()
                .filter_map(|e| e.attr("k8s.event.uid").map(str::to_string))
                .collect();
            (
                s.trace_id.clone(),
                s.span_id.clone(),
                s.parent_id.clone().unwrap_or_default(),
                s.name.clone(),
                uids,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\u{1b}[2m2026-11-23T00:25:15.226337Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m Starting Rotel.
ResourceSpans #0
Resource SchemaURL: 
Resource attributes:
     -> service.name: Str(kspan-probe)
     -> k8s.cluster.name: Str(live)
ScopeSpans #0
ScopeSpans SchemaURL: 
InstrumentationScope probe 0.1
Span #0
    Trace ID       : be69191f6d2a1986708997f64bc581ff
    Parent ID      : 1e892e7968c7f620
    ID             : ec8ed209282c0973
    Name           : Pod.Start web-abc
    Kind           : SPAN_KIND_INTERNAL
Start time: 1795393516673229246
End time: 1795393516673362505
    Status code    : STATUS_CODE_ERROR
    Status message : image pull failed
Events:
SpanEvent #0
     -> Name: Pulled
     -> Timestamp: 1795393516673280632
     -> DroppedAttributesCount: 0
     -> Attributes::
          -> k8s.event.uid: Str(0d562fec-2485-4f88-b09e-596783c0d0a2)
          -> k8s.event.message: Str(Successfully pulled image \"nginx:1.19\" in 302ms (302ms including waiting))
          -> k8s.event.count: Int(2)
SpanEvent #1
     -> Name: Started
     -> Timestamp: 1795393516673303905
     -> DroppedAttributesCount: 0
     -> Attributes::
          -> k8s.event.uid: Str(e88edc6d-666b-4f4c-a332-0deb1b264c82)
Links:
SpanLink #0
     -> Trace ID: be69191f6d2a1986708997f64bc581ff
     -> ID: 1e892e7968c7f620
     -> TraceState: 
     -> DroppedAttributesCount: 0
     -> Attributes::
          -> link.kind: Str(test)
Span #1
    Trace ID       : be69191f6d2a1986708997f64bc581ff
    Parent ID      : 
    ID             : 1e892e7968c7f620
    Name           : Deployment.Rollout
    Kind           : SPAN_KIND_INTERNAL
Start time: 1795393516673038219
End time: 1795393516686580983
Attributes:
     -> k8s.deployment.name: Str(web)
     -> multi: Str(line1
line2)
     -> list: Slice(Str(a), Str(b))
";

    #[test]
    fn parses_sample() {
        let spans = parse(SAMPLE);
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert_eq!(s.trace_id, "be69191f6d2a1986708997f64bc581ff");
        assert_eq!(s.parent_id.as_deref(), Some("1e892e7968c7f620"));
        assert_eq!(s.span_id, "ec8ed209282c0973");
        assert_eq!(s.name, "Pod.Start web-abc");
        assert_eq!(s.scope, "probe 0.1");
        assert_eq!(s.resource_attr("service.name"), Some("kspan-probe"));
        assert_eq!(s.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0].name, "Pulled");
        assert_eq!(s.events[0].attr("k8s.event.uid"), Some("0d562fec-2485-4f88-b09e-596783c0d0a2"));
        assert_eq!(s.events[0].attr("k8s.event.count"), Some("2"));
        assert_eq!(s.events[1].attr("k8s.event.uid"), Some("e88edc6d-666b-4f4c-a332-0deb1b264c82"));
        assert_eq!(s.links[0].span_id, "1e892e7968c7f620");
        assert_eq!(s.links[0].attr("link.kind"), Some("test"));
        let r = &spans[1];
        assert!(r.is_root());
        assert_eq!(r.status_code, None);
        assert_eq!(r.attr("multi"), Some("line1\nline2"));
        assert_eq!(r.attr("list"), Some("Str(a), Str(b)"));
        assert_eq!(r.start_unix_nano, 1795393516673038219);
    }
}
