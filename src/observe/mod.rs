//! Observations: the one normalized record every source produces.
//! Sources never know about spans; the correlator never knows about files or HTTP.

pub mod event;
mod kind;
pub mod object;
pub mod traceparent;
pub mod view;

pub use event::{event_observation, EventSeen, Involved};
pub use kind::Kind;
pub use object::{
    object_observation, Annotations, Condition, ContainerStatus, Ended, ObjectSeen, OwnerRef,
    PodStatus, SpecChange, WorkloadStatus,
};

use crate::time::Nanos;

/// Strings the correlator keeps for as long as an object lives (names, kinds,
/// reasons): up to 24 bytes are held inline, so most cost no allocation of their own.
pub use compact_str::CompactString as Name;

/// Identifies an object by what events and messages can name: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Name,
    pub name: Name,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: impl Into<Name>, name: impl Into<Name>) -> Self {
        ObjectKey { kind, namespace: namespace.into(), name: name.into() }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// An object as it is now (added or modified).
    Object(Box<ObjectSeen>),
    /// An object is gone from the API server.
    Deleted(Box<Gone>),
    /// A Kubernetes Event (either API shape), latest version of it.
    Event(Box<EventSeen>),
    /// Time passes: lets the correlator settle traces without new input.
    Tick,
}

/// An object gone from the API server. Boxed in `Observed`, so every observation
/// stays small: a replay keeps thousands in its reordering heap and moves them often.
#[derive(Debug, Clone, PartialEq)]
pub struct Gone {
    pub key: ObjectKey,
    pub uid: Name,
}

impl Observed {
    pub fn deleted(key: ObjectKey, uid: Name) -> Observed {
        Observed::Deleted(Box::new(Gone { key, uid }))
    }
}

/// Something seen at logical time `at` (arrival time when known, else a time read off the object).
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub at: Nanos,
    pub what: Observed,
}
