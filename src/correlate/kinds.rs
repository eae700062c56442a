//! One entry per workload kind: everything the correlator treats differently
//! for it. A kind not listed here is traced as an object's activity.

use super::messages::{
    created_or_deleted_pod, cron_job_run, scaled_replica_set, stateful_set_member, Rule,
};
use crate::observe::Kind;

/// How the events of an episode of a top-level object of the kind are split
/// into rollouts, one trace each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollouts {
    /// One per generation (its spec change); events older than every known
    /// generation are grouped by the ReplicaSet they scaled up.
    ByGeneration,
    /// Every event is part of one trace, under this key: a pod's life, a Job's run.
    Whole(&'static str),
    /// One per Job the CronJob started.
    PerJob,
    /// One per episode, keyed by the time of its first event: no change starts it.
    PerEpisode,
}

pub struct KindRules {
    /// The kind's name, as `Kind::as_str` spells it.
    pub kind: &'static str,
    /// The root span of one of its rollouts.
    pub root: &'static str,
    /// Activity on it after its rollout's root span was emitted.
    pub later: &'static str,
    pub rollouts: Rollouts,
    /// What the Events its controller reports about it name, tried in order.
    pub mentions: &'static [Rule],
    /// Nothing else owns it in practice: an event about it needs no waiting for owners.
    pub top_level: bool,
    /// The semantic-convention attribute keys `k8s.<kind>.name` and `.uid`; a
    /// kind without its own uses `k8s.object.*`.
    pub attributes: Option<(&'static str, &'static str)>,
    /// The component that acts on it, as its Events name it: the service of its
    /// rollout's root whoever reported first (a provisioner, Flux, a scheduler),
    /// so that every rollout of the kind is found under one service.
    pub controller: Option<&'static str>,
}

const KINDS: &[KindRules] = &[
    KindRules {
        kind: "Deployment",
        root: "Deployment.Rollout",
        later: "Deployment.Activity",
        rollouts: Rollouts::ByGeneration,
        mentions: &[scaled_replica_set],
        top_level: true,
        attributes: Some(("k8s.deployment.name", "k8s.deployment.uid")),
        controller: Some("deployment-controller"),
    },
    KindRules {
        kind: "ReplicaSet",
        root: "ReplicaSet.Rollout",
        later: "ReplicaSet.Activity",
        rollouts: Rollouts::ByGeneration,
        mentions: &[created_or_deleted_pod],
        top_level: false,
        attributes: Some(("k8s.replicaset.name", "k8s.replicaset.uid")),
        controller: Some("replicaset-controller"),
    },
    KindRules {
        kind: "StatefulSet",
        root: "StatefulSet.Rollout",
        later: "StatefulSet.Activity",
        rollouts: Rollouts::ByGeneration,
        mentions: &[stateful_set_member],
        top_level: true,
        attributes: Some(("k8s.statefulset.name", "k8s.statefulset.uid")),
        controller: Some("statefulset-controller"),
    },
    KindRules {
        kind: "DaemonSet",
        root: "DaemonSet.Rollout",
        later: "DaemonSet.Activity",
        rollouts: Rollouts::ByGeneration,
        mentions: &[created_or_deleted_pod],
        top_level: true,
        attributes: Some(("k8s.daemonset.name", "k8s.daemonset.uid")),
        controller: Some("daemonset-controller"),
    },
    KindRules {
        kind: "Job",
        root: "Job.Run",
        later: "Job.Activity",
        rollouts: Rollouts::Whole("run"),
        mentions: &[created_or_deleted_pod],
        top_level: false,
        attributes: Some(("k8s.job.name", "k8s.job.uid")),
        controller: Some("job-controller"),
    },
    KindRules {
        kind: "CronJob",
        root: "CronJob.Run",
        later: "CronJob.Activity",
        rollouts: Rollouts::PerJob,
        mentions: &[cron_job_run],
        top_level: true,
        attributes: Some(("k8s.cronjob.name", "k8s.cronjob.uid")),
        controller: Some("cronjob-controller"),
    },
    KindRules {
        kind: "Pod",
        root: "Pod.Lifecycle",
        later: "Pod.Activity",
        rollouts: Rollouts::Whole("pod"),
        mentions: &[],
        top_level: false,
        attributes: Some(("k8s.pod.name", "k8s.pod.uid")),
        controller: None,
    },
    KindRules {
        kind: "Node",
        root: "Node.Activity",
        later: "Node.Activity",
        rollouts: Rollouts::PerEpisode,
        mentions: &[],
        top_level: true,
        attributes: Some(("k8s.node.name", "k8s.node.uid")),
        controller: None,
    },
    KindRules {
        kind: "PersistentVolumeClaim",
        root: OTHER.root,
        later: OTHER.later,
        rollouts: Rollouts::ByGeneration,
        mentions: &[],
        top_level: false,
        attributes: Some(("k8s.persistentvolumeclaim.name", "k8s.persistentvolumeclaim.uid")),
        controller: Some("persistentvolume-controller"),
    },
    KindRules {
        kind: "HorizontalPodAutoscaler",
        root: "HorizontalPodAutoscaler.Activity",
        later: "HorizontalPodAutoscaler.Activity",
        rollouts: Rollouts::PerEpisode,
        mentions: &[],
        top_level: false,
        attributes: Some(("k8s.hpa.name", "k8s.hpa.uid")),
        controller: Some("horizontal-pod-autoscaler"),
    },
    KindRules {
        kind: "ReplicationController",
        root: OTHER.root,
        later: OTHER.later,
        rollouts: Rollouts::PerEpisode,
        mentions: &[created_or_deleted_pod],
        top_level: false,
        attributes: None,
        controller: Some("replication-controller"),
    },
];

/// Any kind not listed.
const OTHER: KindRules = KindRules {
    kind: "",
    root: "Object.Activity",
    later: "Object.Activity",
    rollouts: Rollouts::PerEpisode,
    mentions: &[],
    top_level: false,
    attributes: None,
    controller: None,
};

/// The rules of `kind`.
pub fn of(kind: &Kind) -> &'static KindRules {
    let name = kind.as_str();
    KINDS.iter().find(|k| k.kind == name).unwrap_or(&OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_kind_has_its_own_entry() {
        for kind in [
            Kind::Deployment,
            Kind::ReplicaSet,
            Kind::StatefulSet,
            Kind::DaemonSet,
            Kind::Job,
            Kind::CronJob,
            Kind::Pod,
            Kind::Node,
            Kind::PersistentVolumeClaim,
            Kind::HorizontalPodAutoscaler,
        ] {
            assert_eq!(of(&kind).kind, kind.as_str());
            assert!(of(&kind).attributes.is_some(), "{kind}");
        }
    }

    #[test]
    fn kinds_are_listed_once() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(KINDS[i + 1..].iter().all(|other| other.kind != k.kind), "{}", k.kind);
        }
    }

    #[test]
    fn an_unknown_kind_is_an_object_s_activity() {
        let rules = of(&Kind::Other("Certificate".into()));
        assert_eq!((rules.root, rules.later), ("Object.Activity", "Object.Activity"));
        assert_eq!(rules.rollouts, Rollouts::PerEpisode);
        assert!(rules.mentions.is_empty() && !rules.top_level && rules.attributes.is_none());
    }

    #[test]
    fn a_replication_controller_names_its_pods_like_a_replica_set() {
        let rules = of(&Kind::Other("ReplicationController".into()));
        assert_eq!(rules.root, "Object.Activity");
        assert_eq!(rules.mentions.len(), 1);
        assert!(rules.attributes.is_none());
    }

    #[test]
    fn a_workload_s_rollouts_are_its_controller_s() {
        let controller = |kind: Kind| of(&kind).controller;
        assert_eq!(controller(Kind::Deployment), Some("deployment-controller"));
        assert_eq!(controller(Kind::DaemonSet), Some("daemonset-controller"));
        assert_eq!(controller(Kind::CronJob), Some("cronjob-controller"));
        assert_eq!(controller(Kind::PersistentVolumeClaim), Some("persistentvolume-controller"));
        // Many components report on a pod or a node, none of them its controller.
        assert_eq!((controller(Kind::Pod), controller(Kind::Node)), (None, None));
        assert_eq!(controller(Kind::Other("Certificate".into())), None);
    }

    #[test]
    fn workloads_nothing_owns_are_top_level() {
        let top: Vec<&str> = KINDS.iter().filter(|k| k.top_level).map(|k| k.kind).collect();
        assert_eq!(top, ["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Node"]);
    }
}
