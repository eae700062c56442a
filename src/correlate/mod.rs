//! The correlator: pure, synchronous, no I/O and no wall clock. Observations in,
//! finished spans out. Its clock advances only from observation times.
//!
//! Shape (after kube-runtime's watcher): one step function, `ingest`, plus
//! `finish` at the end of input.
//! - An object updates the table and the causality graph; events waiting for it
//!   in the pending set are placed.
//! - An event whose owner chain is known joins the episode of its top-level
//!   object; otherwise it waits in the bounded pending set, and is placed under
//!   the best known ancestor when the settle window expires (never dropped).
//! - An episode settles after `settle` of quiet (longer while a pod is visibly in
//!   flight, up to `max_open`), and is built into spans: one trace per rollout.

mod anatomy;
mod build;
mod episode;
mod graph;
mod objects;
mod rollout;
mod rules;

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::observe::{EventSeen, ObjectKey, ObjectSeen, Observation, Observed};
use crate::span::{SpanDraft, TraceId};
use crate::time::{Nanos, SECOND};
use build::{Context, Roots};
use episode::Episode;
use graph::Graph;
use objects::Objects;

pub use rules::{mention, Action, Mention};

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settle: 5 * SECOND,
            max_open: 600 * SECOND,
            pending_limit: 10_000,
            retain_deleted: 600 * SECOND,
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
}

/// Root spans already emitted (bounded; the oldest are forgotten first).
#[derive(Default)]
struct EmittedRoots {
    set: HashSet<TraceId>,
    order: VecDeque<TraceId>,
}

const EMITTED_ROOTS_KEPT: usize = 100_000;

impl Roots for EmittedRoots {
    fn emitted(&self, trace: &TraceId) -> bool {
        self.set.contains(trace)
    }
    fn mark(&mut self, trace: TraceId) {
        if self.set.insert(trace) {
            self.order.push_back(trace);
            if self.order.len() > EMITTED_ROOTS_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

pub struct Correlator {
    config: Config,
    now: Nanos,
    graph: Graph,
    objects: Objects,
    episodes: BTreeMap<ObjectKey, Episode>,
    /// By event uid: (arrival, event).
    pending: BTreeMap<String, (Nanos, EventSeen)>,
    roots: EmittedRoots,
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
            pending: BTreeMap::new(),
            roots: EmittedRoots::default(),
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
            Observed::Deleted { key, uid } => self.objects.mark_deleted(&key, &uid, at),
            Observed::Event(event) => self.event(*event, at),
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
                String::new()
            } else {
                key.namespace.clone()
            };
            ObjectKey::new(o.kind.clone(), namespace, o.name.clone())
        });
        if self.objects.upsert(object, at) {
            self.graph.set_owner(&key, owner.as_ref());
        }
        let top = self.graph.route(&key).top;
        if let Some(episode) = self.episodes.get_mut(&top) {
            episode.last_activity = episode.last_activity.max(at);
        }
        self.retry_pending();
    }

    fn event(&mut self, event: EventSeen, at: Nanos) {
        self.stats.events += 1;
        let mentioned = rules::mention(&event);
        if let Some(m) = &mentioned {
            self.graph.said(&m.object, &event.involved.key);
        }
        if self.certain(&event.involved.key) {
            self.place(event, true, at);
        } else {
            self.pending.insert(event.uid.clone(), (at, event));
            if self.pending.len() > self.config.pending_limit {
                let oldest =
                    self.pending.iter().min_by_key(|(uid, (since, _))| (*since, (*uid).clone()));
                if let Some(uid) = oldest.map(|(uid, _)| uid.clone()) {
                    let (since, event) = self.pending.remove(&uid).expect("present");
                    self.stats.pending_overflow += 1;
                    self.place(event, false, since);
                }
            }
        }
        if mentioned.is_some() {
            self.retry_pending();
        }
    }

    /// The owner chain ends at an object known to have no owner, or at a kind
    /// nothing owns in practice.
    fn certain(&self, key: &ObjectKey) -> bool {
        let top = self.graph.route(key).top;
        top.kind.is_usually_top_level() || self.objects.get(&top).is_some()
    }

    fn place(&mut self, event: EventSeen, certain: bool, at: Nanos) {
        let top = self.graph.route(&event.involved.key).top;
        if !certain {
            self.stats.placed_best_effort += 1;
        }
        self.episodes
            .entry(top.clone())
            .or_insert_with(|| Episode::new(top, at))
            .add(event, certain, at);
    }

    fn retry_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ready: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (_, e))| self.certain(&e.involved.key))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in ready {
            let (since, event) = self.pending.remove(&uid).expect("present");
            self.place(event, true, since);
        }
    }

    fn settle(&mut self, all: bool) -> Vec<SpanDraft> {
        let now = self.now;
        let settle = self.config.settle;
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, (since, _))| all || since.saturating_add(settle) <= now)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in expired {
            let (since, event) = self.pending.remove(&uid).expect("present");
            self.place(event, false, since);
        }

        let max_open = self.config.max_open;
        let ready: Vec<ObjectKey> = self
            .episodes
            .values()
            .filter(|e| {
                all || e.opened.saturating_add(max_open) <= now
                    || (e.last_activity.saturating_add(settle) <= now
                        && (e.last_activity.saturating_add(max_open) <= now || !e.in_flight()))
            })
            .map(|e| e.top.clone())
            .collect();
        let mut drafts = Vec::new();
        for top in ready {
            let episode = self.episodes.remove(&top).expect("present");
            drafts.extend(self.build(&episode));
        }

        for key in self.objects.evict_deleted(now.saturating_sub(self.config.retain_deleted)) {
            self.graph.remove(&key);
        }
        self.stats.spans += drafts.len() as u64;
        drafts
    }

    fn build(&mut self, episode: &Episode) -> Vec<SpanDraft> {
        let mut events: Vec<&episode::Placed> = episode.events.values().collect();
        events.sort_by(|a, b| (a.time(), &a.event.uid).cmp(&(b.time(), &b.event.uid)));
        let tracked = self.objects.get(&episode.top);
        let rollouts = rollout::split(&episode.top, tracked, &self.graph, events);
        let ctx = Context { objects: &self.objects, graph: &self.graph };
        let mut drafts = Vec::new();
        for r in &rollouts {
            if !self.roots.emitted(&r.trace) {
                self.stats.traces += 1;
            }
            drafts.extend(build::rollout_spans(
                &episode.top,
                r,
                &ctx,
                &mut self.roots,
                self.config.settle,
            ));
        }
        drafts
    }
}
