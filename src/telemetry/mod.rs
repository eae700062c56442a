//! kspan-rs observing itself: Prometheus metrics and the health endpoints.

pub mod metrics;
pub mod own_events;
pub mod server;
pub mod slis;

pub use metrics::Metrics;
pub use slis::Slis;
