//! What a pod's object says of the progress its Events tell.

use super::objects::Tracked;
use crate::observe::ObjectSeen;
use crate::time::Nanos;

/// What brings news of a pod to its episode.
#[derive(Clone, Copy)]
pub enum PodNews<'a> {
    /// A copy of the pod, or the deletion of instance `uid`: its status now.
    Now { uid: Option<&'a str> },
    /// An Event about the pod (instance `uid`, when it names one) that arrived
    /// more than the settle window after it was `written`.
    LateEvent { uid: Option<&'a str>, written: Nanos },
    /// Such an Event naming the pod in its message only ("Created pod: X").
    LateMention { written: Nanos },
}

impl<'a> PodNews<'a> {
    /// The instance the news is about, when it says (an empty uid says nothing).
    pub fn uid(&self) -> Option<&'a str> {
        let uid = match *self {
            PodNews::Now { uid } | PodNews::LateEvent { uid, .. } => uid,
            PodNews::LateMention { .. } => None,
        };
        uid.filter(|uid| !uid.is_empty())
    }
}

/// A pod's own status outranks what its Events imply: under load the recorders
/// write Events minutes after the fact (a "Created pod" can arrive after that pod
/// is Ready), and drop some. So it only ever ends a wait, except for readiness,
/// which only the status tells.
pub struct PodState<'a> {
    pub uid: &'a str,
    /// Bound to a node.
    pub scheduled: bool,
    /// Its containers started, or it ended.
    pub started: bool,
    /// See [`awaiting_ready`].
    pub readiness: Option<bool>,
    /// Deleted, or being deleted: nothing of it is under way any more.
    pub gone: bool,
}

impl<'a> PodState<'a> {
    /// What `tracked`, a pod, says in answer to `news`; `None` for other objects.
    pub fn for_news(tracked: &'a Tracked, news: PodNews, now: Nanos) -> Option<Self> {
        match news {
            PodNews::Now { .. } => PodState::of(tracked),
            PodNews::LateEvent { written, .. } => PodState::after(tracked, written, now, false),
            PodNews::LateMention { written } => PodState::after(tracked, written, now, true),
        }
    }

    /// What a copy of the pod says as it arrives: current. `None` for other objects.
    fn of(tracked: &'a Tracked) -> Option<Self> {
        let seen = &tracked.seen;
        let pod = seen.pod.as_ref()?;
        let readiness = awaiting_ready(seen);
        Some(PodState {
            uid: &seen.uid,
            scheduled: pod.node.is_some() || condition_since(seen, "PodScheduled").is_some(),
            started: readiness.is_some() || pod.containers.iter().any(|c| c.ended.is_some()),
            readiness,
            gone: tracked.deleted_at.is_some() || seen.deleting.is_some(),
        })
    }

    /// What the pod's known copy says happened from `since` (a late Event's own
    /// time; its second, as stamps have whole seconds) to `now`, each fact by its
    /// own time: the waits the Event starts had ended by the time it arrived.
    /// Facts before `since` do not end them (a pod scheduled, then pulling), nor
    /// facts after `now`: a dump's copy was taken after all its Events and tells
    /// their future. `named` when the Event names the pod in its message only: a
    /// pod deleted before it was written is an earlier instance of the name (a
    /// StatefulSet's), not the one it is about.
    fn after(tracked: &'a Tracked, since: Nanos, now: Nanos, named: bool) -> Option<Self> {
        let seen = &tracked.seen;
        let pod = seen.pod.as_ref()?;
        let within = |t: Option<Nanos>| t.is_some_and(|t| since <= t && t <= now);
        let ready = within(condition_since(seen, "Ready"));
        let ended = pod.containers.iter().any(|c| within(c.ended.as_ref().and_then(|e| e.at)));
        let started = ready || ended || within(pod.started);
        let by_now = |t: Option<Nanos>| t.is_some_and(|t| t <= now);
        Some(PodState {
            uid: &seen.uid,
            scheduled: started || within(condition_since(seen, "PodScheduled")),
            started,
            readiness: (ready || ended).then_some(false),
            gone: match named {
                // deletionTimestamp is the end of the grace period: not a time to compare.
                true => within(tracked.deleted_at),
                false => by_now(tracked.deleted_at) || by_now(seen.deleting),
            },
        })
    }
}

/// When the condition `kind` last turned True, if it is True.
fn condition_since(seen: &ObjectSeen, kind: &str) -> Option<Nanos> {
    let c = seen.conditions.iter().find(|c| c.kind == kind && c.status == "True")?;
    c.at.or(seen.created)
}

/// What a pod's status says of its readiness: `Some(true)` while its containers
/// run and it is not Ready yet (a readiness probe under way), `Some(false)` once
/// it is Ready or has ended; `None` before it started, or for other objects.
fn awaiting_ready(object: &ObjectSeen) -> Option<bool> {
    let pod = object.pod.as_ref()?;
    let ready = condition_since(object, "Ready").is_some();
    match pod.phase.as_deref() {
        _ if ready => Some(false),
        Some("Succeeded" | "Failed") => Some(false),
        Some("Running") if pod.started.is_some() => Some(true),
        _ => None,
    }
}
