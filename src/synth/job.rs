//! A Job workload's run: a new Job, its pods run to completion, all gone a minute later.

use super::cluster::{ObjectRef, PodView};
use super::emit::Emit;
use super::events::Voice;
use super::generator::Generator;
use super::objects::{job_json, pod_json};
use super::rng::Rng;
use super::text::{stamp, MS, SEC};

impl Generator<'_> {
    pub(super) fn job(&mut self, index: usize, rng: &mut Rng, start: i64, emit: &mut Emit) {
        let w = &mut self.workloads[index];
        w.spec_time = start;
        let version = w.version + 1;
        w.set_version(version);
        let w = &self.workloads[index];
        let job = ObjectRef {
            api: "batch/v1",
            kind: "Job",
            name: format!("{}-{}", w.name, 28_000_000 + start / (60 * SEC)),
            uid: rng.uid(),
        };
        let namespace = w.namespace.clone();
        let controller = Voice::controller("job-controller", &namespace, &job);
        let t = start + MS;
        let status = format!(r#"{{"startTime":"{}","active":0}}"#, stamp(start));
        emit.object("ADDED", t, &job_json(w, &job, start, emit.version(t), &status));
        let mut created = start + rng.between(5 * MS, 30 * MS);
        let mut pods = Vec::with_capacity(w.replicas as usize);
        let mut finished = start;
        for name in Self::pod_names(rng, &job.name, w.replicas as usize, &[]) {
            created += rng.between(2 * MS, 8 * MS);
            let mut pod = self.new_pod(rng, w, job.clone(), name, created);
            let at = created + rng.between(2 * MS, 6 * MS);
            emit.say(
                rng,
                &controller,
                "SuccessfulCreate",
                format!("Created pod: {}", pod.name),
                at,
            );
            let ready = self.start_pod(rng, &namespace, &mut pod, created, emit);
            let end = ready + rng.spread(2 * SEC, 20 * SEC);
            let view = PodView::Succeeded(end);
            emit.object(
                "MODIFIED",
                end,
                &pod_json(&namespace, &pod, view, None, emit.version(end), self.nodes),
            );
            finished = finished.max(end);
            pods.push((pod, end));
        }
        let t = finished + rng.between(10 * MS, 60 * MS);
        emit.say(rng, &controller, "Completed", "Job completed".into(), t);
        let complete = format!(
            r#"{{"startTime":"{}","completionTime":"{}","succeeded":{},"conditions":[{{"type":"Complete","status":"True","lastProbeTime":"{}","lastTransitionTime":"{}"}}]}}"#,
            stamp(start),
            stamp(t),
            w.replicas,
            stamp(t),
            stamp(t)
        );
        let at = t + 2 * MS;
        emit.object("MODIFIED", at, &job_json(w, &job, start, emit.version(at), &complete));
        // ttlSecondsAfterFinished: the Job and its pods go a minute later.
        let gone = t + 60 * SEC;
        emit.object("DELETED", gone, &job_json(w, &job, start, emit.version(gone), &complete));
        for (pod, end) in &pods {
            let at = gone + rng.between(20 * MS, 500 * MS);
            let view = PodView::Succeeded(*end);
            emit.object(
                "DELETED",
                at,
                &pod_json(&namespace, pod, view, Some(gone), emit.version(at), self.nodes),
            );
        }
    }
}
