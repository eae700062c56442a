//! A StatefulSet's rollout: its pods replaced one at a time, the highest ordinal first.

use super::cluster::Progress;
use super::emit::Emit;
use super::events::Voice;
use super::generator::Generator;
use super::rng::Rng;
use super::text::MS;

impl Generator<'_> {
    pub(super) fn stateful_set(
        &mut self,
        index: usize,
        rng: &mut Rng,
        start: i64,
        emit: &mut Emit,
    ) {
        self.workloads[index].revision = rng.word(10);
        self.change_spec(index, start, emit);
        let w = &self.workloads[index];
        let (m, namespace, subject) = (w.replicas, w.namespace.clone(), w.reference());
        let controller = Voice::controller("statefulset-controller", &namespace, &subject);
        let mut pods = w.pods.clone();
        let mut t = start + rng.between(20 * MS, 80 * MS);
        let mut progress = Progress { observed: w.generation, replicas: m, updated: 0, ready: m };
        self.status(index, t, progress, emit);
        // Ordered: the highest ordinal first, the next once this one is ready again.
        for i in (0..pods.len()).rev() {
            t += rng.between(5 * MS, 30 * MS);
            let message =
                format!("delete Pod {} in StatefulSet {} successful", pods[i].name, subject.name);
            emit.say(rng, &controller, "SuccessfulDelete", message, t);
            let gone = self.stop_pod(rng, &namespace, &pods[i], t, emit);
            let created = gone + rng.between(20 * MS, 100 * MS);
            let w = &self.workloads[index];
            let mut pod = self.new_pod(rng, w, w.reference(), pods[i].name.clone(), created);
            let message =
                format!("create Pod {} in StatefulSet {} successful", pod.name, subject.name);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(rng, &controller, "SuccessfulCreate", message, at);
            let ready = self.start_pod(rng, &namespace, &mut pod, created, emit);
            pods[i] = pod;
            t = ready + rng.between(20 * MS, 300 * MS);
            progress.updated += 1;
            self.status(index, t, progress, emit);
        }
        self.workloads[index].pods = pods;
    }
}
