//! Each workload as the initial list shows it when a recording starts.

use super::cluster::{PodView, Progress, ReplicaSet, WorkloadKind};
use super::emit::Emit;
use super::generator::Generator;
use super::objects::{pod_json, replica_set_json, workload_json};
use super::rng::Rng;
use super::text::{DAY, MS, SEC};

impl Generator<'_> {
    /// The workload as the initial list shows it: settled, its pods running.
    pub(super) fn initial(&mut self, index: usize, mut at: i64, emit: &mut Emit) -> i64 {
        let mut rng = Rng::from_parts(self.config.seed, &[index as u64, u64::MAX - 1]);
        let mut step = |rng: &mut Rng| {
            at += rng.between(5_000, 40_000);
            at
        };
        let kind = self.workloads[index].kind;
        if kind == WorkloadKind::Job {
            return at;
        }
        let w = &self.workloads[index];
        let born = w.created;
        let mut pods = Vec::with_capacity(w.replicas as usize);
        let owner = match kind {
            WorkloadKind::Deployment => {
                let mut older = ReplicaSet {
                    name: format!("{}-{}", w.name, rng.word(10)),
                    hash: String::new(),
                    uid: rng.uid(),
                    revision: 1 + w.generation as u32,
                    generation: 3,
                    replicas: 0,
                    created: born + DAY,
                    containers: w.containers.clone(),
                };
                older.hash = older.name.rsplit('-').next().unwrap_or_default().to_string();
                let mut current = older.clone();
                current.name = format!("{}-{}", w.name, rng.word(10));
                current.hash = current.name.rsplit('-').next().unwrap_or_default().to_string();
                current.uid = rng.uid();
                current.revision += 1;
                current.replicas = w.replicas;
                current.created = w.spec_time;
                let w = &mut self.workloads[index];
                w.previous = Some(older);
                w.current = Some(current);
                let w = &self.workloads[index];
                let t = step(&mut rng);
                let rs = w.previous.as_ref().expect("set above");
                emit.object("ADDED", t, &replica_set_json(w, rs, emit.version(t), 0, 0));
                let t = step(&mut rng);
                let rs = w.current.as_ref().expect("set above");
                let n = w.replicas;
                emit.object("ADDED", t, &replica_set_json(w, rs, emit.version(t), n, n));
                rs.reference()
            }
            _ => w.reference(),
        };
        let w = &self.workloads[index];
        let t = step(&mut rng);
        emit.object("ADDED", t, &workload_json(w, t, emit.version(t), Progress::complete(w)));
        let names: Vec<String> = match kind {
            WorkloadKind::StatefulSet => {
                (0..w.replicas).map(|i| format!("{}-{i}", w.name)).collect()
            }
            WorkloadKind::DaemonSet => Self::pod_names(&mut rng, &w.name, w.replicas as usize, &[]),
            _ => Self::pod_names(&mut rng, &owner.name, w.replicas as usize, &[]),
        };
        for (i, name) in names.into_iter().enumerate() {
            let created = w.spec_time + rng.between(0, 60 * SEC);
            let mut pod = self.new_pod(&mut rng, w, owner.clone(), name, created);
            if kind == WorkloadKind::DaemonSet {
                pod.node = (w.first_node + i) % self.nodes;
            }
            pod.scheduled = created + rng.between(10 * MS, 500 * MS);
            pod.started =
                pod.containers.iter().map(|_| pod.scheduled + rng.between(SEC, 8 * SEC)).collect();
            pod.ready =
                pod.started.iter().max().copied().unwrap_or(created) + rng.between(SEC, 5 * SEC);
            let t = step(&mut rng);
            emit.object(
                "ADDED",
                t,
                &pod_json(&w.namespace, &pod, PodView::Running, None, emit.version(t), self.nodes),
            );
            pods.push(pod);
        }
        self.workloads[index].pods = pods;
        at
    }
}
