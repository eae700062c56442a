//! SpanDraft -> opentelemetry_sdk SpanData, grouped by resource (the reporting component),
//! for the OTLP exporter; and the resource attributes every sink gives.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;

use crate::span::{self, SpanDraft, Value};
use crate::time::Nanos;

/// Resource attributes that apply to every span: `k8s.cluster.name`, and a fixed
/// `service.name` when the operator wants one instead of the reporting component.
#[derive(Debug, Clone, Default)]
pub struct ResourceOptions {
    pub service_name: Option<String>,
    pub cluster_name: Option<String>,
    pub extra: Vec<(String, String)>,
}

impl ResourceOptions {
    /// The resource attributes of the spans of `service` (a draft's reporting
    /// component), in order: `service.name`, `service.instance.id` when the
    /// component named its instance, `k8s.cluster.name`, the extras. A fixed
    /// `service.name` is every span's, whichever instance reported it.
    pub fn attributes<'a>(&'a self, service: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut attributes = match (&self.service_name, span::service::split(service)) {
            (Some(fixed), _) => vec![("service.name", fixed.as_str())],
            (None, (name, instance)) => {
                let instance = instance.map(|id| ("service.instance.id", id));
                [("service.name", name)].into_iter().chain(instance).collect()
            }
        };
        if let Some(cluster) = &self.cluster_name {
            attributes.push(("k8s.cluster.name", cluster));
        }
        attributes.extend(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        attributes
    }

    fn resource(&self, service: &str) -> Resource {
        let attributes = self.attributes(service).into_iter();
        let attributes = attributes.map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()));
        Resource::builder_empty().with_attributes(attributes).build()
    }

    /// Drafts (owned or borrowed) grouped by the service they are exported as,
    /// sorted by name so output order is deterministic, each group in finishing order.
    pub fn by_service<D: Borrow<SpanDraft>>(
        &self,
        drafts: impl IntoIterator<Item = D>,
    ) -> BTreeMap<String, Vec<D>> {
        let mut groups: BTreeMap<String, Vec<D>> = BTreeMap::new();
        for draft in drafts {
            let service = self.service_name.as_deref().unwrap_or(&draft.borrow().service);
            match groups.get_mut(service) {
                Some(group) => group.push(draft),
                None => {
                    groups.insert(service.to_string(), vec![draft]);
                }
            }
        }
        groups
    }
}

/// Spans of one resource, in the order they were finished.
pub struct Batch {
    pub resource: Resource,
    pub spans: Vec<SpanData>,
}

fn system_time(at: Nanos) -> SystemTime {
    if at >= 0 {
        UNIX_EPOCH + Duration::from_nanos(at as u64)
    } else {
        UNIX_EPOCH
    }
}

fn key_value(key: &str, value: &Value) -> KeyValue {
    let key = key.to_string();
    match value {
        Value::Str(s) => KeyValue::new(key, s.clone()),
        Value::Int(i) => KeyValue::new(key, *i),
        Value::Bool(b) => KeyValue::new(key, *b),
    }
}

pub fn span_data(draft: &SpanDraft) -> SpanData {
    let context = SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(draft.trace_id),
        opentelemetry::trace::SpanId::from_bytes(draft.span_id),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let mut events = SpanEvents::default();
    events.events = draft
        .events
        .iter()
        .map(|e| {
            opentelemetry::trace::Event::new(
                e.name.clone(),
                system_time(e.time),
                e.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
                0,
            )
        })
        .collect();
    SpanData {
        span_context: context,
        parent_span_id: draft.parent.map_or(
            opentelemetry::trace::SpanId::INVALID,
            opentelemetry::trace::SpanId::from_bytes,
        ),
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(draft.name),
        start_time: system_time(draft.start),
        end_time: system_time(draft.end),
        attributes: draft.attributes.iter().map(|(k, v)| key_value(k, v)).collect(),
        dropped_attributes_count: 0,
        events,
        links: {
            let mut links = SpanLinks::default();
            links.links = draft
                .links
                .iter()
                .map(|l| {
                    let context = SpanContext::new(
                        opentelemetry::trace::TraceId::from_bytes(l.trace_id),
                        opentelemetry::trace::SpanId::from_bytes(l.span_id),
                        TraceFlags::SAMPLED,
                        true,
                        TraceState::default(),
                    );
                    let attributes = l.attributes.iter().map(|(k, v)| key_value(k, v)).collect();
                    opentelemetry::trace::Link::new(context, attributes, 0)
                })
                .collect();
            links
        },
        status: match &draft.status {
            span::Status::Unset => Status::Unset,
            span::Status::Error(message) => Status::error(message.clone()),
        },
        instrumentation_scope: scope(),
    }
}

pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("kspan-rs").with_version(env!("CARGO_PKG_VERSION")).build()
}

/// The batch of one service's drafts.
pub fn batch(options: &ResourceOptions, service: &str, drafts: &[&SpanDraft]) -> Batch {
    Batch {
        resource: options.resource(service),
        spans: drafts.iter().map(|d| span_data(d)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVISIONER: &str =
        "k8s.io/minikube-hostpath_minikube_072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3b";

    #[test]
    fn an_instance_named_by_its_component_is_the_service_instance() {
        let options = ResourceOptions { cluster_name: Some("dev".into()), ..Default::default() };
        assert_eq!(
            options.attributes(PROVISIONER),
            [
                ("service.name", "k8s.io/minikube-hostpath"),
                ("service.instance.id", "minikube_072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3b"),
                ("k8s.cluster.name", "dev"),
            ]
        );
        assert_eq!(options.attributes("kubelet")[..1], [("service.name", "kubelet")]);
    }

    #[test]
    fn a_fixed_service_name_replaces_every_span_s() {
        let options = ResourceOptions { service_name: Some("kspan".into()), ..Default::default() };
        assert_eq!(options.attributes(PROVISIONER), [("service.name", "kspan")]);
    }
}
