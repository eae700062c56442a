//! Sources of observations: replay (files and directories of captures and dumps)
//! and live watchers.

pub mod document;
pub mod files;
pub mod record;
pub mod replay;
pub mod watch;
pub mod watch_step;
