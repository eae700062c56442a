//! Whether a superseded Deployment rollout was rolled back. `kubectl rollout undo`
//! (or applying an earlier template again) leaves no Event of its own: the
//! deployment controller adopts the ReplicaSet of that template again and gives it
//! the next revision number. So a rollout that made a ReplicaSet of its own was
//! rolled back when the ReplicaSet now carrying the Deployment's revision existed
//! before the rollout began. (A rollout that only scaled made none: a later
//! template change ends it as superseded.)

use super::graph::Graph;
use super::objects::{Objects, Tracked};
use crate::observe::{Kind, ObjectKey};
use crate::time::Nanos;

/// The ReplicaSet a rollback returned to.
pub struct Rollback {
    pub replica_set: String,
    pub revision: String,
}

/// The rollback that ended a rollout of `top` which began at `began`: the
/// Deployment's current revision runs a ReplicaSet created before then, while a
/// ReplicaSet created since shows the rollout had a template of its own.
pub fn of(
    top: &ObjectKey,
    tracked: &Tracked,
    began: Nanos,
    objects: &Objects,
    graph: &Graph,
) -> Option<Rollback> {
    if top.kind != Kind::Deployment {
        return None;
    }
    let revision = tracked.seen.revision()?;
    let replica_sets: Vec<&Tracked> = graph
        .owned(top)
        .filter(|key| key.kind == Kind::ReplicaSet)
        .filter_map(|key| objects.get(key))
        .collect();
    let current = replica_sets.iter().find(|rs| rs.seen.revision() == Some(revision))?;
    let made_since = replica_sets.iter().any(|rs| rs.seen.created.is_some_and(|c| c >= began));
    let older = current.seen.created.is_some_and(|created| created < began);
    (made_since && older).then(|| Rollback {
        replica_set: current.seen.key.name.to_string(),
        revision: revision.to_string(),
    })
}
