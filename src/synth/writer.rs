//! The capture as a stream: the initial list, then every rollout's lines in arrival order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufWriter, Write};

use super::emit::{Emit, Line};
use super::generator::Generator;
use super::rng::Rng;
use super::text::SEC;
use super::SynthConfig;

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthSummary {
    /// Watch-event lines in all.
    pub lines: u64,
    /// Event lines (a repeated Event is one line per repetition).
    pub events: u64,
    /// Distinct Events (uids): what the traces must hold exactly once each.
    pub event_records: u64,
    /// Object lines (ADDED, MODIFIED, DELETED of workloads, ReplicaSets, pods).
    pub objects: u64,
    pub workloads: u64,
    /// Pods started by rollouts and Job runs (the initial list not counted).
    pub pods_created: u64,
    pub bytes: u64,
    /// Arrival times of the first and last line, nanoseconds since the Unix epoch.
    pub first: i64,
    pub last: i64,
}

/// Writes the capture for `config` to `out` as it is generated.
pub fn generate<W: Write>(config: &SynthConfig, out: W) -> io::Result<SynthSummary> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut generator = Generator::new(config);
    let mut summary = SynthSummary {
        workloads: generator.workloads.len() as u64,
        first: config.start,
        last: config.start,
        ..SynthSummary::default()
    };
    let mut write = |summary: &mut SynthSummary, line: &Line| -> io::Result<()> {
        out.write_all(line.text.as_bytes())?;
        summary.lines += 1;
        summary.bytes += line.text.len() as u64;
        summary.last = summary.last.max(line.at);
        if line.event {
            summary.events += 1;
        } else {
            summary.objects += 1;
        }
        Ok(())
    };

    // The initial list, as the watchers deliver it when a recording starts.
    let mut at = config.start;
    for w in 0..generator.workloads.len() {
        let mut emit = Emit::new(config.start);
        at = generator.initial(w, at, &mut emit);
        for line in &emit.lines {
            write(&mut summary, line)?;
        }
    }

    // Rollouts: each is simulated whole when it starts, its lines wait in a heap and
    // go out in time order, interleaved with every other rollout in progress.
    let count = generator.workloads.len();
    let per_round = ((count as f64 / config.rate) as i64 * SEC).max(600 * SEC);
    let nominal = |w: usize, k: u32| {
        let mut rng = Rng::from_parts(config.seed, &[w as u64, k as u64, 7]);
        let slot = (SEC as f64 / config.rate) as i64;
        config.start + 10 * SEC + k as i64 * per_round + w as i64 * slot + rng.between(0, slot)
    };
    let mut starts: BinaryHeap<Reverse<(i64, usize, u32)>> = BinaryHeap::new();
    if config.rollouts > 0 {
        starts.extend((0..count).map(|w| Reverse((nominal(w, 0), w, 0))));
    }
    let mut pending: BinaryHeap<Reverse<(i64, u64, Line)>> = BinaryHeap::new();
    let mut sequence = 0u64;
    loop {
        let next_line = pending.peek().map(|Reverse((at, _, _))| *at);
        let next_start = starts.peek().map(|Reverse((at, _, _))| *at);
        let expand = match (next_start, next_line) {
            (Some(start), Some(line)) => start <= line,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        match expand {
            true => {
                let Reverse((start, w, k)) = starts.pop().expect("peeked");
                let mut emit = Emit::new(config.start);
                let end = generator.rollout(w, k, start, &mut emit);
                summary.event_records += emit.records;
                summary.pods_created += emit.pods;
                for line in emit.lines {
                    pending.push(Reverse((line.at.max(start), sequence, line)));
                    sequence += 1;
                }
                if k + 1 < config.rollouts {
                    // The same workload again, once this rollout is long over.
                    let next = nominal(w, k + 1).max(end + 30 * SEC);
                    starts.push(Reverse((next, w, k + 1)));
                }
            }
            false => {
                let Reverse((_, _, line)) = pending.pop().expect("peeked");
                write(&mut summary, &line)?;
            }
        }
    }
    summary.event_records += generator.initial_records;
    out.flush()?;
    Ok(summary)
}
