//! The generator's settings.

use super::text::{DAY, SEC};
use crate::time::days_from_civil;

/// What to generate: the flags, brought into range, and where the capture starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub pods: u64,
    pub pods_per_workload: u32,
    pub rollouts: u32,
    pub seed: u64,
    pub warnings_percent: f64,
    pub rate: f64,
    /// Start of the capture, nanoseconds since the Unix epoch.
    pub start: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            pods: 1000,
            pods_per_workload: 50,
            rollouts: 1,
            seed: 1,
            warnings_percent: 5.0,
            rate: 1.0,
            // 2024-05-13T08:00:00Z
            start: days_from_civil(2024, 5, 13) * DAY + 8 * 3600 * SEC,
        }
    }
}
