//! Replay: read files, place every observation on one timeline, feed the correlator.
//!
//! Documents with an arrival time (kspan captures, recorded watch lines) keep it.
//! Objects without one are snapshots (a dump, `kubectl get -o yaml`): like a
//! watcher's initial list they are fed first, so events find their owners. Events
//! without an arrival time are placed at the time they record.

use std::path::PathBuf;

use super::files::{read_paths, read_text, ReadError, ReadOutcome};
use crate::observe::{Observation, Observed};

pub struct Replay {
    pub observations: Vec<Observation>,
    pub errors: Vec<ReadError>,
    pub skipped: Vec<PathBuf>,
}

pub fn load(paths: &[PathBuf]) -> Replay {
    order(read_paths(paths))
}

/// Replays a capture held in memory (the bundled example), named `name` in errors.
pub fn load_text(name: &str, text: &str) -> Replay {
    let mut outcome = ReadOutcome::default();
    read_text(std::path::Path::new(name), text, false, &mut outcome);
    order(outcome)
}

fn order(outcome: ReadOutcome) -> Replay {
    let times = outcome.items.iter().filter_map(|i| i.arrival.or(i.decoded.time));
    let origin_of_time = times.min().unwrap_or(0);
    let mut timed: Vec<(i64, usize, Observation)> = outcome
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let snapshot =
                !matches!(item.decoded.what, Observed::Event(_)) && item.arrival.is_none();
            let at = if snapshot {
                origin_of_time
            } else {
                item.arrival.or(item.decoded.time).unwrap_or(origin_of_time)
            };
            // Snapshots sort before anything at the same instant.
            (at, if snapshot { 0 } else { 1 + index }, Observation { at, what: item.decoded.what })
        })
        .collect();
    timed.sort_by_key(|(at, order, _)| (*at, *order));
    Replay {
        observations: timed.into_iter().map(|(_, _, o)| o).collect(),
        errors: outcome.errors,
        skipped: outcome.skipped,
    }
}
