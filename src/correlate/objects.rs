//! The compact object table: latest projection per object, when each generation
//! began, when the object was seen deleted. Order-independent: of two copies the
//! newer (generation, resourceVersion) wins, whatever order they arrived in.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use crate::observe::{ObjectKey, ObjectSeen};
use crate::span::{SpanId, TraceId};
use crate::time::{self, Nanos, SECOND};

pub struct Tracked {
    pub seen: ObjectSeen,
    /// Boxed: only objects with a metadata.generation (workloads, ReplicaSets)
    /// have one, and most tracked objects are pods.
    pub history: Option<Box<History>>,
    pub deleted_at: Option<Nanos>,
}

/// What each generation of an object did.
#[derive(Default)]
pub struct History {
    /// generation -> when its spec change happened (managedFields time, else first seen).
    pub generations: BTreeMap<i64, Nanos>,
    /// generation -> spec change time as managedFields record it (who-changed-it time).
    pub spec_changes: BTreeMap<i64, Nanos>,
    /// generation -> when a copy first showed its rollout complete.
    pub completed: BTreeMap<i64, Nanos>,
    /// generation -> the traceparent annotation its earliest copy carried
    /// (objects without owners only, see `links`).
    pub traceparents: BTreeMap<i64, Stamp>,
    /// The newest rollout root emitted for the object, which the next one links to.
    pub last_root: Option<EmittedRoot>,
}

/// The traceparent annotation on the earliest copy of a generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    pub resource_version: Option<u64>,
    pub value: Option<Box<str>>,
    /// The managedFields entry that changed the spec owns the annotation too; when.
    pub owned_at: Option<Nanos>,
}

/// A rollout root as it was exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmittedRoot {
    /// Rollouts of an object in order: by generation (inferred ones first), then start.
    pub order: (Option<i64>, Nanos),
    pub trace: TraceId,
    pub span: SpanId,
}

impl Tracked {
    /// generation -> when its spec change happened.
    pub fn generations(&self) -> Option<&BTreeMap<i64, Nanos>> {
        self.history.as_ref().map(|h| &h.generations)
    }

    /// When managedFields recorded generation `g`'s spec change.
    pub fn spec_change_at(&self, g: i64) -> Option<Nanos> {
        self.history.as_ref()?.spec_changes.get(&g).copied()
    }

    /// When a copy first showed generation `g`'s rollout complete.
    pub fn completed_at(&self, g: i64) -> Option<Nanos> {
        self.history.as_ref()?.completed.get(&g).copied()
    }

    fn history(&mut self) -> &mut History {
        self.history.get_or_insert_with(Box::default)
    }
}

#[derive(Default)]
pub struct Objects {
    /// Keyed by `seen.key`. A hash table keeps up to twice its length in slots
    /// (more while it grows): each slot is one pointer, not a whole Tracked nor
    /// a second copy of its key.
    table: HashTable<Box<Tracked>>,
    hasher: RandomState,
    /// (deleted_at, key) of deleted objects, oldest first, for eviction without a scan.
    deleted: BTreeSet<(Nanos, ObjectKey)>,
}

/// Condition and creation times have whole seconds; the arrival of the copy that
/// first showed a transition (or the object) gives the finer instant (see
/// `time::refine`: a pod Ready 150 ms after its container started, a StatefulSet's
/// next pod created 200 ms after the previous one was Ready). Later copies keep it.
fn refine_times(previous: Option<&ObjectSeen>, seen: &mut ObjectSeen, at: Nanos) {
    let refine = |kept: Option<Nanos>, t: Nanos| match kept {
        Some(r) if r - r % SECOND == t => Some(r),
        _ => Some(time::refine(t, at)),
    };
    if let Some(t) = seen.created {
        let kept = previous.filter(|p| p.uid == seen.uid).and_then(|p| p.created);
        seen.created = refine(kept, t);
    }
    for c in &mut seen.conditions {
        let before = previous.and_then(|p| p.conditions.iter().find(|o| o.kind == c.kind));
        if let Some(t) = c.at {
            c.at = refine(before.filter(|o| o.status == c.status).and_then(|o| o.at), t);
        }
    }
}

/// The earliest copy of a generation (lowest resourceVersion) tells what the
/// change that started it wrote: later copies may carry an annotation set after it.
fn record_traceparent(history: &mut History, seen: &ObjectSeen) {
    let Some(g) = seen.generation.filter(|_| seen.owners.is_empty()) else {
        return;
    };
    let earlier = |s: &Stamp| match (s.resource_version, seen.resource_version) {
        (Some(kept), Some(this)) => kept <= this,
        _ => true,
    };
    if history.traceparents.get(&g).is_some_and(earlier) {
        return;
    }
    let change = seen.spec_change.as_deref();
    history.traceparents.insert(
        g,
        Stamp {
            resource_version: seen.resource_version,
            value: seen.traceparent().map(Box::from),
            owned_at: change.filter(|c| c.owns_traceparent).and_then(|c| c.at),
        },
    );
}

/// The first copy showing a generation's rollout complete dates its completion.
fn record_completion(t: &mut Tracked, seen: &ObjectSeen, at: Nanos) {
    let (Some(g), Some(w)) = (seen.generation, seen.workload.as_ref()) else {
        return;
    };
    let was =
        t.seen.workload.as_ref().is_some_and(|w| t.seen.generation.is_some_and(|g| w.complete(g)));
    if w.complete(g) && !(was && t.seen.generation == Some(g)) {
        t.history().completed.entry(g).or_insert(at);
    }
}

fn newer(a: &ObjectSeen, b: &ObjectSeen) -> bool {
    if a.uid != b.uid {
        return a.created >= b.created;
    }
    (a.generation, a.resource_version) >= (b.generation, b.resource_version)
}

impl Objects {
    fn find_mut(&mut self, key: &ObjectKey) -> Option<&mut Tracked> {
        let hash = self.hasher.hash_one(key);
        self.table.find_mut(hash, |t| t.seen.key == *key).map(|t| &mut **t)
    }

    /// Keeps `tracked`, in place of what was kept under its key.
    fn put(&mut self, tracked: Tracked) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&tracked.seen.key);
        match self.table.find_mut(hash, |t| t.seen.key == tracked.seen.key) {
            Some(slot) => **slot = tracked,
            None => {
                self.table.insert_unique(hash, Box::new(tracked), |t| hasher.hash_one(&t.seen.key));
            }
        }
    }

    /// Records a copy; returns whether it is the one now kept.
    pub fn upsert(&mut self, seen: ObjectSeen, at: Nanos) -> bool {
        let recorded = seen.spec_change.as_ref().and_then(|c| c.at);
        match self.find_mut(&seen.key) {
            Some(t) if t.seen.uid == seen.uid => {
                let known = |g: &i64| t.generations().is_some_and(|s| s.contains_key(g));
                if let Some(g) = seen.generation.filter(|g| !known(g)) {
                    let h = t.history();
                    // A spec change through a subresource (kubectl scale) leaves
                    // managedFields as they were: a recorded time no newer than the
                    // previous generation's start is not this generation's.
                    let previous = h.generations.range(..g).next_back().map(|(_, s)| *s);
                    match recorded.filter(|r| previous.is_none_or(|p| *r > p)) {
                        Some(r) => {
                            h.generations.insert(g, r);
                            h.spec_changes.insert(g, r);
                        }
                        None => {
                            h.generations.insert(g, at);
                        }
                    }
                }
                if seen.generation.is_some() {
                    record_traceparent(t.history(), &seen);
                }
                let keep = newer(&seen, &t.seen);
                if keep {
                    let mut seen = seen;
                    refine_times(Some(&t.seen), &mut seen, at);
                    record_completion(t, &seen, at);
                    t.seen = seen;
                }
                keep
            }
            Some(t) if !newer(&seen, &t.seen) => false,
            _ => {
                let mut seen = seen;
                refine_times(None, &mut seen, at);
                // A copy already complete when first seen dates nothing.
                let history = seen.generation.map(|g| {
                    let mut history = Box::new(History {
                        generations: [(g, recorded.unwrap_or(at))].into(),
                        spec_changes: recorded.map(|r| (g, r)).into_iter().collect(),
                        ..History::default()
                    });
                    record_traceparent(&mut history, &seen);
                    history
                });
                let tracked = Tracked { seen, history, deleted_at: None };
                self.put(tracked);
                true
            }
        }
    }

    pub fn mark_deleted(&mut self, key: &ObjectKey, uid: &str, at: Nanos) {
        if let Some(t) = self.find_mut(key).filter(|t| t.seen.uid == uid || uid.is_empty()) {
            let at = t.deleted_at.map_or(at, |d| d.min(at));
            if t.deleted_at.replace(at) != Some(at) {
                self.deleted.insert((at, key.clone()));
            }
        }
    }

    /// What each generation of the object did, to record the roots emitted for it.
    pub fn history_mut(&mut self, key: &ObjectKey) -> Option<&mut History> {
        self.find_mut(key)?.history.as_deref_mut()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Tracked> {
        let hash = self.hasher.hash_one(key);
        self.table.find(hash, |t| t.seen.key == *key).map(|t| &**t)
    }

    /// Drops objects deleted before `before`; returns their keys.
    pub fn evict_deleted(&mut self, before: Nanos) -> Vec<ObjectKey> {
        let mut gone = Vec::new();
        while self.deleted.first().is_some_and(|(at, _)| *at < before) {
            let (at, key) = self.deleted.pop_first().expect("present");
            // A stale entry: the deletion time moved earlier, or the name was reused.
            let hash = self.hasher.hash_one(&key);
            if let Ok(entry) = self.table.find_entry(hash, |t| t.seen.key == key) {
                if entry.get().deleted_at == Some(at) {
                    entry.remove();
                    gone.push(key);
                }
            }
        }
        gone
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }
}
