//! kspan-rs reports its own trouble as Kubernetes Events on its own Pod (where an
//! operator looks first: `kubectl describe pod`): export failing, a watch
//! forbidden, the pending set overflowing. Warnings, at most one per reason per
//! interval; kube-rs' recorder aggregates repeats into one Event series.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Client;

/// Repeats of one reason within this interval are not sent again.
const INTERVAL: Duration = Duration::from_secs(30);

pub struct OwnEvents {
    recorder: Recorder,
    pod: ObjectReference,
    last: Mutex<HashMap<&'static str, Instant>>,
}

impl OwnEvents {
    pub fn new(client: Client, pod_namespace: &str, pod_name: &str) -> Self {
        let reporter = Reporter { controller: "kspan-rs".into(), instance: Some(pod_name.into()) };
        let pod = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: Some(pod_namespace.into()),
            name: Some(pod_name.into()),
            ..Default::default()
        };
        OwnEvents {
            recorder: Recorder::new(client, reporter),
            pod,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Sends a Warning unless the same reason was sent within the interval.
    pub async fn warn(&self, reason: &'static str, action: &'static str, note: String) {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.get(reason).is_some_and(|t| t.elapsed() < INTERVAL) {
                return;
            }
            last.insert(reason, Instant::now());
        }
        let note: String = note.chars().take(1000).collect();
        let event = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &self.pod).await {
            tracing::warn!(reason, error = %e, "cannot publish own Event");
        }
    }
}
