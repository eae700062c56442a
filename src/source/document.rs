//! One decoded document (JSON or YAML value) -> observations.
//! Knows the Kubernetes shapes: single objects, `List`s, watch events, both Event APIs.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Node, Pod};
use k8s_openapi::api::events::v1::Event as NewEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::observe::object::Project;
use crate::observe::{event_observation, object_observation, EventSeen, Kind, Observed};
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
    kind: &str,
    object: Value,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    match kind {
        "ADDED" | "MODIFIED" => decode_object(object, kind_hint, out),
        "DELETED" => {
            let mut seen = Vec::new();
            decode_object(object, kind_hint, &mut seen)?;
            for decoded in seen {
                out.push(match decoded.what {
                    Observed::Object(o) => Decoded {
                        time: o.deleting.or(decoded.time),
                        what: Observed::Deleted { key: o.key, uid: o.uid },
                    },
                    // A deleted Event record changes nothing: its occurrence was already seen.
                    other => Decoded { what: other, time: decoded.time },
                });
            }
            Ok(())
        }
        "BOOKMARK" => Ok(()),
        other => Err(DocumentError::WatchType(other.to_string())),
    }
}

/// A watch event whose object is still unparsed JSON text (a recorded line): the
/// common kinds go straight into their typed struct, without a generic tree
/// first; anything else takes the general path.
pub fn decode_raw_watch_event(
    kind: &str,
    object: &str,
    kind_hint: Option<&str>,
    out: &mut Vec<Decoded>,
) -> Result<(), DocumentError> {
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(borrow)]
        name: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "apiVersion")]
        api_version: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        metadata: Option<Meta<'a>>,
    }
    // Deletions and bookmarks (a bare resourceVersion) take the general path.
    let head =
        serde_json::from_str::<Head>(object).ok().filter(|_| matches!(kind, "ADDED" | "MODIFIED"));
    let Some(head) = head else {
        let value = serde_json::from_str::<Value>(object).map_err(|source| {
            DocumentError::Shape { kind: "object".into(), name: "<unnamed>".into(), source }
        })?;
        return decode_watch_event(kind, value, kind_hint, out);
    };
    let name = || {
        head.metadata.as_ref().and_then(|m| m.name.as_deref()).unwrap_or("<unnamed>").to_string()
    };
    let shape = |source| DocumentError::Shape {
        kind: head.kind.as_deref().unwrap_or_default().into(),
        name: name(),
        source,
    };
    let decoded = match (head.kind.as_deref(), head.api_version.as_deref()) {
        (Some("Event"), Some("v1")) => {
            let event: CoreEvent = serde_json::from_str(object).map_err(shape)?;
            let seen = event_observation(&event)
                .map_err(|source| DocumentError::Event { name: name(), source })?;
            Decoded { time: seen.time(), what: Observed::Event(Box::new(seen)) }
        }
        (Some("Pod"), Some("v1")) => raw_object::<Pod>(object).map_err(shape)?,
        (Some("ReplicaSet"), Some("apps/v1")) => raw_object::<ReplicaSet>(object).map_err(shape)?,
        (Some("Deployment"), Some("apps/v1")) => raw_object::<Deployment>(object).map_err(shape)?,
        (Some("StatefulSet"), Some("apps/v1")) => {
            raw_object::<StatefulSet>(object).map_err(shape)?
        }
        (Some("DaemonSet"), Some("apps/v1")) => raw_object::<DaemonSet>(object).map_err(shape)?,
        (Some("Job"), Some("batch/v1")) => raw_object::<Job>(object).map_err(shape)?,
        _ => {
            let value = serde_json::from_str::<Value>(object).map_err(shape)?;
            return decode_watch_event(kind, value, kind_hint, out);
        }
    };
    out.push(decoded);
    Ok(())
}

fn raw_object<T: DeserializeOwned + Project>(object: &str) -> Result<Decoded, serde_json::Error> {
    let seen = serde_json::from_str::<T>(object)?.project();
    Ok(Decoded { time: seen.latest_time(), what: Observed::Object(Box::new(seen)) })
}

fn name_of(value: &Value) -> String {
    value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("<unnamed>").to_string()
}

/// Deserializes into the typed k8s-openapi struct. The apiVersion is pinned to the
/// one the struct expects: old captures say `extensions/v1beta1` or `batch/v1beta1`
/// for shapes that are compatible in every field kspan-rs reads.
fn typed<T: Resource + DeserializeOwned>(mut value: Value, kind: &str) -> Result<T, DocumentError> {
    let name = name_of(&value);
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), Value::String(T::API_VERSION.into()));
        map.insert("kind".into(), Value::String(T::KIND.into()));
    }
    serde_json::from_value(value).map_err(|source| DocumentError::Shape {
        kind: kind.into(),
        name,
        source,
    })
}

fn object<T: Resource + DeserializeOwned + Project>(
    value: Value,
    kind: &str,
) -> Result<Decoded, DocumentError> {
    let seen = typed::<T>(value, kind)?.project();
    Ok(Decoded { time: seen.latest_time(), what: Observed::Object(Box::new(seen)) })
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
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let decoded = match kind.as_str() {
        "Event" if api_version.starts_with("events.k8s.io/") => {
            let name = name_of(&value);
            let event = typed::<NewEvent>(value, &kind)?;
            let seen = EventSeen::try_from(&event)
                .map_err(|source| DocumentError::Event { name, source })?;
            Decoded { time: seen.time(), what: Observed::Event(Box::new(seen)) }
        }
        "Event" => {
            let name = name_of(&value);
            let event = typed::<CoreEvent>(value, &kind)?;
            let seen = event_observation(&event)
                .map_err(|source| DocumentError::Event { name, source })?;
            Decoded { time: seen.time(), what: Observed::Event(Box::new(seen)) }
        }
        "Pod" => object::<Pod>(value, &kind)?,
        "ReplicaSet" => object::<ReplicaSet>(value, &kind)?,
        "Deployment" => object::<Deployment>(value, &kind)?,
        "StatefulSet" => object::<StatefulSet>(value, &kind)?,
        "DaemonSet" => object::<DaemonSet>(value, &kind)?,
        "Job" => object::<Job>(value, &kind)?,
        "CronJob" => object::<CronJob>(value, &kind)?,
        "Node" => object::<Node>(value, &kind)?,
        "HorizontalPodAutoscaler" => object::<HorizontalPodAutoscaler>(value, &kind)?,
        _ => {
            let name = name_of(&value);
            let meta = value.get("metadata").cloned().unwrap_or(Value::Null);
            let meta: ObjectMeta = serde_json::from_value(meta)
                .map_err(|source| DocumentError::Shape { kind: kind.clone(), name, source })?;
            let seen = object_observation(Kind::parse(&kind), &meta);
            Decoded { time: seen.latest_time(), what: Observed::Object(Box::new(seen)) }
        }
    };
    out.push(decoded);
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
