//! A DaemonSet's rollout: its pods replaced in place, a batch of nodes at a time.

use super::cluster::Progress;
use super::emit::Emit;
use super::events::Voice;
use super::generator::Generator;
use super::rng::Rng;
use super::text::MS;

impl Generator<'_> {
    pub(super) fn daemon_set(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        self.workloads[index].revision = rng.word(10);
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let (m, namespace, subject) = (w.replicas, w.namespace.clone(), w.reference());
        let controller = Voice::controller("daemonset-controller", &namespace, &subject);
        let mut pods = w.pods.clone();
        let mut t = start + rng.between(20 * MS, 80 * MS);
        let mut progress = Progress { observed: w.generation, replicas: m, updated: 0, ready: m };
        self.status(index, t, progress, emit);
        // maxUnavailable 10%: a batch of nodes at a time, each pod replaced in place.
        let batch = (m as usize / 10).max(1);
        for chunk in (0..pods.len()).collect::<Vec<_>>().chunks(batch) {
            let mut done = t;
            for &i in chunk {
                let deleted = t + rng.between(MS, 20 * MS);
                let message = format!("Deleted pod: {}", pods[i].name);
                let at = deleted + rng.between(2 * MS, 6 * MS);
                emit.say(rng, &controller, "SuccessfulDelete", message, at);
                let gone = self.stop_pod(rng, &namespace, &pods[i], deleted, emit);
                let created = gone + rng.between(200 * MS, 1200 * MS);
                let w = &self.workloads[index];
                let name = Self::pod_names(rng, &w.name, 1, &pods).remove(0);
                let mut pod = self.new_pod(rng, w, w.reference(), name, created);
                pod.node = pods[i].node;
                let message = format!("Created pod: {}", pod.name);
                let at = created + rng.between(2 * MS, 6 * MS);
                emit.say(rng, &controller, "SuccessfulCreate", message, at);
                done = done.max(self.start_pod(rng, &namespace, &mut pod, created, emit));
                pods[i] = pod;
            }
            t = done + rng.between(50 * MS, 500 * MS);
            progress.updated += chunk.len() as u32;
            self.status(index, t, progress, emit);
        }
        self.workloads[index].pods = pods;
    }
}
