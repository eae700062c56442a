//! What earlier episodes already emitted, by a trace-id-shaped key: roots (a
//! later episode of the same rollout adds children under the same ids instead
//! of a second root) and pod startups (told once; later activity is `Pod.Activity`).

use std::collections::VecDeque;

use foldhash::HashSet;

use crate::span::TraceId;

pub trait Roots {
    fn emitted(&self, trace: &TraceId) -> bool;
    fn mark(&mut self, trace: TraceId);
}

/// The keys emitted so far, bounded: the oldest are forgotten first.
#[derive(Default)]
pub struct EmittedRoots {
    set: HashSet<TraceId>,
    order: VecDeque<TraceId>,
}

const EMITTED_ROOTS_KEPT: usize = 100_000;

impl Roots for EmittedRoots {
    fn emitted(&self, trace: &TraceId) -> bool {
        self.set.contains(trace)
    }
    fn mark(&mut self, trace: TraceId) {
        if self.set.insert(trace) {
            self.order.push_back(trace);
            if self.order.len() > EMITTED_ROOTS_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}
