//! The kinds of object kspan-rs tells apart; what the correlator does with each
//! is in `correlate::kinds`.

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
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
