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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> TraceId {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&(n as u64).to_be_bytes());
        id
    }

    #[test]
    fn the_oldest_roots_are_forgotten_first() {
        let mut roots = EmittedRoots::default();
        for n in 0..=EMITTED_ROOTS_KEPT {
            roots.mark(id(n));
        }
        assert!(!roots.emitted(&id(0)), "one past the bound: the first is forgotten");
        assert!(roots.emitted(&id(1)));
        assert!(roots.emitted(&id(EMITTED_ROOTS_KEPT)));
    }

    #[test]
    fn marking_a_root_again_does_not_count_twice() {
        let mut roots = EmittedRoots::default();
        roots.mark(id(0));
        for _ in 0..EMITTED_ROOTS_KEPT {
            roots.mark(id(0));
        }
        roots.mark(id(1));
        assert!(roots.emitted(&id(0)) && roots.emitted(&id(1)));
    }
}
