//! `kspan synth`: a deterministic synthetic capture, for benchmarks and scale tests.
//!
//! Writes watch-event JSON lines with arrival times (the format of `kspan record`,
//! read back by `kspan replay`): first the initial list of a cluster (Deployments
//! with their ReplicaSets, StatefulSets, DaemonSets and their running pods), then
//! rollouts of all of them and runs of Jobs, many at once, as a real cluster shows
//! them: the Events the controllers, the scheduler and the kubelets write (with the
//! texts Kubernetes writes), Warnings (FailedScheduling, BackOff, Unhealthy),
//! repeated Events (same uid, count 2..5, later lastTimestamp), and the object
//! updates around them (spec changes with managedFields, scale steps, pod status).
//!
//! Same configuration, same bytes: the randomness comes from a small seeded PRNG.
//! The output streams: only the rollouts in progress are held in memory (plus one
//! small record per live pod), whatever the number of rollouts.

mod cluster;
mod config;
mod daemon_set;
mod deployment;
mod emit;
mod events;
mod generator;
mod initial;
mod job;
mod objects;
mod pods;
mod rng;
mod stateful_set;
mod text;
mod writer;

pub use config::SynthConfig;
pub use writer::{generate, SynthSummary};
