//! OTLP/JSON lines: one ExportTraceServiceRequest per line, the encoding of the
//! collector's file exporter (hex ids, lowerCamelCase), via opentelemetry-proto.

use std::io::Write;

use super::convert::ResourceOptions;
pub use super::proto::request;
use crate::span::SpanDraft;

pub struct JsonLines<W: Write> {
    out: W,
    options: ResourceOptions,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W, options: ResourceOptions) -> Self {
        JsonLines { out, options }
    }

    /// Writes one line for a non-empty batch of finished spans.
    pub fn write(&mut self, drafts: Vec<SpanDraft>) -> std::io::Result<()> {
        if drafts.is_empty() {
            return Ok(());
        }
        serde_json::to_writer(&mut self.out, &request(drafts, &self.options))?;
        self.out.write_all(b"\n")
    }

    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanLinkDraft, Status};

    #[test]
    fn links_reach_the_otlp_json_output() {
        let draft = SpanDraft {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: None,
            name: "Pod.Startup",
            start: 0,
            end: 1,
            status: Status::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: vec![SpanLinkDraft {
                trace_id: [3; 16],
                span_id: [4; 8],
                attributes: vec![("k8s.node.name", "node-1".into())],
            }],
            service: "test".into(),
        };
        let json = serde_json::to_value(request(vec![draft], &ResourceOptions::default())).unwrap();
        let link = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["links"][0];
        assert_eq!(link["traceId"], "03".repeat(16));
        assert_eq!(link["spanId"], "04".repeat(8));
        assert_eq!(link["attributes"][0]["key"], "k8s.node.name");
    }
}
