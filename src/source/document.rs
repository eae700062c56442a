//! One decoded document (JSON or YAML value) -> observations.
//! Knows the Kubernetes shapes: single objects, `List`s, watch events, both Event APIs.

use serde::Deserialize;
use serde_json::Value;

use crate::observe::object::project;
use crate::observe::view::{MetaOnly, ObjectView};
use crate::observe::{event_observation, Kind, Observed};
use crate::time::Nanos;

/// What went wrong with one document; the reader adds the file and document index.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("not a Kubernetes object: no `kind` (and none implied by the file name)")]
    NoKind,
    #[error("{kind} {name:?}: {source}")]
    Shape { kind: String, name: String, source: serde_json::Error },
    #[error("Event {name:?}: {source}")]
    Event { name: String, source: crate::observe::event::EventError },
    #[error("watch event of type {0:?} (expected ADDED, MODIFIED, DELETED or BOOKMARK)")]
    WatchType(String),
}

/// An observation before the replay clock places it: `time` is what the object says.
pub struct Decoded {
    pub what: Observed,
    pub time: Option<Nanos>,
}

/// Decodes a document. `kind_hint` comes from a file name like `Pods.json`, for
/// dumps whose items carry no `kind`.
pub fn decode(
    value: Value,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    if let (Some(kind), Some(object)) =
        (value.get("type").and_then(Value::as_str), value.get("object"))
    {
        if object.is_object() {
            let kind = kind.to_string();
            let object = value["object"].clone();
            return decode_watch_event(&kind, object, kind_hint, out);
        }
    }
    match value {
        Value::Array(items) => decode_items(items, kind_hint, out),
        Value::Object(ref map) if map.get("items").is_some_and(Value::is_array) => {
            let list_kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
            let item_kind =
                list_kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string);
            let Value::Object(mut map) = value else { unreachable!() };
            let Some(Value::Array(items)) = map.remove("items") else { unreachable!() };
            decode_items(items, item_kind.as_deref().or(kind_hint), out)
        }
        value => decode_object(value, kind_hint, out),
    }
}

/// A list's items are independent: one bad item must not lose the others, so the
/// first error is returned after every item was tried.
fn decode_items(
    items: Vec<Value>,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    let mut first_error = None;
    for item in items {
        if let Err(e) = decode_object(item, kind_hint, out) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn decode_watch_event(
    event_type: &str,
    object: Value,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    watch_event(event_type, out, |out| decode_object(object, kind_hint, out))
}

/// What a watch event of `event_type` makes of its object, which `decode` reads
/// (only when the type needs it: a bookmark's object may have no kind).
fn watch_event(
    event_type: &str,
    out: &mut Vec<Decoded>,
    decode: impl FnOnce(&mut Vec<Decoded>) -> Result<(), DocumentError>,
) -> Result<(), DocumentError> {
    match event_type {
        "ADDED" | "MODIFIED" => decode(out),
        "DELETED" => {
            let mut seen = Vec::new();
            decode(&mut seen)?;
            out.extend(seen.into_iter().map(deleted));
            Ok(())
        }
        "BOOKMARK" => Ok(()),
        other => Err(DocumentError::WatchType(other.to_string())),
    }
}

/// A watch event whose object was read as a view: a recorded line, read in one pass.
pub fn decode_view(
    event_type: &str,
    object: &ObjectView,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    watch_event(event_type, out, |out| {
        let kind = object.kind.as_deref().or(kind_hint).ok_or(DocumentError::NoKind)?;
        out.push(project_view(kind, object.api_version.as_deref().unwrap_or_default(), object)?);
        Ok(())
    })
}

/// A DELETED watch event: the object is gone; a deleted Event record changes
/// nothing (its occurrence was already seen) and is passed on as it is.
fn deleted(decoded: Decoded) -> Decoded {
    match decoded.what {
        Observed::Object(o) => {
            Decoded { time: o.deleting.or(decoded.time), what: Observed::deleted(o.key, o.uid) }
        }
        other => Decoded { what: other, time: decoded.time },
    }
}

/// Projects an object of a known kind from its view.
fn project_view(
    kind: &str,
    api_version: &str,
    view: &ObjectView,
) -> Result<Decoded, DocumentError> {
    if kind == "Event" {
        let seen = event_observation(view, api_version.starts_with("events.k8s.io/")).map_err(
            |source| DocumentError::Event {
                name: view.metadata.name.as_deref().unwrap_or("<unnamed>").to_string(),
                source,
            },
        )?;
        return Ok(Decoded { time: seen.time(), what: Observed::Event(Box::new(seen)) });
    }
    let seen = project(Kind::parse(kind), view);
    Ok(Decoded { time: seen.latest_time(), what: Observed::Object(Box::new(seen)) })
}

fn name_of(value: &Value) -> String {
    value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>").to_string()
}

/// Kinds whose spec or status kspan-rs reads (see `ObjectView`); any other kind
/// is read for its metadata alone, whatever shape the rest has.
fn modelled(kind: &str) -> bool {
    matches!(
        kind,
        "Event"
            | "Pod"
            | "ReplicaSet"
            | "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "CronJob"
            | "Node"
            | "HorizontalPodAutoscaler"
    )
}

fn decode_object(
    value: Value,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    let kind = value.get("kind").and_then(Value::as_str).map(str::to_string);
    let Some(kind) = kind.or(kind_hint.map(str::to_string)) else {
        return Err(DocumentError::NoKind);
    };
    if value.get("items").is_some_and(Value::is_array) {
        return decode(value, None, out);
    }
    let shape = |source| DocumentError::Shape { kind: kind.clone(), name: name_of(&value), source };
    let view = if modelled(&kind) {
        ObjectView::deserialize(&value).map_err(shape)?
    } else {
        let meta = MetaOnly::deserialize(&value).map_err(shape)?;
        ObjectView { metadata: meta.metadata, ..ObjectView::default() }
    };
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    out.push(project_view(&kind, api_version, &view)?);
    Ok(())
}

/// `Pods.json`, `pods.yaml`, `events.json` -> the kind their items have.
pub fn kind_from_file_name(file_name: &str) -> Option<&'static str> {
    let stem = file_name.split('.').next()?.to_ascii_lowercase();
    Some(match stem.as_str() {
        "events" => "Event",
        "pods" => "Pod",
        "replicasets" => "ReplicaSet",
        "deployments" => "Deployment",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        "jobs" => "Job",
        "cronjobs" => "CronJob",
        "nodes" => "Node",
        "horizontalpodautoscalers" => "HorizontalPodAutoscaler",
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        "services" => "Service",
        "replicationcontrollers" => "ReplicationController",
        _ => return None,
    })
}
