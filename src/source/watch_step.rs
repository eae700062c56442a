//! What one watcher's events mean, without I/O: the relist diff, Event
//! de-duplication and the `--since` filter, as one step per kube-runtime
//! `watcher::Event`. `watch.rs` wires it to the API server, the capture and the
//! correlator.

use std::collections::{BTreeMap, HashMap};

use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher::Event;
use serde_json::Value;

use super::document::{decode, Decoded, DocumentError};
use crate::observe::{Name, ObjectKey, Observation, Observed};
use crate::time::{Nanos, SECOND};

/// What one watcher event asks of the wiring, in the order given.
#[derive(Debug)]
pub enum Effect {
    /// A list began after the first one: the watch restarted (410 Gone, a lost connection).
    Restarted,
    /// The first list is complete: the cluster as it was at start-up is known.
    InitialListDone,
    /// The object could not be read; nothing else comes of it.
    Undecodable { name: Option<String>, error: DocumentError },
    /// For the correlator.
    Observe(Observation),
}

/// One watcher's memory between events.
pub struct WatchState {
    /// Events are de-duplicated; objects are diffed across relists.
    events: bool,
    /// Events older than this in the first list are history, not replayed (`--since`).
    history_from: Nanos,
    /// The objects delivered and not deleted, to know which vanished during a relist.
    known: BTreeMap<ObjectKey, Name>,
    /// The objects of a list in progress, swapped in for `known` when it is done.
    listing: Option<BTreeMap<ObjectKey, Name>>,
    seen_events: SeenEvents,
    first_list: bool,
}

impl WatchState {
    /// The state of a new watcher of `kind` (the resource's kind, such as "Pod" or "Event").
    pub fn new(kind: &str, history_from: Nanos) -> Self {
        WatchState {
            events: kind == "Event",
            history_from,
            known: BTreeMap::new(),
            listing: None,
            seen_events: SeenEvents::default(),
            first_list: true,
        }
    }

    /// Takes one watcher event, its object a JSON document (see `to_document`),
    /// that arrived at `now`.
    pub fn step(&mut self, event: Event<Value>, now: Nanos) -> Vec<Effect> {
        match event {
            Event::Init => {
                self.listing = Some(BTreeMap::new());
                if self.first_list {
                    vec![]
                } else {
                    vec![Effect::Restarted]
                }
            }
            Event::InitDone => self.list_done(now),
            Event::InitApply(document) => self.object(document, Arrival::Listed, now),
            Event::Apply(document) => self.object(document, Arrival::Applied, now),
            Event::Delete(document) => self.object(document, Arrival::Deleted, now),
        }
    }

    /// Objects missing from the new list were deleted while the watch was down.
    /// An Event that vanished expired; it changes nothing already seen.
    fn list_done(&mut self, now: Nanos) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(listed) = self.listing.take() {
            if !self.events {
                for (key, uid) in &self.known {
                    if !listed.contains_key(key) {
                        let what = Observed::deleted(key.clone(), uid.clone());
                        effects.push(Effect::Observe(Observation { at: now, what }));
                    }
                }
                self.known = listed;
            }
        }
        if self.first_list {
            effects.push(Effect::InitialListDone);
        }
        self.first_list = false;
        effects
    }

    fn object(&mut self, document: Value, arrival: Arrival, now: Nanos) -> Vec<Effect> {
        if self.events && arrival != Arrival::Deleted {
            let meta = &document["metadata"];
            let uid = meta["uid"].as_str().unwrap_or_default();
            let version = meta["resourceVersion"].as_str().unwrap_or_default();
            if !self.seen_events.is_new(uid, version, now) {
                return vec![];
            }
        }
        let name = document.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string);
        let mut decoded: Vec<Decoded> = Vec::new();
        if let Err(error) = decode(document, None, &mut decoded) {
            return vec![Effect::Undecodable { name, error }];
        }
        let mut effects = Vec::with_capacity(decoded.len());
        for d in decoded {
            let what = match d.what {
                // A deleted Event record changes nothing: its occurrence was already seen.
                Observed::Event(_) if arrival == Arrival::Deleted => continue,
                Observed::Event(_)
                    if arrival == Arrival::Listed
                        && self.first_list
                        && d.time.is_some_and(|t| t < self.history_from) =>
                {
                    continue
                }
                Observed::Object(o) if arrival == Arrival::Deleted => {
                    Observed::deleted(o.key, o.uid)
                }
                Observed::Object(o) => {
                    match &mut self.listing {
                        Some(listed) if arrival == Arrival::Listed => {
                            listed.insert(o.key.clone(), o.uid.clone())
                        }
                        _ => self.known.insert(o.key.clone(), o.uid.clone()),
                    };
                    Observed::Object(o)
                }
                other => other,
            };
            if let Observed::Deleted(gone) = &what {
                self.known.remove(&gone.key);
            }
            effects.push(Effect::Observe(Observation { at: now, what }));
        }
        effects
    }
}

/// How an object came: in a list, as a change, or as a deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Listed,
    Applied,
    Deleted,
}

/// The event with its object as the document kspan reads and records. Listed
/// objects carry no `apiVersion` and `kind`: the watched resource's are set.
/// `None` when the object cannot be written as JSON.
pub fn to_document(event: Event<DynamicObject>, resource: &ApiResource) -> Option<Event<Value>> {
    let document = |object: DynamicObject| {
        let mut value = serde_json::to_value(&object).ok()?;
        if let Value::Object(map) = &mut value {
            map.insert("apiVersion".into(), Value::String(resource.api_version.clone()));
            map.insert("kind".into(), Value::String(resource.kind.clone()));
        }
        Some(value)
    };
    Some(match event {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(object) => Event::InitApply(document(object)?),
        Event::Apply(object) => Event::Apply(document(object)?),
        Event::Delete(object) => Event::Delete(document(object)?),
    })
}

/// The watch-event type a capture records the event's object under, as `kspan
/// replay` reads it: listed objects were ADDED, changes MODIFIED.
pub fn capture_type(event: &Event<Value>) -> Option<(&'static str, &Value)> {
    match event {
        Event::InitApply(document) => Some(("ADDED", document)),
        Event::Apply(document) => Some(("MODIFIED", document)),
        Event::Delete(document) => Some(("DELETED", document)),
        Event::Init | Event::InitDone => None,
    }
}

/// Remembers the version of each Event already delivered, so a relist (after a
/// restart of the watch or 410 Gone) does not deliver it twice. Events live about
/// an hour in the API server; entries are forgotten after two.
#[derive(Default)]
struct SeenEvents {
    versions: HashMap<String, (String, Nanos)>,
    last_purge: Nanos,
}

impl SeenEvents {
    fn is_new(&mut self, uid: &str, version: &str, at: Nanos) -> bool {
        if at - self.last_purge > 600 * SECOND {
            self.versions.retain(|_, (_, seen)| at - *seen < 7200 * SECOND);
            self.last_purge = at;
        }
        match self.versions.insert(uid.to_string(), (version.to_string(), at)) {
            Some((old, _)) => old != version,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::stream::{self, StreamExt};
    use serde_json::json;

    use super::*;
    use crate::time;

    /// 2024-05-13T08:00:00Z: kspan's start, where `--since` history ends.
    const START: Nanos = 1_715_587_200 * SECOND;

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")}})
    }

    /// A core/v1 Event about a pod, last seen at `last`.
    fn event(uid: &str, version: &str, last: Nanos) -> Value {
        json!({"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": format!("p.{uid}"), "namespace": "ns", "uid": uid,
                            "resourceVersion": version},
               "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "uid-p"},
               "reason": "Started", "lastTimestamp": time::format(last)})
    }

    /// Feeds the events, one a second from `START`, as a watcher stream delivers them,
    /// and names what came out.
    fn feed(state: &mut WatchState, events: Vec<Event<Value>>) -> Vec<String> {
        let effects = stream::iter(events)
            .enumerate()
            .flat_map(|(i, e)| stream::iter(state.step(e, START + i as Nanos * SECOND)));
        block_on(effects.map(|effect| describe(&effect)).collect())
    }

    fn describe(effect: &Effect) -> String {
        match effect {
            Effect::Restarted => "restarted".into(),
            Effect::InitialListDone => "initial list done".into(),
            Effect::Undecodable { name, .. } => format!("undecodable {name:?}"),
            Effect::Observe(o) => match &o.what {
                Observed::Object(o) => format!("object {}", o.key),
                Observed::Deleted(gone) => format!("deleted {}", gone.key),
                Observed::Event(e) => format!("event {}", e.uid),
                Observed::Tick => "tick".into(),
            },
        }
    }

    #[test]
    fn objects_missing_after_a_relist_are_deleted() {
        let mut state = WatchState::new("Pod", START);
        let first = feed(
            &mut state,
            vec![
                Event::Init,
                Event::InitApply(pod("a")),
                Event::InitApply(pod("b")),
                Event::InitDone,
                Event::Apply(pod("c")),
            ],
        );
        assert_eq!(
            first,
            ["object Pod/ns/a", "object Pod/ns/b", "initial list done", "object Pod/ns/c"]
        );
        let relist =
            feed(&mut state, vec![Event::Init, Event::InitApply(pod("a")), Event::InitDone]);
        assert_eq!(
            relist,
            ["restarted", "object Pod/ns/a", "deleted Pod/ns/b", "deleted Pod/ns/c"]
        );
        let again = feed(&mut state, vec![Event::Init, Event::InitDone]);
        assert_eq!(again, ["restarted", "deleted Pod/ns/a"], "each deletion is told once");
    }

    #[test]
    fn an_object_deleted_by_the_watch_is_not_deleted_again_by_a_relist() {
        let mut state = WatchState::new("Pod", START);
        let seen = feed(
            &mut state,
            vec![
                Event::Init,
                Event::InitApply(pod("a")),
                Event::InitDone,
                Event::Delete(pod("a")),
                Event::Init,
                Event::InitDone,
            ],
        );
        assert_eq!(seen, ["object Pod/ns/a", "initial list done", "deleted Pod/ns/a", "restarted"]);
    }

    #[test]
    fn a_relisted_event_is_not_delivered_twice_and_never_deleted() {
        let mut state = WatchState::new("Event", START - 3600 * SECOND);
        let seen = feed(
            &mut state,
            vec![
                Event::Init,
                Event::InitApply(event("e1", "10", START)),
                Event::InitDone,
                Event::Apply(event("e2", "11", START)),
                Event::Init,
                Event::InitApply(event("e1", "10", START)),
                Event::InitDone,
                Event::Apply(event("e1", "12", START)),
                Event::Apply(event("e1", "12", START)),
                Event::Delete(event("e2", "13", START)),
            ],
        );
        assert_eq!(
            seen,
            ["event e1", "initial list done", "event e2", "restarted", "event e1"],
            "e1 again only with a new version; e2's deletion and expiry change nothing"
        );
    }

    #[test]
    fn since_drops_older_events_of_the_first_list_only() {
        let mut state = WatchState::new("Event", START);
        let old = START - 60 * SECOND;
        let seen = feed(
            &mut state,
            vec![
                Event::Init,
                Event::InitApply(event("history", "1", old)),
                Event::InitApply(event("recent", "2", START + SECOND)),
                Event::InitDone,
                Event::Apply(event("late", "3", old)),
                Event::Init,
                Event::InitApply(event("relisted", "4", old)),
                Event::InitDone,
            ],
        );
        assert_eq!(
            seen,
            ["event recent", "initial list done", "event late", "restarted", "event relisted"]
        );
    }

    #[test]
    fn an_unreadable_object_is_named_and_nothing_else_comes_of_it() {
        let mut state = WatchState::new("Event", START);
        let no_uid = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}});
        let seen =
            feed(&mut state, vec![Event::Apply(no_uid), Event::Apply(event("e1", "1", START))]);
        assert_eq!(seen, [r#"undecodable Some("e")"#, "event e1"]);
    }

    #[test]
    fn observations_carry_their_arrival() {
        let mut state = WatchState::new("Pod", START);
        let effects = state.step(Event::Apply(pod("a")), START + 5);
        assert!(matches!(&effects[..], [Effect::Observe(o)] if o.at == START + 5));
    }

    #[test]
    fn documents_carry_the_watched_kind_and_the_capture_its_watch_type() {
        let resource = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            plural: "replicasets".into(),
        };
        let object: DynamicObject =
            serde_json::from_value(json!({"metadata": {"name": "rs", "uid": "u"}})).unwrap();
        let event = to_document(Event::InitApply(object.clone()), &resource).unwrap();
        let (event_type, document) = capture_type(&event).unwrap();
        assert_eq!(event_type, "ADDED");
        assert_eq!(
            (&document["apiVersion"], &document["kind"]),
            (&json!("apps/v1"), &json!("ReplicaSet"))
        );
        assert_eq!(document["metadata"]["name"], "rs");
        let types = |event: Event<DynamicObject>| {
            to_document(event, &resource).and_then(|e| capture_type(&e).map(|(t, _)| t))
        };
        assert_eq!(types(Event::Apply(object.clone())), Some("MODIFIED"));
        assert_eq!(types(Event::Delete(object)), Some("DELETED"));
        assert_eq!(types(Event::Init), None);
        assert_eq!(types(Event::InitDone), None);
    }
}
