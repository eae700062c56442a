//! Trouble on a node (NodeNotReady, pressure, a Warning) as marks at the root
//! of the node's activity trace, and the links a pod's spans make to them.

use std::collections::BTreeMap;

use foldhash::HashMap;

use super::episode::Episode;
use super::graph::Graph;
use super::objects::Objects;
use super::rollout::{self, Rollout};
use super::tree::{Tree, SLACK};
use crate::observe::{EventSeen, Kind, Name, ObjectKey};
use crate::span::{self, SpanId, SpanLinkDraft, TraceId};
use crate::time::Nanos;

/// Trouble on a node, where a pod span's link points: the root of the node's
/// activity trace.
#[derive(Debug, Clone)]
pub struct NodeMark {
    pub trace: TraceId,
    pub span: SpanId,
    pub at: Nanos,
    pub reason: String,
}

/// The node marks known so far (of built and of still open node episodes).
pub trait NodeMarks {
    fn marks(&self, node: &str) -> Vec<NodeMark>;
}

fn is_node_trouble(event: &EventSeen) -> bool {
    event.involved.key.kind == Kind::Node
        && (event.is_warning()
            || matches!(
                event.reason.as_str(),
                "NodeNotReady"
                    | "NodeNotSchedulable"
                    | "EvictionThresholdMet"
                    | "NodeHasDiskPressure"
                    | "NodeHasInsufficientMemory"
                    | "NodeHasInsufficientPID"
                    | "Rebooted"
                    | "SystemOOM"
            ))
}

/// The marks a node's rollouts leave: one per troubling Event, at its root.
pub fn node_marks(rollouts: &[Rollout<'_>]) -> Vec<NodeMark> {
    rollouts
        .iter()
        .flat_map(|r| {
            r.events.iter().filter(|p| is_node_trouble(&p.event)).map(move |p| NodeMark {
                trace: r.trace,
                span: span::span_id(&r.trace, &["rollout"]),
                at: p.time(),
                reason: p.event.reason.to_string(),
            })
        })
        .collect()
}

/// The node marks a pod span can link to: of built node episodes, and of one
/// still open (its trace id as it will be built).
pub struct NodeLinks<'a> {
    pub built: &'a HashMap<Name, Vec<NodeMark>>,
    pub episodes: &'a BTreeMap<ObjectKey, Episode>,
    pub objects: &'a Objects,
    pub graph: &'a Graph,
}

impl NodeMarks for NodeLinks<'_> {
    fn marks(&self, node: &str) -> Vec<NodeMark> {
        let mut marks = self.built.get(node).cloned().unwrap_or_default();
        let key = ObjectKey::new(Kind::Node, "", node);
        if let Some(episode) = self.episodes.get(&key) {
            let rollouts =
                rollout::split(&key, self.objects.get(&key), self.graph, episode.sorted());
            marks.extend(node_marks(&rollouts));
        }
        marks
    }
}

/// A pod's span links to the activity of its node when the node was in trouble
/// during the span (NodeNotReady, pressure): one link per node trace.
pub fn link(tree: &mut Tree, nodes: &dyn NodeMarks) {
    let trace = tree.trace;
    for n in tree.nodes_mut() {
        if !matches!(n.name, "Pod.Startup" | "Pod.Activity" | "Pod.Termination") {
            continue;
        }
        let (Some(start), Some(end)) = (n.start, n.end) else { continue };
        let Some((_, node)) = n.attributes.iter().find(|(k, _)| *k == "k8s.node.name") else {
            continue;
        };
        let node = node.to_string();
        let mut by_trace: BTreeMap<(TraceId, SpanId), Vec<String>> = BTreeMap::new();
        for mark in nodes.marks(&node) {
            if mark.trace != trace && (start - SLACK..=end + SLACK).contains(&mark.at) {
                let reasons = by_trace.entry((mark.trace, mark.span)).or_default();
                if !reasons.contains(&mark.reason) {
                    reasons.push(mark.reason);
                }
            }
        }
        for ((trace_id, span_id), reasons) in by_trace {
            n.links.push(SpanLinkDraft {
                trace_id,
                span_id,
                attributes: vec![
                    ("k8s.node.name", node.as_str().into()),
                    ("k8s.event.reason", reasons.join(",").into()),
                ],
            });
        }
    }
}
