//! The scale steps of a rollout: each ReplicaSet scale its Deployment reported,
//! below the HorizontalPodAutoscaler rescale that caused it when there was one,
//! and the pods each step made or removed.

use std::collections::BTreeMap;

use super::attributes::subject;
use super::build::Context;
use super::episode::Placed;
use super::messages::{self, Action, Mention};
use super::pod::PodPlan;
use super::rollout::Rollout;
use super::tree::{Tree, SLACK};
use crate::observe::ObjectKey;
use crate::span;
use crate::time::{self, Nanos};

/// How long after a rescale a scale step is taken as its effect.
const RESCALE_EFFECT: Nanos = 60 * time::SECOND;

/// A HorizontalPodAutoscaler's rescales (node, time): the causes of the scale steps after them.
pub struct Rescales {
    root: usize,
    rescales: Vec<(usize, Nanos)>,
}

impl Rescales {
    /// Adds a span per rescale below the root; the first one is the rollout's cause.
    pub fn add(
        tree: &mut Tree,
        root: usize,
        rollout: &Rollout<'_>,
        ctx: &Context<'_>,
        continuing: bool,
    ) -> Rescales {
        let mut rescales: Vec<(usize, Nanos)> = Vec::new();
        for &placed in &rollout.events {
            let Some(rescale) = messages::rescale(&placed.event) else { continue };
            let hpa = &placed.event.involved.key;
            let mut attributes = subject(hpa, ctx.uids.of(hpa));
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
                tree.node_mut(root).attributes.push(("kspan.change.cause", cause.into()));
            }
            rescales.push((node, placed.time()));
        }
        Rescales { root, rescales }
    }

    /// The parent of a scale step at `at`: the latest rescale shortly before, else the root.
    fn cause_of(&self, at: Nanos) -> usize {
        self.rescales
            .iter()
            .rev()
            .find(|(_, t)| *t <= at + SLACK && at - *t <= RESCALE_EFFECT)
            .map_or(self.root, |(node, _)| *node)
    }
}

/// One scale of a ReplicaSet.
struct Step {
    node: usize,
    replica_set: ObjectKey,
    action: Action,
    at: Nanos,
}

/// A rollout's scale steps, in time order.
pub struct Steps(Vec<Step>);

impl Steps {
    /// Adds a span per scale, in time order, each with the event that told it.
    pub fn add(
        tree: &mut Tree,
        scales: Vec<(&Placed, Mention)>,
        rescales: &Rescales,
        ctx: &Context<'_>,
    ) -> Steps {
        let mut steps = Vec::with_capacity(scales.len());
        for (placed, m) in scales {
            let (name, target) = match m.action {
                Action::ScaleUp(n) => ("ReplicaSet.ScaleUp", n),
                Action::ScaleDown(n) => ("ReplicaSet.ScaleDown", n),
                _ => ("ReplicaSet.Scale", 0),
            };
            let mut attributes = subject(&m.object, ctx.uids.of(&m.object));
            attributes.push(("kspan.replicas.target", target.into()));
            let node = tree.add(
                span::span_id(&tree.trace, &["step", &placed.event.uid]),
                Some(rescales.cause_of(placed.time())),
                name,
                attributes,
            );
            tree.record(node, placed);
            steps.push(Step { node, replica_set: m.object, action: m.action, at: placed.time() });
        }
        Steps(steps)
    }

    /// The step of `rs` under way at `at`: the latest at or before it; else one
    /// within the timestamps' precision; else its first.
    pub fn latest(&self, rs: &ObjectKey, at: Nanos) -> Option<usize> {
        let fitting: Vec<&Step> = self.0.iter().filter(|s| s.replica_set == *rs).collect();
        fitting
            .iter()
            .rev()
            .find(|s| s.at <= at)
            .or_else(|| fitting.iter().find(|s| s.at <= at + SLACK))
            .or(fitting.first())
            .map(|s| s.node)
    }

    /// A ReplicaSet's conditions (ReplicaFailure: quota exceeded...) on the
    /// scale step under way when they changed.
    pub fn conditions(&self, tree: &mut Tree, ctx: &Context<'_>, last: Nanos) {
        let mut scaled: Vec<&ObjectKey> = self.0.iter().map(|s| &s.replica_set).collect();
        scaled.sort();
        scaled.dedup();
        for rs in scaled {
            let Some(t) = ctx.objects.get(rs) else { continue };
            let first = self
                .0
                .iter()
                .filter(|s| s.replica_set == *rs)
                .map(|s| s.at)
                .min()
                .unwrap_or_default();
            for c in &t.seen.conditions {
                let Some(at) = c.at.filter(|at| (first - SLACK..=last + ctx.settle).contains(at))
                else {
                    continue;
                };
                if let Some(node) = self.latest(rs, at) {
                    tree.condition(node, c);
                }
            }
        }
    }

    /// Matches pods to the scale steps of their ReplicaSet: each step made (or
    /// removed) as many pods as its target moved, in time order. Arrival order is
    /// not trusted: a recorder can see a pod's events before the scale event.
    /// Returns plan index -> step node.
    pub fn assign(&self, plans: &[PodPlan<'_>], up: bool) -> BTreeMap<usize, usize> {
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
            // (node, time, how many pods it made or removed)
            let mut rs_steps = Vec::new();
            for step in self.0.iter().filter(|s| s.replica_set == *rs) {
                let (target, matches) = match step.action {
                    Action::ScaleUp(n) => (n, up),
                    Action::ScaleDown(n) => (n, !up),
                    _ => continue,
                };
                if matches {
                    // A first step's starting size is unknown: a new ReplicaSet starts at 0,
                    // a scale-down is taken to remove one pod.
                    let before = previous.unwrap_or(if up { 0 } else { target + 1 });
                    rs_steps.push((step.node, step.at, (target - before).abs().max(1)));
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
}
