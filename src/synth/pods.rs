//! A pod's life in a rollout: created, scheduled, pulled, started, ready; stopped and gone.

use std::collections::HashSet;

use super::cluster::{node_name, ObjectRef, Pod, PodView, Warning, Workload, WorkloadKind};
use super::emit::Emit;
use super::events::Voice;
use super::generator::Generator;
use super::objects::pod_json;
use super::rng::Rng;
use super::text::{go_duration, MS, SEC};

impl Generator<'_> {
    pub(super) fn new_pod(
        &self,
        rng: &mut Rng,
        w: &Workload,
        owner: ObjectRef,
        name: String,
        created: i64,
    ) -> Pod {
        let (labels, generate_name) = match w.kind {
            WorkloadKind::Deployment => {
                let hash = owner.name.rsplit('-').next().unwrap_or_default().to_string();
                (
                    format!(r#"{{"app":"{}","pod-template-hash":"{hash}"}}"#, w.app),
                    Some(format!("{}-", owner.name)),
                )
            }
            WorkloadKind::StatefulSet => (
                format!(
                    r#"{{"app":"{}","controller-revision-hash":"{}-{}","statefulset.kubernetes.io/pod-name":"{name}"}}"#,
                    w.app, w.name, w.revision
                ),
                Some(format!("{}-", w.name)),
            ),
            WorkloadKind::DaemonSet => (
                format!(
                    r#"{{"app":"{}","controller-revision-hash":"{}","pod-template-generation":"{}"}}"#,
                    w.app, w.revision, w.generation
                ),
                Some(format!("{}-", w.name)),
            ),
            WorkloadKind::Job => (
                format!(
                    r#"{{"batch.kubernetes.io/controller-uid":"{}","batch.kubernetes.io/job-name":"{}","controller-uid":"{}","job-name":"{}"}}"#,
                    owner.uid, owner.name, owner.uid, owner.name
                ),
                Some(format!("{}-", owner.name)),
            ),
        };
        Pod {
            name,
            generate_name,
            uid: rng.uid(),
            labels,
            owner,
            containers: w.containers.clone(),
            restart_policy: if w.kind == WorkloadKind::Job { "Never" } else { "Always" },
            node: rng.below(self.nodes as u64) as usize,
            ip: format!("10.{}.{}.{}", 64 + rng.below(64), rng.below(256), 1 + rng.below(254)),
            created,
            scheduled: created,
            started: Vec::new(),
            ready: created,
            restarts: 0,
            crashed: None,
        }
    }

    /// `count` pod names of `prefix-xxxxx`, distinct.
    pub(super) fn pod_names(
        rng: &mut Rng,
        prefix: &str,
        count: usize,
        taken: &[Pod],
    ) -> Vec<String> {
        let mut seen: HashSet<String> = taken.iter().map(|p| p.name.clone()).collect();
        let mut names = Vec::with_capacity(count);
        while names.len() < count {
            let name = format!("{prefix}-{}", rng.word(5));
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
        names
    }

    fn warning(&self, rng: &mut Rng) -> Warning {
        if !rng.chance(self.config.warnings_percent / 100.0) {
            return Warning::None;
        }
        match rng.below(10) {
            0..=3 => Warning::FailedScheduling,
            4..=7 => Warning::Unhealthy,
            _ => Warning::CrashLoop,
        }
    }

    /// A new pod's life up to Ready: created at `created`, with its Events and
    /// status updates. Returns when it became ready.
    pub(super) fn start_pod(
        &self,
        rng: &mut Rng,
        namespace: &str,
        pod: &mut Pod,
        created: i64,
        emit: &mut Emit,
    ) -> i64 {
        emit.pods += 1;
        let warning = self.warning(rng);
        let subject = pod.reference();
        let scheduler = Voice::controller("default-scheduler", namespace, &subject);
        let nodes = self.nodes;
        let object = |emit: &mut Emit, kind: &str, at: i64, pod: &Pod, view: PodView| {
            emit.object(kind, at, &pod_json(namespace, pod, view, None, emit.version(at), nodes));
        };
        object(emit, "ADDED", created + rng.between(MS, 4 * MS), pod, PodView::Pending);
        let scheduled = if warning == Warning::FailedScheduling {
            let mut at = created + rng.between(5 * MS, 40 * MS);
            let message = format!(
                "0/{n} nodes are available: {} Insufficient cpu, {} Insufficient memory. preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod.",
                1 + rng.below(nodes as u64),
                rng.below(4),
                n = nodes,
            );
            let record = emit.warn(rng, &scheduler, "FailedScheduling", message, at);
            object(emit, "MODIFIED", at + 2 * MS, pod, PodView::Unschedulable(at));
            for count in 2..=rng.between(2, 6) as u32 {
                at += rng.between(1500 * MS, 3500 * MS);
                emit.repeat(rng, &record, count, at);
            }
            at + rng.between(500 * MS, 2500 * MS)
        } else {
            created + rng.spread(5 * MS, 400 * MS)
        };
        pod.scheduled = scheduled;
        let node = node_name(pod.node);
        let message = format!("Successfully assigned {namespace}/{} to {node}", pod.name);
        emit.say(rng, &scheduler, "Scheduled", message, scheduled);
        object(emit, "MODIFIED", scheduled + 2 * MS, pod, PodView::Scheduled);

        // The kubelet: per container, its image, then create and start it.
        let mut t = scheduled + rng.between(300 * MS, 900 * MS);
        let paths: Vec<String> =
            pod.containers.iter().map(|c| format!("spec.containers{{{}}}", c.name)).collect();
        let kubelet = |i: usize| Voice {
            namespace,
            subject: &subject,
            field_path: Some(&paths[i]),
            component: "kubelet",
            host: Some(&node),
        };
        let (mut created_events, mut started_events, mut present) = (Vec::new(), Vec::new(), None);
        pod.started.clear();
        for (i, c) in pod.containers.iter().enumerate() {
            let v = kubelet(i);
            if rng.chance(if i == 0 { 0.85 } else { 0.1 }) {
                emit.say(rng, &v, "Pulling", format!("Pulling image \"{}\"", c.image), t);
                let pull = rng.spread(300 * MS, 15 * SEC);
                let waiting = pull + rng.spread(MS, 2 * SEC);
                t += waiting;
                let (pull, waiting) = (go_duration(pull), go_duration(waiting));
                let message = format!(
                    "Successfully pulled image \"{}\" in {pull} ({waiting} including waiting)",
                    c.image
                );
                emit.say(rng, &v, "Pulled", message, t);
            } else {
                t += rng.between(5 * MS, 40 * MS);
                let message = format!("Container image \"{}\" already present on machine", c.image);
                let record = emit.say(rng, &v, "Pulled", message, t);
                if i == 0 {
                    present = Some(record);
                }
            }
            t += rng.between(30 * MS, 150 * MS);
            created_events.push(emit.say(
                rng,
                &v,
                "Created",
                format!("Created container {}", c.name),
                t,
            ));
            t += rng.between(40 * MS, 200 * MS);
            started_events.push(emit.say(
                rng,
                &v,
                "Started",
                format!("Started container {}", c.name),
                t,
            ));
            pod.started.push(t);
        }
        let main = kubelet(0);
        match warning {
            Warning::CrashLoop => {
                // The container exits, the kubelet backs off, then starts it again:
                // the same Pulled/Created/Started Events, counted twice.
                let exited = t + rng.between(500 * MS, 1500 * MS);
                pod.crashed = Some((pod.started[0], exited));
                pod.restarts = 1;
                object(emit, "MODIFIED", exited + 3 * MS, pod, PodView::CrashLoop);
                let message = format!(
                    "Back-off restarting failed container {} in pod {}_{namespace}({})",
                    pod.containers[0].name, pod.name, pod.uid
                );
                let at = exited + rng.between(10 * MS, 100 * MS);
                emit.warn(rng, &main, "BackOff", message, at);
                t = exited + rng.between(2500 * MS, 4000 * MS);
                match &present {
                    Some(record) => emit.repeat(rng, record, 2, t),
                    None => {
                        let image = &pod.containers[0].image;
                        let message =
                            format!("Container image \"{image}\" already present on machine");
                        emit.say(rng, &main, "Pulled", message, t);
                    }
                }
                t += rng.between(30 * MS, 150 * MS);
                emit.repeat(rng, &created_events[0], 2, t);
                t += rng.between(40 * MS, 200 * MS);
                emit.repeat(rng, &started_events[0], 2, t);
                pod.started[0] = t;
                t += rng.spread(300 * MS, 2 * SEC);
            }
            Warning::Unhealthy => {
                let mut at = t + rng.between(800 * MS, 1500 * MS);
                let message = format!(
                    "Readiness probe failed: Get \"http://{ip}:8080/readyz\": dial tcp {ip}:8080: connect: connection refused",
                    ip = pod.ip
                );
                let record = emit.warn(rng, &main, "Unhealthy", message, at);
                for count in 2..=rng.between(2, 6) as u32 {
                    at += rng.between(1500 * MS, 3500 * MS);
                    emit.repeat(rng, &record, count, at);
                }
                t = at + rng.between(500 * MS, 2000 * MS);
            }
            _ => t += rng.spread(300 * MS, 3 * SEC),
        }
        pod.ready = t;
        object(emit, "MODIFIED", t + 2 * MS, pod, PodView::Running);
        t
    }

    /// A pod deleted at `at`: graceful termination, Killing per container, gone.
    /// Returns when it is gone.
    pub(super) fn stop_pod(
        &self,
        rng: &mut Rng,
        namespace: &str,
        pod: &Pod,
        at: i64,
        emit: &mut Emit,
    ) -> i64 {
        let deadline = Some(at + 30 * SEC);
        let nodes = self.nodes;
        let t = at + rng.between(MS, 3 * MS);
        emit.object(
            "MODIFIED",
            t,
            &pod_json(namespace, pod, PodView::Running, deadline, emit.version(t), nodes),
        );
        let subject = pod.reference();
        let node = node_name(pod.node);
        for c in &pod.containers {
            let path = format!("spec.containers{{{}}}", c.name);
            let v = Voice {
                namespace,
                subject: &subject,
                field_path: Some(&path),
                component: "kubelet",
                host: Some(&node),
            };
            let t = at + rng.between(3 * MS, 30 * MS);
            emit.say(rng, &v, "Killing", format!("Stopping container {}", c.name), t);
        }
        let gone = at + rng.spread(300 * MS, 3 * SEC);
        emit.object(
            "DELETED",
            gone,
            &pod_json(namespace, pod, PodView::Running, deadline, emit.version(gone), nodes),
        );
        gone
    }
}
