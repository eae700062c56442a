//! What kspan-rs reads of an API object, as borrowed serde views: the few fields
//! the projections use, deserialized straight from the JSON text (or a parsed
//! value) with every other field skipped unread, so reading a line allocates
//! little more than what the projection keeps.
//!
//! One view serves every kind (Events included): the fields of different kinds
//! do not clash, so a recorded line is read in one pass before its kind is known.
//! Kinds outside `Kind`'s list are read through `MetaOnly`, so their own spec
//! and status shapes can never fail them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::{traceparent, Name};
use crate::time::{self, Nanos};

/// A string of the JSON text, borrowed from it unless it had escapes to undo.
/// serde's own `Cow<str>` borrows only as a bare struct field of that very type
/// (not behind an alias, nor inside an Option, a Vec or a map): otherwise it
/// allocates a copy of every string.
#[derive(Debug, Default, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Text<'a>(Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Borrowing;
        impl<'de> Visitor<'de> for Borrowing {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Cow::Borrowed(s))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Cow::Owned(s))
            }
        }
        d.deserialize_str(Borrowing).map(Text)
    }
}

/// An RFC 3339 instant; the zero time and other out-of-range instants read as
/// unset. Text that is no instant at all fails the document.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Instant(pub Option<Nanos>);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Parses the text where it lies, borrowed or not: nothing is kept of it.
        struct Rfc3339;
        impl Visitor<'_> for Rfc3339 {
            type Value = Instant;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Instant, E> {
                time::parse_checked(text)
                    .map(Instant)
                    .map_err(|_| E::custom(format_args!("invalid timestamp {text:?}")))
            }
        }
        d.deserialize_str(Rfc3339)
    }
}

/// `Option<Instant>` flattened: absent, null and unset all read as `None`.
pub fn at(i: &Option<Instant>) -> Option<Nanos> {
    i.and_then(|i| i.0)
}

/// An optional text field as a Name: empty when absent.
pub fn name(t: &Option<Text>) -> Name {
    Name::from(t.as_deref().unwrap_or_default())
}

/// A fieldsV1 node that is not a map owns nothing (and fails nothing).
macro_rules! owns_nothing {
    () => {
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
}

/// What a managedFields entry's `fieldsV1` owns of what kspan-rs reads: `spec`
/// (only the top-level keys are looked at), and the traceparent annotation
/// (`f:metadata` / `f:annotations` / `f:<key>`). Any other shape owns nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Owned {
    pub spec: bool,
    pub traceparent: bool,
}

/// One level of a fieldsV1 tree: whether it holds the field at the end of
/// `path` (names without fieldsV1's `f:` prefix).
struct Holds<'k> {
    path: &'k [&'k str],
}

impl<'de> de::DeserializeSeed<'de> for Holds<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Holds<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a fieldsV1 tree")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let name = key.strip_prefix("f:");
            match self.path.split_first() {
                Some((first, [])) if name == Some(*first) => {
                    found = true;
                    map.next_value::<IgnoredAny>()?;
                }
                Some((first, rest)) if name == Some(*first) => {
                    found |= map.next_value_seed(Holds { path: rest })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
    owns_nothing!();
}

impl<'de> Deserialize<'de> for Owned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Owned;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a fieldsV1 tree")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Owned, A::Error> {
                let path = ["annotations", traceparent::annotation()];
                let mut owned = Owned::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match &*key {
                        "f:spec" => {
                            owned.spec = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        "f:metadata" => {
                            owned.traceparent |= map.next_value_seed(Holds { path: &path })?
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(owned)
            }
            owns_nothing!();
        }
        d.deserialize_any(Keys)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerView<'a> {
    #[serde(borrow, default)]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub name: Text<'a>,
    #[serde(borrow, default)]
    pub uid: Text<'a>,
    pub controller: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedView<'a> {
    #[serde(borrow)]
    pub manager: Option<Text<'a>>,
    #[serde(borrow)]
    pub operation: Option<Text<'a>>,
    pub time: Option<Instant>,
    #[serde(default)]
    pub fields_v1: Owned,
}

/// The annotations kspan-rs reads; the traceparent's key is set at run time.
#[derive(Debug, Default)]
pub struct AnnotationsView<'a> {
    /// `deployment.kubernetes.io/revision`.
    pub revision: Option<Text<'a>>,
    /// Flux marks its Sync event `topLevelSpan: "true"`.
    pub top_level_span: Option<Text<'a>>,
    /// See `traceparent::annotation`.
    pub traceparent: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for AnnotationsView<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Entries<'a> {
            type Value = AnnotationsView<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let traceparent = traceparent::annotation();
                let mut view = AnnotationsView::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    let slot = match &*key {
                        "deployment.kubernetes.io/revision" => &mut view.revision,
                        "topLevelSpan" => &mut view.top_level_span,
                        k if k == traceparent => &mut view.traceparent,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value()?;
                }
                Ok(view)
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaView<'a> {
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub namespace: Option<Text<'a>>,
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    pub generation: Option<i64>,
    #[serde(borrow)]
    pub resource_version: Option<Text<'a>>,
    pub creation_timestamp: Option<Instant>,
    pub deletion_timestamp: Option<Instant>,
    #[serde(borrow)]
    pub owner_references: Option<Vec<OwnerView<'a>>>,
    #[serde(borrow)]
    pub labels: Option<BTreeMap<Text<'a>, Text<'a>>>,
    #[serde(borrow)]
    pub annotations: Option<AnnotationsView<'a>>,
    #[serde(borrow)]
    pub managed_fields: Option<Vec<ManagedView<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionView<'a> {
    #[serde(borrow, rename = "type", default)]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    pub last_transition_time: Option<Instant>,
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminatedView<'a> {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
    #[serde(borrow)]
    pub message: Option<Text<'a>>,
    pub finished_at: Option<Instant>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningView {
    pub started_at: Option<Instant>,
}

#[derive(Debug, Default, Deserialize)]
pub struct StateView<'a> {
    pub running: Option<RunningView>,
    #[serde(borrow)]
    pub terminated: Option<TerminatedView<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatusView<'a> {
    #[serde(borrow, default)]
    pub name: Text<'a>,
    #[serde(default)]
    pub restart_count: i32,
    #[serde(borrow)]
    pub state: Option<StateView<'a>>,
    #[serde(borrow)]
    pub last_state: Option<StateView<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetView<'a> {
    #[serde(borrow, default)]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub name: Text<'a>,
}

/// `spec` of the kinds kspan-rs reads: Deployment/StatefulSet replicas, a Pod's
/// node, what a HorizontalPodAutoscaler scales.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecView<'a> {
    pub replicas: Option<i32>,
    #[serde(borrow)]
    pub node_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub scale_target_ref: Option<TargetView<'a>>,
}

/// `status` of the kinds kspan-rs reads (workloads, Pods, Jobs, Nodes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView<'a> {
    #[serde(borrow)]
    pub conditions: Option<Vec<ConditionView<'a>>>,
    pub observed_generation: Option<i64>,
    pub replicas: Option<i32>,
    pub updated_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    // DaemonSet
    pub desired_number_scheduled: Option<i32>,
    pub current_number_scheduled: Option<i32>,
    pub updated_number_scheduled: Option<i32>,
    pub number_ready: Option<i32>,
    pub number_available: Option<i32>,
    // Pod
    #[serde(borrow)]
    pub phase: Option<Text<'a>>,
    #[serde(borrow)]
    pub container_statuses: Option<Vec<ContainerStatusView<'a>>>,
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
    #[serde(borrow)]
    pub message: Option<Text<'a>>,
}

/// An Event's subject (`involvedObject` / `regarding`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceView<'a> {
    #[serde(borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    #[serde(borrow)]
    pub namespace: Option<Text<'a>>,
    #[serde(borrow)]
    pub uid: Option<Text<'a>>,
    #[serde(borrow)]
    pub field_path: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeriesView {
    pub count: Option<i32>,
    pub last_observed_time: Option<Instant>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SourceView<'a> {
    #[serde(borrow)]
    pub component: Option<Text<'a>>,
    #[serde(borrow)]
    pub host: Option<Text<'a>>,
}

/// Any object kspan-rs understands, Events of both APIs included.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectView<'a> {
    #[serde(borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(borrow)]
    pub api_version: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub metadata: MetaView<'a>,
    #[serde(borrow)]
    pub spec: Option<SpecView<'a>>,
    #[serde(borrow)]
    pub status: Option<StatusView<'a>>,
    // Event (core/v1 and events.k8s.io/v1)
    #[serde(borrow)]
    pub involved_object: Option<ReferenceView<'a>>,
    #[serde(borrow)]
    pub regarding: Option<ReferenceView<'a>>,
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
    #[serde(borrow, rename = "type")]
    pub event_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub message: Option<Text<'a>>,
    #[serde(borrow)]
    pub note: Option<Text<'a>>,
    pub count: Option<i32>,
    pub deprecated_count: Option<i32>,
    pub first_timestamp: Option<Instant>,
    pub last_timestamp: Option<Instant>,
    pub deprecated_first_timestamp: Option<Instant>,
    pub deprecated_last_timestamp: Option<Instant>,
    pub event_time: Option<Instant>,
    pub series: Option<SeriesView>,
    #[serde(borrow)]
    pub source: Option<SourceView<'a>>,
    #[serde(borrow)]
    pub deprecated_source: Option<SourceView<'a>>,
    #[serde(borrow)]
    pub reporting_component: Option<Text<'a>>,
    #[serde(borrow)]
    pub reporting_controller: Option<Text<'a>>,
    #[serde(borrow)]
    pub reporting_instance: Option<Text<'a>>,
}

/// Objects of kinds kspan-rs does not model: their metadata only.
#[derive(Debug, Default, Deserialize)]
pub struct MetaOnly<'a> {
    #[serde(borrow, default)]
    pub metadata: MetaView<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_from_the_line_unless_escaped() {
        let line = r#"{"metadata":{"name":"web-1","labels":{"app":"web"},"namespace":"a\"b"},
            "status":{"conditions":[{"type":"Ready","status":"True",
            "lastTransitionTime":"2024-01-01T00:00:01Z"}]}}"#;
        let view: ObjectView = serde_json::from_str(line).unwrap();
        let borrowed = |t: &Text| matches!(t.0, Cow::Borrowed(_));
        let name = view.metadata.name.as_ref().unwrap();
        assert!(borrowed(name), "{name:?}");
        let (key, value) = view.metadata.labels.as_ref().unwrap().iter().next().unwrap();
        assert!(borrowed(key) && borrowed(value));
        let condition = &view.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
        assert!(borrowed(&condition.kind) && borrowed(&condition.status));
        assert_eq!(
            condition.last_transition_time,
            Some(Instant(Some(1_704_067_201 * 1_000_000_000)))
        );
        // An escape has to be undone: that string alone is copied.
        let namespace = view.metadata.namespace.as_ref().unwrap();
        assert_eq!((&**namespace, borrowed(namespace)), ("a\"b", false));
    }

    #[test]
    fn a_managed_fields_entry_owns_the_spec_and_the_traceparent_annotation() {
        let line = r#"{"metadata":{"annotations":{"kspan.io/traceparent":"00-ab","other":"x"},
            "managedFields":[
              {"manager":"ci","fieldsV1":{"f:metadata":{"f:annotations":{
                 ".":{},"f:kspan.io/traceparent":{}}},"f:spec":{"f:replicas":{}}}},
              {"manager":"kubectl","fieldsV1":{"f:metadata":{"f:annotations":{"f:other":{}},
                 "f:labels":{"f:kspan.io/traceparent":{}}}}},
              {"manager":"odd","fieldsV1":["f:spec"]}]}}"#;
        let view: ObjectView = serde_json::from_str(line).unwrap();
        let annotations = view.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.traceparent.as_deref(), Some("00-ab"));
        let owned: Vec<(bool, bool)> = view
            .metadata
            .managed_fields
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.fields_v1.spec, e.fields_v1.traceparent))
            .collect();
        assert_eq!(
            owned,
            [(true, true), (false, false), (false, false)],
            "a label of that name is not the annotation"
        );
    }

    #[test]
    fn a_timestamp_that_is_no_instant_names_its_text() {
        let line = r#"{"metadata":{"creationTimestamp":"yester\u0064ay"}}"#;
        let error = serde_json::from_str::<ObjectView>(line).unwrap_err().to_string();
        assert!(error.contains("invalid timestamp \"yesterday\""), "{error}");
    }
}
