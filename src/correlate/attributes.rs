//! The attributes every span is told by: its subject object's, and each
//! recorded Event's.

use super::episode::Placed;
use super::kinds;
use crate::observe::ObjectKey;
use crate::span::Attributes;
use crate::time;

/// Longest message kept in a span event; collectors and backends cap attribute
/// sizes, and a runaway message (a stack trace in a probe's output) must not
/// swell every batch.
const MAX_MESSAGE: usize = 4096;

pub fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut cut = MAX_MESSAGE;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes, truncated)", &message[..cut], message.len())
}

/// What a span event (or the Sync span) tells of its Kubernetes Event.
pub fn event_attributes(placed: &Placed) -> Attributes {
    let e = &placed.event;
    let subject = &e.involved.key;
    let regarding = [subject.kind.as_str(), "/", &subject.name].concat();
    // Room for every attribute below: built for each Event of every span.
    let mut a: Attributes = Vec::with_capacity(12);
    a.extend([
        ("k8s.event.uid", e.uid.as_str().into()),
        ("k8s.event.reason", e.reason.as_str().into()),
        ("k8s.event.type", e.kind.as_str().into()),
        ("k8s.event.message", bounded(&e.message).into()),
        ("k8s.event.count", (e.count as i64).into()),
        ("k8s.event.regarding", regarding.into()),
    ]);
    if let Some(first) = e.first {
        a.push(("k8s.event.first_timestamp", time::format(first).into()));
    }
    if let Some(last) = e.last {
        a.push(("k8s.event.last_timestamp", time::format(last).into()));
    }
    if !e.component.is_empty() {
        a.push(("k8s.event.source", e.component.as_str().into()));
    }
    if let Some(host) = &e.host {
        a.push(("k8s.event.host", host.as_str().into()));
    }
    if let Some(path) = &e.involved.field_path {
        a.push(("k8s.event.field_path", path.as_str().into()));
    }
    if !placed.certain {
        // The owner chain was still unknown when the pending window expired.
        a.push(("kspan.placement", "best-effort".into()));
    }
    a
}

/// `k8s.namespace.name`, `k8s.<kind>.name`, `k8s.<kind>.uid` for a subject.
pub fn subject(key: &ObjectKey, uid: Option<&str>) -> Attributes {
    let mut a: Attributes = Vec::new();
    if !key.namespace.is_empty() {
        a.push(("k8s.namespace.name", key.namespace.as_str().into()));
    }
    a.extend(named(key, uid));
    a
}

/// `k8s.<kind>.name`, `k8s.<kind>.uid`: the subject without its namespace, for a
/// pod's owner, whose namespace is the pod's and already on the span (a key set
/// twice on one span is shown twice by viewers).
pub fn named(key: &ObjectKey, uid: Option<&str>) -> Attributes {
    let mut a: Attributes = Vec::new();
    let (name, uid_key) = match (&key.kind, kinds::of(&key.kind).attributes) {
        (_, Some(keys)) => keys,
        (kind, None) => {
            a.push(("k8s.object.kind", kind.as_str().into()));
            ("k8s.object.name", "k8s.object.uid")
        }
    };
    a.push((name, key.name.as_str().into()));
    if let Some(uid) = uid.filter(|u| !u.is_empty()) {
        a.push((uid_key, uid.into()));
    }
    a
}
