//! The metrics an operator watches. `kspan_events_total{type,reason,involved_object}`
//! keeps kspan's name and labels so its dashboards keep working.

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Slis;
use crate::sink::{Delivered, Undelivered};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub r#type: String,
    pub reason: String,
    pub involved_object: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `queue` (the sink lagged), `standby` (a follower's buffer was full) or
    /// `export` (the collector refused after retries).
    pub stage: String,
}

#[derive(Default)]
pub struct Metrics {
    pub events: Family<EventLabels, Counter>,
    pub spans_exported: Counter,
    pub spans_dropped: Family<DropLabels, Counter>,
    pub export_errors: Counter,
    pub export_retries: Counter,
    pub queue_depth: Gauge,
    pub pending_events: Gauge,
    pub tracked_objects: Gauge,
    pub open_rollouts: Gauge,
    pub watch_restarts: Counter,
    pub watch_errors: Counter,
    /// Milliseconds between an observation's arrival and its correlation.
    pub correlator_lag_ms: Gauge,
    pub traces: Counter,
    /// 1 while this replica exports (always, without --leader-elect).
    pub leader: Gauge,
    /// Pod startup and rollout durations of the spans this replica exports.
    pub slis: Slis,
    /// Traceparent annotations ignored as malformed.
    pub traceparent_invalid: Counter,
    ready: AtomicBool,
}

impl Metrics {
    pub fn registry(&'static self) -> Registry {
        let mut r = Registry::with_prefix("kspan");
        r.register("events", "Kubernetes Events observed", self.events.clone());
        r.register("spans_exported", "Spans delivered to the sink", self.spans_exported.clone());
        r.register("spans_dropped", "Spans dropped, by stage", self.spans_dropped.clone());
        r.register(
            "export_errors",
            "Export requests that failed after retries",
            self.export_errors.clone(),
        );
        r.register("export_retries", "Export attempts retried", self.export_retries.clone());
        r.register(
            "queue_depth",
            "Finished spans not delivered yet (queued, or in the batch being sent or retried)",
            self.queue_depth.clone(),
        );
        r.register(
            "pending_events",
            "Events waiting for their object",
            self.pending_events.clone(),
        );
        r.register(
            "tracked_objects",
            "Objects in the correlator's table",
            self.tracked_objects.clone(),
        );
        r.register("open_rollouts", "Episodes not yet settled", self.open_rollouts.clone());
        r.register(
            "watch_restarts",
            "Watches relisted (restart, 410 Gone)",
            self.watch_restarts.clone(),
        );
        r.register(
            "watch_errors",
            "Watch errors (retried with backoff)",
            self.watch_errors.clone(),
        );
        r.register(
            "correlator_lag_milliseconds",
            "Arrival to correlation delay",
            self.correlator_lag_ms.clone(),
        );
        r.register("traces", "Traces started", self.traces.clone());
        r.register("leader", "1 while this replica leads and exports, else 0", self.leader.clone());
        self.slis.register(&mut r);
        r.register(
            "traceparent_invalid",
            "Traceparent annotations ignored as no W3C traceparent (each value once per object)",
            self.traceparent_invalid.clone(),
        );
        r
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The counter of spans dropped at `stage`, for the part that drops them.
    pub fn dropped(&self, stage: &str) -> Counter {
        self.spans_dropped.get_or_create(&DropLabels { stage: stage.into() }).clone()
    }

    /// Counts one delivery to the sink, whole or failed.
    pub fn delivery(&self, result: &Result<Delivered, Undelivered>) {
        let delivered = match result {
            Ok(delivered) => delivered,
            Err(undelivered) => {
                // Not lost: the caller queues the batch again.
                self.export_errors.inc();
                &undelivered.delivered
            }
        };
        self.spans_exported.inc_by(delivered.spans);
        self.export_retries.inc_by(delivered.retries);
    }
}
