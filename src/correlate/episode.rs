//! An episode: the activity around one top-level object between quiet periods.
//! It collects the latest version of each Event (by uid) and is built into spans
//! when it settles.

use foldhash::{HashMap, HashMapExt};

use super::messages::{Action, Mention};
use super::pod_state::PodState;
use crate::observe::{EventSeen, Kind, ObjectKey};
use crate::time::{self, Nanos};

pub struct Episode {
    pub top: ObjectKey,
    /// By event uid; a repeated event (count bump) replaces its earlier copy.
    /// Hashed, not ordered: building sorts by (time, uid) anyway, and placing
    /// each Event then costs one hash instead of uid comparisons down a tree.
    pub events: HashMap<String, Placed>,
    pub opened: Nanos,
    pub last_activity: Nanos,
    /// The deadline of this episode's live entry in the correlator's queue.
    pub scheduled: Nanos,
    /// What each pod named by the events has under way, kept as events arrive so
    /// settling never rereads them.
    pods: HashMap<String, PodProgress>,
    /// Pods of `pods` with something under way.
    in_flight: usize,
    /// The top-level StatefulSet's spec.replicas, when known: a pod it deletes
    /// with an ordinal below is replaced, one at or above is scaled away.
    pub stateful_replicas: Option<i32>,
}

/// An event and how sure the correlator is of where it belongs.
#[derive(Clone)]
pub struct Placed {
    /// Boxed as it came in the Observation: the map moves small entries.
    pub event: Box<EventSeen>,
    /// When it reached the correlator: its time when the event itself has none.
    pub at: Nanos,
    /// False when the owner chain was still unknown when the event had to be placed.
    pub certain: bool,
}

/// One pod's visible progress. Counted, not ordered: Event timestamps have whole
/// seconds, so a Pulling and its Pulled often carry the same instant; and an end
/// (`Some(false)`) is final whatever order the events came in.
#[derive(Default)]
struct PodProgress {
    /// Pulling minus its results.
    pulls: i32,
    /// Scheduled and not yet started (or killed, or warned about).
    starting: Option<bool>,
    /// Created (or failing to schedule) and not yet scheduled (or deleted).
    unscheduled: Option<bool>,
    /// Running and not yet Ready (or killed, or warned about), from its status.
    readying: Option<bool>,
    /// Deleted by its StatefulSet to be replaced (a rolling update deletes a pod
    /// and creates it again once it is gone) and not yet created again.
    replacing: Option<bool>,
    /// The pod (uid) `readying` is about: a StatefulSet's pod comes back under its name.
    instance: Option<String>,
}

impl PodProgress {
    /// Without a uid the Event is about the pod instance last seen.
    fn readiness_ended(&mut self, uid: Option<&str>) {
        self.readying = Some(false);
        if let Some(uid) = uid {
            self.instance = Some(uid.to_string());
        }
    }

    /// What it waits for: nothing when it is not under way.
    fn waits(&self) -> impl Iterator<Item = &'static str> {
        let waits = [
            (self.pulls > 0, "image pull"),
            (self.starting == Some(true), "start"),
            (self.unscheduled == Some(true), "scheduling"),
            (self.readying == Some(true), "readiness"),
            (self.replacing == Some(true), "re-creation"),
        ];
        waits.into_iter().filter(|(waiting, _)| *waiting).map(|(_, what)| what)
    }

    fn under_way(&self) -> bool {
        self.waits().next().is_some()
    }
}

impl Episode {
    pub fn new(top: ObjectKey, at: Nanos) -> Self {
        Episode {
            top,
            events: HashMap::new(),
            opened: at,
            last_activity: at,
            scheduled: Nanos::MAX,
            pods: HashMap::new(),
            in_flight: 0,
            stateful_replicas: None,
        }
    }

    /// `mentioned` is what the event's message names (see `messages::mention`).
    pub fn add(
        &mut self,
        event: Box<EventSeen>,
        mentioned: Option<&Mention>,
        certain: bool,
        at: Nanos,
    ) {
        self.last_activity = self.last_activity.max(at);
        match self.events.get(&event.uid) {
            Some(old) if (old.event.count, old.event.last) > (event.count, event.last) => {}
            Some(_) => {
                self.events.insert(event.uid.clone(), Placed { event, at, certain });
            }
            None => {
                self.progress(&event, mentioned);
                self.events.insert(event.uid.clone(), Placed { event, at, certain });
            }
        }
    }

    /// Something is visibly under way: an image pull without its result, or a pod
    /// created or scheduled but not started. Such an episode waits longer than the
    /// settle window so one pod's startup is not cut in two. Waiting for a node is
    /// the story itself (FailedScheduling until capacity appears): such a pod keeps
    /// its rollout open too, up to `max_open`.
    pub fn in_flight(&self) -> bool {
        self.in_flight > 0
    }

    /// The pods under way and what each waits for, e.g. `web-1: readiness`.
    pub fn under_way(&self) -> Vec<String> {
        let mut pods: Vec<String> = self
            .pods
            .iter()
            .filter(|(_, p)| p.under_way())
            .map(|(name, p)| format!("{name}: {}", p.waits().collect::<Vec<_>>().join(", ")))
            .collect();
        pods.sort();
        pods
    }

    /// When it is ready to be built, unless more activity comes: `settle` after
    /// the last activity, or `max_open` after opening while a pod is in flight.
    pub fn due(&self, settle: Nanos, max_open: Nanos) -> Nanos {
        let longest = self.opened.saturating_add(max_open);
        if self.in_flight() {
            longest
        } else {
            longest.min(self.last_activity.saturating_add(settle))
        }
    }

    /// Its events by (time, uid): the order its spans are built in.
    pub fn sorted(&self) -> Vec<&Placed> {
        let mut events: Vec<&Placed> = self.events.values().collect();
        events.sort_by(|a, b| (a.time(), &a.event.uid).cmp(&(b.time(), &b.event.uid)));
        events
    }

    /// Counts a new event (each uid once) into its pod's progress.
    fn progress(&mut self, e: &EventSeen, mentioned: Option<&Mention>) {
        let subject = e.involved.key.name.as_str();
        match e.reason.as_str() {
            "Pulling" => self.update(subject, |p| p.pulls += 1),
            "Pulled" | "Failed" | "BackOff" | "ErrImagePull" => {
                self.update(subject, |p| p.pulls -= 1)
            }
            "Scheduled" => self.update(subject, |p| {
                p.starting.get_or_insert(true);
                p.unscheduled = Some(false);
            }),
            "Started" => self.update(subject, |p| p.starting = Some(false)),
            "Killing" => self.update(subject, |p| {
                p.starting = Some(false);
                p.unscheduled = Some(false);
                p.readiness_ended(e.involved.uid.as_deref());
            }),
            "FailedScheduling" => self.update(subject, |p| {
                p.unscheduled.get_or_insert(true);
            }),
            _ => {}
        }
        if e.is_warning() {
            self.update(subject, |p| {
                p.starting = Some(false);
                p.readiness_ended(e.involved.uid.as_deref());
            });
        }
        match mentioned.filter(|m| m.object.kind == Kind::Pod) {
            Some(m) if m.action == Action::Create => self.update(&m.object.name, |p| {
                p.unscheduled.get_or_insert(true);
                p.replacing = Some(false);
            }),
            Some(m) if m.action == Action::Delete => {
                let replaced = e.involved.key.kind == Kind::StatefulSet
                    && self.replaced(&e.involved.key.name, &m.object.name);
                self.update(&m.object.name, |p| {
                    p.unscheduled = Some(false);
                    if replaced {
                        p.replacing.get_or_insert(true);
                    }
                })
            }
            _ => {}
        }
    }

    /// Whether the StatefulSet `set` creates its deleted pod `pod` again: its
    /// ordinal (the name's suffix) is below the replicas, or they are unknown (a
    /// capture without the StatefulSet; the episode then waits up to `max_open`).
    fn replaced(&self, set: &str, pod: &str) -> bool {
        let ordinal = pod.strip_prefix(set).and_then(|r| r.strip_prefix('-'));
        match (ordinal.and_then(|o| o.parse::<i32>().ok()), self.stateful_replicas) {
            (Some(ordinal), Some(replicas)) => ordinal < replicas,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Applies what the pod's object says (see `PodState`). A readiness end is
    /// final: a pod warned about (Unhealthy) or Ready does not hold it again.
    pub fn pod_state(&mut self, pod: &str, state: &PodState) {
        self.update(pod, |p| {
            if state.gone {
                p.pulls = 0;
                p.starting = Some(false);
                p.unscheduled = Some(false);
                p.readiness_ended(Some(state.uid));
                return;
            }
            if state.scheduled {
                p.unscheduled = Some(false);
            }
            if state.started {
                p.starting = Some(false);
            }
            let Some(awaiting) = state.readiness else { return };
            let ended = p.readying == Some(false) && p.instance.as_deref() == Some(state.uid);
            if !ended {
                p.readying = Some(awaiting);
                p.instance = Some(state.uid.to_string());
            }
        });
    }

    fn update(&mut self, pod: &str, change: impl FnOnce(&mut PodProgress)) {
        let progress = match self.pods.get_mut(pod) {
            Some(p) => p,
            None => self.pods.entry(pod.to_string()).or_default(),
        };
        let before = progress.under_way();
        change(progress);
        match (before, progress.under_way()) {
            (false, true) => self.in_flight += 1,
            (true, false) => self.in_flight -= 1,
            _ => {}
        }
    }
}

impl Placed {
    /// The event's own time; Event timestamps have whole seconds, so its arrival
    /// (in a live watch, or recorded in a capture) gives the finer instant.
    pub fn time(&self) -> Nanos {
        self.event.time().map_or(self.at, |t| time::refine(t, self.at))
    }
}
