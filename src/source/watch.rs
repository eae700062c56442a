//! Live source: one kube-runtime watcher per resource type (list, watch, resume,
//! relist on 410 Gone, with the default backoff). Each object is projected at once
//! through the same decoder replay uses and then dropped: nothing but compact
//! projections is kept. No API request per event: owners come from the watched kinds.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use serde_json::Value;
use tokio::sync::mpsc;

use super::document::{decode, Decoded};
use super::record::Recorder;
use crate::observe::{Name, ObjectKey, Observation, Observed};
use crate::telemetry::own_events::OwnEvents;
use crate::time::{Nanos, SECOND};

/// Counters shared by all watchers.
#[derive(Debug, Default)]
pub struct WatchStats {
    pub received: AtomicU64,
    pub restarts: AtomicU64,
    pub errors: AtomicU64,
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

/// Remembers the version of each Event already delivered, so a relist (after a
/// restart of the watch or 410 Gone) does not deliver it twice. Events live about
/// an hour in the API server; entries are forgotten after two.
#[derive(Default)]
struct SeenEvents {
    versions: HashMap<String, (String, Nanos)>,
    last_purge: Nanos,
}

impl SeenEvents {
    fn is_new(&mut self, uid: &str, version: &str, at: Nanos) -> bool {
        if at - self.last_purge > 600 * SECOND {
            self.versions.retain(|_, (_, seen)| at - *seen < 7200 * SECOND);
            self.last_purge = at;
        }
        match self.versions.insert(uid.to_string(), (version.to_string(), at)) {
            Some((old, _)) => old != version,
            None => true,
        }
    }
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
    let is_event = resource.kind == "Event";
    let mut config = watcher::Config::default();
    if let Some(fields) = outlet.field_selector.as_deref().filter(|_| resource.kind != "Node") {
        config = config.fields(fields);
    }
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut known: BTreeMap<ObjectKey, Name> = BTreeMap::new();
    let mut relisted: Option<BTreeMap<ObjectKey, Name>> = None;
    let mut seen_events = SeenEvents::default();
    let mut first_list = true;
    while let Some(item) = stream.next().await {
        let at = now();
        let (object, deleted, initial) = match item {
            Err(e) => {
                outlet.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(kind = %resource.kind, error = %e, "watch failed; retrying with backoff");
                let text = format!("{e:?}");
                if let Some(own) = outlet
                    .own_events
                    .as_ref()
                    .filter(|_| text.contains("403") || text.contains("orbidden"))
                {
                    let note =
                        format!("cannot watch {}: {e}; check the ClusterRole", resource.plural);
                    own.warn("WatchForbidden", "Watch", note).await;
                }
                continue;
            }
            Ok(Event::Init) => {
                if !first_list {
                    outlet.stats.restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(kind = %resource.kind, "watch relisting");
                }
                relisted = Some(BTreeMap::new());
                continue;
            }
            Ok(Event::InitDone) => {
                // Objects missing from the new list were deleted while the watch was down.
                if let Some(now_listed) = relisted.take() {
                    if !is_event {
                        for (key, uid) in &known {
                            if !now_listed.contains_key(key) {
                                let what = Observed::deleted(key.clone(), uid.clone());
                                if outlet.observations.send(Observation { at, what }).await.is_err()
                                {
                                    return;
                                }
                            }
                        }
                        known = now_listed;
                    }
                }
                if first_list {
                    outlet.stats.initial_lists_done.fetch_add(1, Ordering::Relaxed);
                }
                first_list = false;
                continue;
            }
            Ok(Event::InitApply(o)) => (o, false, true),
            Ok(Event::Apply(o)) => (o, false, false),
            Ok(Event::Delete(o)) => (o, true, false),
        };
        outlet.stats.received.fetch_add(1, Ordering::Relaxed);
        let mut value = match serde_json::to_value(&object) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if let Value::Object(map) = &mut value {
            map.insert("apiVersion".into(), Value::String(resource.api_version.clone()));
            map.insert("kind".into(), Value::String(resource.kind.clone()));
        }
        if let Some(recorder) = &outlet.recorder {
            let kind = if deleted {
                "DELETED"
            } else if initial {
                "ADDED"
            } else {
                "MODIFIED"
            };
            recorder.write(kind, &value, at);
        }
        if is_event && !deleted {
            let uid = object.metadata.uid.as_deref().unwrap_or_default();
            let version = object.metadata.resource_version.as_deref().unwrap_or_default();
            if !seen_events.is_new(uid, version, at) {
                continue;
            }
        }
        let mut decoded: Vec<Decoded> = Vec::new();
        if let Err(e) = decode(value, None, &mut decoded) {
            outlet.stats.undecodable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(kind = %resource.kind, name = ?object.metadata.name, error = %e, "cannot read object");
            continue;
        }
        for d in decoded {
            let what = match d.what {
                // A deleted Event record changes nothing: its occurrence was already seen.
                Observed::Event(_) if deleted => continue,
                // History before --since is not replayed at start-up.
                Observed::Event(_)
                    if initial && first_list && d.time.is_some_and(|t| t < outlet.history_from) =>
                {
                    continue
                }
                Observed::Object(o) if deleted => Observed::deleted(o.key, o.uid),
                Observed::Object(o) => {
                    match &mut relisted {
                        Some(listing) if initial => listing.insert(o.key.clone(), o.uid.clone()),
                        _ => known.insert(o.key.clone(), o.uid.clone()),
                    };
                    Observed::Object(o)
                }
                other => other,
            };
            if let Observed::Deleted(gone) = &what {
                known.remove(&gone.key);
            }
            if outlet.observations.send(Observation { at, what }).await.is_err() {
                return;
            }
        }
    }
}
