//! A rollout's root span: the rollout (or run, or activity) of its top-level
//! object, below the Flux Sync event that caused it when there is one, with how
//! it ended and the object's condition changes during it.

use super::attributes::{event_attributes, subject};
use super::build::Context;
use super::episode::Placed;
use super::job;
use super::kinds;
use super::objects::Tracked;
use super::rollback::{self, Rollback};
use super::rollout::Rollout;
use super::tree::{Tree, MAX_LEAD, SLACK};
use crate::observe::{Kind, ObjectKey};
use crate::span::{self, Attributes};
use crate::time::{self, Nanos};

/// The root's node, and the Sync event above it.
pub struct Root<'a> {
    pub node: usize,
    pub sync: Option<&'a Placed>,
}

/// Adds the root. A continuing rollout's root was emitted already: it is here
/// only as the parent of what this episode adds, and a Sync event seen now is
/// later activity like any other.
pub fn add<'a>(
    tree: &mut Tree,
    top: &ObjectKey,
    uid: Option<&str>,
    rollout: &Rollout<'a>,
    tracked: Option<&Tracked>,
    continuing: bool,
    ctx: &Context<'_>,
) -> Root<'a> {
    let sync = rollout.events.iter().find(|p| p.event.top_level && !continuing).copied();
    let sync_node = sync.map(|p| {
        let mut attributes = event_attributes(p);
        attributes.extend(subject(top, uid));
        let node =
            tree.add(span::span_id(&rollout.trace, &["sync"]), None, "Event.Sync", attributes);
        tree.reported(node, p);
        node
    });
    let mut attributes = subject(top, uid);
    attributes.extend(rollout_attributes(rollout, tracked));
    let root = tree.add(
        span::span_id(&rollout.trace, &["rollout"]),
        sync_node,
        kinds::of(&top.kind).root,
        attributes,
    );
    tree.node_mut(root).service = kinds::of(&top.kind).controller;
    if continuing {
        tree.set_external(root);
    }
    if let Some(start) = start(rollout, tracked) {
        tree.touch(root, start);
    }
    if let (Some(t), false) = (tracked, continuing) {
        outcome(tree, root, (top, rollout), t, ctx);
        conditions(tree, root, top, rollout, t, ctx.settle);
    }
    Root { node: root, sync }
}

/// Available / Progressing transitions during the rollout show on its timeline;
/// a Job's end whenever it came.
fn conditions(
    tree: &mut Tree,
    root: usize,
    top: &ObjectKey,
    rollout: &Rollout<'_>,
    t: &Tracked,
    settle: Nanos,
) {
    let first = rollout.events.first().map(|p| p.time()).unwrap_or_default();
    let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
    let from = start(rollout, Some(t)).unwrap_or(first) - SLACK;
    for c in &t.seen.conditions {
        if top.kind == Kind::Job && job::is_end(c) {
            continue;
        }
        if c.at.is_some_and(|at| (from..=last + settle).contains(&at)) {
            tree.condition(root, c);
        }
    }
    if top.kind == Kind::Job {
        if let Some(outcome) = job::end(tree, root, t, from) {
            tree.node_mut(root).attributes.push(("kspan.rollout.outcome", outcome.into()));
        }
    }
}

/// The rollout's key and generation; who changed it, when managedFields tell it.
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
    if let Some(revision) = current.and_then(|t| t.seen.revision()) {
        a.push(("kspan.rollout.revision", revision.into()));
    }
    a
}

/// How the rollout ended, as far as the workload's status tells at settle time:
/// `complete` (observedGeneration caught up, every replica updated, ready and
/// available: the root ends then), `progress_deadline_exceeded` (Error),
/// `superseded` by a newer generation before it completed (Error: what it rolled
/// out never ran in full), `rolled_back` when that newer generation returned to
/// an earlier ReplicaSet (Error), or `in-progress`.
fn outcome(
    tree: &mut Tree,
    root: usize,
    (top, rollout): (&ObjectKey, &Rollout<'_>),
    t: &Tracked,
    ctx: &Context<'_>,
) {
    let (Some(g), Some(_)) = (rollout.generation, &t.seen.workload) else {
        return;
    };
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
        tree.node_mut(root).warning =
            Some("ProgressDeadlineExceeded: the rollout made no progress in time".into());
        "progress_deadline_exceeded"
    } else if let Some(current) = t.seen.generation.filter(|current| *current > g) {
        let began = start(rollout, Some(t)).or(rollout.events.first().map(|p| p.time()));
        match began.and_then(|b| rollback::of(top, t, b, ctx.objects, ctx.graph)) {
            Some(Rollback { replica_set, revision }) => {
                tree.node_mut(root).warning = Some(format!(
                    "rolled back by generation {current} to ReplicaSet {replica_set} \
                     (revision {revision}) before it completed"
                ));
                "rolled_back"
            }
            None => {
                tree.node_mut(root).warning =
                    Some(format!("superseded by generation {current} before it completed"));
                "superseded"
            }
        }
    } else {
        "in-progress"
    };
    tree.node_mut(root).attributes.push(("kspan.rollout.outcome", outcome.into()));
}

/// A rollout begins at its spec change when that is known and shortly before the first event.
fn start(rollout: &Rollout<'_>, tracked: Option<&Tracked>) -> Option<Nanos> {
    let generation = rollout.generation?;
    let start = tracked?.spec_change_at(generation)?;
    let first = rollout.events.first()?.time();
    (start <= first && first - start <= MAX_LEAD).then_some(start)
}

/// The span of activity on a continuing rollout's top-level object, below its
/// root, named by the event that opened it: with its count too, since a repeat
/// of that event may open a later episode again.
pub fn later(
    tree: &mut Tree,
    root: usize,
    (top, uid): (&ObjectKey, Option<&str>),
    opened_by: &Placed,
) -> usize {
    let count = opened_by.event.count.to_string();
    let id = span::span_id(&tree.trace, &["later", &opened_by.event.uid, &count]);
    let attributes = subject(top, uid);
    tree.add(id, Some(root), kinds::of(&top.kind).later, attributes)
}
