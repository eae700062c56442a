//! The uid of a span's subject. A tracked object tells its own; an object known
//! only by reference (a StatefulSet not in the dump, a ReplicaSet deleted before
//! it) is told by what refers to it: its Events' involvedObject, and the
//! ownerReferences of its tracked children. Without it a search by uid finds
//! nothing, and two objects of the same name look alike.

use foldhash::{HashMap, HashMapExt};

use super::episode::Placed;
use super::graph::Graph;
use super::objects::Objects;
use crate::observe::{Kind, ObjectKey};

pub struct Uids<'a> {
    objects: &'a Objects,
    graph: &'a Graph,
    /// What an episode's Events said of their subjects, the first one of each
    /// (the one its trace id derives from). Not pods: their plans carry theirs.
    told: HashMap<&'a ObjectKey, &'a str>,
}

/// A kubelet names a Node by its name where the uid goes: that names, not identifies.
fn identifies(key: &ObjectKey, uid: &str) -> bool {
    !uid.is_empty() && uid != key.name
}

impl<'a> Uids<'a> {
    /// `events`: the episode's, sorted.
    pub fn new(objects: &'a Objects, graph: &'a Graph, events: &[&'a Placed]) -> Self {
        let mut told = HashMap::new();
        for placed in events {
            let involved = &placed.event.involved;
            if let (false, Some(uid)) = (involved.key.kind == Kind::Pod, &involved.uid) {
                told.entry(&involved.key).or_insert(uid.as_str());
            }
        }
        Uids { objects, graph, told }
    }

    pub fn of(&self, key: &ObjectKey) -> Option<&'a str> {
        let identifies = |uid: &&str| identifies(key, uid);
        let tracked = self.objects.get(key).map(|t| t.seen.uid.as_str());
        tracked
            .filter(identifies)
            .or_else(|| self.told.get(key).copied().filter(identifies))
            .or_else(|| self.owner_reference(key).filter(identifies))
    }

    /// The uid a tracked child's ownerReference gives `key`.
    fn owner_reference(&self, key: &ObjectKey) -> Option<&'a str> {
        self.graph.owned(key).find_map(|child| {
            let owners = &self.objects.get(child)?.seen.owners;
            let owner = owners.iter().find(|o| o.kind == key.kind && o.name == key.name)?;
            Some(owner.uid.as_str())
        })
    }
}
