//! Both Event shapes (core/v1 and events.k8s.io/v1) mapped onto one record.

use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as NewEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Kind, ObjectKey};
use crate::time::{self, Nanos};

/// The object an Event is about (`involvedObject` / `regarding`).
#[derive(Debug, Clone, PartialEq)]
pub struct Involved {
    pub key: ObjectKey,
    pub uid: Option<String>,
    /// e.g. `spec.containers{app}`: names the container a kubelet event is about.
    pub field_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventSeen {
    pub uid: String,
    pub name: String,
    pub namespace: String,
    pub reason: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub message: String,
    pub count: i32,
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
    pub involved: Involved,
    /// Reporting component (`source.component` / `reportingController`), possibly empty.
    pub component: String,
    pub host: Option<String>,
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

fn involved(r: &ObjectReference, event_namespace: &str) -> Result<Involved, EventError> {
    let (Some(kind), Some(name)) = (r.kind.as_deref(), r.name.as_deref()) else {
        return Err(EventError::NoSubject);
    };
    if kind.is_empty() || name.is_empty() {
        return Err(EventError::NoSubject);
    }
    let kind = Kind::parse(kind);
    // Cluster-scoped subjects (Nodes) carry no namespace even when the Event has one.
    let namespace = match (&kind, r.namespace.as_deref()) {
        (Kind::Node, _) => String::new(),
        (_, Some(ns)) => ns.to_string(),
        (_, None) => event_namespace.to_string(),
    };
    Ok(Involved {
        key: ObjectKey::new(kind, namespace, name),
        uid: r.uid.clone().filter(|u| !u.is_empty()),
        field_path: r.field_path.clone().filter(|f| !f.is_empty()),
    })
}

fn identity(meta: &ObjectMeta) -> Result<(String, String, String, bool), EventError> {
    let uid = meta.uid.clone().filter(|u| !u.is_empty()).ok_or(EventError::NoUid)?;
    let top_level =
        meta.annotations.as_ref().and_then(|a| a.get("topLevelSpan")).is_some_and(|v| v == "true");
    Ok((
        uid,
        meta.name.clone().unwrap_or_default(),
        meta.namespace.clone().unwrap_or_default(),
        top_level,
    ))
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.is_empty()).cloned()
}

/// Maps a core/v1 Event. Only eventTime, no source, zero timestamps: all fine.
pub fn event_observation(e: &CoreEvent) -> Result<EventSeen, EventError> {
    let (uid, name, namespace, top_level) = identity(&e.metadata)?;
    let created = e.metadata.creation_timestamp.as_ref().and_then(time::from_time);
    let event_time = e.event_time.as_ref().and_then(time::from_micro);
    let series_last =
        e.series.as_ref().and_then(|s| s.last_observed_time.as_ref()).and_then(time::from_micro);
    let first = e.first_timestamp.as_ref().and_then(time::from_time).or(event_time).or(created);
    let last = e
        .last_timestamp
        .as_ref()
        .and_then(time::from_time)
        .or(series_last)
        .or(event_time)
        .or(first);
    let count = e.count.or(e.series.as_ref().and_then(|s| s.count)).unwrap_or(1).max(1);
    let source = e.source.as_ref();
    Ok(EventSeen {
        uid,
        name,
        involved: involved(&e.involved_object, &namespace)?,
        namespace,
        reason: e.reason.clone().unwrap_or_default(),
        kind: non_empty(e.type_.as_ref()).unwrap_or_else(|| "Normal".into()),
        message: e.message.clone().unwrap_or_default(),
        count,
        first,
        last: last.max(first),
        component: non_empty(source.and_then(|s| s.component.as_ref()))
            .or_else(|| non_empty(e.reporting_component.as_ref()))
            .unwrap_or_default(),
        host: non_empty(source.and_then(|s| s.host.as_ref()))
            .or_else(|| non_empty(e.reporting_instance.as_ref())),
        top_level,
    })
}

impl TryFrom<&NewEvent> for EventSeen {
    type Error = EventError;

    /// Maps an events.k8s.io/v1 Event (regarding, note, series, deprecated* fields).
    fn try_from(e: &NewEvent) -> Result<Self, EventError> {
        let (uid, name, namespace, top_level) = identity(&e.metadata)?;
        let regarding = e.regarding.as_ref().ok_or(EventError::NoSubject)?;
        let created = e.metadata.creation_timestamp.as_ref().and_then(time::from_time);
        let event_time = e.event_time.as_ref().and_then(time::from_micro);
        let first = e
            .deprecated_first_timestamp
            .as_ref()
            .and_then(time::from_time)
            .or(event_time)
            .or(created);
        let series_last = e.series.as_ref().and_then(|s| time::from_micro(&s.last_observed_time));
        let last = series_last
            .or(e.deprecated_last_timestamp.as_ref().and_then(time::from_time))
            .or(first);
        let count = e.series.as_ref().map(|s| s.count).or(e.deprecated_count).unwrap_or(1).max(1);
        let source = e.deprecated_source.as_ref();
        Ok(EventSeen {
            uid,
            name,
            involved: involved(regarding, &namespace)?,
            namespace,
            reason: e.reason.clone().unwrap_or_default(),
            kind: non_empty(e.type_.as_ref()).unwrap_or_else(|| "Normal".into()),
            message: e.note.clone().unwrap_or_default(),
            count,
            first,
            last: last.max(first),
            component: non_empty(e.reporting_controller.as_ref())
                .or_else(|| non_empty(source.and_then(|s| s.component.as_ref())))
                .unwrap_or_default(),
            host: non_empty(source.and_then(|s| s.host.as_ref()))
                .or_else(|| non_empty(e.reporting_instance.as_ref())),
            top_level,
        })
    }
}
