//! The generator's settings: the `kspan synth` flags and the plain configuration they make.

use std::path::PathBuf;

use super::text::{DAY, SEC};
use crate::time::days_from_civil;

/// `kspan synth`: write a synthetic capture.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Live pods in the cluster; every one of them is replaced by each rollout.
    #[arg(long, default_value_t = 1000)]
    pub pods: u64,

    /// Pods per workload (the workloads are pods / this many).
    #[arg(long, default_value_t = 50)]
    pub pods_per_workload: u32,

    /// Rollouts of every workload (Job workloads run a new Job each time): more
    /// events over the same live objects.
    #[arg(long, default_value_t = 1)]
    pub rollouts: u32,

    /// Seed of the generator: same seed and flags, same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Share of new pods that meet a Warning (FailedScheduling, readiness probe
    /// failures or a crash loop), each repeated a few times.
    #[arg(long, default_value_t = 5.0)]
    pub warnings_percent: f64,

    /// Rollouts started per second of capture time (spread over the cluster).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Where to write the capture [default: stdout].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

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

impl From<&SynthArgs> for SynthConfig {
    fn from(a: &SynthArgs) -> Self {
        SynthConfig {
            pods: a.pods,
            pods_per_workload: a.pods_per_workload.max(1),
            rollouts: a.rollouts,
            seed: a.seed,
            warnings_percent: a.warnings_percent.clamp(0.0, 100.0),
            rate: if a.rate > 0.0 { a.rate } else { 1.0 },
            ..SynthConfig::default()
        }
    }
}
