//! Splits an episode into rollouts: one trace per change of the top-level object.
//! The generation (and when its spec change happened) decides where it is known;
//! otherwise the events decide: a scale-up of a new ReplicaSet starts a new rollout,
//! a CronJob's runs are one trace per Job. Which way a kind is split is in `kinds`.

use super::episode::Placed;
use super::graph::Graph;
use super::kinds::{self, Rollouts};
use super::messages::{self, Action};
use super::objects::Tracked;
use crate::observe::{Kind, Name, ObjectKey};
use crate::span::{self, TraceId};
use crate::time;

/// A group of an episode's events that form (part of) one trace.
pub struct Rollout<'a> {
    pub trace: TraceId,
    /// `generation:4`, `inferred:rs:px-5d567cc74c`, `job:hello-123`, ...
    pub key: String,
    pub generation: Option<i64>,
    /// Sorted by (time, uid).
    pub events: Vec<&'a Placed>,
}

/// The subject a trace id derives from: the UID when anything told it, else the key.
fn subject_id(top: &ObjectKey, tracked: Option<&Tracked>, events: &[&Placed]) -> String {
    tracked
        .map(|t| t.seen.uid.to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| {
            events
                .iter()
                .find(|p| &p.event.involved.key == top)
                .and_then(|p| p.event.involved.uid.clone())
        })
        .unwrap_or_else(|| top.to_string())
}

pub fn split<'a>(
    top: &ObjectKey,
    tracked: Option<&Tracked>,
    graph: &Graph,
    events: Vec<&'a Placed>,
) -> Vec<Rollout<'a>> {
    let keys: Vec<(String, Option<i64>)> = match kinds::of(&top.kind).rollouts {
        Rollouts::Whole(key) => events.iter().map(|_| (key.to_string(), None)).collect(),
        Rollouts::PerEpisode => {
            let first = events.first().map(|p| time::format(p.time())).unwrap_or_default();
            events.iter().map(|_| (format!("activity:{first}"), None)).collect()
        }
        Rollouts::PerJob => cron_job_runs(top, graph, &events),
        Rollouts::ByGeneration => by_generation(tracked, &events),
    };
    let subject = subject_id(top, tracked, &events);
    let mut rollouts: Vec<Rollout<'a>> = Vec::new();
    for (placed, (key, generation)) in events.into_iter().zip(keys) {
        match rollouts.iter_mut().find(|r| r.key == key) {
            Some(r) => r.events.push(placed),
            None => rollouts.push(Rollout {
                trace: span::trace_id(&subject, &key),
                key,
                generation,
                events: vec![placed],
            }),
        }
    }
    rollouts
}

fn by_generation(tracked: Option<&Tracked>, events: &[&Placed]) -> Vec<(String, Option<i64>)> {
    let generations = tracked.and_then(Tracked::generations);
    let generation_at = |t| {
        generations.and_then(|g| g.iter().rev().find(|(_, start)| **start <= t)).map(|(g, _)| *g)
    };
    let mut keys: Vec<(String, Option<i64>)> = Vec::with_capacity(events.len());
    // Events older than every known spec change: infer rollouts from the events.
    // Each segment is named after the first ReplicaSet it scaled up.
    let mut segments: Vec<(Vec<usize>, Option<Name>)> = Vec::new();
    let mut last_up: Option<Name> = None;
    for (i, placed) in events.iter().enumerate() {
        if let Some(g) = generation_at(placed.time()) {
            keys.push((format!("generation:{g}"), Some(g)));
            continue;
        }
        keys.push((String::new(), None));
        let scaled_up = messages::mention(&placed.event)
            .filter(|m| matches!(m.action, Action::ScaleUp(_)) && m.object.kind == Kind::ReplicaSet)
            .map(|m| m.object.name);
        if segments.is_empty() || (scaled_up.is_some() && last_up.is_some() && scaled_up != last_up)
        {
            segments.push((Vec::new(), None));
        }
        let segment = segments.last_mut().expect("pushed above");
        segment.0.push(i);
        if let Some(rs) = scaled_up {
            segment.1.get_or_insert_with(|| rs.clone());
            last_up = Some(rs);
        }
    }
    for (members, name) in segments {
        let first = members.first().map(|&i| time::format(events[i].time())).unwrap_or_default();
        let key =
            name.map_or_else(|| format!("inferred:{first}"), |rs| format!("inferred:rs:{rs}"));
        for i in members {
            keys[i].0 = key.clone();
        }
    }
    keys
}

fn cron_job_runs(top: &ObjectKey, graph: &Graph, events: &[&Placed]) -> Vec<(String, Option<i64>)> {
    let first = events.first().map(|p| time::format(p.time())).unwrap_or_default();
    events
        .iter()
        .map(|placed| {
            let event = &placed.event;
            let job = if event.involved.key == *top {
                messages::mention(event)
                    .filter(|m| m.object.kind == Kind::Job)
                    .map(|m| m.object.name)
            } else {
                graph
                    .route(&event.involved.key)
                    .chain
                    .into_iter()
                    .find(|k| k.kind == Kind::Job)
                    .map(|k| k.name)
            };
            (job.map_or_else(|| format!("cronjob:{first}"), |j| format!("job:{j}")), None)
        })
        .collect()
}
