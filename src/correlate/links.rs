//! What ties a rollout's root to other traces: the CI or GitOps pipeline that
//! caused it (a W3C traceparent in an annotation of the top-level object), and
//! the previous rollout of the same object, so a backend can walk its history.
//!
//! The pipeline's traceparent is honoured only for the generation whose change
//! wrote it: an annotation left in place by an earlier apply must not pull a
//! later rollout into an old pipeline's trace. For generation G:
//! - when kspan-rs saw an earlier generation of the object, the value on the
//!   earliest copy of G must differ from the one on the earliest copy of the
//!   newest earlier generation it saw;
//! - when G is the first generation it saw (it started later, or a capture
//!   begins there), the managedFields entry that changed the spec must own the
//!   annotation too, its time being G's spec change time: one write set both.

use super::objects::{EmittedRoot, History, Tracked};
use super::rollout::Rollout;
use crate::observe::traceparent::{self, TraceContext};
use crate::span::{self, SpanDraft, SpanLinkDraft};

/// What `--traceparent-mode` makes of a pipeline's traceparent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// The rollout keeps its own trace; its root links to the pipeline's span.
    #[default]
    Link,
    /// The rollout's spans join the pipeline's trace, its root a child of the
    /// pipeline's span.
    Parent,
}

/// The links of a rollout's root, and the pipeline span it is a child of.
#[derive(Debug, Default)]
pub struct Lineage {
    pub links: Vec<SpanLinkDraft>,
    pub parent: Option<TraceContext>,
}

impl Lineage {
    /// For a rollout of an object with `history`, `previous` the newest root emitted
    /// for it before.
    pub fn of(
        rollout: &Rollout<'_>,
        tracked: Option<&Tracked>,
        previous: Option<&EmittedRoot>,
        mode: Mode,
    ) -> Lineage {
        let mut lineage = Lineage::default();
        let pipeline = rollout
            .generation
            .zip(tracked.and_then(|t| t.history.as_deref()))
            .and_then(|(g, h)| pipeline(h, g));
        match (pipeline, mode) {
            (Some(p), Mode::Link) => lineage.links.push(link(p, "ci")),
            (Some(p), Mode::Parent) => lineage.parent = Some(p),
            (None, _) => {}
        }
        if let Some(p) = previous.filter(|p| p.order < order(rollout)) {
            lineage.links.push(link(TraceContext { trace: p.trace, span: p.span }, "previous"));
        }
        lineage
    }

    /// The root as exported: in the pipeline's trace when it is its child.
    pub fn root(&self, rollout: &Rollout<'_>) -> EmittedRoot {
        EmittedRoot {
            order: order(rollout),
            trace: self.parent.map_or(rollout.trace, |p| p.trace),
            span: span::span_id(&rollout.trace, &["rollout"]),
        }
    }

    /// Moves the rollout's spans into the pipeline's trace, its top below the
    /// pipeline's span. Span ids still derive from the rollout's own trace id, so
    /// two rollouts one pipeline caused never share one.
    pub fn adopt(&self, drafts: &mut [SpanDraft]) {
        let Some(parent) = self.parent else { return };
        for d in drafts {
            d.trace_id = parent.trace;
            d.parent = d.parent.or(Some(parent.span));
        }
    }
}

/// Rollouts of an object in order: inferred ones (older than every known
/// generation) first, then by generation; then by their first event.
fn order(rollout: &Rollout<'_>) -> (Option<i64>, crate::time::Nanos) {
    (rollout.generation, rollout.events.first().map(|p| p.time()).unwrap_or_default())
}

fn link(to: TraceContext, kind: &str) -> SpanLinkDraft {
    SpanLinkDraft {
        trace_id: to.trace,
        span_id: to.span,
        attributes: vec![("kspan.link.type", kind.into())],
    }
}

/// The pipeline span generation `g` honours, if its change wrote a valid one
/// (see the module's rule).
fn pipeline(h: &History, g: i64) -> Option<TraceContext> {
    let stamp = h.traceparents.get(&g)?;
    let value = stamp.value.as_deref()?;
    let written = match h.generations.range(..g).next_back() {
        Some((earlier, _)) => {
            h.traceparents.get(earlier).and_then(|s| s.value.as_deref()) != Some(value)
        }
        None => stamp.owned_at.is_some() && stamp.owned_at == h.spec_changes.get(&g).copied(),
    };
    written.then(|| traceparent::parse(value)).flatten()
}

/// Whether a copy shows a malformed traceparent it did not show before (`before`,
/// the value on the copy kept so far): each value is counted and logged once.
pub fn newly_malformed(value: Option<&str>, before: Option<&str>) -> bool {
    value.is_some_and(|v| before != Some(v) && traceparent::parse(v).is_none())
}
