//! A Job's run: how it ended (its Complete or Failed condition), and the Job a
//! CronJob's run is about.

use super::attributes::subject;
use super::build::Context;
use super::objects::Tracked;
use super::rollout::Rollout;
use super::root;
use super::tree::{Tree, MAX_LEAD, SLACK};
use crate::observe::{Condition, Kind, ObjectKey};
use crate::span;
use crate::time::Nanos;

/// A Job's Complete or Failed condition: how its run ended.
pub fn is_end(c: &Condition) -> bool {
    matches!(c.kind.as_str(), "Complete" | "Failed")
}

/// The Job's Complete / Failed condition, whenever it came after the run began
/// (a Job runs as long as its pods do): the Job's span ends then, in Error when
/// it failed (BackoffLimitExceeded, DeadlineExceeded). Returns the run's outcome,
/// `complete` or `failed`, when it ended.
pub fn end(tree: &mut Tree, node: usize, job: &Tracked, from: Nanos) -> Option<&'static str> {
    let mut outcome = None;
    for c in job.seen.conditions.iter().filter(|c| is_end(c) && c.status == "True") {
        let Some(at) = c.at.filter(|at| *at >= from && *at - from <= MAX_LEAD) else {
            continue;
        };
        tree.condition(node, c);
        tree.touch(node, at);
        outcome = Some(if c.kind == "Failed" { "failed" } else { "complete" });
        if c.kind == "Failed" && tree.node(node).warning.is_none() {
            let reason = c.reason.as_deref().unwrap_or("Failed");
            tree.node_mut(node).warning = Some(format!("{reason}: the Job failed"));
        }
    }
    outcome
}

/// The `Job.Run` span of a CronJob's run, below its root, with the Job's own
/// account of its run: its conditions, how and when it ended.
pub fn cron_job_run(
    tree: &mut Tree,
    root: usize,
    top: &ObjectKey,
    rollout: &Rollout<'_>,
    ctx: &Context<'_>,
    continuing: bool,
) -> Option<usize> {
    let job = rollout.key.strip_prefix("job:").filter(|_| top.kind == Kind::CronJob)?;
    let key = ObjectKey::new(Kind::Job, top.namespace.clone(), job);
    let attributes = subject(&key, ctx.uids.of(&key));
    let node =
        tree.add(span::span_id(&rollout.trace, &["job", job]), Some(root), "Job.Run", attributes);
    if let (Some(t), false) = (ctx.objects.get(&key), continuing) {
        let first = rollout.events.first().map(|p| p.time()).unwrap_or_default();
        let from = t.seen.created.unwrap_or(first).min(first) - SLACK;
        let last = rollout.events.last().map(|p| p.time()).unwrap_or_default();
        for c in t.seen.conditions.iter().filter(|c| !is_end(c)) {
            if c.at.is_some_and(|at| (from..=last + ctx.settle).contains(&at)) {
                tree.condition(node, c);
            }
        }
        if let Some(outcome) = end(tree, node, t, from) {
            tree.node_mut(root).attributes.push(("kspan.rollout.outcome", outcome.into()));
        }
    }
    Some(node)
}

/// A Job that ended after its root was emitted (a retry after a long back-off):
/// its Complete / Failed condition goes on a span of later activity.
pub fn ended_later(
    tree: &mut Tree,
    root: usize,
    (top, uid): (&ObjectKey, Option<&str>),
    rollout: &Rollout<'_>,
    tracked: Option<&Tracked>,
) -> Option<usize> {
    let (Kind::Job, Some(t), Some(first)) = (&top.kind, tracked, rollout.events.first()) else {
        return None;
    };
    let ended = t.seen.conditions.iter().any(|c| {
        is_end(c) && c.status == "True" && c.at.is_some_and(|at| at + SLACK >= first.time())
    });
    if !ended {
        return None;
    }
    let node = root::later(tree, root, (top, uid), first);
    // The root went out earlier, without the outcome.
    end(tree, node, t, first.time() - SLACK);
    Some(node)
}
