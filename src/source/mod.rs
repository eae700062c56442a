//! Sources of observations. Replay: files and directories of captures and dumps.

pub mod document;
pub mod files;
pub mod replay;
