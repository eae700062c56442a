//! An episode: the activity around one top-level object between quiet periods.
//! It collects the latest version of each Event (by uid) and is built into spans
//! when it settles.

use std::collections::BTreeMap;

use crate::observe::{EventSeen, ObjectKey};
use crate::time::{Nanos, SECOND};

pub struct Episode {
    pub top: ObjectKey,
    /// By event uid; a repeated event (count bump) replaces its earlier copy.
    pub events: BTreeMap<String, Placed>,
    pub opened: Nanos,
    pub last_activity: Nanos,
}

/// An event and how sure the correlator is of where it belongs.
#[derive(Clone)]
pub struct Placed {
    pub event: EventSeen,
    /// When it reached the correlator: its time when the event itself has none.
    pub at: Nanos,
    /// False when the owner chain was still unknown when the event had to be placed.
    pub certain: bool,
}

impl Episode {
    pub fn new(top: ObjectKey, at: Nanos) -> Self {
        Episode { top, events: BTreeMap::new(), opened: at, last_activity: at }
    }

    pub fn add(&mut self, event: EventSeen, certain: bool, at: Nanos) {
        self.last_activity = self.last_activity.max(at);
        match self.events.get(&event.uid) {
            Some(old) if (old.event.count, old.event.last) > (event.count, event.last) => {}
            _ => {
                self.events.insert(event.uid.clone(), Placed { event, at, certain });
            }
        }
    }

    /// Something is visibly under way: an image pull without its result, or a pod
    /// created or scheduled but not started. Such an episode waits longer than the
    /// settle window so one pod's startup is not cut in two.
    pub fn in_flight(&self) -> bool {
        // Counted, not ordered: Event timestamps have whole seconds, so a Pulling
        // and its Pulled often carry the same instant.
        let mut pulls: BTreeMap<&str, i32> = BTreeMap::new();
        let mut starts: BTreeMap<&str, bool> = BTreeMap::new();
        for e in self.events.values().map(|p| &p.event) {
            let pod = e.involved.key.name.as_str();
            match e.reason.as_str() {
                "Pulling" => *pulls.entry(pod).or_default() += 1,
                "Pulled" | "Failed" | "BackOff" | "ErrImagePull" => {
                    *pulls.entry(pod).or_default() -= 1
                }
                "Scheduled" => {
                    starts.entry(pod).or_insert(true);
                }
                "Started" | "Killing" => {
                    starts.insert(pod, false);
                }
                _ => {}
            }
            if e.is_warning() {
                starts.insert(pod, false);
            }
        }
        // Waiting for a node is the story itself (FailedScheduling until capacity
        // appears): such a pod keeps its rollout open, up to `max_open`.
        let mut unscheduled: BTreeMap<String, bool> = BTreeMap::new();
        for e in self.events.values().map(|p| &p.event) {
            let named =
                super::rules::mention(e).filter(|m| m.object.kind == crate::observe::Kind::Pod);
            match (e.reason.as_str(), named) {
                (_, Some(m)) if m.action == super::rules::Action::Create => {
                    unscheduled.entry(m.object.name).or_insert(true);
                }
                (_, Some(m)) if m.action == super::rules::Action::Delete => {
                    unscheduled.insert(m.object.name, false);
                }
                ("FailedScheduling", _) => {
                    unscheduled.entry(e.involved.key.name.clone()).or_insert(true);
                }
                ("Scheduled" | "Killing", _) => {
                    unscheduled.insert(e.involved.key.name.clone(), false);
                }
                _ => {}
            }
        }
        pulls.values().any(|&n| n > 0)
            || starts.values().any(|&open| open)
            || unscheduled.values().any(|&open| open)
    }
}

impl Placed {
    /// The event's own time; Event timestamps have whole seconds, so an arrival
    /// within the same second (a capture, a live watch) gives the finer instant.
    pub fn time(&self) -> Nanos {
        match self.event.time() {
            Some(t) if t % SECOND == 0 && (t..t + SECOND).contains(&self.at) => self.at,
            Some(t) => t,
            None => self.at,
        }
    }
}
