//! The causality graph: child -> parent edges between objects, from ownerReferences
//! (authoritative) and from what controller events say (used until an owner
//! reference is known). Walking it finds the top-level object a trace belongs to.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::observe::ObjectKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Owner,
    Said,
}

/// Where a walk up the graph ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub top: ObjectKey,
    /// The chain from the subject (first) to the top (last).
    pub chain: Vec<ObjectKey>,
}

/// Deep enough for any real chain (CronJob -> Job -> Pod is 3); a cycle stops here too.
const MAX_DEPTH: usize = 16;

#[derive(Default)]
pub struct Graph {
    graph: StableDiGraph<ObjectKey, Edge>,
    /// Each object's node, found by its key (held once, by the node).
    index: HashTable<NodeIndex>,
    hasher: RandomState,
}

impl Graph {
    fn find(&self, key: &ObjectKey) -> Option<NodeIndex> {
        let hash = self.hasher.hash_one(key);
        self.index.find(hash, |n| self.graph[*n] == *key).copied()
    }

    fn node(&mut self, key: &ObjectKey) -> NodeIndex {
        if let Some(n) = self.find(key) {
            return n;
        }
        let n = self.graph.add_node(key.clone());
        let (graph, hasher) = (&self.graph, &self.hasher);
        self.index.insert_unique(hasher.hash_one(key), n, |n| hasher.hash_one(&graph[*n]));
        n
    }

    /// Takes `n` out of the index; its node still holds the key.
    fn unindex(&mut self, n: NodeIndex) {
        let hash = self.hasher.hash_one(&self.graph[n]);
        if let Ok(entry) = self.index.find_entry(hash, |m| *m == n) {
            entry.remove();
        }
    }

    /// Replaces the owner edges of `child` (an object's owners can change: adoption, orphaning).
    pub fn set_owner(&mut self, child: &ObjectKey, owner: Option<&ObjectKey>) {
        let c = self.node(child);
        let old: Vec<_> =
            self.graph.edges_directed(c, Direction::Outgoing).map(|e| e.id()).collect();
        for e in old {
            self.graph.remove_edge(e);
        }
        if let Some(owner) = owner {
            let p = self.node(owner);
            self.graph.add_edge(c, p, Edge::Owner);
        }
        self.prune(c);
    }

    /// Records what an event said, unless an owner reference already decides.
    pub fn said(&mut self, child: &ObjectKey, parent: &ObjectKey) {
        let c = self.node(child);
        let p = self.node(parent);
        let has_parent = self.graph.edges_directed(c, Direction::Outgoing).next().is_some();
        if !has_parent && c != p {
            self.graph.add_edge(c, p, Edge::Said);
        }
    }

    /// The objects whose ownerReferences name `key`.
    pub fn owned<'a>(&'a self, key: &ObjectKey) -> impl Iterator<Item = &'a ObjectKey> + 'a {
        let edges = self.find(key).into_iter().flat_map(move |n| {
            self.graph.edges_directed(n, Direction::Incoming).filter(|e| *e.weight() == Edge::Owner)
        });
        edges.map(move |e| &self.graph[e.source()])
    }

    pub fn route(&self, key: &ObjectKey) -> Route {
        let mut chain = vec![key.clone()];
        let Some(mut n) = self.find(key) else {
            return Route { top: key.clone(), chain };
        };
        while chain.len() < MAX_DEPTH {
            let Some(edge) = self.graph.edges_directed(n, Direction::Outgoing).next() else {
                break;
            };
            let parent = &self.graph[edge.target()];
            if chain.contains(parent) {
                break; // an owner cycle: stop at the last new object
            }
            chain.push(parent.clone());
            n = edge.target();
        }
        Route { top: chain.last().cloned().unwrap_or_else(|| key.clone()), chain }
    }

    /// The top of `key`'s chain (the last element of its route), without building the chain.
    pub fn top(&self, key: &ObjectKey) -> ObjectKey {
        let Some(mut n) = self.find(key) else {
            return key.clone();
        };
        // On the stack: this runs for every observation.
        let mut seen = [n; MAX_DEPTH];
        let mut depth = 1;
        while depth < MAX_DEPTH {
            let Some(edge) = self.graph.edges_directed(n, Direction::Outgoing).next() else {
                break;
            };
            if seen[..depth].contains(&edge.target()) {
                break; // an owner cycle: stop at the last new object
            }
            n = edge.target();
            seen[depth] = n;
            depth += 1;
        }
        self.graph[n].clone()
    }

    /// Forgets an object; edges of its children to it go too.
    pub fn remove(&mut self, key: &ObjectKey) {
        if let Some(n) = self.find(key) {
            self.unindex(n);
            self.graph.remove_node(n);
        }
    }

    fn prune(&mut self, n: NodeIndex) {
        let isolated = self.graph.edges_directed(n, Direction::Incoming).next().is_none()
            && self.graph.edges_directed(n, Direction::Outgoing).next().is_none();
        if isolated {
            self.unindex(n);
            self.graph.remove_node(n);
        }
    }
}
