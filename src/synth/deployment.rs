//! A Deployment's rollout: a new ReplicaSet scaled up as the old one is scaled down.

use super::cluster::{Pod, Progress, ReplicaSet};
use super::emit::Emit;
use super::events::Voice;
use super::generator::Generator;
use super::objects::replica_set_json;
use super::rng::Rng;
use super::text::{MS, SEC};

/// A Deployment's rollout in progress: the two ReplicaSets and their pods.
struct Rolling {
    new: ReplicaSet,
    old: ReplicaSet,
    new_pods: Vec<Pod>,
    old_pods: Vec<Pod>,
    ready: Vec<i64>,
}

impl Generator<'_> {
    pub(super) fn deployment(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let m = w.replicas;
        let old = w.current.clone().expect("a Deployment has a ReplicaSet");
        let hash = rng.word(10);
        let new = ReplicaSet {
            name: format!("{}-{hash}", w.name),
            hash,
            uid: rng.uid(),
            revision: old.revision + 1,
            generation: 0,
            replicas: 0,
            created: start + rng.between(5 * MS, 20 * MS),
            containers: w.containers.clone(),
        };
        let mut t = new.created;
        let mut r =
            Rolling { new, old, new_pods: Vec::new(), old_pods: w.pods.clone(), ready: Vec::new() };
        let surge = m.div_ceil(4).max(1);
        let unavailable = m / 4;
        // The controller's first sync: surge, make room, surge again.
        self.scale_up(index, rng, &mut r, surge, t, emit);
        t += rng.between(20 * MS, 60 * MS);
        self.scale_down(index, rng, &mut r, m - unavailable, t, emit);
        t += rng.between(20 * MS, 60 * MS);
        self.scale_up(index, rng, &mut r, (surge + unavailable).min(m), t, emit);
        // Then at each sync after pods became ready: as many old pods go as
        // availability allows, as many new come as the surge allows.
        loop {
            let ready = r.ready.iter().filter(|&&at| at <= t).count() as u32;
            let old_count = r.old_pods.len() as u32;
            let progress = Progress {
                observed: self.workloads[index].generation,
                replicas: r.new.replicas + old_count,
                updated: r.new.replicas,
                ready: ready + old_count,
            };
            self.workloads[index].current = Some(r.new.clone());
            self.status(index, t + MS, progress, emit);
            if r.new.replicas == m && ready == m && old_count == 0 {
                break;
            }
            let next = r.ready.iter().copied().filter(|&at| at > t).min().unwrap_or(t);
            t = next + rng.between(50 * MS, 600 * MS);
            let ready = r.ready.iter().filter(|&&at| at <= t).count() as u32;
            let w = &self.workloads[index];
            emit.object(
                "MODIFIED",
                t,
                &replica_set_json(w, &r.new, emit.version(t), ready, r.new.replicas),
            );
            t += rng.between(5 * MS, 30 * MS);
            let old_target = (m - unavailable).saturating_sub(ready).min(old_count);
            if old_target < old_count {
                self.scale_down(index, rng, &mut r, old_target, t, emit);
                t += rng.between(20 * MS, 60 * MS);
            }
            let new_target = m.min(m + surge - old_target);
            if new_target > r.new.replicas {
                self.scale_up(index, rng, &mut r, new_target, t, emit);
            }
        }
        // revisionHistoryLimit 1: the ReplicaSet before the previous one goes.
        let w = &mut self.workloads[index];
        let older = w.previous.replace(r.old);
        w.current = Some(r.new);
        w.pods = r.new_pods;
        if let Some(older) = older {
            let at = t + rng.between(SEC, 2 * SEC);
            let w = &self.workloads[index];
            emit.object("DELETED", at, &replica_set_json(w, &older, emit.version(at), 0, 0));
        }
    }

    fn scale_up(
        &self,
        index: usize,
        rng: &mut Rng,
        r: &mut Rolling,
        to: u32,
        t: i64,
        emit: &mut Emit,
    ) {
        let w = &self.workloads[index];
        let subject = w.reference();
        let deployment = Voice::controller("deployment-controller", &w.namespace, &subject);
        let message = format!("Scaled up replica set {} to {to}", r.new.name);
        emit.say(rng, &deployment, "ScalingReplicaSet", message, t);
        let from = r.new.replicas;
        r.new.replicas = to;
        r.new.generation += 1;
        let at = t + rng.between(MS, 4 * MS);
        let ready = r.ready.iter().filter(|&&r| r <= at).count() as u32;
        let kind = if from == 0 { "ADDED" } else { "MODIFIED" };
        emit.object(kind, at, &replica_set_json(w, &r.new, emit.version(at), ready, from));
        let owner = r.new.reference();
        let controller = Voice::controller("replicaset-controller", &w.namespace, &owner);
        let mut created = at;
        for name in Self::pod_names(rng, &r.new.name, (to - from) as usize, &r.new_pods) {
            created += rng.between(2 * MS, 8 * MS);
            let mut pod = self.new_pod(rng, w, owner.clone(), name, created);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulCreate",
                format!("Created pod: {}", pod.name),
                at,
            );
            r.ready.push(self.start_pod(rng, &w.namespace, &mut pod, created, emit));
            r.new_pods.push(pod);
        }
    }

    fn scale_down(
        &self,
        index: usize,
        rng: &mut Rng,
        r: &mut Rolling,
        to: u32,
        t: i64,
        emit: &mut Emit,
    ) {
        let w = &self.workloads[index];
        let subject = w.reference();
        let deployment = Voice::controller("deployment-controller", &w.namespace, &subject);
        let message = format!("Scaled down replica set {} to {to}", r.old.name);
        emit.say(rng, &deployment, "ScalingReplicaSet", message, t);
        let from = r.old_pods.len() as u32;
        r.old.replicas = to;
        r.old.generation += 1;
        let at = t + rng.between(MS, 4 * MS);
        emit.object("MODIFIED", at, &replica_set_json(w, &r.old, emit.version(at), from, from));
        let subject = r.old.reference();
        let controller = Voice::controller("replicaset-controller", &w.namespace, &subject);
        let mut deleted = at;
        for _ in to..from {
            let pod = r.old_pods.pop().expect("counted");
            deleted += rng.between(MS, 5 * MS);
            let at = deleted + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulDelete",
                format!("Deleted pod: {}", pod.name),
                at,
            );
            self.stop_pod(rng, &w.namespace, &pod, deleted, emit);
        }
    }
}
