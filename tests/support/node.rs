//! A real node for a live control plane (`scripts/live-env.sh node`): containerd,
//! runc and the release's kubelet, pulling the test images from a registry on
//! loopback.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::script::Started;

/// The node of a control plane's dir. Stops on drop (its containers with it).
pub struct RealNode {
    started: Started,
    /// Variables from `<dir>/node.env`.
    pub env: HashMap<String, String>,
}

impl RealNode {
    /// Starts the node for the control plane of `dir`; waits until it is Ready.
    pub fn start_in(dir: &Path) -> Result<Self> {
        Self::start_with(dir, &[])
    }

    /// [`Self::start_in`] with kubelet tracing on, exporting every pod sync to the
    /// OTLP gRPC receiver at `endpoint` (`host:port`).
    pub fn start_traced_in(dir: &Path, endpoint: &str) -> Result<Self> {
        Self::start_with(dir, &[("KSPAN_NODE_TRACING_ENDPOINT", endpoint)])
    }

    fn start_with(dir: &Path, vars: &[(&str, &str)]) -> Result<Self> {
        let (started, env) = Started::start(dir, ["node", "stop-node"], "node", "node.env", vars)?;
        Ok(RealNode { started, env })
    }

    fn var(&self, name: &str) -> &str {
        self.env.get(name).map(String::as_str).unwrap_or_else(|| panic!("{name} in node.env"))
    }

    pub fn name(&self) -> &str {
        self.var("KSPAN_NODE_NAME")
    }

    /// The test app (scripts/live/images/app), tag 1.0.
    pub fn app_image(&self) -> &str {
        self.var("KSPAN_TEST_IMAGE")
    }

    /// The same app, tag 2.0: an image of its own.
    pub fn app_image_v2(&self) -> &str {
        self.var("KSPAN_TEST_IMAGE_V2")
    }

    /// The app with a large layer: a pull that takes seconds.
    pub fn big_image(&self) -> &str {
        self.var("KSPAN_BIG_IMAGE")
    }

    /// The host as the node's pods see it: its loopback services answer there.
    pub fn host_ip(&self) -> &str {
        self.var("KSPAN_NODE_HOST_IP")
    }

    /// Loads an image archive (`scripts/image`) into the node's containerd.
    pub fn load_image(&self, archive: &Path) -> Result<()> {
        let dir = self.started.dir().to_str().unwrap();
        super::script::run_script(&["load-image", dir, archive.to_str().unwrap()])
    }

    /// A tag the registry does not have.
    pub fn missing_image(&self) -> &str {
        self.var("KSPAN_MISSING_IMAGE")
    }
}
