//! Where finished spans go: an OTLP collector, OTLP/JSON lines, the terminal.

pub mod convert;
pub mod json;
pub mod otlp;
pub mod proto;
pub mod queue;
pub mod waterfall;
