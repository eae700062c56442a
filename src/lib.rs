//! kspan-rs: Kubernetes activity -> OpenTelemetry traces, one trace per rollout.
//!
//! sources (replay files, kube watchers) -> [`observe::Observation`] ->
//! [`correlate::Correlator`] (pure) -> [`span::SpanDraft`] -> sinks.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod correlate;
pub mod error;
pub mod leader;
pub mod observe;
pub mod sink;
pub mod source;
pub mod span;
pub mod synth;
pub mod telemetry;
pub mod time;

/// How kspan-rs names itself to the API server and the collector.
pub const USER_AGENT: &str = concat!("kspan-rs/", env!("CARGO_PKG_VERSION"));

/// jemalloc: on a 150k-pod replay glibc's malloc spent more time consolidating
/// and unlinking free chunks than kspan-rs spent correlating (BENCHMARKS.md).
/// Set here, so the binary, its tests and its benchmarks run on the same one.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
