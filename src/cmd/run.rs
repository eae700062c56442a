//! `kspan run`: watchers -> correlator -> outbox -> bounded queue -> sink.
//! The correlator runs on its own task; wall-clock time enters here only, as
//! observation times and one tick per second.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::shutdown_signal;
use crate::cli::{Output, RunArgs};
use crate::config;
use crate::correlate::Correlator;
use crate::error::{Error, Result};
use crate::leader::Election;
use crate::observe::{Observation, Observed};
use crate::sink::outbox::{Outbox, Standby};
use crate::sink::queue::SpanQueue;
use crate::sink::trace_log::{Stage, Traces};
use crate::sink::Mode;
use crate::source::cluster::{self, Watchers};
use crate::source::record::Recorder;
use crate::source::watch::{now, WatchStats};
use crate::telemetry::metrics::EventLabels;
use crate::telemetry::own_events::OwnEvents;
use crate::telemetry::{server, Metrics};

/// Longest pause between attempts to deliver to a failing sink.
const MAX_PAUSE: Duration = Duration::from_secs(16);

/// Largest batch handed to a sink at once.
const BATCH: usize = 512;

/// The next change of leadership; never, without an election or once it ended.
async fn leadership(election: &mut Option<Election>) -> bool {
    if let Some(e) = election {
        if e.leading.changed().await.is_ok() {
            return *e.leading.borrow_and_update();
        }
    }
    std::future::pending().await
}

pub async fn run(args: RunArgs) -> Result<u8> {
    // First: it sets how objects are read.
    let correlation = config::correlation(&args.correlation);
    let lease = config::lease(&args)?;
    let metrics: &'static Metrics = Box::leak(Box::default());
    metrics.slis.set_workload_label(args.metrics_workload_label);
    let address = server::serve(args.metrics_addr, metrics)
        .await
        .map_err(|source| Error::MetricsAddr { addr: args.metrics_addr, source })?;
    tracing::info!(%address, "serving /metrics, /healthz, /readyz");
    let cluster = config::cluster(&args.cluster);
    let client = cluster::client(&cluster).await?;
    let own_events = match (&args.pod_namespace, &args.pod_name) {
        (Some(namespace), Some(name)) => {
            Some(Arc::new(OwnEvents::new(client.clone(), namespace, name)))
        }
        _ => None,
    };
    let mut sink = config::sink(args.output, args.out.as_deref(), &args.export, true, Mode::Live)?;
    let recorder = match &args.capture_to {
        Some(path) => Some(Arc::new(Recorder::create(path).map_err(Error::file(path))?)),
        None => None,
    };
    let stats = Arc::new(WatchStats {
        restarts: metrics.watch_restarts.clone(),
        errors: metrics.watch_errors.clone(),
        ..WatchStats::default()
    });
    let Watchers { mut observations, tasks: mut watchers, count } = cluster::start_watchers(
        &cluster,
        &client,
        recorder.clone(),
        stats.clone(),
        own_events.clone(),
    )
    .await;
    tracing::info!(watchers = count, "watching");
    {
        // Said once every watcher has its initial list: from here on nothing is missed.
        let stats = stats.clone();
        tokio::spawn(async move {
            while stats.initial_lists_done.load(Ordering::Relaxed) < count as u64 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            metrics.set_ready();
            tracing::info!(watchers = count, "initial lists synced");
        });
    }

    let queue = Arc::new(SpanQueue::new(args.queue_size, metrics.dropped("queue")));
    let exporter = {
        let queue = queue.clone();
        let own_events = own_events.clone();
        tokio::spawn(async move {
            // A batch that fails (after the sink's own retries) goes back to the front
            // of the queue and is tried again with growing pauses: a collector outage
            // delays spans, the queue's bound decides what is lost.
            let mut pause = Duration::from_millis(500);
            while let Some(batch) = queue.next_batch(BATCH).await {
                let traces = Traces::of(&batch);
                let result = sink.deliver(batch).await;
                metrics.delivery(&result);
                match result {
                    Ok(_) => {
                        traces.log(Stage::Delivered);
                        queue.delivered();
                        pause = Duration::from_millis(500);
                    }
                    Err(undelivered) => {
                        tracing::error!(error = %undelivered, "delivering spans failed");
                        if let Some(own) = &own_events {
                            let note = format!(
                                "{} spans waiting, export failing: {undelivered}",
                                queue.len() + undelivered.spans.len()
                            );
                            own.warn("ExportFailed", "Export", note).await;
                        }
                        queue.requeue(undelivered.spans);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
            if args.output == Output::Otlp {
                tracing::info!(
                    exported = metrics.spans_exported.get(),
                    retries = metrics.export_retries.get(),
                    "OTLP sink closed"
                );
            }
            if let Err(e) = sink.close() {
                tracing::warn!(error = %e, "closing the output failed");
            }
        })
    };

    let mut outbox = Outbox::new(
        queue.clone(),
        lease
            .as_ref()
            .map(|l| Standby::new(l.lookback(), args.queue_size, metrics.dropped("standby"))),
        metrics,
    );
    let mut election = match lease {
        Some(settings) => {
            tracing::info!(lease = %format!("{}/{}", settings.namespace, settings.name), identity = %settings.identity, "following until elected");
            Some(Election::start(client.clone(), settings).await?)
        }
        None => None,
    };
    let mut correlator = Correlator::new(correlation);
    let mut gauges = Gauges::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            observation = observations.recv() => match observation {
                Some(o) => {
                    count_event(metrics, &o);
                    metrics.correlator_lag_ms.set((now() - o.at) / 1_000_000);
                    outbox.push(correlator.ingest(o));
                }
                None => break,
            },
            leading = leadership(&mut election) => outbox.lead(leading, metrics),
            _ = tick.tick() => {
                outbox.push(correlator.ingest(Observation { at: now(), what: Observed::Tick }));
                if let Some(r) = &recorder { r.flush(); }
                if let (true, Some(own)) = (gauges.update(metrics, &correlator, &queue), &own_events) {
                    let note = format!("pending set full ({} events): events placed before their owners were seen; raise --pending-limit", correlator.pending());
                    let own = own.clone();
                    tokio::spawn(async move { own.warn("PendingOverflow", "Correlate", note).await });
                }
            }
            _ = &mut shutdown => break,
        }
    }
    // Finish what is pending and deliver it within the grace period.
    watchers.abort_all();
    while let Ok(o) = observations.try_recv() {
        outbox.push(correlator.ingest(o));
    }
    outbox.push(correlator.finish());
    // Released before the queue drains: another replica leads (and exports what
    // it finished meanwhile) while this one delivers what it has.
    if let Some(election) = election {
        election.resign().await;
    }
    queue.close();
    if let Some(r) = &recorder {
        r.flush();
    }
    let delivered = tokio::time::timeout(args.shutdown_grace, exporter).await.is_ok();
    let s = correlator.stats();
    eprintln!(
        "kspan: {} observations ({} events) -> {} traces, {} spans; {} dropped at the queue; {} watch restarts{}",
        s.observations,
        s.events,
        s.traces,
        s.spans,
        metrics.dropped("queue").get(),
        stats.restarts.get(),
        if delivered {
            String::new()
        } else {
            format!("; shutdown grace period exceeded, {} spans undelivered", queue.waiting())
        }
    );
    Ok(0)
}

fn count_event(metrics: &Metrics, o: &Observation) {
    if let Observed::Event(e) = &o.what {
        let labels = EventLabels {
            r#type: e.kind.to_string(),
            reason: e.reason.to_string(),
            involved_object: e.involved.key.kind.to_string(),
        };
        metrics.events.get_or_create(&labels).inc();
    }
}

/// The pure correlator's and the queue's state, copied into the metrics once a second.
#[derive(Default)]
struct Gauges {
    traces: u64,
    overflow: u64,
    traceparent_invalid: u64,
}

impl Gauges {
    /// Returns whether the pending set overflowed since the last update.
    fn update(&mut self, metrics: &Metrics, correlator: &Correlator, queue: &SpanQueue) -> bool {
        metrics.queue_depth.set(queue.waiting() as i64);
        metrics.pending_events.set(correlator.pending() as i64);
        metrics.tracked_objects.set(correlator.tracked_objects() as i64);
        metrics.open_rollouts.set(correlator.open_episodes() as i64);
        let sync = |last: &mut u64, now: u64| {
            let diff = now.saturating_sub(*last);
            *last = now;
            diff
        };
        metrics.traces.inc_by(sync(&mut self.traces, correlator.stats().traces));
        let invalid = correlator.stats().traceparent_invalid;
        metrics.traceparent_invalid.inc_by(sync(&mut self.traceparent_invalid, invalid));
        sync(&mut self.overflow, correlator.stats().pending_overflow) > 0
    }
}
