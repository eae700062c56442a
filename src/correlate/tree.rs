//! The spans of one rollout while they are built: a tree of nodes, children
//! after their parents, each Event recorded on exactly one node. `finish` turns
//! it into finished spans.

use std::collections::BTreeMap;

use super::attributes::event_attributes;
use super::emitted::Roots;
use super::episode::Placed;
use super::rollout::Rollout;
use crate::observe::{Condition, Name, ObjectKey};
use crate::span::{
    service, Attributes, SpanDraft, SpanEventDraft, SpanId, SpanLinkDraft, Status, TraceId,
};
use crate::time::{self, Nanos};

/// Timestamps on Events have one-second precision.
pub const SLACK: Nanos = time::SECOND;
/// How far from its Events an object's own record of a time (a spec change, a
/// Job's or a container's end) is still taken as part of the same span.
pub const MAX_LEAD: Nanos = 3600 * time::SECOND;
/// The length of a span seen at one instant only (an image already present, a
/// pod killed): a microsecond, the finest unit Jaeger and Zipkin keep, so that
/// viewers draw it rather than flag a span that ends when it starts.
pub const INSTANT: Nanos = 1_000;

pub struct Node {
    pub id: SpanId,
    pub parent: Option<usize>,
    pub name: &'static str,
    pub start: Option<Nanos>,
    pub end: Option<Nanos>,
    pub attributes: Attributes,
    pub events: Vec<SpanEventDraft>,
    pub links: Vec<SpanLinkDraft>,
    /// The status message when the span is an Error.
    pub warning: Option<String>,
    /// How many of its Events each component reported: the most frequent
    /// service among them is its service.
    components: BTreeMap<Name, usize>,
    /// Its service whoever reported its Events (a rollout's root: its kind's controller).
    pub service: Option<&'static str>,
    /// Emitted with an earlier episode: here only so its children know their parent's id.
    external: bool,
}

pub struct Tree {
    pub trace: TraceId,
    nodes: Vec<Node>,
}

impl Tree {
    pub fn new(trace: TraceId) -> Self {
        Tree { trace, nodes: Vec::new() }
    }

    pub fn add(
        &mut self,
        id: SpanId,
        parent: Option<usize>,
        name: &'static str,
        attributes: Attributes,
    ) -> usize {
        self.nodes.push(Node {
            id,
            parent,
            name,
            start: None,
            end: None,
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            warning: None,
            components: BTreeMap::new(),
            service: None,
            external: false,
        });
        self.nodes.len() - 1
    }

    pub fn node(&self, node: usize) -> &Node {
        &self.nodes[node]
    }

    pub fn node_mut(&mut self, node: usize) -> &mut Node {
        &mut self.nodes[node]
    }

    pub fn nodes_mut(&mut self) -> &mut [Node] {
        &mut self.nodes
    }

    /// The node was emitted with an earlier episode: `finish` leaves it out.
    pub fn set_external(&mut self, node: usize) {
        self.nodes[node].external = true;
    }

    /// A status.conditions transition, as a span event (not a Kubernetes Event).
    pub fn condition(&mut self, node: usize, condition: &Condition) {
        let Some(at) = condition.at else { return };
        let mut attributes: Attributes = vec![
            ("k8s.condition.type", condition.kind.as_str().into()),
            ("k8s.condition.status", condition.status.as_str().into()),
        ];
        if let Some(reason) = &condition.reason {
            attributes.push(("k8s.condition.reason", (**reason).into()));
        }
        let name = format!("{}={}", condition.kind, condition.status);
        self.nodes[node].events.push(SpanEventDraft { name, time: at, attributes });
    }

    /// Sets start and end outright (a measured duration beats event timestamps).
    pub fn set_span(&mut self, node: usize, start: Nanos, end: Nanos) {
        self.nodes[node].start = Some(start);
        self.nodes[node].end = Some(end.max(start));
    }

    pub fn touch(&mut self, node: usize, at: Nanos) {
        let n = &mut self.nodes[node];
        n.start = Some(n.start.map_or(at, |s| s.min(at)));
        n.end = Some(n.end.map_or(at, |e| e.max(at)));
    }

    /// The node spans the event's time; a Warning puts it in Error with its
    /// message, and its component counts towards the node's service.
    pub fn reported(&mut self, node: usize, placed: &Placed) {
        self.touch(node, placed.time());
        let n = &mut self.nodes[node];
        let message = &placed.event.message;
        if placed.event.is_warning() && !(n.warning.is_some() && echo(message)) {
            n.warning = Some(message.clone());
        }
        *n.components.entry(placed.event.component.clone()).or_default() += 1;
    }

    /// The event as one of the node's span events.
    pub fn record(&mut self, node: usize, placed: &Placed) {
        self.reported(node, placed);
        self.nodes[node].events.push(SpanEventDraft {
            name: placed.event.reason.to_string(),
            time: placed.time(),
            attributes: event_attributes(placed),
        });
    }

    /// Parents cover their children (children come after their parents in the tree).
    pub fn cover(&mut self) {
        for i in (0..self.nodes.len()).rev() {
            let (start, end) = (self.nodes[i].start, self.nodes[i].end);
            if let (Some(parent), Some(start), Some(end)) = (self.nodes[i].parent, start, end) {
                self.touch(parent, start);
                self.touch(parent, end);
            }
        }
    }

    /// Parents cover their children; every span gets a start, an end (an instant
    /// lasts `INSTANT`), a service.
    pub fn finish(
        mut self,
        top: &ObjectKey,
        rollout: &Rollout<'_>,
        roots: &mut dyn Roots,
    ) -> Vec<SpanDraft> {
        let fallback = rollout.events.first().map(|p| p.time()).unwrap_or_default();
        for node in &mut self.nodes {
            if let (Some(start), Some(end)) = (node.start, &mut node.end) {
                *end = (*end).max(start + INSTANT);
            }
        }
        self.cover();
        // Spans without events of their own (the rollout) take the component that
        // reported on the top-level object, else the first one that reported at all.
        let about_top = rollout
            .events
            .iter()
            .find(|p| p.event.involved.key == *top && !p.event.component.is_empty());
        let first_component = about_top
            .or(rollout.events.first())
            .map(|p| p.event.component.clone())
            .unwrap_or_default();
        let ids: Vec<SpanId> = self.nodes.iter().map(|n| n.id).collect();
        let mut drafts = Vec::new();
        for mut node in self.nodes {
            node.events.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
            if node.external {
                continue;
            }
            let service = match node.service {
                Some(service) => service.to_string(),
                None => most_reported(&node.components)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| first_component.to_string()),
            };
            let start = node.start.unwrap_or(fallback);
            drafts.push(SpanDraft {
                trace_id: self.trace,
                span_id: node.id,
                parent: node.parent.map(|p| ids[p]),
                name: node.name,
                start,
                end: node.end.unwrap_or(start).max(start + INSTANT),
                status: node.warning.map_or(Status::Unset, Status::Error),
                attributes: node.attributes,
                events: node.events,
                links: node.links,
                service: if service.is_empty() { "kubernetes".into() } else { service },
            });
        }
        roots.mark(self.trace);
        drafts
    }
}

/// The kubelet's "Error: ErrImagePull" (a container's waiting reason, Warned right
/// after the message that says why): it does not replace that message as the
/// span's status.
fn echo(message: &str) -> bool {
    message.strip_prefix("Error: ").is_some_and(|reason| !reason.contains(' '))
}

/// The component of the service that reported most (instances of one service
/// count together), as its most frequent instance named itself.
fn most_reported(components: &BTreeMap<Name, usize>) -> Option<String> {
    let mut services: BTreeMap<&str, usize> = BTreeMap::new();
    for (component, count) in components {
        *services.entry(service::split(component).0).or_default() += count;
    }
    // Ties go to the first name.
    let most = |(name, count): &(&str, usize)| (*count, std::cmp::Reverse(name.to_string()));
    let (service, _) = services.into_iter().max_by_key(most)?;
    let instances = components.iter().filter(|(c, _)| service::split(c).0 == service);
    instances.map(|(c, n)| (c.as_str(), *n)).max_by_key(most).map(|(c, _)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_of_one_service_count_together() {
        let one = "k8s.io/hostpath_node-a_072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3b";
        let other = "k8s.io/hostpath_node-b_9a0c1f2e-1111-4e1b-9d6c-0c6f1c0e1a3b";
        let components: BTreeMap<Name, usize> =
            [(one.into(), 1), (other.into(), 2), ("kubelet".into(), 2)].into();
        assert_eq!(most_reported(&components).as_deref(), Some(other));
        let components: BTreeMap<Name, usize> = [("kubelet".into(), 1), ("b".into(), 1)].into();
        assert_eq!(most_reported(&components).as_deref(), Some("b"), "a tie: the first name");
    }
}
