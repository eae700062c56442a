//! kspan-rs observing itself: Prometheus metrics and the health endpoints.

pub mod metrics;
pub mod own_events;
pub mod server;

pub use metrics::Metrics;
