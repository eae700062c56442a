//! SpanDrafts -> an OTLP ExportTraceServiceRequest (opentelemetry-proto's
//! messages), built straight from the drafts: the same request the SDK's
//! `SpanData` and `group_spans_by_resource_and_scope` give (a test holds them
//! equal), without two intermediate copies of every span and a regrouping.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, SpanFlags, Status};

use super::convert::ResourceOptions;
use crate::span::{self, Attributes, SpanDraft, Value};
use crate::time::Nanos;

/// Sampled, and the context says whether it is remote (the SDK's flags).
const SAMPLED: u32 = 1;
const LOCAL: u32 = SAMPLED | SpanFlags::ContextHasIsRemoteMask as u32;
const REMOTE: u32 = LOCAL | SpanFlags::ContextIsRemoteMask as u32;

fn key_value(key: &str, value: Value) -> KeyValue {
    let value = match value {
        Value::Str(s) => any_value::Value::StringValue(s),
        Value::Int(i) => any_value::Value::IntValue(i),
        Value::Bool(b) => any_value::Value::BoolValue(b),
    };
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), key_strindex: 0 }
}

fn attributes(attributes: Attributes) -> Vec<KeyValue> {
    attributes.into_iter().map(|(k, v)| key_value(k, v)).collect()
}

/// Instants before the epoch cannot be written: they read as the epoch.
fn nanos(at: Nanos) -> u64 {
    at.max(0) as u64
}

/// Takes the draft: its strings move into the message instead of being copied.
fn span(draft: SpanDraft) -> Span {
    let (code, message) = match draft.status {
        span::Status::Unset => (StatusCode::Unset, String::new()),
        span::Status::Error(message) => (StatusCode::Error, message),
    };
    Span {
        trace_id: draft.trace_id.to_vec(),
        span_id: draft.span_id.to_vec(),
        trace_state: String::new(),
        parent_span_id: draft.parent.map(|p| p.to_vec()).unwrap_or_default(),
        flags: LOCAL,
        name: draft.name.to_string(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: nanos(draft.start),
        end_time_unix_nano: nanos(draft.end),
        attributes: attributes(draft.attributes),
        dropped_attributes_count: 0,
        events: draft
            .events
            .into_iter()
            .map(|e| Event {
                time_unix_nano: nanos(e.time),
                name: e.name,
                attributes: attributes(e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: draft
            .links
            .into_iter()
            .map(|l| Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: String::new(),
                attributes: attributes(l.attributes),
                dropped_attributes_count: 0,
                flags: REMOTE,
            })
            .collect(),
        dropped_links_count: 0,
        status: Some(Status { message, code: code as i32 }),
    }
}

fn resource(options: &ResourceOptions, service: &str) -> Resource {
    let attributes = options.attributes(service).into_iter();
    let attributes = attributes.map(|(k, v)| key_value(k, Value::Str(v.to_string()))).collect();
    Resource { attributes, dropped_attributes_count: 0, entity_refs: Vec::new() }
}

/// One ResourceSpans per service (see `ResourceOptions::by_service`).
pub fn request(drafts: Vec<SpanDraft>, options: &ResourceOptions) -> ExportTraceServiceRequest {
    let scope = InstrumentationScope {
        name: "kspan-rs".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    let resource_spans = options
        .by_service(drafts)
        .into_iter()
        .map(|(service, drafts)| ResourceSpans {
            resource: Some(resource(options, &service)),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope.clone()),
                spans: drafts.into_iter().map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;

    use super::*;
    use crate::cmd::replay::{correlate, EXAMPLE, EXAMPLE_NAME};
    use crate::correlate::Config;
    use crate::sink::convert::batch;
    use crate::source::timeline::Timeline;

    /// What the OTLP exporter sends for the same drafts: the SDK's SpanData,
    /// grouped by resource and scope.
    fn through_the_sdk(drafts: &[SpanDraft], options: &ResourceOptions) -> Vec<ResourceSpans> {
        options
            .by_service(drafts)
            .into_iter()
            .map(|(service, group)| batch(options, &service, &group))
            .flat_map(|batch| {
                group_spans_by_resource_and_scope(
                    batch.spans,
                    &ResourceAttributesWithSchema::from(&batch.resource),
                )
            })
            .collect()
    }

    /// The SDK keeps resource attributes in a hash map: their order is not part of the request.
    fn sorted(mut spans: Vec<ResourceSpans>) -> Vec<ResourceSpans> {
        for r in &mut spans {
            if let Some(resource) = &mut r.resource {
                resource.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        spans
    }

    #[test]
    fn the_request_is_the_one_the_sdk_builds_for_a_real_rollout() {
        let replay = Timeline::from_text(EXAMPLE_NAME, EXAMPLE).collect_all();
        let (batches, _) = correlate(&replay, Config::default());
        let drafts: Vec<SpanDraft> = batches.into_iter().flatten().collect();
        assert!(drafts.iter().any(|d| d.parent.is_some() && !d.events.is_empty()));
        for options in [
            ResourceOptions::default(),
            ResourceOptions {
                service_name: Some("kspan".into()),
                cluster_name: Some("prod-1".into()),
                extra: vec![("deployment.environment".into(), "prod".into())],
            },
        ] {
            let direct = sorted(request(drafts.clone(), &options).resource_spans);
            assert_eq!(direct, sorted(through_the_sdk(&drafts, &options)));
        }
    }

    #[test]
    fn error_status_and_links_are_the_sdks_too() {
        let draft = SpanDraft {
            trace_id: [7; 16],
            span_id: [8; 8],
            parent: Some([9; 8]),
            name: "Pod.Startup",
            start: 1_000,
            end: 2_000,
            status: span::Status::Error("ImagePullBackOff".into()),
            attributes: vec![("k8s.pod.name", "web-1".into()), ("restarts", 3.into())],
            events: vec![span::SpanEventDraft {
                name: "BackOff".into(),
                time: 1_500,
                attributes: vec![("warning", true.into())],
            }],
            links: vec![span::SpanLinkDraft {
                trace_id: [3; 16],
                span_id: [4; 8],
                attributes: vec![("k8s.node.name", "node-1".into())],
            }],
            service: "kubelet".into(),
        };
        let options = ResourceOptions::default();
        let drafts = [draft];
        assert_eq!(
            sorted(request(drafts.to_vec(), &options).resource_spans),
            sorted(through_the_sdk(&drafts, &options))
        );
    }
}
