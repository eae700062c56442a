//! Each object as the API server writes it in a watch event.

use std::fmt::Write as _;

use super::cluster::{
    node_ip, node_name, Container, ObjectRef, Pod, PodView, Progress, ReplicaSet, Workload,
    WorkloadKind,
};
use super::text::stamp;

fn containers_json(s: &mut String, containers: &[Container]) {
    s.push('[');
    for (i, c) in containers.iter().enumerate() {
        let _ = write!(
            s,
            r#"{}{{"name":"{}","image":"{}","imagePullPolicy":"IfNotPresent","ports":[{{"containerPort":8080,"protocol":"TCP"}}],"resources":{{}},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}}"#,
            if i > 0 { "," } else { "" },
            c.name,
            c.image
        );
    }
    s.push(']');
}

fn template_json(s: &mut String, labels: &str, containers: &[Container], restart_policy: &str) {
    let _ = write!(s, r#"{{"metadata":{{"labels":{labels}}},"spec":{{"containers":"#);
    containers_json(s, containers);
    let _ = write!(
        s,
        r#","restartPolicy":"{restart_policy}","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","schedulerName":"default-scheduler","securityContext":{{}}}}}}"#
    );
}

fn managed_fields(s: &mut String, w: &Workload, api: &str, status_time: i64) {
    let (manager, operation) = w.manager;
    let _ = write!(
        s,
        r#""managedFields":[{{"manager":"{manager}","operation":"{operation}","apiVersion":"{api}","time":"{}","fieldsType":"FieldsV1","fieldsV1":{{"f:spec":{{"f:replicas":{{}},"f:template":{{"f:spec":{{"f:containers":{{"k:{{\"name\":\"{}\"}}":{{".":{{}},"f:image":{{}},"f:name":{{}}}}}}}}}}}}}}}},{{"manager":"kube-controller-manager","operation":"Update","apiVersion":"{api}","time":"{}","fieldsType":"FieldsV1","fieldsV1":{{"f:status":{{"f:observedGeneration":{{}},"f:replicas":{{}}}}}},"subresource":"status"}}]"#,
        stamp(w.spec_time),
        w.containers[0].name,
        stamp(status_time)
    );
}

fn app_labels(w: &Workload) -> String {
    format!(r#"{{"app":"{}"}}"#, w.app)
}

pub(super) fn workload_json(w: &Workload, at: i64, version: i64, p: Progress) -> String {
    let mut s = String::with_capacity(2500);
    let (api, kind) = match w.kind {
        WorkloadKind::Deployment => ("apps/v1", "Deployment"),
        WorkloadKind::StatefulSet => ("apps/v1", "StatefulSet"),
        WorkloadKind::DaemonSet => ("apps/v1", "DaemonSet"),
        WorkloadKind::Job => unreachable!("Jobs are written by job_json"),
    };
    let _ = write!(
        s,
        r#"{{"apiVersion":"{api}","kind":"{kind}","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":{},"creationTimestamp":"{}","labels":{}"#,
        w.name,
        w.namespace,
        w.uid,
        w.generation,
        stamp(w.created),
        app_labels(w),
    );
    if w.kind == WorkloadKind::Deployment {
        let revision = w.current.as_ref().map_or(1, |r| r.revision);
        let _ = write!(s, r#","annotations":{{"deployment.kubernetes.io/revision":"{revision}"}}"#);
    }
    s.push(',');
    managed_fields(&mut s, w, api, at);
    let _ = write!(
        s,
        r#"}},"spec":{{"replicas":{},"selector":{{"matchLabels":{}}},"template":"#,
        w.replicas,
        app_labels(w)
    );
    template_json(&mut s, &app_labels(w), &w.containers, "Always");
    let complete = p.observed == w.generation && p.updated == w.replicas && p.ready == w.replicas;
    match w.kind {
        WorkloadKind::Deployment => {
            let _ = write!(
                s,
                r#","strategy":{{"type":"RollingUpdate","rollingUpdate":{{"maxSurge":"25%","maxUnavailable":"25%"}}}},"revisionHistoryLimit":1,"progressDeadlineSeconds":600}},"status":{{"observedGeneration":{},"replicas":{},"updatedReplicas":{},"readyReplicas":{},"availableReplicas":{}"#,
                p.observed, p.replicas, p.updated, p.ready, p.ready
            );
            if p.ready < w.replicas {
                let _ = write!(s, r#","unavailableReplicas":{}"#, w.replicas - p.ready);
            }
            let rs = w.current.as_ref().map_or(String::new(), |r| r.name.clone());
            let (reason, message) = if complete {
                (
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \\\"{rs}\\\" has successfully progressed."),
                )
            } else {
                ("ReplicaSetUpdated", format!("ReplicaSet \\\"{rs}\\\" is progressing."))
            };
            let available = p.ready + w.replicas / 4 >= w.replicas;
            let _ = write!(
                s,
                r#","conditions":[{{"type":"Available","status":"{}","lastUpdateTime":"{}","lastTransitionTime":"{}","reason":"{}","message":"Deployment {} minimum availability."}},{{"type":"Progressing","status":"True","lastUpdateTime":"{}","lastTransitionTime":"{}","reason":"{reason}","message":"{message}"}}]}}}}"#,
                if available { "True" } else { "False" },
                stamp(at),
                stamp(w.created),
                if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" },
                if available { "has" } else { "does not have" },
                stamp(at),
                stamp(w.spec_time),
            );
        }
        WorkloadKind::StatefulSet => {
            let current = if complete { &w.revision } else { "previous" };
            let _ = write!(
                s,
                r#","serviceName":"{}","podManagementPolicy":"OrderedReady","updateStrategy":{{"type":"RollingUpdate","rollingUpdate":{{"partition":0}}}},"revisionHistoryLimit":10}},"status":{{"observedGeneration":{},"replicas":{},"readyReplicas":{},"currentReplicas":{},"updatedReplicas":{},"availableReplicas":{},"currentRevision":"{}-{current}","updateRevision":"{}-{}","collisionCount":0}}}}"#,
                w.name,
                p.observed,
                p.replicas,
                p.ready,
                if complete { w.replicas } else { w.replicas - p.updated },
                p.updated,
                p.ready,
                w.name,
                w.name,
                w.revision
            );
        }
        WorkloadKind::DaemonSet => {
            let _ = write!(
                s,
                r#","updateStrategy":{{"type":"RollingUpdate","rollingUpdate":{{"maxUnavailable":"10%","maxSurge":0}}}},"revisionHistoryLimit":10}},"status":{{"observedGeneration":{},"currentNumberScheduled":{},"desiredNumberScheduled":{},"numberMisscheduled":0,"numberReady":{},"updatedNumberScheduled":{},"numberAvailable":{}}}}}"#,
                p.observed, p.replicas, w.replicas, p.ready, p.updated, p.ready
            );
        }
        WorkloadKind::Job => unreachable!(),
    }
    s
}

pub(super) fn replica_set_json(
    w: &Workload,
    rs: &ReplicaSet,
    version: i64,
    ready: u32,
    pods: u32,
) -> String {
    let mut s = String::with_capacity(1800);
    let labels = format!(r#"{{"app":"{}","pod-template-hash":"{}"}}"#, w.app, rs.hash);
    let _ = write!(
        s,
        r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":{},"creationTimestamp":"{}","labels":{labels},"annotations":{{"deployment.kubernetes.io/desired-replicas":"{}","deployment.kubernetes.io/max-replicas":"{}","deployment.kubernetes.io/revision":"{}"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"Deployment","name":"{}","uid":"{}","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"replicas":{},"selector":{{"matchLabels":{labels}}},"template":"#,
        rs.name,
        w.namespace,
        rs.uid,
        rs.generation,
        stamp(rs.created),
        w.replicas,
        w.replicas + w.replicas.div_ceil(4),
        rs.revision,
        w.name,
        w.uid,
        rs.replicas,
    );
    template_json(&mut s, &labels, &rs.containers, "Always");
    let _ = write!(
        s,
        r#"}},"status":{{"replicas":{pods},"fullyLabeledReplicas":{pods},"readyReplicas":{ready},"availableReplicas":{ready},"observedGeneration":{}}}}}"#,
        rs.generation
    );
    s
}

fn condition(
    s: &mut String,
    first: &mut bool,
    kind: &str,
    ok: bool,
    at: i64,
    reason: Option<&str>,
) {
    let _ = write!(
        s,
        r#"{}{{"type":"{kind}","status":"{}","lastProbeTime":null,"lastTransitionTime":"{}""#,
        if *first { "" } else { "," },
        if ok { "True" } else { "False" },
        stamp(at)
    );
    if let Some(reason) = reason {
        let _ = write!(s, r#","reason":"{reason}""#);
    }
    s.push('}');
    *first = false;
}

pub(super) fn pod_json(
    namespace: &str,
    p: &Pod,
    view: PodView,
    deleting: Option<i64>,
    version: i64,
    nodes: usize,
) -> String {
    let mut s = String::with_capacity(2000);
    let _ = write!(s, r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{}","#, p.name);
    if let Some(g) = &p.generate_name {
        let _ = write!(s, r#""generateName":"{g}","#);
    }
    let _ = write!(
        s,
        r#""namespace":"{namespace}","uid":"{}","resourceVersion":"{version}","creationTimestamp":"{}","labels":{},"ownerReferences":[{{"apiVersion":"{}","kind":"{}","name":"{}","uid":"{}","controller":true,"blockOwnerDeletion":true}}]"#,
        p.uid,
        stamp(p.created),
        p.labels,
        p.owner.api,
        p.owner.kind,
        p.owner.name,
        p.owner.uid
    );
    if let Some(d) = deleting {
        let _ = write!(s, r#","deletionTimestamp":"{}","deletionGracePeriodSeconds":30"#, stamp(d));
    }
    s.push_str(r#"},"spec":{"#);
    let scheduled = !matches!(view, PodView::Pending | PodView::Unschedulable(_));
    if scheduled {
        let _ = write!(s, r#""nodeName":"{}","#, node_name(p.node));
    }
    s.push_str(r#""containers":"#);
    containers_json(&mut s, &p.containers);
    let _ = write!(
        s,
        r#","restartPolicy":"{}","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"default","schedulerName":"default-scheduler","enableServiceLinks":true,"priority":0}},"status":{{"phase":"{}""#,
        p.restart_policy,
        match view {
            PodView::Pending | PodView::Unschedulable(_) | PodView::Scheduled => "Pending",
            PodView::CrashLoop | PodView::Running => "Running",
            PodView::Succeeded(_) => "Succeeded",
        }
    );
    let mut first = true;
    s.push_str(r#","conditions":["#);
    match view {
        PodView::Pending => {}
        PodView::Unschedulable(at) => {
            condition(&mut s, &mut first, "PodScheduled", false, at, Some("Unschedulable"));
            s.pop();
            let _ = write!(s, r#","message":"0/{nodes} nodes are available: Insufficient cpu."}}"#);
        }
        PodView::Scheduled => {
            condition(&mut s, &mut first, "PodScheduled", true, p.scheduled, None);
        }
        PodView::CrashLoop | PodView::Running | PodView::Succeeded(_) => {
            let ready = view == PodView::Running;
            let ready_at = match view {
                PodView::Running => p.ready,
                PodView::Succeeded(end) => end,
                _ => p.crashed.map_or(p.ready, |c| c.1),
            };
            let reason = match view {
                PodView::Succeeded(_) => Some("PodCompleted"),
                PodView::CrashLoop => Some("ContainersNotReady"),
                _ => None,
            };
            condition(
                &mut s,
                &mut first,
                "Initialized",
                true,
                p.scheduled,
                reason.filter(|r| *r == "PodCompleted"),
            );
            condition(&mut s, &mut first, "Ready", ready, ready_at, reason);
            condition(&mut s, &mut first, "ContainersReady", ready, ready_at, reason);
            condition(&mut s, &mut first, "PodScheduled", true, p.scheduled, None);
        }
    }
    s.push(']');
    if scheduled {
        let _ =
            write!(s, r#","hostIP":"{}","startTime":"{}""#, node_ip(p.node), stamp(p.scheduled));
    }
    if matches!(view, PodView::Running | PodView::CrashLoop | PodView::Succeeded(_)) {
        let _ = write!(
            s,
            r#","podIP":"{}","podIPs":[{{"ip":"{}"}}],"containerStatuses":["#,
            p.ip, p.ip
        );
        for (i, c) in p.containers.iter().enumerate() {
            let digest = &p.uid.replace('-', "")[..24];
            let _ = write!(
                s,
                r#"{}{{"name":"{}","image":"{}","imageID":"{}@sha256:{digest}{:016x}{digest}","containerID":"containerd://{digest}{i:08x}{digest}","#,
                if i > 0 { "," } else { "" },
                c.name,
                c.image,
                c.image.split(':').next().unwrap_or_default(),
                c.image.len(),
            );
            let started = p.started.get(i).copied().unwrap_or(p.scheduled);
            let crashed = if i == 0 { p.crashed } else { None };
            match (view, crashed) {
                (PodView::CrashLoop, Some((from, to))) => {
                    let _ = write!(
                        s,
                        r#""ready":false,"started":false,"restartCount":1,"state":{{"waiting":{{"reason":"CrashLoopBackOff","message":"back-off 10s restarting failed container"}}}},"lastState":{{"terminated":{{"exitCode":1,"reason":"Error","startedAt":"{}","finishedAt":"{}"}}}}}}"#,
                        stamp(from),
                        stamp(to)
                    );
                }
                (PodView::Succeeded(end), _) => {
                    let _ = write!(
                        s,
                        r#""ready":false,"started":false,"restartCount":0,"state":{{"terminated":{{"exitCode":0,"reason":"Completed","startedAt":"{}","finishedAt":"{}"}}}},"lastState":{{}}}}"#,
                        stamp(started),
                        stamp(end)
                    );
                }
                _ => {
                    let _ = write!(
                        s,
                        r#""ready":{},"started":true,"restartCount":{},"state":{{"running":{{"startedAt":"{}"}}}},"lastState":"#,
                        view == PodView::Running,
                        if i == 0 { p.restarts } else { 0 },
                        stamp(started)
                    );
                    match crashed {
                        Some((from, to)) => {
                            let _ = write!(
                                s,
                                r#"{{"terminated":{{"exitCode":1,"reason":"Error","startedAt":"{}","finishedAt":"{}"}}}}}}"#,
                                stamp(from),
                                stamp(to)
                            );
                        }
                        None => s.push_str("{}}"),
                    }
                }
            }
        }
        s.push(']');
    }
    s.push_str(r#","qosClass":"BestEffort"}}"#);
    s
}

pub(super) fn job_json(
    w: &Workload,
    job: &ObjectRef,
    started: i64,
    version: i64,
    status: &str,
) -> String {
    let mut s = String::with_capacity(2000);
    let labels = format!(
        r#"{{"batch.kubernetes.io/controller-uid":"{}","batch.kubernetes.io/job-name":"{}","controller-uid":"{}","job-name":"{}"}}"#,
        job.uid, job.name, job.uid, job.name
    );
    let _ = write!(
        s,
        r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{version}","generation":1,"creationTimestamp":"{}","labels":{{"app":"{}"}},"#,
        job.name,
        w.namespace,
        job.uid,
        stamp(started),
        w.app
    );
    managed_fields(&mut s, w, "batch/v1", started);
    let _ = write!(
        s,
        r#"}},"spec":{{"parallelism":{},"completions":{},"backoffLimit":6,"completionMode":"NonIndexed","suspend":false,"ttlSecondsAfterFinished":60,"selector":{{"matchLabels":{{"batch.kubernetes.io/controller-uid":"{}"}}}},"template":"#,
        w.replicas, w.replicas, job.uid
    );
    template_json(&mut s, &labels, &w.containers, "Never");
    let _ = write!(s, r#"}},"status":{status}}}"#);
    s
}
