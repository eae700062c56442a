//! The live source: a client for the cluster and one watcher per resource type
//! (and namespace), all feeding one channel of observations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::record::Recorder;
use super::watch::{self, now, EventsApi, Outlet, WatchStats};
use crate::error::{Error, Result};
use crate::observe::Observation;
use crate::telemetry::own_events::OwnEvents;
use crate::time::Nanos;

/// Which cluster, and what of it to watch.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Else KUBECONFIG, ~/.kube/config or the in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Empty: all namespaces.
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub events_api: EventsApi,
    /// How far back the Events the API server still holds are replayed.
    pub since: Option<Duration>,
}

/// In-cluster config or a kubeconfig/context, like `Client::try_default`.
pub async fn client(settings: &ClusterSettings) -> Result<Client> {
    let options = KubeConfigOptions { context: settings.context.clone(), ..Default::default() };
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|source| Error::Kubeconfig { path: path.clone(), source })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if settings.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    let mut config = config;
    // So that an audit log tells kspan-rs' requests from everyone else's.
    config
        .headers
        .push((http::header::USER_AGENT, http::HeaderValue::from_static(crate::USER_AGENT)));
    Ok(Client::try_from(config)?)
}

/// The running watchers and where their observations arrive.
pub struct Watchers {
    pub observations: mpsc::Receiver<Observation>,
    pub tasks: JoinSet<()>,
    pub count: usize,
}

/// Starts one watcher per resource type (and namespace).
pub async fn start_watchers(
    settings: &ClusterSettings,
    client: &Client,
    recorder: Option<Arc<Recorder>>,
    stats: Arc<WatchStats>,
    own_events: Option<Arc<OwnEvents>>,
) -> Watchers {
    let (tx, observations) = mpsc::channel(8192);
    let history_from = settings.since.map_or(now(), |since| now() - since.as_nanos() as Nanos);
    let excluded: Vec<String> =
        settings.exclude_namespaces.iter().map(|ns| format!("metadata.namespace!={ns}")).collect();
    let field_selector = (!excluded.is_empty()).then(|| excluded.join(","));
    let outlet =
        Outlet { observations: tx, recorder, stats, history_from, field_selector, own_events };
    let mut tasks = JoinSet::new();
    let mut count = 0;
    for resource in watch::resources(client, settings.events_api).await {
        // Nodes are cluster-scoped: a namespaced install (a Role) may not watch them.
        if resource.kind == "Node" && !settings.namespaces.is_empty() {
            continue;
        }
        let cluster_scoped = resource.kind == "Node";
        let namespaces: Vec<Option<String>> = if settings.namespaces.is_empty() || cluster_scoped {
            vec![None]
        } else {
            settings.namespaces.iter().cloned().map(Some).collect()
        };
        for namespace in namespaces {
            tasks.spawn(watch::watch(client.clone(), resource.clone(), namespace, outlet.clone()));
            count += 1;
        }
    }
    Watchers { observations, tasks, count }
}
