//! What controller Events say about other objects: the ReplicaSet a Deployment
//! scaled, the Pod a ReplicaSet/StatefulSet/DaemonSet/Job created or deleted, the
//! Job a CronJob started, the size an autoscaler chose. These name objects before
//! (or without) any watch delivers them, and give the causal edge child -> parent.
//! Which kind's Events are read with which rule is in `kinds`.

use super::kinds;
use crate::observe::{EventSeen, Kind, ObjectKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Delete,
    ScaleUp(i64),
    ScaleDown(i64),
    /// Named without changing it (a CronJob saw its Job complete).
    Mention,
}

/// An object named in an event message, owned by the event's subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    pub object: ObjectKey,
    pub action: Action,
}

/// Reads an Event's (reason, message): the object it names, and what was done to it.
pub type Rule = fn(&str, &str) -> Option<(Kind, String, Action)>;

pub fn mention(event: &EventSeen) -> Option<Mention> {
    let subject = &event.involved.key;
    let rules = kinds::of(&subject.kind).mentions;
    rules.iter().find_map(|rule| rule(&event.reason, &event.message)).map(|(kind, name, action)| {
        Mention { object: ObjectKey::new(kind, subject.namespace.clone(), name), action }
    })
}

/// What a HorizontalPodAutoscaler's `SuccessfulRescale` says: "New size: 4;
/// reason: cpu resource utilization (percentage of request) above target".
#[derive(Debug, Clone, PartialEq)]
pub struct Rescale {
    pub size: Option<i64>,
    pub reason: Option<String>,
}

pub fn rescale(event: &EventSeen) -> Option<Rescale> {
    if event.involved.key.kind != Kind::HorizontalPodAutoscaler
        || event.reason != "SuccessfulRescale"
    {
        return None;
    }
    let m = &event.message;
    let size = m
        .strip_prefix("New size: ")
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.trim().parse().ok());
    let reason =
        m.split_once("reason: ").map(|(_, r)| r.trim().to_string()).filter(|r| !r.is_empty());
    Some(Rescale { size, reason })
}

/// "Scaled up replica set px-5d567cc74c to 2" (and newer "... from 1 to 2").
pub fn scaled_replica_set(reason: &str, message: &str) -> Option<(Kind, String, Action)> {
    if reason != "ScalingReplicaSet" {
        return None;
    }
    let (up, rest) = if let Some(rest) = message.strip_prefix("Scaled up replica set ") {
        (true, rest)
    } else {
        (false, message.strip_prefix("Scaled down replica set ")?)
    };
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_string();
    let to = words.last().and_then(|n| n.trim_end_matches('.').parse().ok()).unwrap_or(0);
    Some((Kind::ReplicaSet, name, if up { Action::ScaleUp(to) } else { Action::ScaleDown(to) }))
}

/// "Created pod: px-5d567cc74c-8xkzw" / "Deleted pod: px-7df978b9bf-4jmxf".
pub fn created_or_deleted_pod(reason: &str, message: &str) -> Option<(Kind, String, Action)> {
    let (prefix, action) = match reason {
        "SuccessfulCreate" => ("Created pod: ", Action::Create),
        "SuccessfulDelete" => ("Deleted pod: ", Action::Delete),
        _ => return None,
    };
    let name = message.strip_prefix(prefix)?.split_whitespace().next()?;
    Some((Kind::Pod, name.to_string(), action))
}

/// "create Pod ingester-3 in StatefulSet ingester successful",
/// "delete Pod ...", "create Claim data-ingester-3 Pod ingester-3 in StatefulSet ingester success";
/// current releases capitalise the verb ("Create Pod ...", "Create Claim ...").
pub fn stateful_set_member(_reason: &str, message: &str) -> Option<(Kind, String, Action)> {
    let mut words = message.split_whitespace();
    let action = match words.next()? {
        "create" | "Create" => Action::Create,
        "delete" | "Delete" => Action::Delete,
        _ => return None,
    };
    let kind = match words.next()? {
        "Pod" => Kind::Pod,
        "Claim" => Kind::PersistentVolumeClaim,
        _ => return None,
    };
    Some((kind, words.next()?.to_string(), action))
}

/// "Created job hello-27740160", "Saw completed job: hello-27740160, status: Complete",
/// "Deleted job hello-27740100".
pub fn cron_job_run(reason: &str, message: &str) -> Option<(Kind, String, Action)> {
    let (rest, action) = match reason {
        "SuccessfulCreate" => (message.strip_prefix("Created job ")?, Action::Create),
        "SuccessfulDelete" => (message.strip_prefix("Deleted job ")?, Action::Delete),
        "SawCompletedJob" => (message.strip_prefix("Saw completed job: ")?, Action::Mention),
        _ => return None,
    };
    let name = rest.split([',', ' ']).next().filter(|n| !n.is_empty())?;
    Some((Kind::Job, name.to_string(), action))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Involved, Name};

    fn said(kind: Kind, reason: &str, message: &str) -> EventSeen {
        EventSeen {
            uid: "e1".into(),
            name: "e1".into(),
            namespace: "ns".into(),
            reason: reason.into(),
            kind: "Normal".into(),
            message: message.into(),
            count: 1,
            first: None,
            last: None,
            involved: Involved {
                key: ObjectKey::new(kind, "ns", "x"),
                uid: None,
                field_path: None,
            },
            component: Name::default(),
            host: None,
            top_level: false,
        }
    }

    fn named(kind: Kind, reason: &str, message: &str) -> Option<(Kind, String, Action)> {
        mention(&said(kind, reason, message)).map(|m| {
            assert_eq!(m.object.namespace, "ns", "in the subject's namespace");
            (m.object.kind, m.object.name.to_string(), m.action)
        })
    }

    #[test]
    fn a_deployment_names_the_replica_set_it_scaled_and_the_size() {
        let up = named(Kind::Deployment, "ScalingReplicaSet", "Scaled up replica set px-5d to 2");
        assert_eq!(up, Some((Kind::ReplicaSet, "px-5d".into(), Action::ScaleUp(2))));
        let down = "Scaled down replica set px-7d to 0 from 1";
        let down = named(Kind::Deployment, "ScalingReplicaSet", down);
        assert_eq!(down, Some((Kind::ReplicaSet, "px-7d".into(), Action::ScaleDown(1))));
    }

    #[test]
    fn pod_controllers_name_the_pods_they_create_and_delete() {
        for kind in [Kind::ReplicaSet, Kind::DaemonSet, Kind::Job] {
            let created = named(kind.clone(), "SuccessfulCreate", "Created pod: px-8xkzw");
            assert_eq!(created, Some((Kind::Pod, "px-8xkzw".into(), Action::Create)), "{kind}");
            let deleted = named(kind.clone(), "SuccessfulDelete", "Deleted pod: px-4jmxf");
            assert_eq!(deleted, Some((Kind::Pod, "px-4jmxf".into(), Action::Delete)), "{kind}");
        }
        let rc = Kind::Other("ReplicationController".into());
        assert_eq!(
            named(rc, "SuccessfulCreate", "Created pod: old-1"),
            Some((Kind::Pod, "old-1".into(), Action::Create))
        );
    }

    #[test]
    fn a_stateful_set_names_its_pods_and_claims() {
        let pod = "create Pod ingester-3 in StatefulSet ingester successful";
        assert_eq!(
            named(Kind::StatefulSet, "SuccessfulCreate", pod),
            Some((Kind::Pod, "ingester-3".into(), Action::Create))
        );
        let claim = "create Claim data-ingester-3 Pod ingester-3 in StatefulSet ingester success";
        assert_eq!(
            named(Kind::StatefulSet, "SuccessfulCreate", claim),
            Some((Kind::PersistentVolumeClaim, "data-ingester-3".into(), Action::Create))
        );
        // As Kubernetes 1.37 writes them.
        let claim = "Create Claim data-db-0 Pod db-0 in StatefulSet db success";
        assert_eq!(
            named(Kind::StatefulSet, "SuccessfulCreate", claim),
            Some((Kind::PersistentVolumeClaim, "data-db-0".into(), Action::Create))
        );
        assert_eq!(
            named(
                Kind::StatefulSet,
                "SuccessfulDelete",
                "Delete Pod db-1 in StatefulSet db successful"
            ),
            Some((Kind::Pod, "db-1".into(), Action::Delete))
        );
    }

    #[test]
    fn a_cron_job_names_its_jobs() {
        let saw = "Saw completed job: hello-27740160, status: Complete";
        assert_eq!(
            named(Kind::CronJob, "SawCompletedJob", saw),
            Some((Kind::Job, "hello-27740160".into(), Action::Mention))
        );
        assert_eq!(
            named(Kind::CronJob, "SuccessfulCreate", "Created job hello-1"),
            Some((Kind::Job, "hello-1".into(), Action::Create))
        );
    }

    #[test]
    fn the_same_words_from_another_kind_name_nothing() {
        assert_eq!(named(Kind::Pod, "SuccessfulCreate", "Created pod: px-1"), None);
        assert_eq!(named(Kind::Node, "ScalingReplicaSet", "Scaled up replica set a to 1"), None);
    }

    #[test]
    fn an_autoscaler_s_rescale_tells_its_size_and_reason() {
        let message = "New size: 4; reason: cpu resource utilization above target";
        let told = rescale(&said(Kind::HorizontalPodAutoscaler, "SuccessfulRescale", message));
        assert_eq!(
            told,
            Some(Rescale {
                size: Some(4),
                reason: Some("cpu resource utilization above target".into())
            })
        );
        assert_eq!(rescale(&said(Kind::Deployment, "SuccessfulRescale", message)), None);
    }
}
