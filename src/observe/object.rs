//! Compact projection of an API object: what the correlator needs, never the whole object.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};

use super::{Kind, ObjectKey};
use crate::time::{self, Nanos};

#[derive(Debug, Clone, PartialEq)]
pub struct OwnerRef {
    pub kind: Kind,
    pub name: String,
    pub uid: String,
    pub controller: bool,
}

/// Who last changed the object's spec, read from managedFields.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecChange {
    pub manager: String,
    pub operation: String,
    pub at: Option<Nanos>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub at: Option<Nanos>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodStatus {
    pub node: Option<String>,
    pub phase: Option<String>,
    /// Earliest container start, from containerStatuses[].state.running.startedAt.
    pub started: Option<Nanos>,
    pub containers: Vec<ContainerStatus>,
    /// status.reason and status.message of a pod the kubelet gave up on (`Evicted: ...`).
    pub reason: Option<String>,
}

/// What a crash loop leaves in containerStatuses: how often, and why it last ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerStatus {
    pub name: String,
    pub restarts: i32,
    /// lastState.terminated.reason, e.g. `OOMKilled`, `Error`.
    pub last_reason: Option<String>,
    pub last_exit_code: Option<i32>,
    /// state.terminated now: a container that ran to completion (a Job's pod) or failed for good.
    pub ended: Option<Ended>,
}

/// How a container's current run ended (state.terminated).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ended {
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`...
    pub reason: Option<String>,
    pub message: Option<String>,
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
    pub uid: String,
    pub generation: Option<i64>,
    /// Only used to pick the newer of two copies; opaque strings compare as "unknown".
    pub resource_version: Option<u64>,
    pub created: Option<Nanos>,
    pub deleting: Option<Nanos>,
    pub owners: Vec<OwnerRef>,
    pub spec_change: Option<SpecChange>,
    /// `deployment.kubernetes.io/revision` on Deployments and ReplicaSets.
    pub revision: Option<String>,
    pub conditions: Vec<Condition>,
    pub pod: Option<PodStatus>,
    pub workload: Option<WorkloadStatus>,
    /// Labels, kept only on objects without owners (those that can be a rollout's
    /// top, which `--selector` is matched against), sorted by key.
    pub labels: Vec<(String, String)>,
    /// What a HorizontalPodAutoscaler scales (spec.scaleTargetRef), in its namespace.
    pub scale_target: Option<ObjectKey>,
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

    pub fn controller(&self) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.controller).or(self.owners.first())
    }
}

/// Maps a typed object (from a watch or a replayed document) to its projection.
pub fn object_observation(kind: Kind, meta: &ObjectMeta) -> ObjectSeen {
    let owners = meta
        .owner_references
        .iter()
        .flatten()
        .map(|o| OwnerRef {
            kind: Kind::parse(&o.kind),
            name: o.name.clone(),
            uid: o.uid.clone(),
            controller: o.controller.unwrap_or(false),
        })
        .collect::<Vec<_>>();
    // A BTreeMap: already sorted by key.
    let labels = match (&meta.labels, owners.is_empty()) {
        (Some(labels), true) => labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    };
    ObjectSeen {
        key: ObjectKey::new(
            kind,
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        ),
        uid: meta.uid.clone().unwrap_or_default(),
        generation: meta.generation,
        resource_version: meta.resource_version.as_deref().and_then(|v| v.parse().ok()),
        created: meta.creation_timestamp.as_ref().and_then(time::from_time),
        deleting: meta.deletion_timestamp.as_ref().and_then(time::from_time),
        owners,
        spec_change: spec_change(meta.managed_fields.as_deref().unwrap_or_default()),
        revision: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .cloned(),
        conditions: Vec::new(),
        pod: None,
        workload: None,
        labels,
        scale_target: None,
    }
}

/// The newest managedFields entry that touches `spec`. Entries without a time
/// (seen on real clusters) rank below any timed entry instead of failing.
fn spec_change(entries: &[ManagedFieldsEntry]) -> Option<SpecChange> {
    entries
        .iter()
        .filter(|e| e.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").is_some()))
        .max_by_key(|e| e.time.as_ref().and_then(time::from_time))
        .map(|e| SpecChange {
            manager: e.manager.clone().unwrap_or_default(),
            operation: e.operation.clone().unwrap_or_default(),
            at: e.time.as_ref().and_then(time::from_time),
        })
}

/// Condition fields are plain strings in some API types and optional in others.
trait Text {
    fn text(&self) -> String;
}
impl Text for String {
    fn text(&self) -> String {
        self.clone()
    }
}
impl Text for Option<String> {
    fn text(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

fn condition(
    kind: &impl Text,
    status: &impl Text,
    at: Option<&Time>,
    reason: Option<&String>,
) -> Condition {
    Condition {
        kind: kind.text(),
        status: status.text(),
        at: at.and_then(time::from_time),
        reason: reason.cloned(),
    }
}

/// Kinds with status worth keeping implement this; everything else maps from metadata alone.
pub trait Project {
    fn project(&self) -> ObjectSeen;
}

macro_rules! project_conditions {
    ($ty:ty, $kind:expr, $time:ident) => {
        impl Project for $ty {
            fn project(&self) -> ObjectSeen {
                let mut seen = object_observation($kind, &self.metadata);
                let conditions = self.status.as_ref().and_then(|s| s.conditions.as_ref());
                seen.conditions = conditions
                    .into_iter()
                    .flatten()
                    .map(|c| condition(&c.type_, &c.status, c.$time.as_ref(), c.reason.as_ref()))
                    .collect();
                seen
            }
        }
    };
}

project_conditions!(ReplicaSet, Kind::ReplicaSet, last_transition_time);
project_conditions!(Job, Kind::Job, last_transition_time);
project_conditions!(Node, Kind::Node, last_transition_time);

/// Workloads whose rollout completes: conditions plus replica counts.
macro_rules! project_workload {
    ($ty:ty, $kind:expr, |$spec:ident, $status:ident| $workload:expr) => {
        impl Project for $ty {
            fn project(&self) -> ObjectSeen {
                let mut seen = object_observation($kind, &self.metadata);
                let conditions = self.status.as_ref().and_then(|s| s.conditions.as_ref());
                seen.conditions = conditions
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        condition(
                            &c.type_,
                            &c.status,
                            c.last_transition_time.as_ref(),
                            c.reason.as_ref(),
                        )
                    })
                    .collect();
                if let Some($status) = self.status.as_ref() {
                    let $spec = &self.spec;
                    seen.workload = Some($workload);
                }
                seen
            }
        }
    };
}

project_workload!(Deployment, Kind::Deployment, |spec, status| {
    WorkloadStatus {
        observed_generation: status.observed_generation,
        desired: Some(spec.replicas.unwrap_or(1)),
        replicas: status.replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
    }
});
project_workload!(StatefulSet, Kind::StatefulSet, |spec, status| {
    WorkloadStatus {
        observed_generation: status.observed_generation,
        desired: Some(spec.replicas.unwrap_or(1)),
        replicas: status.replicas,
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        // Before Kubernetes 1.22 a StatefulSet has no availableReplicas (nor
        // minReadySeconds): its ready pods are its available ones.
        available: status.available_replicas.or(status.ready_replicas).unwrap_or(0),
    }
});
project_workload!(DaemonSet, Kind::DaemonSet, |_spec, status| WorkloadStatus {
    observed_generation: status.observed_generation,
    desired: Some(status.desired_number_scheduled),
    replicas: status.current_number_scheduled,
    updated: status.updated_number_scheduled.unwrap_or(0),
    ready: status.number_ready,
    available: status.number_available.unwrap_or(0),
});

impl Project for CronJob {
    fn project(&self) -> ObjectSeen {
        object_observation(Kind::CronJob, &self.metadata)
    }
}

/// Only what the autoscaler scales: its rescale Events name no target.
impl Project for HorizontalPodAutoscaler {
    fn project(&self) -> ObjectSeen {
        let mut seen = object_observation(Kind::HorizontalPodAutoscaler, &self.metadata);
        let target = &self.spec.scale_target_ref;
        seen.scale_target = Some(ObjectKey::new(
            Kind::parse(&target.kind),
            seen.key.namespace.clone(),
            &target.name,
        ));
        seen
    }
}

impl Project for Pod {
    fn project(&self) -> ObjectSeen {
        let mut seen = object_observation(Kind::Pod, &self.metadata);
        let status = self.status.as_ref();
        seen.conditions = status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| {
                condition(&c.type_, &c.status, c.last_transition_time.as_ref(), c.reason.as_ref())
            })
            .collect();
        let started = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .filter_map(time::from_time)
            .min();
        let containers = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .map(|c| {
                let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                ContainerStatus {
                    name: c.name.clone(),
                    restarts: c.restart_count,
                    last_reason: last.and_then(|t| t.reason.clone()),
                    last_exit_code: last.map(|t| t.exit_code),
                    ended: c.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| Ended {
                        exit_code: t.exit_code,
                        reason: t.reason.clone(),
                        message: t.message.clone(),
                        at: t.finished_at.as_ref().and_then(time::from_time),
                    }),
                }
            })
            .collect();
        seen.pod = Some(PodStatus {
            node: self.spec.as_ref().and_then(|s| s.node_name.clone()),
            phase: status.and_then(|s| s.phase.clone()),
            started,
            containers,
            reason: status.and_then(|s| match (&s.reason, &s.message) {
                (Some(r), Some(m)) => Some(format!("{r}: {m}")),
                (r, m) => r.clone().or(m.clone()),
            }),
        });
        seen
    }
}
