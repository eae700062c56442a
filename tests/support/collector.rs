//! An OpenTelemetry Collector of a test (`scripts/live-env.sh collector`) running one
//! of the configurations of `examples/` as it is, its endpoints pointed at loopback
//! by the script.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::script::Started;

/// A collector running `examples/<name>`; one per dir. Stops on drop.
pub struct LiveCollector {
    /// Variables from `<dir>/collector.env`.
    pub env: HashMap<String, String>,
    started: Started,
}

/// `examples/<name>` of the project.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

impl LiveCollector {
    /// Starts a collector in `dir` running `examples/<name>`, its exporters sending
    /// to `targets` (`host:port` or `http://host:port`: one for an `otlp` exporter,
    /// the backends of a `loadbalancing` one).
    pub fn start_in(dir: &Path, name: &str, targets: &[&str]) -> Result<Self> {
        let config = example(name);
        let mut args = vec![config.to_str().context("non-UTF-8 path")?];
        for target in targets {
            args.extend(["--to", target]);
        }
        let commands = ["collector", "stop-collector"];
        let (started, env) =
            Started::start_with_args(dir, commands, "collector", "collector.env", &args, &[])?;
        Ok(LiveCollector { env, started })
    }

    /// e.g. `http://127.0.0.1:43171`
    pub fn grpc_endpoint(&self) -> &str {
        &self.env["KSPAN_COLLECTOR_OTLP_GRPC_ENDPOINT"]
    }

    /// What the collector logged so far (for a failing assertion's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.started.dir().join("collector.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.started.dir()
    }
}
