//! Both Event shapes (core/v1 and events.k8s.io/v1) mapped onto one record.

use super::view::{at, name, ObjectView, ReferenceView, Text};
use super::{Kind, Name, ObjectKey};
use crate::time::Nanos;

/// The object an Event is about (`involvedObject` / `regarding`).
#[derive(Debug, Clone, PartialEq)]
pub struct Involved {
    pub key: ObjectKey,
    pub uid: Option<String>,
    /// e.g. `spec.containers{app}`: names the container a kubelet event is about.
    pub field_path: Option<Name>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventSeen {
    pub uid: String,
    pub name: String,
    pub namespace: Name,
    pub reason: Name,
    /// `Normal` or `Warning`.
    pub kind: Name,
    pub message: String,
    pub count: i32,
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
    pub involved: Involved,
    /// Reporting component (`source.component` / `reportingController`), possibly empty.
    pub component: Name,
    pub host: Option<Name>,
    /// Flux marks its Sync event `topLevelSpan: "true"`: it becomes the trace root.
    pub top_level: bool,
}

impl EventSeen {
    /// When it last happened: what places it on the timeline.
    pub fn time(&self) -> Option<Nanos> {
        self.last.or(self.first)
    }

    pub fn is_warning(&self) -> bool {
        self.kind == "Warning"
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("Event has no involvedObject/regarding kind and name")]
    NoSubject,
    #[error("Event has no metadata.uid")]
    NoUid,
}

fn involved(r: &ReferenceView, event_namespace: &str) -> Result<Involved, EventError> {
    let (Some(kind), Some(name)) = (r.kind.as_deref(), r.name.as_deref()) else {
        return Err(EventError::NoSubject);
    };
    if kind.is_empty() || name.is_empty() {
        return Err(EventError::NoSubject);
    }
    let kind = Kind::parse(kind);
    // Cluster-scoped subjects (Nodes) carry no namespace even when the Event has one.
    let namespace = match (&kind, r.namespace.as_deref()) {
        (Kind::Node, _) => Name::default(),
        (_, Some(ns)) => ns.into(),
        (_, None) => event_namespace.into(),
    };
    Ok(Involved {
        key: ObjectKey::new(kind, namespace, name),
        uid: non_empty(&r.uid),
        field_path: non_empty_name(&r.field_path),
    })
}

fn non_empty(s: &Option<Text>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(str::to_string)
}

fn text(s: &Option<Text>) -> String {
    s.as_deref().unwrap_or_default().to_string()
}

fn non_empty_name(s: &Option<Text>) -> Option<Name> {
    s.as_deref().filter(|s| !s.is_empty()).map(Name::from)
}

/// Maps an Event of either API: core/v1 (involvedObject, message, source,
/// count) or events.k8s.io/v1 (`new_api`: regarding, note, series, the
/// deprecated* fields). Only eventTime, no source, zero timestamps: all fine.
pub fn event_observation(e: &ObjectView, new_api: bool) -> Result<EventSeen, EventError> {
    let meta = &e.metadata;
    let uid = non_empty(&meta.uid).ok_or(EventError::NoUid)?;
    let namespace = name(&meta.namespace);
    let top_level = meta
        .annotations
        .as_ref()
        .and_then(|a| a.top_level_span.as_deref())
        .is_some_and(|v| v == "true");
    let created = at(&meta.creation_timestamp);
    let event_time = at(&e.event_time);
    let series_last = e.series.as_ref().and_then(|s| at(&s.last_observed_time));
    let series_count = e.series.as_ref().and_then(|s| s.count);
    let (subject, message, first, last, count, component, source) = if new_api {
        let first = at(&e.deprecated_first_timestamp).or(event_time).or(created);
        let last = series_last.or(at(&e.deprecated_last_timestamp)).or(first);
        let count = series_count.or(e.deprecated_count);
        let source = e.deprecated_source.as_ref();
        let component = non_empty_name(&e.reporting_controller)
            .or_else(|| non_empty_name(source.map_or(&None, |s| &s.component)));
        (e.regarding.as_ref(), &e.note, first, last, count, component, source)
    } else {
        let first = at(&e.first_timestamp).or(event_time).or(created);
        let last = at(&e.last_timestamp).or(series_last).or(event_time).or(first);
        let count = e.count.or(series_count);
        let source = e.source.as_ref();
        let component = non_empty_name(source.map_or(&None, |s| &s.component))
            .or_else(|| non_empty_name(&e.reporting_component));
        (e.involved_object.as_ref(), &e.message, first, last, count, component, source)
    };
    let subject = subject.ok_or(EventError::NoSubject)?;
    Ok(EventSeen {
        uid,
        name: text(&meta.name),
        involved: involved(subject, &namespace)?,
        namespace,
        reason: name(&e.reason),
        kind: non_empty_name(&e.event_type).unwrap_or_else(|| "Normal".into()),
        message: text(message),
        count: count.unwrap_or(1).max(1),
        first,
        last: last.max(first),
        component: component.unwrap_or_default(),
        host: non_empty_name(source.map_or(&None, |s| &s.host))
            .or_else(|| non_empty_name(&e.reporting_instance)),
        top_level,
    })
}
