//! The pods of a rollout: their events grouped per pod (a name, and a uid
//! where an event told it), a plan per pod, and its spans: `Pod.Startup` (taken
//! apart by `anatomy`) or `Pod.Activity`, and `Pod.Termination`.

use std::collections::BTreeMap;

use super::anatomy;
use super::attributes::{bounded, named, subject};
use super::build::Context;
use super::emitted::Roots;
use super::episode::Placed;
use super::messages::{self, Action};
use super::objects::Tracked;
use super::tree::{Tree, MAX_LEAD, SLACK};
use crate::observe::{EventSeen, Kind, Name, ObjectKey, PodStatus};
use crate::span::{self, Attributes};
use crate::time::{self, Nanos};

/// The events of a rollout's pods, by pod name.
#[derive(Default)]
pub struct Pods<'a>(BTreeMap<Name, Vec<PodEvents<'a>>>);

impl<'a> Pods<'a> {
    /// An event about the pod `name` (its subject, or named in its message).
    pub fn push(&mut self, name: Name, placed: &'a Placed) {
        let involved = &placed.event.involved;
        let uid = (involved.key.kind == Kind::Pod).then(|| involved.uid.clone()).flatten();
        let list = self.0.entry(name).or_default();
        match list.iter_mut().find(|p| p.uid == uid) {
            Some(p) => p.events.push(placed),
            None => list.push(PodEvents { uid, events: vec![placed] }),
        }
    }

    /// A plan per pod; the events of a name without a uid go to the uid they
    /// fit best. A pod whose startup an earlier episode already told is only
    /// active now.
    pub fn plans(
        self,
        top: &ObjectKey,
        ctx: &Context<'_>,
        roots: &mut dyn Roots,
    ) -> Vec<PodPlan<'a>> {
        let mut plans = Vec::new();
        for (name, mut list) in self.0 {
            merge_uidless(&mut list);
            for pod in list {
                let key = ObjectKey::new(Kind::Pod, top.namespace.clone(), name.clone());
                let key = if top.kind == Kind::Node {
                    pod_key_from_events(&pod).unwrap_or(key)
                } else {
                    key
                };
                plans.push(plan(ctx, key, pod));
            }
        }
        for plan in &mut plans {
            if let Some(uid) = plan.uid.as_deref() {
                let told = span::trace_id("pod-startup", uid);
                if plan.born_here && roots.emitted(&told) {
                    plan.born_here = false;
                } else if plan.born_here {
                    roots.mark(told);
                }
            }
        }
        plans
    }
}

/// Reasons that belong to a pod's end rather than its start.
fn is_termination(event: &EventSeen) -> bool {
    matches!(event.reason.as_str(), "Killing" | "Preempting" | "Evicted" | "TaintManagerEviction")
        || messages::mention(event)
            .is_some_and(|m| m.action == Action::Delete && m.object.kind == Kind::Pod)
}

/// One pod as the events see it: a name, and a uid where an event carried one
/// (the same name is reused by a StatefulSet after a delete).
#[derive(Default)]
pub struct PodEvents<'a> {
    uid: Option<String>,
    events: Vec<&'a Placed>,
}

/// Events that named a pod without its uid (a controller's "Created pod: x")
/// join the uid whose own events are nearest in time, starts with starts.
fn merge_uidless(list: &mut Vec<PodEvents<'_>>) {
    let Some(pos) = list.iter().position(|p| p.uid.is_none()) else {
        return;
    };
    if list.len() == 1 {
        return;
    }
    let loose = list.remove(pos);
    for placed in loose.events {
        let termination = is_termination(&placed.event);
        let score = |p: &PodEvents<'_>| {
            p.events
                .iter()
                .filter(|e| is_termination(&e.event) == termination)
                .map(|e| (e.time() - placed.time()).abs())
                .min()
                .unwrap_or(Nanos::MAX)
        };
        let best =
            (0..list.len()).min_by_key(|&i| (score(&list[i]), i)).expect("list is not empty");
        list[best].events.push(placed);
    }
    for pod in list.iter_mut() {
        pod.events.sort_by_key(|p| (p.time(), p.event.uid.clone()));
    }
}

/// For a Node's own trace, the pods are named by their events, in their namespaces.
fn pod_key_from_events(pod: &PodEvents<'_>) -> Option<ObjectKey> {
    pod.events.iter().map(|p| &p.event.involved.key).find(|k| k.kind == Kind::Pod).cloned()
}

/// A pod of the rollout, before its spans exist.
pub struct PodPlan<'a> {
    key: ObjectKey,
    pub uid: Option<String>,
    starting: Vec<&'a Placed>,
    ending: Vec<&'a Placed>,
    /// Its ReplicaSet: the controller event's subject, else its owner.
    pub creator: Option<ObjectKey>,
    /// Created within this rollout (not just seen doing something).
    pub born_here: bool,
    created: Option<Nanos>,
}

impl PodPlan<'_> {
    /// When the controller made it (or the first sign of it), and when it was told to go.
    pub fn created_at(&self) -> Option<Nanos> {
        let made = self
            .starting
            .iter()
            .find(|p| messages::mention(&p.event).is_some_and(|m| m.action == Action::Create));
        made.map(|p| p.time())
            .or(self.created)
            .or(self.starting.first().map(|p| p.time()))
            .filter(|_| self.born_here)
    }

    pub fn deleted_at(&self) -> Option<Nanos> {
        self.ending.first().map(|p| p.time())
    }
}

/// What a pod's events and its tracked object tell of it: which events start
/// it and which end it, its ReplicaSet, and whether this rollout made it.
fn plan<'a>(ctx: &Context<'_>, key: ObjectKey, pod: PodEvents<'a>) -> PodPlan<'a> {
    let tracked =
        ctx.objects.get(&key).filter(|t| pod.uid.as_ref().is_none_or(|u| *u == t.seen.uid));
    let uid = pod.uid.clone().or_else(|| tracked.map(|t| t.seen.uid.to_string()));
    let (ending, starting): (Vec<&Placed>, Vec<&Placed>) =
        pod.events.iter().partition(|p| is_termination(&p.event));
    let creator = pod
        .events
        .iter()
        .find(|p| p.event.involved.key.kind == Kind::ReplicaSet)
        .map(|p| p.event.involved.key.clone())
        .or_else(|| {
            ctx.graph.route(&key).chain.get(1).filter(|k| k.kind == Kind::ReplicaSet).cloned()
        });
    let first = starting.iter().map(|p| p.time()).min();
    let created = tracked
        .and_then(|t| t.seen.created)
        .filter(|c| first.is_some_and(|f| *c <= f && f - *c <= ctx.settle.max(60 * time::SECOND)));
    let born_here = created.is_some()
        || starting.iter().any(|p| {
            p.event.reason == "Scheduled"
                || messages::mention(&p.event).is_some_and(|m| m.action == Action::Create)
        });
    PodPlan { key, uid, starting, ending, creator, born_here, created }
}

/// Adds the pod's spans: its startup (or activity) below `parents.0`, its
/// termination below `parents.1`.
pub fn add(
    tree: &mut Tree,
    ctx: &Context<'_>,
    top: &ObjectKey,
    plan: PodPlan<'_>,
    parents: (usize, usize),
) {
    let key = &plan.key;
    let tracked =
        ctx.objects.get(key).filter(|t| plan.uid.as_ref().is_none_or(|u| *u == t.seen.uid));
    let mut attributes = subject(key, plan.uid.as_deref());
    let events: Vec<&Placed> = plan.starting.iter().chain(&plan.ending).copied().collect();
    if let Some(node) = tracked
        .and_then(|t| t.seen.pod.as_ref())
        .and_then(|p| p.node.clone())
        .or_else(|| scheduled_node(&events).map(Name::from))
    {
        attributes.push(("k8s.node.name", node.into()));
    }
    if let Some(owner) = ctx.graph.route(key).chain.get(1).filter(|k| *k != top) {
        attributes.extend(named(owner, ctx.uids.of(owner)));
    }
    let id = plan.uid.clone().unwrap_or_else(|| key.name.to_string());
    let pod = PodSpans { plan: &plan, tracked, attributes, id, settle: ctx.settle };
    pod.startup(tree, parents.0);
    pod.termination(tree, parents.1);
}

/// The event a span's id is derived from: the first by its own stamps, then uid.
/// Not by the time the span is drawn with: that is refined by when this replica
/// saw the event arrive, and every replica must derive the same ids.
fn id_event<'p>(events: &[&'p Placed]) -> Option<&'p Placed> {
    let stamps = |p: &Placed| (p.event.first.or(p.event.last), p.event.uid.clone());
    events.iter().copied().min_by_key(|p| stamps(p))
}

/// What a pod's spans share.
struct PodSpans<'p> {
    plan: &'p PodPlan<'p>,
    tracked: Option<&'p Tracked>,
    /// Its subject, node and owner.
    attributes: Attributes,
    /// Its uid, else its name: part of its span ids.
    id: String,
    settle: Nanos,
}

impl PodSpans<'_> {
    /// The pod's startup (or, not born in this rollout, its activity).
    fn startup(&self, tree: &mut Tree, parent: usize) {
        let (plan, tracked) = (self.plan, self.tracked);
        let Some(id_from) = id_event(&plan.starting) else { return };
        let first = plan.starting.iter().map(|p| p.time()).min().unwrap_or_default();
        let last = plan.starting.iter().map(|p| p.time()).max().unwrap_or_default();
        let name = if plan.born_here { "Pod.Startup" } else { "Pod.Activity" };
        let parent = if plan.born_here { parent } else { tree_root(tree, parent) };
        let id = span::span_id(&tree.trace, &[name, &self.id, &id_from.event.uid]);
        let node = tree.add(id, Some(parent), name, self.attributes.clone());
        let created = plan.created.or(plan.created_at());
        let taken = if plan.born_here {
            anatomy::startup(
                tree,
                node,
                &plan.starting,
                tracked,
                created,
                &self.attributes,
                &self.id,
            )
        } else {
            vec![false; plan.starting.len()]
        };
        for (placed, _) in plan.starting.iter().zip(taken).filter(|(_, taken)| !taken) {
            tree.record(node, placed);
        }
        // The pod's own account of its startup: conditions that changed during it.
        let window = created.unwrap_or(first) - SLACK..=last + self.settle;
        for c in tracked.into_iter().flat_map(|t| &t.seen.conditions) {
            if plan.born_here && c.at.is_some_and(|at| window.contains(&at)) {
                tree.condition(node, c);
            }
        }
        if let Some(c) = plan.created {
            tree.touch(node, c);
        }
        // Ready is when the startup really ends, if the pod says so in time.
        let ready = tracked.and_then(|t| {
            t.seen.conditions.iter().find(|c| c.kind == "Ready" && c.status == "True")
        });
        if let Some(at) = ready
            .and_then(|c| c.at)
            .filter(|at| plan.born_here && *at >= first && *at <= last + self.settle)
        {
            tree.touch(node, at);
        }
        if plan.born_here {
            if let Some(p) = tracked.and_then(|t| t.seen.pod.as_ref()) {
                ran_to_completion(tree, node, p, first);
            }
        }
    }

    /// The pod's end: deleted, evicted, preempted.
    fn termination(self, tree: &mut Tree, parent: usize) {
        let plan = self.plan;
        let Some(id_from) = id_event(&plan.ending) else { return };
        let first = plan.ending.iter().map(|p| p.time()).min().unwrap_or_default();
        let last = plan.ending.iter().map(|p| p.time()).max().unwrap_or_default();
        let id = span::span_id(&tree.trace, &["Pod.Termination", &self.id, &id_from.event.uid]);
        let node = tree.add(id, Some(parent), "Pod.Termination", self.attributes);
        for placed in &plan.ending {
            tree.record(node, placed);
        }
        if let Some(gone) = self
            .tracked
            .and_then(|t| t.deleted_at)
            .filter(|d| *d >= first && *d <= last + self.settle)
        {
            tree.touch(node, gone);
        }
    }
}

/// A pod that ran to completion (a Job's): its span lasts until its containers
/// ended; a Failed one is an Error saying how they ended (no Event tells that).
fn ran_to_completion(tree: &mut Tree, node: usize, pod: &PodStatus, first: Nanos) {
    let Some(phase) = pod.phase.as_deref().filter(|p| matches!(*p, "Succeeded" | "Failed")) else {
        return;
    };
    tree.node_mut(node).attributes.push(("kspan.pod.phase", phase.into()));
    let ended = || pod.containers.iter().filter_map(|c| c.ended.as_ref().map(|e| (c, e)));
    if let Some(at) =
        ended().filter_map(|(_, e)| e.at).max().filter(|at| *at >= first && *at - first <= MAX_LEAD)
    {
        tree.touch(node, at);
    }
    if phase == "Failed" {
        let mut how: Vec<String> = ended()
            .filter(|(_, e)| e.exit_code != 0)
            .map(|(c, e)| {
                let mut text = format!(
                    "container {} exited with code {} ({})",
                    c.name,
                    e.exit_code,
                    e.reason.as_deref().unwrap_or("Error")
                );
                if let Some(m) = e.message.as_deref().filter(|m| !m.is_empty()) {
                    text.push_str(&format!(": {}", m.trim()));
                }
                text
            })
            .collect();
        how.extend(pod.reason.as_ref().map(Name::to_string));
        let text = if how.is_empty() { "no reason given".into() } else { how.join("; ") };
        tree.node_mut(node).warning = Some(bounded(&format!("pod Failed: {text}")));
    }
}

/// Activity of a pod not born in this rollout hangs off the rollout (or its Job), not a scale step.
fn tree_root(tree: &Tree, mut node: usize) -> usize {
    while let (
        "ReplicaSet.ScaleUp" | "ReplicaSet.ScaleDown" | "HorizontalPodAutoscaler.Rescale",
        Some(p),
    ) = (tree.node(node).name, tree.node(node).parent)
    {
        node = p;
    }
    node
}

/// "Successfully assigned ns/pod to node-1".
fn scheduled_node(events: &[&Placed]) -> Option<String> {
    events
        .iter()
        .filter(|p| p.event.reason == "Scheduled")
        .find_map(|p| p.event.message.rsplit_once(" to ").map(|(_, node)| node.trim().to_string()))
}
