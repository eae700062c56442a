//! The correlator: pure, synchronous, no I/O and no wall clock. Observations in,
//! finished spans out. Its clock advances only from observation times.
//!
//! Shape: one step function, `ingest`, plus `finish` at the end of input.
//! - An object updates the table and the causality graph; events waiting for it
//!   in the pending set are placed.
//! - An event whose owner chain is known joins the episode of its top-level
//!   object; otherwise it waits in the bounded pending set, and is placed under
//!   the best known ancestor when the settle window expires (never dropped).
//! - An episode settles after `settle` of quiet (longer while a pod is visibly in
//!   flight, up to `max_open`), and is built into spans: one trace per rollout.
//!
//! What differs per workload kind is in `kinds`; an episode is split into
//! rollouts in `rollout`, and each rollout's spans are built in `build`.

mod anatomy;
mod attributes;
mod build;
mod emitted;
mod episode;
mod graph;
mod job;
mod kinds;
mod links;
mod messages;
mod node_links;
mod objects;
mod pending;
mod pod;
mod pod_state;
mod rollback;
mod rollout;
mod root;
mod selector;
mod steps;
mod tree;
mod uids;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use foldhash::{HashMap, HashMapExt};

use crate::observe::{EventSeen, Kind, Name, ObjectKey, ObjectSeen, Observation, Observed};
use crate::span::SpanDraft;
use crate::time::{self, Nanos, SECOND};
use build::Context;
use emitted::{EmittedRoots, Roots};
use episode::Episode;
use graph::Graph;
use links::Lineage;
use node_links::{NodeLinks, NodeMark};
use objects::Objects;
use pending::{Pending, Waiting};
use pod_state::{PodNews, PodState};
use uids::Uids;

pub use links::Mode as TraceparentMode;
pub use messages::{mention, rescale, Action, Mention, Rescale};
pub use selector::Selector;
pub use tree::INSTANT;

#[derive(Debug, Clone)]
pub struct Config {
    /// Quiet time after which an episode's traces are finished.
    pub settle: Nanos,
    /// Longest an episode stays open, in flight or not.
    pub max_open: Nanos,
    /// Most events waiting for their object; beyond it the oldest is placed early.
    pub pending_limit: usize,
    /// How long a deleted object is remembered, so late events still find their owners.
    pub retain_deleted: Nanos,
    /// Only rollouts whose top-level object's labels match are built (`--selector`).
    pub selector: Option<Selector>,
    /// What a pipeline's traceparent annotation makes of a rollout's root.
    pub traceparent: TraceparentMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settle: 5 * SECOND,
            max_open: 600 * SECOND,
            pending_limit: 10_000,
            retain_deleted: 600 * SECOND,
            selector: None,
            traceparent: TraceparentMode::Link,
        }
    }
}

/// Counters for the operator (and the tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub observations: u64,
    pub events: u64,
    pub objects: u64,
    /// Events placed under their best known ancestor because their owners never showed up.
    pub placed_best_effort: u64,
    /// Events placed early because the pending set was full.
    pub pending_overflow: u64,
    pub traces: u64,
    pub spans: u64,
    /// Episodes not built because their top-level object did not match the selector.
    pub unselected: u64,
    /// Traceparent annotations that are no W3C traceparent, each value once per object.
    pub traceparent_invalid: u64,
}

pub struct Correlator {
    config: Config,
    now: Nanos,
    graph: Graph,
    objects: Objects,
    episodes: BTreeMap<ObjectKey, Episode>,
    /// When each episode may next be ready: one live entry per episode (the one
    /// equal to its `scheduled`), so settling pops what is due instead of looking
    /// at every episode on every observation.
    deadlines: BinaryHeap<Reverse<(Nanos, ObjectKey)>>,
    pending: Pending,
    roots: EmittedRoots,
    /// Trouble on each node (by name) from its built episodes, for pod spans' links.
    node_marks: HashMap<Name, Vec<NodeMark>>,
    last_prune: Nanos,
    stats: Stats,
}

impl Correlator {
    pub fn new(config: Config) -> Self {
        Correlator {
            config,
            now: Nanos::MIN,
            graph: Graph::default(),
            objects: Objects::default(),
            episodes: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
            pending: Pending::default(),
            roots: EmittedRoots::default(),
            node_marks: HashMap::new(),
            last_prune: Nanos::MIN,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn tracked_objects(&self) -> usize {
        self.objects.len()
    }

    pub fn open_episodes(&self) -> usize {
        self.episodes.len()
    }

    /// The one step: takes an observation, returns the spans it finished.
    pub fn ingest(&mut self, observation: Observation) -> Vec<SpanDraft> {
        let at = observation.at;
        self.now = self.now.max(at);
        self.stats.observations += 1;
        // Settle first: what was quiet for the window before this observation is
        // finished without it, exactly as a live tick just before it would have done.
        let finished = self.settle(false);
        match observation.what {
            Observed::Object(object) => self.object(*object, at),
            Observed::Deleted(gone) => {
                self.objects.mark_deleted(&gone.key, &gone.uid, at);
                self.pod_state(&gone.key, PodNews::Now { uid: Some(&gone.uid) });
            }
            Observed::Event(event) => self.event(event, at),
            Observed::Tick => {}
        }
        finished
    }

    /// End of input: everything still open is finished now.
    pub fn finish(&mut self) -> Vec<SpanDraft> {
        self.settle(true)
    }

    fn object(&mut self, object: ObjectSeen, at: Nanos) {
        self.stats.objects += 1;
        let key = object.key.clone();
        let owner = object.controller().map(|o| {
            let namespace = if o.kind == crate::observe::Kind::Node {
                Name::default()
            } else {
                key.namespace.clone()
            };
            ObjectKey::new(o.kind.clone(), namespace, o.name.clone())
        });
        self.check_traceparent(&object);
        let before = self.graph.top(&key);
        if self.objects.upsert(object, at) {
            self.graph.set_owner(&key, owner.as_ref());
        }
        let top = self.graph.top(&key);
        if let Some(episode) = self.episodes.get_mut(&top) {
            episode.last_activity = episode.last_activity.max(at);
        }
        self.pod_state(&key, PodNews::Now { uid: None });
        // Events waiting for this object, or for the top it had: its owner may
        // have made their chains known.
        self.retry_pending(&key);
        if before != key {
            self.retry_pending(&before);
        }
    }

    /// A malformed traceparent annotation is ignored; counted and logged once.
    fn check_traceparent(&mut self, object: &ObjectSeen) {
        let kept = self.objects.get(&object.key).filter(|t| t.seen.uid == object.uid);
        let before = kept.and_then(|t| t.seen.traceparent());
        let value = object.traceparent();
        if links::newly_malformed(value, before) {
            self.stats.traceparent_invalid += 1;
            tracing::warn!(
                object = %object.key,
                value,
                "ignoring the traceparent annotation: not a W3C traceparent"
            );
        }
    }

    fn event(&mut self, event: Box<EventSeen>, at: Nanos) {
        self.stats.events += 1;
        let mentioned = messages::mention(&event);
        let mut retry = None;
        if let Some(m) = &mentioned {
            retry = Some(self.graph.top(&m.object));
            self.graph.said(&m.object, &event.involved.key);
        }
        let top = self.top_of(&event);
        if self.certain(&top) {
            self.place(event, mentioned.as_ref(), true, at);
        } else {
            self.pending.insert(at, event, top);
            if self.pending.len() > self.config.pending_limit {
                if let Some(waiting) =
                    self.pending.oldest(Nanos::MAX).and_then(|uid| self.pending.remove(&uid))
                {
                    self.stats.pending_overflow += 1;
                    self.place_waiting(waiting, false);
                }
            }
        }
        if let Some(top) = retry {
            self.retry_pending(&top);
        }
    }

    /// The owner chain ends at an object known to have no owner, or at a kind
    /// nothing owns in practice.
    fn certain(&self, top: &ObjectKey) -> bool {
        kinds::of(&top.kind).top_level || self.objects.get(top).is_some()
    }

    /// Where an event belongs: its subject's top-level object; a
    /// HorizontalPodAutoscaler's rescale belongs to the rollout of what it scaled
    /// (its spec.scaleTargetRef: the message does not name it).
    fn top_of(&self, event: &EventSeen) -> ObjectKey {
        let target = messages::rescale(event)
            .and_then(|_| self.objects.get(&event.involved.key))
            .and_then(|t| t.seen.scale_target.as_deref());
        self.graph.top(target.unwrap_or(&event.involved.key))
    }

    fn place(
        &mut self,
        event: Box<EventSeen>,
        mentioned: Option<&Mention>,
        certain: bool,
        at: Nanos,
    ) {
        let top = self.top_of(&event);
        if !certain {
            self.stats.placed_best_effort += 1;
        }
        let replicas = self.stateful_replicas(&top);
        // An Event arriving more than the window after it was written (recorders
        // throttled under load) may be about a pod whose later Events were built
        // already: what the pod's object says since then ends the waits it starts.
        let written = event.time().unwrap_or(at);
        let late = at.saturating_sub(written) > self.config.settle;
        let subject = (late && event.involved.key.kind == Kind::Pod)
            .then(|| (event.involved.key.clone(), event.involved.uid.clone()));
        let episode = self.episodes.entry(top.clone()).or_insert_with(|| Episode::new(top, at));
        episode.stateful_replicas = replicas;
        episode.add(event, mentioned, certain, at);
        Self::reschedule(episode, &self.config, &mut self.deadlines);
        if let Some((key, uid)) = subject {
            self.pod_state(&key, PodNews::LateEvent { uid: uid.as_deref(), written });
        }
        if let Some(m) = mentioned.filter(|_| late) {
            self.pod_state(&m.object, PodNews::LateMention { written });
        }
    }

    /// Tells the episode of a pod's top what the pod's object says (see
    /// `PodState`), as the news that came calls for.
    fn pod_state(&mut self, key: &ObjectKey, news: PodNews) {
        // Every object and deletion comes here: no lookup for those of other kinds.
        if key.kind != Kind::Pod {
            return;
        }
        let Some(tracked) = self.objects.get(key) else { return };
        if news.uid().is_some_and(|uid| uid != tracked.seen.uid.as_str()) {
            return;
        }
        let Some(state) = PodState::for_news(tracked, news, self.now) else { return };
        let top = self.graph.top(key);
        if let Some(episode) = self.episodes.get_mut(&top) {
            episode.pod_state(&key.name, &state);
            Self::reschedule(episode, &self.config, &mut self.deadlines);
        }
    }

    /// A top-level StatefulSet's spec.replicas, as last seen.
    fn stateful_replicas(&self, top: &ObjectKey) -> Option<i32> {
        if top.kind != Kind::StatefulSet {
            return None;
        }
        self.objects.get(top)?.seen.workload.as_ref()?.desired
    }

    /// Queues the episode's deadline when it came earlier (a later one is found
    /// when the queued entry comes due).
    fn reschedule(
        episode: &mut Episode,
        config: &Config,
        deadlines: &mut BinaryHeap<Reverse<(Nanos, ObjectKey)>>,
    ) {
        let due = episode.due(config.settle, config.max_open);
        if due < episode.scheduled {
            episode.scheduled = due;
            deadlines.push(Reverse((due, episode.top.clone())));
        }
    }

    fn place_waiting(&mut self, waiting: Waiting, certain: bool) {
        let mentioned = messages::mention(&waiting.event);
        self.place(waiting.event, mentioned.as_ref(), certain, waiting.since);
    }

    /// Places the events waiting for `top` whose chain is now known; the others
    /// wait on for their new top.
    fn retry_pending(&mut self, top: &ObjectKey) {
        for waiting in self.pending.waiting_for(top) {
            let top = self.top_of(&waiting.event);
            if self.certain(&top) {
                self.place_waiting(waiting, true);
            } else {
                self.pending.insert(waiting.since, waiting.event, top);
            }
        }
    }

    fn settle(&mut self, all: bool) -> Vec<SpanDraft> {
        let now = self.now;
        let expired_before = if all { Nanos::MAX } else { now.saturating_sub(self.config.settle) };
        while let Some(uid) = self.pending.oldest(expired_before) {
            let waiting = self.pending.remove(&uid).expect("present");
            self.place_waiting(waiting, false);
        }

        let mut drafts = Vec::new();
        if all {
            self.deadlines.clear();
            // Nodes first: their marks are known when their pods' spans link to them.
            let (nodes, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.episodes)
                .into_values()
                .partition(|e| e.top.kind == Kind::Node);
            for episode in nodes.iter().chain(&rest) {
                drafts.extend(self.build(episode));
            }
        }
        while let Some(Reverse((due, _))) = self.deadlines.peek() {
            if *due > now {
                break;
            }
            let Reverse((due, top)) = self.deadlines.pop().expect("peeked");
            let Some(episode) = self.episodes.get_mut(&top).filter(|e| e.scheduled == due) else {
                continue; // superseded by an earlier deadline, or already built
            };
            let next = episode.due(self.config.settle, self.config.max_open);
            if next > now {
                episode.scheduled = next;
                self.deadlines.push(Reverse((next, top)));
                continue;
            }
            let episode = self.episodes.remove(&top).expect("present");
            drafts.extend(self.build(&episode));
        }

        let forget = now.saturating_sub(self.config.retain_deleted);
        for key in self.objects.evict_deleted(forget) {
            self.graph.remove(&key);
        }
        if now.saturating_sub(self.last_prune) >= 60 * SECOND {
            self.last_prune = now;
            self.node_marks.retain(|_, marks| {
                marks.retain(|m| m.at >= forget);
                !marks.is_empty()
            });
        }
        self.stats.spans += drafts.len() as u64;
        drafts
    }

    /// Whether the episode's top matches the selector. A top never seen (a kind
    /// not watched, an object evicted) has no known labels and is matched as an
    /// object without labels: `!canary` keeps it, `app=web` does not.
    fn selected(&self, top: &ObjectKey) -> bool {
        let Some(selector) = &self.config.selector else {
            return true;
        };
        let labels = self.objects.get(top).map(|t| t.seen.labels.as_slice()).unwrap_or_default();
        selector.matches(labels)
    }

    fn build(&mut self, episode: &Episode) -> Vec<SpanDraft> {
        if !self.selected(&episode.top) {
            self.stats.unselected += 1;
            return Vec::new();
        }
        let tracked = self.objects.get(&episode.top);
        let events = episode.sorted();
        let uids = Uids::new(&self.objects, &self.graph, &events);
        let rollouts = rollout::split(&episode.top, tracked, &self.graph, events);
        if episode.top.kind == Kind::Node {
            let marks = node_links::node_marks(&rollouts);
            if !marks.is_empty() {
                self.node_marks.entry(episode.top.name.clone()).or_default().extend(marks);
            }
        }
        let nodes = NodeLinks {
            built: &self.node_marks,
            episodes: &self.episodes,
            objects: &self.objects,
            graph: &self.graph,
        };
        let ctx = Context {
            objects: &self.objects,
            graph: &self.graph,
            nodes: &nodes,
            uids: &uids,
            settle: self.config.settle,
        };
        let history = kinds::of(&episode.top.kind).rollouts == kinds::Rollouts::ByGeneration;
        let mut last_root = tracked.and_then(|t| t.history.as_ref()).and_then(|h| h.last_root);
        let mut drafts = Vec::new();
        for r in &rollouts {
            let continuing = self.roots.emitted(&r.trace);
            if !continuing {
                self.stats.traces += 1;
            }
            let previous = last_root.as_ref().filter(|_| history);
            let lineage = Lineage::of(r, tracked, previous, self.config.traceparent);
            drafts.extend(build::rollout_spans(&episode.top, r, &ctx, &mut self.roots, &lineage));
            // See sink::trace_log: when the trace last changed, and what still held it.
            tracing::debug!(
                target: "kspan::trace",
                stage = %"Built",
                trace_id = %crate::span::hex(&r.trace),
                top = %episode.top,
                last_change = %time::format(episode.last_activity),
                under_way = ?episode.under_way(),
            );
            let root = lineage.root(r);
            if !continuing && last_root.is_none_or(|last| last.order < root.order) {
                last_root = Some(root);
            }
        }
        if let Some(h) = self.objects.history_mut(&episode.top) {
            h.last_root = last_root;
        }
        drafts
    }
}
