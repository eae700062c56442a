//! kspan-rs: Kubernetes activity -> OpenTelemetry traces, one trace per rollout.
//!
//! sources (replay files, kube watchers) -> [`observe::Observation`] ->
//! [`correlate::Correlator`] (pure) -> [`span::SpanDraft`] -> sinks.

pub mod cli;
pub mod correlate;
pub mod leader;
pub mod observe;
pub mod replay;
pub mod run;
pub mod sink;
pub mod source;
pub mod span;
pub mod synth;
pub mod telemetry;
pub mod time;
