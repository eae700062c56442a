//! `kspan run` and `kspan record`: watchers -> correlator -> bounded queue -> sink.
//! The correlator runs on its own task; wall-clock time enters here only, as
//! observation times and one tick per second.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cli::{ClusterArgs, Output, RecordArgs, RunArgs};
use crate::correlate::Correlator;
use crate::leader::{Election, LeaseSettings, Outbox, Standby};
use crate::observe::{Observation, Observed};
use crate::sink::json::JsonLines;
use crate::sink::otlp::OtlpSink;
use crate::sink::queue::SpanQueue;
use crate::sink::waterfall::Waterfall;
use crate::source::record::Recorder;
use crate::source::watch::{self, now, Outlet, WatchStats};
use crate::span::SpanDraft;
use crate::telemetry::metrics::EventLabels;
use crate::telemetry::own_events::OwnEvents;
use crate::telemetry::{server, Metrics};
use crate::time::Nanos;

/// Longest pause between attempts to deliver to a failing sink.
const MAX_PAUSE: Duration = Duration::from_secs(16);

/// Largest batch handed to a sink at once.
const BATCH: usize = 512;

/// In-cluster config or a kubeconfig/context, like `Client::try_default`.
pub async fn client(args: &ClusterArgs) -> anyhow::Result<Client> {
    let options = KubeConfigOptions { context: args.context.clone(), ..Default::default() };
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?
        }
        None if args.context.is_some() => kube::Config::from_kubeconfig(&options).await?,
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Starts one watcher per resource type (and namespace); returns their tasks.
async fn start_watchers(
    args: &ClusterArgs,
    client: &Client,
    recorder: Option<Arc<Recorder>>,
    stats: Arc<WatchStats>,
    own_events: Option<Arc<OwnEvents>>,
) -> (mpsc::Receiver<Observation>, JoinSet<()>, usize) {
    let (tx, rx) = mpsc::channel(8192);
    let history_from = args.since.map_or(now(), |since| now() - since.as_nanos() as Nanos);
    let excluded: Vec<String> =
        args.exclude_namespaces.iter().map(|ns| format!("metadata.namespace!={ns}")).collect();
    let field_selector = (!excluded.is_empty()).then(|| excluded.join(","));
    let outlet =
        Outlet { observations: tx, recorder, stats, history_from, field_selector, own_events };
    let mut tasks = JoinSet::new();
    let mut count = 0;
    for resource in watch::resources(client, args.events_api).await {
        // Nodes are cluster-scoped: a namespaced install (a Role) may not watch them.
        if resource.kind == "Node" && !args.namespaces.is_empty() {
            continue;
        }
        let cluster_scoped = resource.kind == "Node";
        let namespaces: Vec<Option<String>> = if args.namespaces.is_empty() || cluster_scoped {
            vec![None]
        } else {
            args.namespaces.iter().cloned().map(Some).collect()
        };
        for namespace in namespaces {
            tasks.spawn(watch::watch(client.clone(), resource.clone(), namespace, outlet.clone()));
            count += 1;
        }
    }
    (rx, tasks, count)
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

enum LiveSink {
    Otlp(Box<OtlpSink>),
    Json(JsonLines<Box<dyn Write + Send>>),
    Waterfall(Box<dyn Write + Send>),
}

impl LiveSink {
    /// Delivers a batch; a failure (after the sink's own retries) is counted,
    /// logged and returned for the operator's Event, with the spans still to
    /// deliver (an OTLP batch is one request per service: those delivered are not
    /// sent again).
    async fn deliver(
        &mut self,
        spans: Vec<SpanDraft>,
        metrics: &Metrics,
    ) -> Result<(), (String, Vec<SpanDraft>)> {
        let result = match self {
            LiveSink::Otlp(sink) => {
                let (exported, dropped, retries) = (sink.exported, sink.dropped, sink.retries);
                let result = sink.send(&spans).await.map_err(|e| (e.to_string(), e.spans));
                metrics.spans_exported.inc_by(sink.exported - exported);
                metrics.export_retries.inc_by(sink.retries - retries);
                if sink.dropped > dropped {
                    // Not lost: the batch is requeued by the caller.
                    metrics.export_errors.inc();
                }
                if let Err((e, _)) = &result {
                    tracing::error!(error = %e, "delivering spans failed");
                }
                return result;
            }
            // A copy: the batch goes back to the queue if the write fails.
            LiveSink::Json(sink) => sink.write(spans.clone()).map_err(|e| e.to_string()),
            LiveSink::Waterfall(out) => {
                let mut view = Waterfall::new(true);
                view.add(&spans);
                view.render(out).and_then(|_| out.flush()).map_err(|e| e.to_string())
            }
        };
        match &result {
            Ok(()) => {
                metrics.spans_exported.inc_by(spans.len() as u64);
            }
            Err(e) => {
                metrics.export_errors.inc();
                tracing::error!(error = %e, "delivering spans failed");
            }
        }
        result.map_err(|e| (e, spans))
    }

    fn close(self) {
        match self {
            LiveSink::Otlp(mut sink) => {
                tracing::info!(
                    exported = sink.exported,
                    dropped = sink.dropped,
                    retries = sink.retries,
                    "OTLP sink closed"
                );
                sink.shutdown();
            }
            LiveSink::Json(sink) => {
                let _ = sink.into_inner();
            }
            LiveSink::Waterfall(mut out) => {
                let _ = out.flush();
            }
        }
    }
}

fn output(args: &RunArgs) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdout()),
    })
}

/// The Lease of `--leader-elect`, validated before anything starts.
fn lease_settings(args: &RunArgs) -> anyhow::Result<Option<LeaseSettings>> {
    let leader = &args.leader;
    if !leader.leader_elect {
        return Ok(None);
    }
    let namespace = leader.lease_namespace.clone().or_else(|| args.pod_namespace.clone());
    let namespace = namespace.ok_or_else(|| {
        anyhow::anyhow!("--leader-elect needs --lease-namespace (or POD_NAMESPACE)")
    })?;
    // Unique per process: a container restarted in the same Pod (same name, often
    // pid 1) is a new candidate, so a warm follower takes over instead of a
    // restarted leader reclaiming its own lease without the spans it had finished.
    let base = args.pod_name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
    });
    let identity = format!("{base}-{}-{:x}", std::process::id(), now() / 1_000_000);
    let settings = LeaseSettings {
        name: leader.lease_name.clone(),
        namespace,
        identity,
        duration: leader.lease_duration,
        renew_interval: leader.lease_renew_interval,
    };
    settings.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(settings))
}

/// The next change of leadership; never, without an election or once it ended.
async fn leadership(election: &mut Option<Election>) -> bool {
    if let Some(e) = election {
        if e.leading.changed().await.is_ok() {
            return *e.leading.borrow_and_update();
        }
    }
    std::future::pending().await
}

pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let lease = lease_settings(&args)?;
    let metrics: &'static Metrics = Box::leak(Box::default());
    let address = server::serve(args.metrics_addr, metrics)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-addr {}: {e}", args.metrics_addr))?;
    tracing::info!(%address, "serving /metrics, /healthz, /readyz");
    let client = client(&args.cluster).await?;
    let own_events = match (&args.pod_namespace, &args.pod_name) {
        (Some(namespace), Some(name)) => {
            Some(Arc::new(OwnEvents::new(client.clone(), namespace, name)))
        }
        _ => None,
    };
    let mut sink = match args.output {
        Output::Otlp => {
            LiveSink::Otlp(Box::new(OtlpSink::new(&args.export.otlp(), args.export.resource())?))
        }
        Output::OtlpJson => LiveSink::Json(JsonLines::new(output(&args)?, args.export.resource())),
        Output::Waterfall => LiveSink::Waterfall(output(&args)?),
    };
    let recorder = match &args.capture_to {
        Some(path) => Some(Arc::new(
            Recorder::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let stats = Arc::new(WatchStats::default());
    let (mut observations, mut watchers, count) =
        start_watchers(&args.cluster, &client, recorder.clone(), stats.clone(), own_events.clone())
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

    let queue = Arc::new(SpanQueue::new(args.queue_size));
    let exporter = {
        let queue = queue.clone();
        let own_events = own_events.clone();
        tokio::spawn(async move {
            // A batch that fails (after the sink's own retries) goes back to the front
            // of the queue and is tried again with growing pauses: a collector outage
            // delays spans, the queue's bound decides what is lost.
            let mut pause = Duration::from_millis(500);
            while let Some(batch) = queue.next_batch(BATCH).await {
                match sink.deliver(batch, metrics).await {
                    Ok(()) => {
                        queue.delivered();
                        pause = Duration::from_millis(500);
                    }
                    Err((e, undelivered)) => {
                        if let Some(own) = &own_events {
                            let note = format!(
                                "{} spans waiting, export failing: {e}",
                                queue.len() + undelivered.len()
                            );
                            own.warn("ExportFailed", "Export", note).await;
                        }
                        queue.requeue(undelivered);
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(MAX_PAUSE);
                    }
                }
            }
            sink.close();
        })
    };

    let mut outbox = Outbox::new(
        queue.clone(),
        lease.as_ref().map(|l| Standby::new(l.lookback(), args.queue_size)),
        metrics,
    );
    let mut election = match lease {
        Some(settings) => {
            tracing::info!(lease = %format!("{}/{}", settings.namespace, settings.name), identity = %settings.identity, "following until elected");
            Some(Election::start(client.clone(), settings).await?)
        }
        None => None,
    };
    let mut correlator = Correlator::new(args.correlation.config());
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
                if let (true, Some(own)) = (gauges.update(metrics, &correlator, &queue, &stats, &outbox), &own_events) {
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
        queue.dropped.load(Ordering::Relaxed),
        stats.restarts.load(Ordering::Relaxed),
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

/// Counters kept elsewhere (queue, watchers, correlator) copied into the metrics once a second.
#[derive(Default)]
struct Gauges {
    queue_dropped: u64,
    restarts: u64,
    errors: u64,
    traces: u64,
    overflow: u64,
    standby_dropped: u64,
}

impl Gauges {
    /// Returns whether the pending set overflowed since the last update.
    fn update(
        &mut self,
        metrics: &Metrics,
        correlator: &Correlator,
        queue: &SpanQueue,
        stats: &WatchStats,
        outbox: &Outbox,
    ) -> bool {
        metrics.queue_depth.set(queue.waiting() as i64);
        metrics.pending_events.set(correlator.pending() as i64);
        metrics.tracked_objects.set(correlator.tracked_objects() as i64);
        metrics.open_rollouts.set(correlator.open_episodes() as i64);
        let sync = |last: &mut u64, now: u64| {
            let diff = now.saturating_sub(*last);
            *last = now;
            diff
        };
        metrics
            .dropped("queue", sync(&mut self.queue_dropped, queue.dropped.load(Ordering::Relaxed)));
        metrics
            .watch_restarts
            .inc_by(sync(&mut self.restarts, stats.restarts.load(Ordering::Relaxed)));
        metrics.watch_errors.inc_by(sync(&mut self.errors, stats.errors.load(Ordering::Relaxed)));
        metrics.traces.inc_by(sync(&mut self.traces, correlator.stats().traces));
        metrics.dropped("standby", sync(&mut self.standby_dropped, outbox.standby_dropped()));
        sync(&mut self.overflow, correlator.stats().pending_overflow) > 0
    }
}

pub async fn record(args: RecordArgs) -> anyhow::Result<i32> {
    let client = client(&args.cluster).await?;
    let recorder = Arc::new(
        Recorder::create(&args.out).map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?,
    );
    let stats = Arc::new(WatchStats::default());
    let (mut observations, mut watchers, _) =
        start_watchers(&args.cluster, &client, Some(recorder.clone()), stats.clone(), None).await;
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => shutdown_signal().await,
        }
    };
    tokio::pin!(stop);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            o = observations.recv() => if o.is_none() { break },
            _ = flush.tick() => recorder.flush(),
            _ = &mut stop => break,
        }
    }
    watchers.abort_all();
    recorder.flush();
    eprintln!(
        "kspan: recorded {} watch events to {}",
        stats.received.load(Ordering::Relaxed),
        args.out.display()
    );
    Ok(0)
}
