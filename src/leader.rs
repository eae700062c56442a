//! High availability: replicas elect a leader through a coordination.k8s.io Lease
//! (kube-lease-manager). Every replica watches and correlates, so all hold the
//! same warm state and derive the same ids; only the leader exports. A follower
//! keeps the spans it finished during the last lease duration plus one renew
//! interval, and exports them when it takes over: the spans a dead leader finished
//! but may not have delivered, and those finished while nobody led, are sent
//! (some twice, with identical ids) instead of lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::sink::queue::SpanQueue;
use crate::span::SpanDraft;
use crate::telemetry::Metrics;

/// How often a follower reads the Lease to notice a release.
const RELEASE_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// Unique among the replicas: the Pod name, else hostname and pid.
    pub identity: String,
    /// How long a lease holds after its last renewal.
    pub duration: Duration,
    /// How often the leader renews.
    pub renew_interval: Duration,
}

impl LeaseSettings {
    /// The lease is held in whole seconds; a renewal must come before expiry.
    pub fn validate(&self) -> Result<(), String> {
        let whole = |d: Duration| d.subsec_nanos() == 0 && d.as_secs() > 0;
        if !whole(self.duration) || !whole(self.renew_interval) {
            return Err("--lease-duration and --lease-renew-interval are whole seconds".into());
        }
        if self.renew_interval >= self.duration {
            return Err("--lease-renew-interval must be shorter than --lease-duration".into());
        }
        Ok(())
    }

    /// How far back a new leader re-sends what it finished: a dead leader's last
    /// renewal was at most one renew interval before it died, and its lease ran out
    /// one lease duration after that renewal.
    pub fn lookback(&self) -> Duration {
        self.duration + self.renew_interval
    }

    async fn manager(&self, client: &Client) -> kube_lease_manager::Result<LeaseManager> {
        LeaseManagerBuilder::new(client.clone(), &self.name)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_field_manager("kspan-rs")
            .with_duration(self.duration.as_secs())
            // kube-lease-manager renews `grace` before expiry.
            .with_grace((self.duration - self.renew_interval).as_secs())
            .build()
            .await
    }
}

/// This replica's part in the election, as the run loop sees it.
pub struct Election {
    pub leading: watch::Receiver<bool>,
    resign: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Election {
    /// Fails when the Lease cannot be read or created (RBAC, namespace): better
    /// said at start than by a replica that silently never leads.
    pub async fn start(client: Client, settings: LeaseSettings) -> anyhow::Result<Election> {
        let manager = settings
            .manager(&client)
            .await
            .map_err(|e| anyhow::anyhow!("lease {}/{}: {e}", settings.namespace, settings.name))?;
        let (tx, leading) = watch::channel(false);
        let (resign, resigned) = oneshot::channel();
        let task = tokio::spawn(campaign(client, settings, manager, tx, resigned));
        Ok(Election { leading, resign, task })
    }

    /// Releases the lease if held, so another replica takes over at once.
    pub async fn resign(self) {
        let _ = self.resign.send(());
        let _ = self.task.await;
    }
}

enum Step {
    Changed(kube_lease_manager::Result<bool>),
    Released,
    Resign,
}

async fn campaign(
    client: Client,
    settings: LeaseSettings,
    mut manager: LeaseManager,
    tx: watch::Sender<bool>,
    mut resigned: oneshot::Receiver<()>,
) {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let lease = format!("{}/{}", settings.namespace, settings.name);
    let mut leading = false;
    loop {
        let step = tokio::select! {
            changed = manager.changed() => Step::Changed(changed),
            // kube-lease-manager rereads a lease held by another only when that
            // hold expires; a fresh manager sees a released lease at once.
            () = released(&leases, &settings.name), if !leading => Step::Released,
            _ = &mut resigned => Step::Resign,
        };
        match step {
            Step::Changed(Ok(now)) => {
                leading = now;
                if now {
                    tracing::info!(%lease, identity = %settings.identity, "leading: this replica exports");
                } else {
                    tracing::warn!(%lease, identity = %settings.identity, "lost the lease: following, spans held in standby");
                }
                tx.send_replace(now);
            }
            Step::Changed(Err(e)) => {
                // The lease could not be read or renewed: keep the role until it can
                // (a leader cut off may export twice, never lose).
                tracing::warn!(%lease, error = %e, "lease not renewed; retrying");
                tokio::time::sleep(RELEASE_POLL).await;
            }
            Step::Released => match settings.manager(&client).await {
                Ok(fresh) => manager = fresh,
                Err(e) => tracing::warn!(%lease, error = %e, "lease not read; retrying"),
            },
            Step::Resign => break,
        }
    }
    if leading {
        match manager.release().await {
            Ok(()) => tracing::info!(%lease, "lease released"),
            Err(e) => tracing::warn!(%lease, error = %e, "lease not released; it expires"),
        }
    }
    tx.send_replace(false);
}

/// Returns once the Lease has no holder.
async fn released(leases: &Api<Lease>, name: &str) {
    loop {
        tokio::time::sleep(RELEASE_POLL).await;
        if let Ok(lease) = leases.get(name).await {
            let holder = lease.spec.and_then(|s| s.holder_identity);
            if holder.is_none_or(|h| h.is_empty()) {
                return;
            }
        }
    }
}

/// The spans a follower finished during the last `keep`, oldest first, at most
/// `capacity` (beyond it the oldest go, counted as dropped).
pub struct Standby {
    spans: VecDeque<(Instant, SpanDraft)>,
    keep: Duration,
    capacity: usize,
    pub dropped: u64,
}

impl Standby {
    pub fn new(keep: Duration, capacity: usize) -> Self {
        Standby { spans: VecDeque::new(), keep, capacity: capacity.max(1), dropped: 0 }
    }

    pub fn hold(&mut self, spans: Vec<SpanDraft>, now: Instant) {
        self.spans.extend(spans.into_iter().map(|s| (now, s)));
        self.forget(now);
        let over = self.spans.len().saturating_sub(self.capacity);
        if over > 0 {
            self.spans.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// What to export on taking over: every span finished within `keep` of `now`.
    pub fn take_over(&mut self, now: Instant) -> Vec<SpanDraft> {
        self.forget(now);
        self.spans.drain(..).map(|(_, s)| s).collect()
    }

    fn forget(&mut self, now: Instant) {
        while self.spans.front().is_some_and(|(at, _)| now.duration_since(*at) > self.keep) {
            self.spans.pop_front();
        }
    }
}

/// Where finished spans go: to the export queue while this replica leads (or
/// when there is no election), else to the standby buffer.
pub struct Outbox {
    queue: Arc<SpanQueue>,
    standby: Option<Standby>,
    leading: bool,
}

impl Outbox {
    /// `standby`: Some with leader election, the replica then starts as a follower.
    pub fn new(queue: Arc<SpanQueue>, standby: Option<Standby>, metrics: &Metrics) -> Self {
        let leading = standby.is_none();
        metrics.leader.set(leading as i64);
        Outbox { queue, standby, leading }
    }

    pub fn push(&mut self, spans: Vec<SpanDraft>) {
        match (&mut self.standby, self.leading) {
            (Some(standby), false) => standby.hold(spans, Instant::now()),
            _ => self.queue.push(spans),
        }
    }

    /// Follows the election; on taking over, queues what the standby holds.
    /// Spans already queued when the lease is lost are still delivered.
    pub fn lead(&mut self, leading: bool, metrics: &Metrics) {
        if leading == self.leading {
            return;
        }
        self.leading = leading;
        metrics.leader.set(leading as i64);
        if let (true, Some(standby)) = (leading, &mut self.standby) {
            let held = standby.take_over(Instant::now());
            tracing::info!(
                spans = held.len(),
                lookback_s = standby.keep.as_secs(),
                "took over: exporting the spans finished during the lookback"
            );
            self.queue.push(held);
        }
    }

    pub fn standby_dropped(&self) -> u64 {
        self.standby.as_ref().map_or(0, |s| s.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Status;

    fn span(n: u8) -> SpanDraft {
        SpanDraft {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent: None,
            name: "Pod.Startup",
            start: 0,
            end: 0,
            status: Status::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            service: "test".into(),
        }
    }

    #[test]
    fn a_takeover_exports_what_finished_within_the_lookback() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut standby = Standby::new(s(20), 100);
        standby.hold(vec![span(1)], t0);
        standby.hold(vec![span(2), span(3)], t0 + s(10));
        standby.hold(vec![span(4)], t0 + s(25));
        let held: Vec<u8> = standby.take_over(t0 + s(31)).iter().map(|s| s.span_id[0]).collect();
        assert_eq!(held, vec![4], "spans 1 to 3 finished more than 20 s before");
        assert!(standby.take_over(t0 + s(31)).is_empty(), "taken once");
    }

    #[test]
    fn the_standby_is_bounded_oldest_first() {
        let mut standby = Standby::new(Duration::from_secs(60), 2);
        standby.hold(vec![span(1), span(2), span(3)], Instant::now());
        assert_eq!(standby.dropped, 1);
        let held: Vec<u8> =
            standby.take_over(Instant::now()).iter().map(|s| s.span_id[0]).collect();
        assert_eq!(held, vec![2, 3]);
    }

    #[test]
    fn lease_settings_are_whole_seconds_renewed_before_expiry() {
        let settings = |duration, renew| LeaseSettings {
            name: "kspan-rs".into(),
            namespace: "kspan".into(),
            identity: "a".into(),
            duration: Duration::from_secs_f64(duration),
            renew_interval: Duration::from_secs_f64(renew),
        };
        assert!(settings(15.0, 5.0).validate().is_ok());
        assert_eq!(settings(15.0, 5.0).lookback(), Duration::from_secs(20));
        assert!(settings(15.0, 15.0).validate().is_err());
        assert!(settings(15.0, 0.5).validate().is_err());
    }
}
