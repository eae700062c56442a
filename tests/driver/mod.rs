//! Drives `kspan run` as a child process in live tests and reads back what it
//! delivered (rotel's output, OTLP/JSON files) and what the API server holds.
//!
//! * [`live`]: the fixture every live test starts from ([`Live`]).
//! * [`kspan`]: `kspan run` as a child process ([`Kspan`]) and its /metrics.
//! * [`delivery`]: every Event delivered, once per occurrence, no span twice.
//! * [`trees`]: span trees without times, live run against replay.
//! * [`manifests`]: what the stories apply.
#![allow(dead_code, unused_imports)]

pub mod delivery;
pub mod kspan;
pub mod live;
pub mod manifests;
pub mod trees;

pub use delivery::*;
pub use kspan::*;
pub use live::*;
pub use manifests::*;
pub use trees::*;
