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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Involved, Kind, Name};

    fn event(uid: &str) -> Box<EventSeen> {
        Box::new(EventSeen {
            uid: uid.into(),
            name: uid.into(),
            namespace: "ns".into(),
            reason: "Pulling".into(),
            kind: "Normal".into(),
            message: String::new(),
            count: 1,
            first: None,
            last: None,
            involved: Involved {
                key: ObjectKey::new(Kind::Pod, "ns", uid),
                uid: None,
                field_path: None,
            },
            component: Name::default(),
            host: None,
            top_level: false,
        })
    }

    fn top(name: &str) -> ObjectKey {
        ObjectKey::new(Kind::ReplicaSet, "ns", name)
    }

    #[test]
    fn the_oldest_arrival_expires_first() {
        let mut pending = Pending::default();
        pending.insert(20, event("b"), top("x"));
        pending.insert(10, event("a"), top("y"));
        assert_eq!(pending.oldest(9), None, "nothing arrived that early");
        assert_eq!(pending.oldest(10).as_deref(), Some("a"));
        assert_eq!(pending.remove("a").map(|w| w.since), Some(10));
        assert_eq!(pending.oldest(Nanos::MAX).as_deref(), Some("b"));
    }

    #[test]
    fn an_event_again_replaces_its_earlier_copy_and_what_it_waited_for() {
        let mut pending = Pending::default();
        pending.insert(10, event("a"), top("x"));
        pending.insert(30, event("a"), top("y"));
        assert_eq!(pending.len(), 1);
        assert!(pending.waiting_for(&top("x")).is_empty());
        assert_eq!(pending.oldest(Nanos::MAX).as_deref(), Some("a"));
        let waiting = pending.waiting_for(&top("y"));
        assert_eq!(waiting.iter().map(|w| w.since).collect::<Vec<_>>(), [30]);
        assert_eq!(pending.len(), 0);
        assert_eq!(pending.oldest(Nanos::MAX), None);
    }

    #[test]
    fn only_the_events_waiting_for_a_top_are_taken_out() {
        let mut pending = Pending::default();
        pending.insert(10, event("a"), top("x"));
        pending.insert(11, event("b"), top("x"));
        pending.insert(12, event("c"), top("y"));
        let mut taken: Vec<String> =
            pending.waiting_for(&top("x")).into_iter().map(|w| w.event.uid).collect();
        taken.sort();
        assert_eq!(taken, ["a", "b"]);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.oldest(Nanos::MAX).as_deref(), Some("c"));
    }
}
