//! What the kubelet of a release writes where it changed since 1.20, for the node
//! simulator to write what the real kubelet next to that API server would.

use anyhow::{Context, Result};
use kube::Client;

#[derive(Clone, Debug)]
pub struct KubeletRelease {
    /// `v1.37.2`: the node's `nodeInfo.kubeletVersion`.
    pub git_version: String,
    pub minor: u32,
}

impl KubeletRelease {
    /// The release of the API server `client` talks to (`/version`).
    pub async fn of_server(client: &Client) -> Result<Self> {
        let v = client.apiserver_version().await.context("reading the server's /version")?;
        let minor = v
            .minor
            .trim_end_matches('+')
            .parse()
            .with_context(|| format!("server minor version {:?} is not a number", v.minor))?;
        Ok(KubeletRelease { git_version: v.git_version, minor })
    }

    /// `Pulled` after a pull that took `took` (Go's duration format); 1.34 has the
    /// image size (and 1.20 no "including waiting", kept so older tests read the same).
    pub fn pulled_message(&self, image: &str, took: &str, size: u64) -> String {
        let base =
            format!("Successfully pulled image \"{image}\" in {took} ({took} including waiting)");
        if self.minor >= 34 {
            format!("{base}. Image size: {size} bytes.")
        } else {
            base
        }
    }

    /// `Created` of container `name`: 1.34 says "Created container: C", 1.35 drops
    /// the name (it is in the event's fieldPath).
    pub fn created_message(&self, name: &str) -> String {
        match self.minor {
            35.. => "Container created".into(),
            34 => format!("Created container: {name}"),
            _ => format!("Created container {name}"),
        }
    }

    /// `Started` of container `name`.
    pub fn started_message(&self, name: &str) -> String {
        match self.minor {
            35.. => "Container started".into(),
            _ => format!("Started container {name}"),
        }
    }

    /// `BackOff` of crashing container `name` of pod `pod` (`name_namespace(uid)`):
    /// 1.20 names neither.
    pub fn crash_back_off_message(&self, name: &str, pod: &str) -> String {
        if self.minor > 20 {
            format!("Back-off restarting failed container {name} in pod {pod}")
        } else {
            "Back-off restarting failed container".into()
        }
    }

    /// The pod condition PodReadyToStartContainers (sandbox and network ready),
    /// on by default since 1.29.
    pub fn ready_to_start_condition(&self) -> bool {
        self.minor >= 29
    }

    /// client-go's recorder fills `reportingComponent` / `reportingInstance` of
    /// core/v1 Events from `source` (not yet in 1.20).
    pub fn reports_component(&self) -> bool {
        self.minor > 20
    }

    /// `nodeInfo.kubeProxyVersion`: empty since 1.33 (DisableNodeKubeProxyVersion on
    /// by default: the kubelet cannot know it).
    pub fn kube_proxy_version(&self) -> &str {
        if self.minor >= 33 {
            ""
        } else {
            &self.git_version
        }
    }
}
