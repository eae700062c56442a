//! Debug lines that follow each trace through `kspan run`: when the correlator
//! finished spans of it, and when the sink delivered them (the correlator adds
//! one per rollout it builds, `stage=Built`, with the episode's last change and
//! the pods still under way). With `RUST_LOG=info,kspan::trace=debug` they tell
//! where a late trace waited.

use std::collections::BTreeMap;

use crate::span::{hex, SpanDraft, TraceId};

/// The stages a trace's spans pass through.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// The correlator finished them: they go to the export queue (or the standby).
    Finished,
    /// The sink delivered them.
    Delivered,
}

/// The traces among some spans, with how many of their spans each holds; empty
/// unless the debug lines are on, so the hot path pays nothing.
pub struct Traces(BTreeMap<TraceId, usize>);

impl Traces {
    pub fn of(spans: &[SpanDraft]) -> Traces {
        let mut traces = BTreeMap::new();
        if tracing::enabled!(target: "kspan::trace", tracing::Level::DEBUG) {
            for span in spans {
                *traces.entry(span.trace_id).or_default() += 1;
            }
        }
        Traces(traces)
    }

    /// One debug line per trace.
    pub fn log(&self, stage: Stage) {
        for (id, spans) in &self.0 {
            tracing::debug!(target: "kspan::trace", ?stage, trace_id = %hex(id), spans);
        }
    }
}
