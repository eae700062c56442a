//! Live source: one kube-runtime watcher per resource type (list, watch, resume,
//! relist on 410 Gone, with the default backoff). Each object is projected at once
//! through the same decoder replay uses and then dropped: nothing but compact
//! projections is kept. No API request per event: owners come from the watched kinds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::record::Recorder;
use super::watch_step::{capture_type, to_document, Effect, WatchState};
use crate::observe::Observation;
use crate::telemetry::own_events::OwnEvents;
use crate::time::Nanos;

/// Counters shared by all watchers; `restarts` and `errors` are the metrics'
/// own counters when there are metrics.
#[derive(Debug, Default)]
pub struct WatchStats {
    pub received: AtomicU64,
    pub restarts: Counter,
    pub errors: Counter,
    pub undecodable: AtomicU64,
    pub initial_lists_done: AtomicU64,
}

/// Which Event API to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsApi {
    CoreV1,
    EventsV1,
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    let api_version =
        if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version,
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The resource types watched. CronJobs are batch/v1 since Kubernetes 1.21; older
/// servers serve batch/v1beta1 only, so one discovery request picks the version.
pub async fn resources(client: &Client, events: EventsApi) -> Vec<ApiResource> {
    let mut list = vec![
        match events {
            EventsApi::CoreV1 => resource("", "v1", "Event", "events"),
            EventsApi::EventsV1 => resource("events.k8s.io", "v1", "Event", "events"),
        },
        resource("", "v1", "Pod", "pods"),
        resource("", "v1", "Node", "nodes"),
        resource("apps", "v1", "ReplicaSet", "replicasets"),
        resource("apps", "v1", "Deployment", "deployments"),
        resource("apps", "v1", "StatefulSet", "statefulsets"),
        resource("apps", "v1", "DaemonSet", "daemonsets"),
        resource("batch", "v1", "Job", "jobs"),
        resource("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    ];
    let batch_v1 = client.list_api_group_resources("batch/v1").await;
    let cron_v1 =
        batch_v1.map(|l| l.resources.iter().any(|r| r.name == "cronjobs")).unwrap_or(true);
    list.push(resource("batch", if cron_v1 { "v1" } else { "v1beta1" }, "CronJob", "cronjobs"));
    list
}

/// Where a watcher delivers: the correlator's channel, and the capture file.
#[derive(Clone)]
pub struct Outlet {
    pub observations: mpsc::Sender<Observation>,
    pub recorder: Option<Arc<Recorder>>,
    pub stats: Arc<WatchStats>,
    /// Events older than this at start-up are history not replayed (`--since`).
    pub history_from: Nanos,
    /// `metadata.namespace!=x,...` for --exclude-namespace.
    pub field_selector: Option<String>,
    /// Where a forbidden watch is reported (kspan-rs' own Pod).
    pub own_events: Option<Arc<OwnEvents>>,
}

pub fn now() -> Nanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as Nanos)
}

/// Runs one watcher until the channel closes.
pub async fn watch(
    client: Client,
    resource: ApiResource,
    namespace: Option<String>,
    outlet: Outlet,
) {
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let mut config = watcher::Config::default();
    if let Some(fields) = outlet.field_selector.as_deref().filter(|_| resource.kind != "Node") {
        config = config.fields(fields);
    }
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut state = WatchState::new(&resource.kind, outlet.history_from);
    while let Some(item) = stream.next().await {
        let at = now();
        let event = match item {
            Ok(event) => event,
            Err(e) => {
                failed(&resource, &outlet, &e).await;
                continue;
            }
        };
        if !matches!(event, Event::Init | Event::InitDone) {
            outlet.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        let Some(event) = to_document(event, &resource) else { continue };
        if let (Some(recorder), Some((event_type, document))) =
            (&outlet.recorder, capture_type(&event))
        {
            recorder.write(event_type, document, at);
        }
        for effect in state.step(event, at) {
            match effect {
                Effect::Restarted => {
                    outlet.stats.restarts.inc();
                    tracing::info!(kind = %resource.kind, "watch relisting");
                }
                Effect::InitialListDone => {
                    outlet.stats.initial_lists_done.fetch_add(1, Ordering::Relaxed);
                }
                Effect::Undecodable { name, error } => {
                    outlet.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(kind = %resource.kind, name = ?name, error = %error, "cannot read object");
                }
                Effect::Observe(observation) => {
                    if outlet.observations.send(observation).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Counts and logs a failed watch (the watcher retries with backoff); a forbidden
/// one is also reported as an Event, since only a ClusterRole change fixes it.
async fn failed(resource: &ApiResource, outlet: &Outlet, e: &watcher::Error) {
    outlet.stats.errors.inc();
    tracing::warn!(kind = %resource.kind, error = %e, "watch failed; retrying with backoff");
    if let Some(own) = outlet.own_events.as_ref().filter(|_| is_forbidden(e)) {
        let note = format!("cannot watch {}: {e}; check the ClusterRole", resource.plural);
        own.warn("WatchForbidden", "Watch", note).await;
    }
}

/// The API server refused the list or watch: 403, with the Forbidden reason or,
/// behind a proxy that rewrote the body, the code alone.
fn is_forbidden(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status))
        | watcher::Error::WatchError(status) => status.code == 403 || status.is_forbidden(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;

    use super::*;

    fn api(status: Status) -> kube::Error {
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn forbidden_is_told_by_the_status_not_the_text() {
        let forbidden = || Status::failure("pods is forbidden", "Forbidden").with_code(403);
        assert!(is_forbidden(&watcher::Error::InitialListFailed(api(forbidden()))));
        assert!(is_forbidden(&watcher::Error::WatchStartFailed(api(forbidden()))));
        assert!(is_forbidden(&watcher::Error::WatchFailed(api(forbidden()))));
        assert!(is_forbidden(&watcher::Error::WatchError(forbidden().boxed())));
        let unparsed = Status::failure("<html>", "Failed to parse error data").with_code(403);
        assert!(is_forbidden(&watcher::Error::InitialListFailed(api(unparsed))));

        let gone =
            Status::failure("too old resource version: 403 (1200)", "Expired").with_code(410);
        assert!(!is_forbidden(&watcher::Error::WatchError(gone.boxed())));
        let other = Status::failure("forbidden words", "InternalError").with_code(500);
        assert!(!is_forbidden(&watcher::Error::WatchFailed(api(other))));
        assert!(!is_forbidden(&watcher::Error::NoResourceVersion));
    }
}
