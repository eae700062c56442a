//! Compact projection of an API object: what the correlator needs, never the whole object.

use super::view::{at, name, ConditionView, ManagedView, MetaView, ObjectView, StatusView};
use super::{Kind, Name, ObjectKey};
use crate::time::Nanos;

#[derive(Debug, Clone, PartialEq)]
pub struct OwnerRef {
    pub kind: Kind,
    pub name: Name,
    pub uid: Name,
    pub controller: bool,
}

/// Who last changed the object's spec, read from managedFields.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecChange {
    pub manager: Name,
    pub operation: Name,
    pub at: Option<Nanos>,
    /// The same entry owns the traceparent annotation: the change that set it.
    pub owns_traceparent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub kind: Name,
    pub status: Name,
    pub at: Option<Nanos>,
    /// Boxed, smaller than a Name: a pod keeps several conditions, most of
    /// them without a reason.
    pub reason: Option<Box<str>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodStatus {
    pub node: Option<Name>,
    pub phase: Option<Name>,
    /// Earliest container start, from containerStatuses[].state.running.startedAt.
    pub started: Option<Nanos>,
    pub containers: Vec<ContainerStatus>,
    /// status.reason and status.message of a pod the kubelet gave up on (`Evicted: ...`).
    pub reason: Option<Name>,
}

/// What a crash loop leaves in containerStatuses: how often, and why it last ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerStatus {
    pub name: Name,
    pub restarts: i32,
    /// lastState.terminated.reason, e.g. `OOMKilled`, `Error`; rarely set, so
    /// boxed, smaller than a Name.
    pub last_reason: Option<Box<str>>,
    pub last_exit_code: Option<i32>,
    /// state.terminated now: a container that ran to completion (a Job's pod) or failed for good.
    pub ended: Option<Box<Ended>>,
}

/// How a container's current run ended (state.terminated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ended {
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`...
    pub reason: Option<Name>,
    pub message: Option<Name>,
    pub at: Option<Nanos>,
}

/// Rollout progress of a workload, in the terms of its controller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadStatus {
    pub observed_generation: Option<i64>,
    pub desired: Option<i32>,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
}

impl WorkloadStatus {
    /// The controller has seen `generation` and every replica is updated, ready and available.
    pub fn complete(&self, generation: i64) -> bool {
        let desired = self.desired.unwrap_or(1);
        self.observed_generation.is_some_and(|g| g >= generation)
            && self.updated == desired
            && self.ready == desired
            && self.available == desired
            && self.replicas == desired
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSeen {
    pub key: ObjectKey,
    pub uid: Name,
    pub generation: Option<i64>,
    /// Only used to pick the newer of two copies; opaque strings compare as "unknown".
    pub resource_version: Option<u64>,
    pub created: Option<Nanos>,
    pub deleting: Option<Nanos>,
    pub owners: Vec<OwnerRef>,
    pub spec_change: Option<Box<SpecChange>>,
    pub annotations: Option<Box<Annotations>>,
    pub conditions: Vec<Condition>,
    pub pod: Option<PodStatus>,
    pub workload: Option<WorkloadStatus>,
    /// Labels, kept only on objects without owners (those that can be a rollout's
    /// top, which `--selector` is matched against), sorted by key.
    pub labels: Vec<(Name, Name)>,
    /// What a HorizontalPodAutoscaler scales (spec.scaleTargetRef), in its namespace.
    pub scale_target: Option<Box<ObjectKey>>,
}

/// The annotations kspan-rs reads. Boxed: most objects (pods) have none of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// `deployment.kubernetes.io/revision` on Deployments and ReplicaSets.
    pub revision: Option<Name>,
    /// The traceparent annotation's value as written (see `traceparent`), kept
    /// only on objects without owners, like the labels.
    pub traceparent: Option<Box<str>>,
}

impl ObjectSeen {
    /// The newest instant the object itself records: the best guess of when a copy
    /// without an arrival time was taken.
    pub fn latest_time(&self) -> Option<Nanos> {
        let spec = self.spec_change.as_ref().and_then(|c| c.at);
        let conditions = self.conditions.iter().filter_map(|c| c.at);
        let started = self.pod.as_ref().and_then(|p| p.started);
        [self.created, self.deleting, spec, started].into_iter().flatten().chain(conditions).max()
    }

    pub fn revision(&self) -> Option<&str> {
        self.annotations.as_ref()?.revision.as_deref()
    }

    pub fn traceparent(&self) -> Option<&str> {
        self.annotations.as_ref()?.traceparent.as_deref()
    }

    pub fn controller(&self) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.controller).or(self.owners.first())
    }
}

/// Maps an object's metadata (from a watch or a replayed document) to its projection.
pub fn object_observation(kind: Kind, meta: &MetaView) -> ObjectSeen {
    // From a slice, so the vector is allocated at its exact length.
    let owners = meta
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|o| OwnerRef {
            kind: Kind::parse(&o.kind),
            name: Name::from(o.name.as_ref()),
            uid: Name::from(o.uid.as_ref()),
            controller: o.controller.unwrap_or(false),
        })
        .collect::<Vec<_>>();
    let annotations = meta.annotations.as_ref().map(|a| Annotations {
        revision: a.revision.as_deref().map(Name::from),
        traceparent: a.traceparent.as_deref().filter(|_| owners.is_empty()).map(Box::from),
    });
    // A BTreeMap: already sorted by key.
    let labels = match (&meta.labels, owners.is_empty()) {
        (Some(labels), true) => {
            labels.iter().map(|(k, v)| (Name::from(k.as_ref()), Name::from(v.as_ref()))).collect()
        }
        _ => Vec::new(),
    };
    ObjectSeen {
        key: ObjectKey::new(kind, name(&meta.namespace), name(&meta.name)),
        uid: name(&meta.uid),
        generation: meta.generation,
        resource_version: meta.resource_version.as_deref().and_then(|v| v.parse().ok()),
        created: at(&meta.creation_timestamp),
        deleting: at(&meta.deletion_timestamp),
        owners,
        spec_change: spec_change(meta.managed_fields.as_deref().unwrap_or_default()),
        annotations: annotations.filter(|a| *a != Annotations::default()).map(Box::new),
        conditions: Vec::new(),
        pod: None,
        workload: None,
        labels,
        scale_target: None,
    }
}

/// The newest managedFields entry that touches `spec`. Entries without a time
/// (seen on real clusters) rank below any timed entry instead of failing.
fn spec_change(entries: &[ManagedView]) -> Option<Box<SpecChange>> {
    let e = entries.iter().filter(|e| e.fields_v1.spec).max_by_key(|e| at(&e.time))?;
    Some(Box::new(SpecChange {
        manager: e.manager.as_deref().unwrap_or_default().into(),
        operation: e.operation.as_deref().unwrap_or_default().into(),
        at: at(&e.time),
        owns_traceparent: e.fields_v1.traceparent,
    }))
}

fn conditions(status: Option<&StatusView>) -> Vec<Condition> {
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions.iter().map(condition).collect()
}

fn condition(c: &ConditionView) -> Condition {
    Condition {
        kind: c.kind.as_ref().into(),
        status: c.status.as_ref().into(),
        at: at(&c.last_transition_time),
        reason: c.reason.as_deref().map(Box::from),
    }
}

/// Maps a view of an object of `kind` to its projection: metadata, plus the
/// status worth keeping for the kinds that have one.
pub fn project(kind: Kind, view: &ObjectView) -> ObjectSeen {
    let mut seen = object_observation(kind, &view.metadata);
    let status = view.status.as_ref();
    let spec = view.spec.as_ref();
    match &seen.key.kind {
        Kind::ReplicaSet | Kind::Job | Kind::Node => seen.conditions = conditions(status),
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => {
            seen.conditions = conditions(status);
            seen.workload =
                status.map(|s| workload(&seen.key.kind, spec.and_then(|s| s.replicas), s));
        }
        Kind::HorizontalPodAutoscaler => {
            // Only what the autoscaler scales: its rescale Events name no target.
            let target = spec.and_then(|s| s.scale_target_ref.as_ref());
            seen.scale_target = Some(Box::new(ObjectKey::new(
                Kind::parse(target.map(|t| t.kind.as_ref()).unwrap_or_default()),
                seen.key.namespace.clone(),
                target.map(|t| t.name.as_ref()).unwrap_or_default(),
            )));
        }
        Kind::Pod => {
            seen.conditions = conditions(status);
            seen.pod = Some(pod(spec.and_then(|s| s.node_name.as_deref()), status));
        }
        _ => {}
    }
    seen
}

/// Rollout progress, in the terms of each workload's controller.
fn workload(kind: &Kind, replicas: Option<i32>, s: &StatusView) -> WorkloadStatus {
    let n = |v: Option<i32>| v.unwrap_or(0);
    match kind {
        Kind::DaemonSet => WorkloadStatus {
            observed_generation: s.observed_generation,
            desired: Some(n(s.desired_number_scheduled)),
            replicas: n(s.current_number_scheduled),
            updated: n(s.updated_number_scheduled),
            ready: n(s.number_ready),
            available: n(s.number_available),
        },
        _ => WorkloadStatus {
            observed_generation: s.observed_generation,
            desired: Some(replicas.unwrap_or(1)),
            replicas: n(s.replicas),
            updated: n(s.updated_replicas),
            ready: n(s.ready_replicas),
            // Before Kubernetes 1.22 a StatefulSet has no availableReplicas (nor
            // minReadySeconds): its ready pods are its available ones.
            available: match kind {
                Kind::StatefulSet => n(s.available_replicas.or(s.ready_replicas)),
                _ => n(s.available_replicas),
            },
        },
    }
}

fn pod(node: Option<&str>, status: Option<&StatusView>) -> PodStatus {
    let statuses = status.and_then(|s| s.container_statuses.as_deref()).unwrap_or_default();
    let started =
        statuses.iter().filter_map(|c| at(&c.state.as_ref()?.running.as_ref()?.started_at)).min();
    let containers = statuses
        .iter()
        .map(|c| {
            let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            let text = |t: &Option<super::view::Text>| t.as_deref().map(Name::from);
            ContainerStatus {
                name: c.name.as_ref().into(),
                restarts: c.restart_count,
                last_reason: last.and_then(|t| t.reason.as_deref()).map(Box::from),
                last_exit_code: last.map(|t| t.exit_code),
                ended: c.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| {
                    Box::new(Ended {
                        exit_code: t.exit_code,
                        reason: text(&t.reason),
                        message: text(&t.message),
                        at: at(&t.finished_at),
                    })
                }),
            }
        })
        .collect();
    PodStatus {
        node: node.map(Name::from),
        phase: status.and_then(|s| s.phase.as_deref()).map(Name::from),
        started,
        containers,
        reason: status.and_then(|s| match (s.reason.as_deref(), s.message.as_deref()) {
            (Some(r), Some(m)) => Some(compact_str::format_compact!("{r}: {m}")),
            (r, m) => r.or(m).map(Name::from),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traceparent_annotation_is_kept_only_on_objects_without_owners() {
        let object = |owners: &str| {
            let line = format!(
                r#"{{"metadata":{{"name":"web","annotations":{{"kspan.io/traceparent":"v"}}{owners}}}}}"#
            );
            let view: ObjectView = serde_json::from_str(&line).unwrap();
            project(Kind::Deployment, &view).traceparent().map(str::to_string)
        };
        assert_eq!(object("").as_deref(), Some("v"));
        let owned = r#","ownerReferences":[{"kind":"X","name":"x","uid":"u"}]"#;
        assert_eq!(object(owned), None);
    }
}
