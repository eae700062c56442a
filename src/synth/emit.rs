//! One rollout's output lines, gathered before they are put in time order.

use std::fmt::Write as _;

use super::text::instant;

/// One output line, with its arrival time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Line {
    pub(super) at: i64,
    pub(super) event: bool,
    pub(super) text: String,
}

/// The lines of one rollout (or of one workload's initial list), in any order.
pub(super) struct Emit {
    /// The capture's start: resourceVersions count microseconds from it.
    pub(super) origin: i64,
    pub(super) lines: Vec<Line>,
    pub(super) records: u64,
    pub(super) pods: u64,
    pub(super) last: i64,
}

impl Emit {
    pub(super) fn new(origin: i64) -> Self {
        Emit { origin, lines: Vec::new(), records: 0, pods: 0, last: origin }
    }

    pub(super) fn version(&self, at: i64) -> i64 {
        1_000_000 + (at - self.origin) / 1000
    }

    pub(super) fn object(&mut self, kind: &str, at: i64, object: &str) {
        let mut text = String::with_capacity(object.len() + 80);
        let _ = writeln!(text, r#"{{"type":"{kind}","object":{object},"time":"{}"}}"#, instant(at));
        self.last = self.last.max(at);
        self.lines.push(Line { at, event: false, text });
    }
}
