//! High availability: replicas elect a leader through a coordination.k8s.io Lease
//! (kube-lease-manager). Every replica watches and correlates, so all hold the
//! same warm state and derive the same ids; only the leader exports. A follower
//! keeps the spans it finished during the last lease duration plus one renew
//! interval, and exports them when it takes over: the spans a dead leader finished
//! but may not have delivered, and those finished while nobody led, are sent
//! (some twice, with identical ids) instead of lost.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

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
    pub async fn start(client: Client, settings: LeaseSettings) -> crate::error::Result<Election> {
        let manager = settings.manager(&client).await.map_err(|source| {
            let lease = format!("{}/{}", settings.namespace, settings.name);
            crate::error::Error::Lease { lease, source }
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
