//! Builds the spans of one rollout: root (or the Flux Sync event above it), scale
//! steps, Jobs of a CronJob, and one span per pod phase, each Event placed exactly
//! once as a span event. Deterministic: depends only on the set of events and the
//! object table, never on arrival order.

use std::collections::BTreeMap;

use super::anatomy;
use super::episode::Placed;
use super::graph::Graph;
use super::objects::{Objects, Tracked};
use super::rollout::Rollout;
use super::rules::{self, Action};
use crate::observe::{Condition, EventSeen, Kind, Name, ObjectKey, PodStatus};
use crate::span::{
    self, Attributes, SpanDraft, SpanEventDraft, SpanId, SpanLinkDraft, Status, TraceId,
};
use crate::time::{self, Nanos};

/// How far before its first event a rollout may start (at the spec change).
const MAX_LEAD: Nanos = 3600 * time::SECOND;
/// Timestamps on Events have one-second precision.
pub const SLACK: Nanos = time::SECOND;
/// How long after a rescale a scale step is taken as its effect.
const RESCALE_EFFECT: Nanos = 60 * time::SECOND;

pub struct Context<'a> {
    pub objects: &'a Objects,
    pub graph: &'a Graph,
    pub nodes: &'a dyn NodeMarks,
}

/// Trouble on a node (NodeNotReady, pressure, a Warning), where a pod span's
/// link points: the root of the node's activity trace.
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

struct Node {
    id: SpanId,
    parent: Option<usize>,
    name: &'static str,
    start: Option<Nanos>,
    end: Option<Nanos>,
    attributes: Attributes,
    events: Vec<SpanEventDraft>,
    links: Vec<SpanLinkDraft>,
    warning: Option<String>,
    components: BTreeMap<Name, usize>,
    /// Known before the tree is built (emitted with an earlier episode): parent id only.
    external: bool,
}

pub struct Tree {
    pub trace: TraceId,
    nodes: Vec<Node>,
}

impl Tree {
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
            external: false,
        });
        self.nodes.len() - 1
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

    pub fn record(&mut self, node: usize, placed: &Placed) {
        let event = &placed.event;
        let at = placed.time();
        self.touch(node, at);
        let n = &mut self.nodes[node];
        if event.is_warning() {
            n.warning = Some(event.message.clone());
        }
        *n.components.entry(event.component.clone()).or_default() += 1;
        n.events.push(SpanEventDraft {
            name: event.reason.to_string(),
            time: at,
            attributes: event_attributes(placed),
        });
    }
}

/// Longest message kept in a span event; collectors and backends cap attribute
/// sizes, and a runaway message (a stack trace in a probe's output) must not
/// swell every batch.
const MAX_MESSAGE: usize = 4096;

fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut cut = MAX_MESSAGE;
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes, truncated)", &message[..cut], message.len())
}

pub fn event_attributes(placed: &Placed) -> Attributes {
    let e = &placed.event;
    let subject = &e.involved.key;
    let regarding = [subject.kind.as_str(), "/", &subject.name].concat();
    // Room for every attribute below: built for each Event of every span.
    let mut a: Attributes = Vec::with_capacity(12);
    a.extend([
        ("k8s.event.uid", e.uid.as_str().into()),
        ("k8s.event.reason", e.reason.as_str().into()),
        ("k8s.event.type", e.kind.as_str().into()),
        ("k8s.event.message", bounded(&e.message).into()),
        ("k8s.event.count", (e.count as i64).into()),
        ("k8s.event.regarding", regarding.into()),
    ]);
    if let Some(first) = e.first {
        a.push(("k8s.event.first_timestamp", time::format(first).into()));
    }
    if let Some(last) = e.last {
        a.push(("k8s.event.last_timestamp", time::format(last).into()));
    }
    if !e.component.is_empty() {
        a.push(("k8s.event.source", e.component.as_str().into()));
    }
    if let Some(host) = &e.host {
        a.push(("k8s.event.host", host.as_str().into()));
    }
    if let Some(path) = &e.involved.field_path {
        a.push(("k8s.event.field_path", path.as_str().into()));
    }
    if !placed.certain {
        // The owner chain was still unknown when the pending window expired.
        a.push(("kspan.placement", "best-effort".into()));
    }
    a
}

/// `k8s.namespace.name`, `k8s.<kind>.name`, `k8s.<kind>.uid` for a subject.
fn subject(key: &ObjectKey, uid: Option<&str>) -> Attributes {
    let mut a: Attributes = Vec::new();
    if !key.namespace.is_empty() {
        a.push(("k8s.namespace.name", key.namespace.as_str().into()));
    }
    let (name, uid_key) = match (&key.kind, key.kind.attribute_keys()) {
        (_, Some(keys)) => keys,
        (kind, None) => {
            a.push(("k8s.object.kind", kind.as_str().into()));
            ("k8s.object.name", "k8s.object.uid")
        }
    };
    a.push((name, key.name.as_str().into()));
    if let Some(uid) = uid.filter(|u| !u.is_empty()) {
        a.push((uid_key, uid.into()));
    }
    a
}

fn uid_of<'a>(objects: &'a Objects, key: &ObjectKey) -> Option<&'a str> {
    objects.get(key).map(|t| t.seen.uid.as_str())
}

fn root_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Deployment => "Deployment.Rollout",
        Kind::StatefulSet => "StatefulSet.Rollout",
        Kind::DaemonSet => "DaemonSet.Rollout",
        Kind::ReplicaSet => "ReplicaSet.Rollout",
        Kind::Job => "Job.Run",
        Kind::CronJob => "CronJob.Run",
        Kind::Pod => "Pod.Lifecycle",
        Kind::Node => "Node.Activity",
        Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler.Activity",
        _ => "Object.Activity",
    }
}

/// The span of activity on a continuing rollout's top-level object, below its
/// root, named by the event that opened it: with its count too, since a repeat
/// of that event may open a later episode again.
fn later_span(
    tree: &mut Tree,
    root: usize,
    top: &ObjectKey,
    tracked: Option<&Tracked>,
    opened_by: &Placed,
) -> usize {
    let count = opened_by.event.count.to_string();
    let id = span::span_id(&tree.trace, &["later", &opened_by.event.uid, &count]);
    let attributes = subject(top, tracked.map(|t| t.seen.uid.as_str()));
    tree.add(id, Some(root), later_name(&top.kind), attributes)
}

/// Activity on a top-level object after its rollout's root span was emitted.
fn later_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Deployment => "Deployment.Activity",
        Kind::StatefulSet => "StatefulSet.Activity",
        Kind::DaemonSet => "DaemonSet.Activity",
        Kind::ReplicaSet => "ReplicaSet.Activity",
        Kind::Job => "Job.Activity",
        Kind::CronJob => "CronJob.Activity",
        Kind::Pod => "Pod.Activity",
        Kind::Node => "Node.Activity",
        Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler.Activity",
        _ => "Object.Activity",
    }
}

/// Reasons that belong to a pod's end rather than its start.
fn is_termination(event: &EventSeen) -> bool {
    matches!(event.reason.as_str(), "Killing" | "Preempting" | "Evicted" | "TaintManagerEviction")
        || rules::mention(event)
            .is_some_and(|m| m.action == Action::Delete && m.object.kind == Kind::Pod)
}

/// One pod as the events see it: a name, and a uid where an event carried one
/// (the same name is reused by a StatefulSet after a delete).
#[derive(Default)]
struct PodEvents<'a> {
    uid: Option<String>,
    events: Vec<&'a Placed>,
}

/// What earlier episodes already emitted, by a trace-id-shaped key: roots (a later
/// episode of the same rollout adds children under the same ids instead of a second
/// root) and pod startups (told once; later activity is `Pod.Activity`).
pub trait Roots {
    fn emitted(&self, trace: &TraceId) -> bool;
    fn mark(&mut self, trace: TraceId);
}

pub fn rollout_spans(
    top: &ObjectKey,
    rollout: &Rollout<'_>,
    ctx: &Context<'_>,
    roots: &mut dyn Roots,
    settle: Nanos,
) -> Vec<SpanDraft> {
    let tracked = ctx.objects.get(top);
    let mut tree = Tree { trace: rollout.trace, nodes: Vec::new() };
    let continuing = roots.emitted(&rollout.trace);

    // The root: the Flux Sync event when there is one, the rollout below it. A
    // continuing rollout's Sync span was emitted already; a Sync event seen now is
    // later activity like any other.
    let sync = rollout.events.iter().find(|p| p.event.top_level && !continuing).copied();
    let sync_node = sync.map(|p| {
        let mut attributes = event_attributes(p);
        attributes.extend(subject(top, tracked.map(|t| t.seen.uid.as_str())));
        let node =
            tree.add(span::span_id(&rollout.trace, &["sync"]), None, "Event.Sync", attributes);
        tree.touch(node, p.time());
        if p.event.is_warning() {
            tree.nodes[node].warning = Some(p.event.message.clone());
        }
        *tree.nodes[node].components.entry(p.event.component.clone()).or_default() += 1;
        node
    });
    let root =
        tree.add(span::span_id(&rollout.trace, &["rollout"]), sync_node, root_name(&top.kind), {
            let mut a = subject(top, tracked.map(|t| t.seen.uid.as_str()));
            a.extend(rollout_attributes(rollout, tracked));
            a
        });
    if continuing {
        tree.nodes[root].external = true;
        if let Some(s) = sync_node {
            tree.nodes[s].external = true;
        }
    }
    if let Some(start) = rollout_start(rollout, tracked) {
        tree.touch(root, start);
    }
    if !continuing {
        rollout_outcome(&mut tree, root, rollout, tracked);
    }
    // Available / Progressing transitions during this rollout show on its timeline.
    if let (Some(t), false) = (tracked, continuing) {
        let first = rollout.events.first().map(|p| p.time()).unwrap_or_default();
        let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
        let from = rollout_start(rollout, tracked).unwrap_or(first) - SLACK;
        for c in &t.seen.conditions {
            if top.kind == Kind::Job && is_job_end(c) {
                continue; // below, whenever it came
            }
            if c.at.is_some_and(|at| (from..=last + settle).contains(&at)) {
                tree.condition(root, c);
            }
        }
        if top.kind == Kind::Job {
            job_end(&mut tree, root, t, from);
        }
    }

    // A HorizontalPodAutoscaler's rescale: the cause of the scale steps after it.
    let mut rescales: Vec<(usize, Nanos)> = Vec::new();
    for &placed in &rollout.events {
        let Some(rescale) = rules::rescale(&placed.event) else { continue };
        let hpa = &placed.event.involved.key;
        let uid = uid_of(ctx.objects, hpa).or(placed.event.involved.uid.as_deref());
        let mut attributes = subject(hpa, uid);
        if let Some(target) = ctx.objects.get(hpa).and_then(|t| t.seen.scale_target.as_ref()) {
            attributes.push(("k8s.hpa.scaletargetref.kind", target.kind.as_str().into()));
            attributes.push(("k8s.hpa.scaletargetref.name", target.name.as_str().into()));
        }
        if let Some(size) = rescale.size {
            attributes.push(("kspan.replicas.target", size.into()));
        }
        if let Some(reason) = rescale.reason {
            attributes.push(("kspan.rescale.reason", reason.into()));
        }
        let id = span::span_id(&rollout.trace, &["rescale", &placed.event.uid]);
        let node = tree.add(id, Some(root), "HorizontalPodAutoscaler.Rescale", attributes);
        tree.record(node, placed);
        if rescales.is_empty() && !continuing {
            let cause = format!("{}/{}", hpa.kind, hpa.name);
            tree.nodes[root].attributes.push(("kspan.change.cause", cause.into()));
        }
        rescales.push((node, placed.time()));
    }
    let cause_of = |at: Nanos| {
        rescales
            .iter()
            .rev()
            .find(|(_, t)| *t <= at + SLACK && at - *t <= RESCALE_EFFECT)
            .map_or(root, |(node, _)| *node)
    };

    // Scale steps of a Deployment, Jobs of a CronJob.
    let mut steps: Vec<(usize, ObjectKey, Action, Nanos)> = Vec::new();
    let mut jobs: BTreeMap<String, usize> = BTreeMap::new();
    let mut pods: BTreeMap<Name, Vec<PodEvents<'_>>> = BTreeMap::new();
    let mut rest: Vec<&Placed> = Vec::new();
    for &placed in &rollout.events {
        let event = &placed.event;
        if sync.is_some_and(|s| std::ptr::eq(s, placed)) || rules::rescale(event).is_some() {
            continue;
        }
        let mention = rules::mention(event);
        match &mention {
            Some(m) if m.object.kind == Kind::ReplicaSet && event.involved.key == *top => {
                let (name, target) = match m.action {
                    Action::ScaleUp(n) => ("ReplicaSet.ScaleUp", n),
                    Action::ScaleDown(n) => ("ReplicaSet.ScaleDown", n),
                    _ => ("ReplicaSet.Scale", 0),
                };
                let mut attributes = subject(&m.object, uid_of(ctx.objects, &m.object));
                attributes.push(("kspan.replicas.target", target.into()));
                let node = tree.add(
                    span::span_id(&rollout.trace, &["step", &event.uid]),
                    Some(cause_of(placed.time())),
                    name,
                    attributes,
                );
                tree.record(node, placed);
                steps.push((node, m.object.clone(), m.action, placed.time()));
                continue;
            }
            _ => {}
        }
        let pod_name = match &mention {
            Some(m) if m.object.kind == Kind::Pod => Some(m.object.name.clone()),
            _ if event.involved.key.kind == Kind::Pod => Some(event.involved.key.name.clone()),
            _ => None,
        };
        if let Some(name) = pod_name {
            let uid = (event.involved.key.kind == Kind::Pod)
                .then(|| event.involved.uid.clone())
                .flatten();
            let list = pods.entry(name).or_default();
            match list.iter_mut().find(|p| p.uid == uid) {
                Some(p) => p.events.push(placed),
                None => list.push(PodEvents { uid, events: vec![placed] }),
            }
            continue;
        }
        rest.push(placed);
    }
    if top.kind == Kind::CronJob {
        if let Some(job) = rollout.key.strip_prefix("job:") {
            let key = ObjectKey::new(Kind::Job, top.namespace.clone(), job);
            let attributes = subject(&key, uid_of(ctx.objects, &key));
            let node = tree.add(
                span::span_id(&rollout.trace, &["job", job]),
                Some(root),
                "Job.Run",
                attributes,
            );
            jobs.insert(job.to_string(), node);
            // The Job's own account of its run: how and when it ended.
            if let (Some(t), false) = (ctx.objects.get(&key), continuing) {
                let first = rollout.events.first().map(|p| p.time()).unwrap_or_default();
                let from = t.seen.created.unwrap_or(first).min(first) - SLACK;
                let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
                for c in t.seen.conditions.iter().filter(|c| !is_job_end(c)) {
                    if c.at.is_some_and(|at| (from..=last + settle).contains(&at)) {
                        tree.condition(node, c);
                    }
                }
                job_end(&mut tree, node, t, from);
            }
        }
    }
    // A ReplicaSet's conditions (ReplicaFailure: quota exceeded...) on the scale
    // step under way when they changed.
    let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
    let mut scaled: Vec<&ObjectKey> = steps.iter().map(|s| &s.1).collect();
    scaled.sort();
    scaled.dedup();
    for rs in scaled {
        let Some(t) = ctx.objects.get(rs) else { continue };
        let first = steps.iter().filter(|s| s.1 == *rs).map(|s| s.3).min().unwrap_or_default();
        for c in &t.seen.conditions {
            let Some(at) = c.at.filter(|at| (first - SLACK..=last + settle).contains(at)) else {
                continue;
            };
            if let Some(node) = latest_step(&steps, rs, None, at) {
                tree.condition(node, c);
            }
        }
    }
    let job_node = jobs.values().next().copied();

    // Events about the top object, its ReplicaSets, Jobs or anything else. The
    // root of a continuing rollout was emitted already and is immutable: what
    // would go on it goes on a span of later activity below it.
    let mut later = None;
    // A Job that ended after its root was emitted (a retry after a long back-off):
    // its Complete / Failed condition goes on this later activity.
    if let (true, Kind::Job, Some(t), Some(first)) =
        (continuing, &top.kind, tracked, rollout.events.first())
    {
        let ended = t.seen.conditions.iter().any(|c| {
            is_job_end(c) && c.status == "True" && c.at.is_some_and(|at| at + SLACK >= first.time())
        });
        if ended {
            let node = later_span(&mut tree, root, top, tracked, first);
            job_end(&mut tree, node, t, first.time() - SLACK);
            later = Some(node);
        }
    }
    for placed in rest {
        let key = &placed.event.involved.key;
        let mut node = match key.kind {
            Kind::ReplicaSet => latest_step(&steps, key, None, placed.time()).unwrap_or(root),
            Kind::Job => job_node.unwrap_or(root),
            _ => root,
        };
        if node == root && continuing {
            node = *later.get_or_insert_with(|| later_span(&mut tree, root, top, tracked, placed));
        }
        tree.record(node, placed);
    }

    // Pods: the events of a name without a uid go to the uid they fit best.
    let mut plans = Vec::new();
    for (name, mut list) in pods {
        merge_uidless(&mut list);
        for pod in list {
            let key = ObjectKey::new(Kind::Pod, top.namespace.clone(), name.clone());
            let key =
                if top.kind == Kind::Node { pod_key_from_events(&pod).unwrap_or(key) } else { key };
            plans.push(plan_pod(ctx, key, pod, settle));
        }
    }
    // A pod whose startup an earlier episode already told is only active now.
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
    let default_parent = if top.kind == Kind::CronJob { job_node.unwrap_or(root) } else { root };
    let starts = assign_steps(&steps, &plans, true);
    let ends = assign_steps(&steps, &plans, false);
    for (i, plan) in plans.into_iter().enumerate() {
        let parents = (
            starts.get(&i).copied().unwrap_or(default_parent),
            ends.get(&i).copied().unwrap_or(default_parent),
        );
        add_pod(&mut tree, ctx, top, plan, parents, settle);
    }

    cover(&mut tree);
    link_nodes(&mut tree, ctx.nodes);
    finish(tree, top, rollout, roots)
}

/// Parents cover their children (children come after their parents in the tree).
fn cover(tree: &mut Tree) {
    for i in (0..tree.nodes.len()).rev() {
        let (start, end) = (tree.nodes[i].start, tree.nodes[i].end);
        if let (Some(parent), Some(start), Some(end)) = (tree.nodes[i].parent, start, end) {
            tree.touch(parent, start);
            tree.touch(parent, end);
        }
    }
}

/// A pod's span links to the activity of its node when the node was in trouble
/// during the span (NodeNotReady, pressure): one link per node trace.
fn link_nodes(tree: &mut Tree, nodes: &dyn NodeMarks) {
    let trace = tree.trace;
    for n in &mut tree.nodes {
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

fn rollout_attributes(rollout: &Rollout<'_>, tracked: Option<&Tracked>) -> Attributes {
    let mut a: Attributes = vec![("kspan.rollout.key", rollout.key.as_str().into())];
    if let Some(g) = rollout.generation {
        a.push(("kspan.rollout.generation", g.into()));
    } else if rollout.key.starts_with("inferred") {
        a.push(("kspan.rollout.inferred", true.into()));
    }
    // Who changed it is known when managedFields recorded this generation's change.
    let current = tracked.filter(|t| {
        rollout
            .generation
            .is_some_and(|g| t.seen.generation == Some(g) && t.spec_change_at(g).is_some())
    });
    if let Some(change) = current.and_then(|t| t.seen.spec_change.as_ref()) {
        a.push(("kspan.change.manager", change.manager.as_str().into()));
        a.push(("kspan.change.operation", change.operation.as_str().into()));
        if let Some(at) = change.at {
            a.push(("kspan.change.time", time::format(at).into()));
        }
    }
    if let Some(revision) = current.and_then(|t| t.seen.revision.as_ref()) {
        a.push(("kspan.rollout.revision", revision.as_str().into()));
    }
    a
}

/// How the rollout ended, as far as the workload's status tells at settle time:
/// `complete` (observedGeneration caught up, every replica updated, ready and
/// available: the root ends then), `failed` (progress deadline exceeded: Error),
/// `superseded` by a newer generation, or `in-progress`.
fn rollout_outcome(tree: &mut Tree, root: usize, rollout: &Rollout<'_>, tracked: Option<&Tracked>) {
    let (Some(g), Some(t)) = (rollout.generation, tracked) else {
        return;
    };
    if t.seen.workload.is_none() {
        return;
    }
    let deadline = t.seen.conditions.iter().find(|c| {
        c.kind == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    let outcome = if let Some(at) = t.completed_at(g).as_ref() {
        let first = rollout.events.first().map(|p| p.time()).unwrap_or(*at);
        if *at >= first && *at - first <= MAX_LEAD {
            tree.touch(root, *at);
        }
        "complete"
    } else if t.seen.generation == Some(g) && deadline.is_some() {
        tree.nodes[root].warning =
            Some("ProgressDeadlineExceeded: the rollout made no progress in time".into());
        "failed"
    } else if t.seen.generation.is_some_and(|current| current > g) {
        "superseded"
    } else {
        "in-progress"
    };
    tree.nodes[root].attributes.push(("kspan.rollout.outcome", outcome.into()));
}

/// A Job's Complete or Failed condition: how its run ended.
fn is_job_end(c: &Condition) -> bool {
    matches!(c.kind.as_str(), "Complete" | "Failed")
}

/// The Job's Complete / Failed condition, whenever it came after the run began
/// (a Job runs as long as its pods do): the Job's span ends then, in Error when
/// it failed (BackoffLimitExceeded, DeadlineExceeded).
fn job_end(tree: &mut Tree, node: usize, job: &Tracked, from: Nanos) {
    for c in job.seen.conditions.iter().filter(|c| is_job_end(c) && c.status == "True") {
        let Some(at) = c.at.filter(|at| *at >= from && *at - from <= MAX_LEAD) else {
            continue;
        };
        tree.condition(node, c);
        tree.touch(node, at);
        if c.kind == "Failed" && tree.nodes[node].warning.is_none() {
            let reason = c.reason.as_deref().unwrap_or("Failed");
            tree.nodes[node].warning = Some(format!("{reason}: the Job failed"));
        }
    }
}

/// A rollout begins at its spec change when that is known and shortly before the first event.
fn rollout_start(rollout: &Rollout<'_>, tracked: Option<&Tracked>) -> Option<Nanos> {
    let generation = rollout.generation?;
    let start = tracked?.spec_change_at(generation)?;
    let first = rollout.events.first()?.time();
    (start <= first && first - start <= MAX_LEAD).then_some(start)
}

fn latest_step(
    steps: &[(usize, ObjectKey, Action, Nanos)],
    rs: &ObjectKey,
    up: Option<bool>,
    at: Nanos,
) -> Option<usize> {
    let fits = |(_, key, action, _): &&(usize, ObjectKey, Action, Nanos)| {
        key == rs
            && match up {
                Some(true) => matches!(action, Action::ScaleUp(_)),
                Some(false) => matches!(action, Action::ScaleDown(_)),
                None => true,
            }
    };
    // The latest step at or before `at`; else one within the timestamps' precision; else the first.
    let fitting: Vec<_> = steps.iter().filter(fits).collect();
    fitting
        .iter()
        .rev()
        .find(|s| s.3 <= at)
        .or_else(|| fitting.iter().find(|s| s.3 <= at + SLACK))
        .or(fitting.first())
        .map(|s| s.0)
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
struct PodPlan<'a> {
    key: ObjectKey,
    uid: Option<String>,
    starting: Vec<&'a Placed>,
    ending: Vec<&'a Placed>,
    /// Its ReplicaSet: the controller event's subject, else its owner.
    creator: Option<ObjectKey>,
    /// Created within this rollout (not just seen doing something).
    born_here: bool,
    created: Option<Nanos>,
}

impl PodPlan<'_> {
    /// When the controller made it (or the first sign of it), and when it was told to go.
    fn created_at(&self) -> Option<Nanos> {
        let made = self
            .starting
            .iter()
            .find(|p| rules::mention(&p.event).is_some_and(|m| m.action == Action::Create));
        made.map(|p| p.time())
            .or(self.created)
            .or(self.starting.first().map(|p| p.time()))
            .filter(|_| self.born_here)
    }

    fn deleted_at(&self) -> Option<Nanos> {
        self.ending.first().map(|p| p.time())
    }
}

fn plan_pod<'a>(
    ctx: &Context<'_>,
    key: ObjectKey,
    pod: PodEvents<'a>,
    settle: Nanos,
) -> PodPlan<'a> {
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
        .filter(|c| first.is_some_and(|f| *c <= f && f - *c <= settle.max(60 * time::SECOND)));
    let born_here = created.is_some()
        || starting.iter().any(|p| {
            p.event.reason == "Scheduled"
                || rules::mention(&p.event).is_some_and(|m| m.action == Action::Create)
        });
    PodPlan { key, uid, starting, ending, creator, born_here, created }
}

/// Matches pods to the scale steps of their ReplicaSet: each step made (or
/// removed) as many pods as its target moved, in time order. Arrival order is
/// not trusted: a recorder can see a pod's events before the scale event.
fn assign_steps(
    steps: &[(usize, ObjectKey, Action, Nanos)],
    plans: &[PodPlan<'_>],
    up: bool,
) -> BTreeMap<usize, usize> {
    let mut assigned = BTreeMap::new();
    let mut by_rs: BTreeMap<&ObjectKey, Vec<(Nanos, usize)>> = BTreeMap::new();
    for (i, plan) in plans.iter().enumerate() {
        let at = if up { plan.created_at() } else { plan.deleted_at() };
        if let (Some(rs), Some(at)) = (&plan.creator, at) {
            by_rs.entry(rs).or_default().push((at, i));
        }
    }
    for (rs, mut pods) in by_rs {
        pods.sort();
        let mut previous: Option<i64> = None;
        let mut rs_steps = Vec::new();
        for (node, _, action, at) in steps.iter().filter(|s| s.1 == *rs) {
            let (target, matches) = match action {
                Action::ScaleUp(n) => (*n, up),
                Action::ScaleDown(n) => (*n, !up),
                _ => continue,
            };
            if matches {
                // A first step's starting size is unknown: a new ReplicaSet starts at 0,
                // a scale-down is taken to remove one pod.
                let before = previous.unwrap_or(if up { 0 } else { target + 1 });
                rs_steps.push((*node, *at, (target - before).abs().max(1)));
            }
            previous = Some(target);
        }
        let mut step = 0;
        let mut used = 0;
        for (at, plan) in pods {
            if rs_steps.is_empty() {
                break;
            }
            while step + 1 < rs_steps.len()
                && (used >= rs_steps[step].2 || rs_steps[step + 1].1 + SLACK <= at)
                && rs_steps[step + 1].1 <= at + SLACK
            {
                step += 1;
                used = 0;
            }
            assigned.insert(plan, rs_steps[step].0);
            used += 1;
        }
    }
    assigned
}

fn add_pod(
    tree: &mut Tree,
    ctx: &Context<'_>,
    top: &ObjectKey,
    plan: PodPlan<'_>,
    parents: (usize, usize),
    settle: Nanos,
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
        attributes.extend(subject(owner, uid_of(ctx.objects, owner)));
    }
    let uid_part = plan.uid.clone().unwrap_or_else(|| key.name.to_string());

    if let Some(first_event) = plan.starting.first() {
        let first = plan.starting.iter().map(|p| p.time()).min().unwrap_or_default();
        let last = plan.starting.iter().map(|p| p.time()).max().unwrap_or_default();
        let name = if plan.born_here { "Pod.Startup" } else { "Pod.Activity" };
        let parent = if plan.born_here { parents.0 } else { tree_root(tree, parents.0) };
        let id = span::span_id(&tree.trace, &[name, &uid_part, &first_event.event.uid]);
        let node = tree.add(id, Some(parent), name, attributes.clone());
        let created = plan.created.or(plan.created_at());
        let taken = if plan.born_here {
            anatomy::startup(tree, node, &plan.starting, tracked, created, &attributes, &uid_part)
        } else {
            vec![false; plan.starting.len()]
        };
        for (placed, _) in plan.starting.iter().zip(taken).filter(|(_, taken)| !taken) {
            tree.record(node, placed);
        }
        // The pod's own account of its startup: conditions that changed during it.
        let window = created.unwrap_or(first) - SLACK..=last + settle;
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
            .filter(|at| plan.born_here && *at >= first && *at <= last + settle)
        {
            tree.touch(node, at);
        }
        if plan.born_here {
            if let Some(p) = tracked.and_then(|t| t.seen.pod.as_ref()) {
                ran_to_completion(tree, node, p, first);
            }
        }
    }
    if let Some(first_event) = plan.ending.first() {
        let first = plan.ending.iter().map(|p| p.time()).min().unwrap_or_default();
        let last = plan.ending.iter().map(|p| p.time()).max().unwrap_or_default();
        let id =
            span::span_id(&tree.trace, &["Pod.Termination", &uid_part, &first_event.event.uid]);
        let node = tree.add(id, Some(parents.1), "Pod.Termination", attributes);
        for placed in &plan.ending {
            tree.record(node, placed);
        }
        if let Some(gone) =
            tracked.and_then(|t| t.deleted_at).filter(|d| *d >= first && *d <= last + settle)
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
    tree.nodes[node].attributes.push(("kspan.pod.phase", phase.into()));
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
        tree.nodes[node].warning = Some(bounded(&format!("pod Failed: {text}")));
    }
}

/// Activity of a pod not born in this rollout hangs off the rollout (or its Job), not a scale step.
fn tree_root(tree: &Tree, mut node: usize) -> usize {
    while let (
        "ReplicaSet.ScaleUp" | "ReplicaSet.ScaleDown" | "HorizontalPodAutoscaler.Rescale",
        Some(p),
    ) = (tree.nodes[node].name, tree.nodes[node].parent)
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

/// Parents cover their children; every span gets a start, an end, a service.
fn finish(
    mut tree: Tree,
    top: &ObjectKey,
    rollout: &Rollout<'_>,
    roots: &mut dyn Roots,
) -> Vec<SpanDraft> {
    let fallback = rollout.events.first().map(|p| p.time()).unwrap_or_default();
    cover(&mut tree);
    // Spans without events of their own (the rollout) take the component that
    // reported on the top-level object, else the first one that reported at all.
    let about_top = rollout
        .events
        .iter()
        .find(|p| p.event.involved.key == *top && !p.event.component.is_empty());
    let first_component =
        about_top.or(rollout.events.first()).map(|p| p.event.component.clone()).unwrap_or_default();
    let ids: Vec<SpanId> = tree.nodes.iter().map(|n| n.id).collect();
    let mut drafts = Vec::new();
    for mut node in tree.nodes {
        node.events.sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
        if node.external {
            continue;
        }
        let service = node
            .components
            .iter()
            .max_by_key(|(name, count)| (**count, std::cmp::Reverse((*name).clone())))
            .map(|(name, _)| name.to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| first_component.to_string());
        let start = node.start.unwrap_or(fallback);
        drafts.push(SpanDraft {
            trace_id: tree.trace,
            span_id: node.id,
            parent: node.parent.map(|p| ids[p]),
            name: node.name,
            start,
            end: node.end.unwrap_or(start).max(start),
            status: node.warning.map_or(Status::Unset, Status::Error),
            attributes: node.attributes,
            events: node.events,
            links: node.links,
            service: if service.is_empty() { "kubernetes".into() } else { service },
        });
    }
    roots.mark(tree.trace);
    drafts
}
