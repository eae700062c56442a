//! The kinds kspan-rs understands, and how each is named in OpenTelemetry attributes.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    Pod,
    Node,
    PersistentVolumeClaim,
    HorizontalPodAutoscaler,
    Other(String),
}

impl Kind {
    pub fn parse(kind: &str) -> Kind {
        match kind {
            "Deployment" => Kind::Deployment,
            "ReplicaSet" => Kind::ReplicaSet,
            "StatefulSet" => Kind::StatefulSet,
            "DaemonSet" => Kind::DaemonSet,
            "Job" => Kind::Job,
            "CronJob" => Kind::CronJob,
            "Pod" => Kind::Pod,
            "Node" => Kind::Node,
            "PersistentVolumeClaim" => Kind::PersistentVolumeClaim,
            "HorizontalPodAutoscaler" => Kind::HorizontalPodAutoscaler,
            other => Kind::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Pod => "Pod",
            Kind::Node => "Node",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::Other(kind) => kind,
        }
    }

    /// The semantic-convention attribute keys `k8s.<kind>.name` and `.uid`; other
    /// kinds have none of their own (they use `k8s.object.*`).
    pub fn attribute_keys(&self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Kind::Deployment => ("k8s.deployment.name", "k8s.deployment.uid"),
            Kind::ReplicaSet => ("k8s.replicaset.name", "k8s.replicaset.uid"),
            Kind::StatefulSet => ("k8s.statefulset.name", "k8s.statefulset.uid"),
            Kind::DaemonSet => ("k8s.daemonset.name", "k8s.daemonset.uid"),
            Kind::Job => ("k8s.job.name", "k8s.job.uid"),
            Kind::CronJob => ("k8s.cronjob.name", "k8s.cronjob.uid"),
            Kind::Pod => ("k8s.pod.name", "k8s.pod.uid"),
            Kind::Node => ("k8s.node.name", "k8s.node.uid"),
            Kind::PersistentVolumeClaim => {
                ("k8s.persistentvolumeclaim.name", "k8s.persistentvolumeclaim.uid")
            }
            Kind::HorizontalPodAutoscaler => ("k8s.hpa.name", "k8s.hpa.uid"),
            Kind::Other(_) => return None,
        })
    }

    /// Kinds nothing else owns in practice; an event about one needs no waiting for owners.
    pub fn is_usually_top_level(&self) -> bool {
        matches!(
            self,
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::CronJob | Kind::Node
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
