//! Builds the spans of one rollout: root (or the Flux Sync event above it), scale
//! steps, Jobs of a CronJob, and one span per pod phase, each Event placed exactly
//! once as a span event. Deterministic: depends only on the set of events and the
//! object table, never on arrival order.

use super::emitted::Roots;
use super::episode::Placed;
use super::graph::Graph;
use super::job;
use super::links::Lineage;
use super::messages::{self, Mention};
use super::node_links::{self, NodeMarks};
use super::objects::Objects;
use super::pod::{self, Pods};
use super::rollout::Rollout;
use super::root::{self, Root};
use super::steps::{Rescales, Steps};
use super::tree::Tree;
use super::uids::Uids;
use crate::observe::{Kind, ObjectKey};
use crate::span::SpanDraft;
use crate::time::Nanos;

/// What every rollout's spans are built from, besides its events.
pub struct Context<'a> {
    pub objects: &'a Objects,
    pub graph: &'a Graph,
    pub nodes: &'a dyn NodeMarks,
    pub uids: &'a Uids<'a>,
    /// The settle window: how long after its last event a span may still be told something.
    pub settle: Nanos,
}

/// The spans of one rollout, added parents first: the root, rescales, scale
/// steps, a CronJob's Job, the other events' places, then the pods. `lineage`
/// ties the root to its pipeline and to the previous rollout.
pub fn rollout_spans(
    top: &ObjectKey,
    rollout: &Rollout<'_>,
    ctx: &Context<'_>,
    roots: &mut dyn Roots,
    lineage: &Lineage,
) -> Vec<SpanDraft> {
    let tracked = ctx.objects.get(top);
    let mut tree = Tree::new(rollout.trace);
    let continuing = roots.emitted(&rollout.trace);
    let top_uid = ctx.uids.of(top);
    let Root { node: root, sync } =
        root::add(&mut tree, top, top_uid, rollout, tracked, continuing, ctx);
    if !continuing {
        tree.node_mut(root).links.extend(lineage.links.iter().cloned());
    }
    let rescales = Rescales::add(&mut tree, root, rollout, ctx, continuing);
    let sorted = sort(top, rollout, sync);
    let steps = Steps::add(&mut tree, sorted.scales, &rescales, ctx);
    let job = job::cron_job_run(&mut tree, root, top, rollout, ctx, continuing);
    let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
    steps.conditions(&mut tree, ctx, last);
    let later = if continuing {
        job::ended_later(&mut tree, root, (top, top_uid), rollout, tracked)
    } else {
        None
    };
    let rest = Rest { root, job, continuing, later };
    rest.place(&mut tree, (top, top_uid), &steps, sorted.rest);

    let plans = sorted.pods.plans(top, ctx, roots);
    let default_parent = job.unwrap_or(root);
    let starts = steps.assign(&plans, true);
    let ends = steps.assign(&plans, false);
    for (i, plan) in plans.into_iter().enumerate() {
        let parents = (
            starts.get(&i).copied().unwrap_or(default_parent),
            ends.get(&i).copied().unwrap_or(default_parent),
        );
        pod::add(&mut tree, ctx, top, plan, parents);
    }

    tree.cover();
    node_links::link(&mut tree, ctx.nodes);
    let mut drafts = tree.finish(top, rollout, roots);
    lineage.adopt(&mut drafts);
    drafts
}

/// A rollout's events by the span they go to (the Sync event and rescales have theirs).
struct Sorted<'a> {
    /// Scales of a ReplicaSet the top-level object reported.
    scales: Vec<(&'a Placed, Mention)>,
    pods: Pods<'a>,
    /// About the top object, its ReplicaSets, Jobs or anything else.
    rest: Vec<&'a Placed>,
}

fn sort<'a>(top: &ObjectKey, rollout: &Rollout<'a>, sync: Option<&Placed>) -> Sorted<'a> {
    let mut sorted = Sorted { scales: Vec::new(), pods: Pods::default(), rest: Vec::new() };
    for &placed in &rollout.events {
        let event = &placed.event;
        if sync.is_some_and(|s| std::ptr::eq(s, placed)) || messages::rescale(event).is_some() {
            continue;
        }
        match messages::mention(event) {
            Some(m) if m.object.kind == Kind::ReplicaSet && event.involved.key == *top => {
                sorted.scales.push((placed, m));
            }
            Some(m) if m.object.kind == Kind::Pod => sorted.pods.push(m.object.name, placed),
            _ if event.involved.key.kind == Kind::Pod => {
                sorted.pods.push(event.involved.key.name.clone(), placed)
            }
            _ => sorted.rest.push(placed),
        }
    }
    sorted
}

/// Where events about the top object, its ReplicaSets, Jobs or anything else go.
/// The root of a continuing rollout was emitted already and is immutable: what
/// would go on it goes on a span of later activity below it.
struct Rest {
    root: usize,
    /// A CronJob's run's Job.
    job: Option<usize>,
    continuing: bool,
    later: Option<usize>,
}

impl Rest {
    fn place(
        mut self,
        tree: &mut Tree,
        top: (&ObjectKey, Option<&str>),
        steps: &Steps,
        rest: Vec<&Placed>,
    ) {
        for placed in rest {
            let key = &placed.event.involved.key;
            let mut node = match key.kind {
                Kind::ReplicaSet => steps.latest(key, placed.time()).unwrap_or(self.root),
                Kind::Job => self.job.unwrap_or(self.root),
                _ => self.root,
            };
            if node == self.root && self.continuing {
                node = *self.later.get_or_insert_with(|| root::later(tree, self.root, top, placed));
            }
            tree.record(node, placed);
        }
    }
}
