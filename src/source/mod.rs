//! Sources of observations: a timeline of files and directories (captures and
//! dumps), and the live cluster's watchers.

pub mod cluster;
pub mod document;
pub mod files;
pub mod record;
pub mod text;
pub mod timeline;
pub mod watch;
pub mod watch_step;
pub mod wrapped;
