//! Events whose owner chain is not known yet, indexed by arrival (to expire them
//! in order) and by the unknown top object they wait for (to retry only those
//! when it or an edge above it appears).

use std::collections::BTreeSet;

use foldhash::HashMap;

use crate::observe::{EventSeen, ObjectKey};
use crate::time::Nanos;

#[derive(Default)]
pub struct Pending {
    by_uid: HashMap<String, Waiting>,
    by_arrival: BTreeSet<(Nanos, String)>,
    by_top: HashMap<ObjectKey, BTreeSet<String>>,
}

pub struct Waiting {
    /// When it arrived.
    pub since: Nanos,
    pub event: Box<EventSeen>,
    /// The top of its owner chain as far as it is known.
    top: ObjectKey,
}

impl Pending {
    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    pub fn insert(&mut self, since: Nanos, event: Box<EventSeen>, top: ObjectKey) {
        let uid = event.uid.clone();
        self.remove(&uid);
        self.by_arrival.insert((since, uid.clone()));
        self.by_top.entry(top.clone()).or_default().insert(uid.clone());
        self.by_uid.insert(uid, Waiting { since, event, top });
    }

    pub fn remove(&mut self, uid: &str) -> Option<Waiting> {
        let waiting = self.by_uid.remove(uid)?;
        self.by_arrival.remove(&(waiting.since, uid.to_string()));
        if let Some(set) = self.by_top.get_mut(&waiting.top) {
            set.remove(uid);
            if set.is_empty() {
                self.by_top.remove(&waiting.top);
            }
        }
        Some(waiting)
    }

    /// The oldest waiting event, if it arrived at or before `before`.
    pub fn oldest(&self, before: Nanos) -> Option<String> {
        self.by_arrival.first().filter(|(since, _)| *since <= before).map(|(_, uid)| uid.clone())
    }

    /// Takes out every event waiting for `top`.
    pub fn waiting_for(&mut self, top: &ObjectKey) -> Vec<Waiting> {
        let uids = self.by_top.remove(top).unwrap_or_default();
        uids.iter().filter_map(|uid| self.remove(uid)).collect()
    }
}
