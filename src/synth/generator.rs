//! The simulated cluster and the dispatch of each rollout to its workload kind.

use super::cluster::{
    Container, Progress, Workload, WorkloadKind, DAEMON_WORDS, DEPLOYMENT_WORDS, JOB_WORDS,
    MANAGERS, SIDECAR, STATEFUL_WORDS,
};
use super::emit::Emit;
use super::objects::workload_json;
use super::rng::Rng;
use super::text::{DAY, MS};
use super::SynthConfig;

/// The simulated cluster: every workload as its last rollout left it.
pub(super) struct Generator<'c> {
    pub(super) config: &'c SynthConfig,
    pub(super) nodes: usize,
    pub(super) workloads: Vec<Workload>,
    pub(super) initial_records: u64,
}

impl<'c> Generator<'c> {
    pub(super) fn new(config: &'c SynthConfig) -> Self {
        let m = config.pods_per_workload.max(1) as u64;
        let count = config.pods.div_ceil(m) as usize;
        let nodes = (m as usize).max(config.pods.div_ceil(30) as usize).max(3);
        let mut workloads = Vec::with_capacity(count);
        for index in 0..count {
            let mut rng = Rng::from_parts(config.seed, &[index as u64, u64::MAX]);
            let kind = WorkloadKind::of(index);
            let words = match kind {
                WorkloadKind::Deployment => DEPLOYMENT_WORDS,
                WorkloadKind::StatefulSet => STATEFUL_WORDS,
                WorkloadKind::DaemonSet => DAEMON_WORDS,
                WorkloadKind::Job => JOB_WORDS,
            };
            let app = words[rng.below(words.len() as u64) as usize].to_string();
            let replicas = (config.pods - index as u64 * m).min(m) as u32;
            let created = config.start - rng.between(2 * DAY, 200 * DAY);
            let namespace = format!("team-{:03}", index / 20);
            let mut containers = vec![Container { name: app.clone(), image: String::new() }];
            if kind != WorkloadKind::DaemonSet && rng.chance(0.5) {
                containers.push(Container { name: "istio-proxy".into(), image: SIDECAR.into() });
            }
            let mut w = Workload {
                kind,
                name: format!("{app}-{index:05}"),
                app,
                namespace,
                uid: rng.uid(),
                replicas,
                created,
                generation: rng.between(1, 30),
                spec_time: config.start - rng.between(DAY / 2, DAY),
                manager: MANAGERS[rng.below(MANAGERS.len() as u64) as usize],
                version: 0,
                containers,
                current: None,
                previous: None,
                revision: rng.word(10),
                pods: Vec::new(),
                first_node: rng.below(nodes as u64) as usize,
            };
            w.set_version(rng.between(1, 40) as u32);
            workloads.push(w);
        }
        Generator { config, nodes, workloads, initial_records: 0 }
    }

    /// Simulates rollout `k` of workload `index` from `start`; returns when its last line arrives.
    pub(super) fn rollout(&mut self, index: usize, k: u32, start: i64, emit: &mut Emit) -> i64 {
        let mut rng = Rng::from_parts(self.config.seed, &[index as u64, k as u64]);
        match self.workloads[index].kind {
            WorkloadKind::Deployment => self.deployment(index, &mut rng, start, emit),
            WorkloadKind::StatefulSet => self.stateful_set(index, &mut rng, start, emit),
            WorkloadKind::DaemonSet => self.daemon_set(index, &mut rng, start, emit),
            WorkloadKind::Job => self.job(index, &mut rng, start, emit),
        }
        emit.last
    }

    /// A spec change: new generation, new image, who did it.
    pub(super) fn change_spec(&mut self, index: usize, start: i64, emit: &mut Emit) {
        let w = &mut self.workloads[index];
        w.generation += 1;
        w.spec_time = start;
        let version = w.version + 1;
        w.set_version(version);
        let previous = Progress { observed: w.generation - 1, ..Progress::complete(w) };
        let t = start + MS;
        emit.object("MODIFIED", t, &workload_json(w, t, emit.version(t), previous));
    }

    pub(super) fn status(&self, index: usize, at: i64, p: Progress, emit: &mut Emit) {
        let w = &self.workloads[index];
        emit.object("MODIFIED", at, &workload_json(w, at, emit.version(at), p));
    }
}
