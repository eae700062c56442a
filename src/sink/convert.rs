//! SpanDraft -> opentelemetry_sdk SpanData, grouped by resource (`service.name`).
//! Shared by the OTLP exporter and the OTLP/JSON writer.

use std::borrow::Cow;
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
    fn resource(&self, service: &str) -> Resource {
        let mut attributes = vec![KeyValue::new(
            "service.name",
            self.service_name.clone().unwrap_or_else(|| service.to_string()),
        )];
        if let Some(cluster) = &self.cluster_name {
            attributes.push(KeyValue::new("k8s.cluster.name", cluster.clone()));
        }
        attributes.extend(self.extra.iter().map(|(k, v)| KeyValue::new(k.clone(), v.clone())));
        Resource::builder_empty().with_attributes(attributes).build()
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

/// Groups drafts by service (sorted by name, so output order is deterministic).
pub fn batches(drafts: &[SpanDraft], options: &ResourceOptions) -> Vec<Batch> {
    let mut by_service: BTreeMap<&str, Vec<SpanData>> = BTreeMap::new();
    for draft in drafts {
        let service = options.service_name.as_deref().unwrap_or(&draft.service);
        by_service.entry(service).or_default().push(span_data(draft));
    }
    by_service
        .into_iter()
        .map(|(service, spans)| Batch { resource: options.resource(service), spans })
        .collect()
}
