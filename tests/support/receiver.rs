//! The OTLP receiver of a live test (`scripts/live-env.sh receiver`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::script::Started;

/// An OTLP receiver (rotel-agent) printing every received span to `<dir>/rotel.log`.
/// Stops on drop.
pub struct LiveReceiver {
    started: Started,
    /// Variables from `<dir>/receiver.env`.
    pub env: HashMap<String, String>,
}

impl LiveReceiver {
    /// Starts the receiver of `dir` on free ports (or reuses the one running there).
    pub fn start_in(dir: &Path) -> Result<Self> {
        Self::start(dir, &[])
    }

    /// Starts the receiver of `dir` on the given ports (`KSPAN_RECEIVER_PORTS`): one
    /// that comes back where an exporter expects it.
    pub fn start_on(dir: &Path, grpc: u16, http: u16) -> Result<Self> {
        Self::start(dir, &[("KSPAN_RECEIVER_PORTS", &format!("{grpc} {http}"))])
    }

    fn start(dir: &Path, vars: &[(&str, &str)]) -> Result<Self> {
        let commands = ["receiver", "stop-receiver"];
        let (started, env) = Started::start(dir, commands, "receiver", "receiver.env", vars)?;
        Ok(LiveReceiver { started, env })
    }

    /// (gRPC, HTTP) ports.
    pub fn ports(&self) -> (u16, u16) {
        let port = |k: &str| self.env.get(k).and_then(|p| p.parse().ok()).expect("a port");
        (port("KSPAN_OTLP_GRPC_PORT"), port("KSPAN_OTLP_HTTP_PORT"))
    }

    /// e.g. `http://127.0.0.1:43171`
    pub fn grpc_endpoint(&self) -> &str {
        self.env.get("KSPAN_OTLP_GRPC_ENDPOINT").map(String::as_str).unwrap_or_default()
    }

    pub fn http_endpoint(&self) -> &str {
        self.env.get("KSPAN_OTLP_HTTP_ENDPOINT").map(String::as_str).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.started.dir().join("rotel.log")
    }

    /// Current content of the receiver's output.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn stop(&mut self) -> Result<()> {
        self.started.stop()
    }
}
