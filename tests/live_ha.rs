//! Two `kspan run --leader-elect` replicas against the real API server, exporting
//! to one receiver. The leader is killed (SIGKILL) in the middle of a rollout: the
//! follower takes over once the lease runs out. The lease is long enough that the
//! rollout settles while nobody leads, so its spans reach the receiver only from
//! the new leader's standby buffer; the trace is complete (every Event of the
//! namespace, by uid) with no span twice. Then a third
//! replica joins and the second leader is stopped with SIGTERM: it releases the
//! lease, and the third takes over at once instead of after the lease duration.

mod driver;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use driver::*;
use support::rotel;
use support::NodeSimConfig;

const LEASE_DURATION_S: u64 = 12;
const RENEW_S: u64 = 2;
const SETTLE_S: u64 = 3;

/// Waits until the replica reports `kspan_leader` = `value`; returns how long it took.
fn wait_for_leader(kspan: &Kspan, value: f64, within: Duration) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < within {
        if kspan.served_metric("kspan_leader") == Some(value) {
            return t0.elapsed();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "kspan_leader did not become {value} within {within:?}: {}",
        std::fs::read_to_string(&kspan.log).unwrap_or_default()
    );
}

#[test]
fn a_killed_leader_is_replaced_and_no_event_is_lost_or_sent_twice() {
    let Some(live) =
        Live::start_or_skip("a_killed_leader_is_replaced_and_no_event_is_lost_or_sent_twice")
    else {
        return;
    };
    let receiver = live.receiver();
    let dir = live.dir();
    let kubeconfig = live.kubeconfig();
    let (duration, renew, settle) =
        (format!("{LEASE_DURATION_S}s"), format!("{RENEW_S}s"), format!("{SETTLE_S}s"));
    let args = [
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--otlp-addr",
        receiver.grpc_endpoint(),
        "--settle",
        &settle,
        "--leader-elect",
        "--lease-namespace",
        "default",
        "--lease-duration",
        &duration,
        "--lease-renew-interval",
        &renew,
    ];
    let mut a = Kspan::start_named(dir, "kspan-a", &args);
    wait_for_sync(&a);
    wait_for_leader(&a, 1.0, Duration::from_secs(20));
    let mut b = Kspan::start_named(dir, "kspan-b", &args);
    wait_for_sync(&b);
    assert_eq!(b.served_metric("kspan_leader"), Some(0.0), "one leader at a time");

    let config =
        NodeSimConfig { pull_delay: Duration::from_secs(2), ..NodeSimConfig::with_nodes(3) };
    let _sim = live.node_sim(config);
    live.kubectl(&["create", "deployment", "web", "--image=nginx:1.19", "--replicas=4"]);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    // Past the settle window and the lookback: what finished so far was exported
    // by the leader and is outside what a new leader re-sends, so any span
    // delivered twice would be a fault, not the documented failover overlap.
    std::thread::sleep(Duration::from_secs(SETTLE_S + LEASE_DURATION_S + RENEW_S + 3));

    live.kubectl(&["set", "image", "deployment/web", "nginx=nginx:1.20"]);
    std::thread::sleep(Duration::from_secs(2));
    a.kill();
    let takeover = wait_for_leader(&b, 1.0, Duration::from_secs(LEASE_DURATION_S + 10));
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(SETTLE_S + 4));
    let b_log = std::fs::read_to_string(&b.log).unwrap();
    assert!(b_log.contains("leading: this replica exports"), "{b_log}");
    let took_over = b_log.lines().find(|l| l.contains("took over")).expect("takeover logged");
    let resent: usize = took_over
        .split_whitespace()
        .find_map(|w| w.strip_prefix("spans=")?.parse().ok())
        .expect("spans counted");

    // A third replica joins; the leader stopped with SIGTERM hands over at once.
    let c = Kspan::start_named(dir, "kspan-c", &args);
    wait_for_sync(&c);
    assert_eq!(c.served_metric("kspan_leader"), Some(0.0));
    let stopped = Instant::now();
    let b_log = b.stop();
    wait_for_leader(&c, 1.0, Duration::from_secs(LEASE_DURATION_S + 10));
    // From SIGTERM (including the old leader's flush) to the new leader's metric.
    let handover = stopped.elapsed();
    assert!(b_log.contains("lease released"), "{b_log}");
    // Waiting for expiry would take at least duration - renew interval.
    assert!(
        handover < Duration::from_secs(LEASE_DURATION_S - RENEW_S),
        "a released lease is taken at once, not at expiry: {handover:?}"
    );
    let mut c = c;
    c.stop();

    let events = live.api_events("default");
    let spans = rotel::parse(&receiver.output());
    let placed = span_events(&spans);
    let missing: Vec<_> = events.iter().filter(|(uid, _)| !placed.contains_key(*uid)).collect();
    let mut ids: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for s in &spans {
        *ids.entry((&s.trace_id, &s.span_id)).or_default() += 1;
    }
    let duplicates = ids.values().filter(|n| **n > 1).count();
    let rollouts = spans.iter().filter(|s| s.name == "Deployment.Rollout").count();
    println!(
        "leader killed: {} events in the API server, {} spans received ({rollouts} rollout roots), \
         {} events missing, {duplicates} span ids twice; takeover {:.1}s after SIGKILL \
         (lease {LEASE_DURATION_S}s, renew every {RENEW_S}s), {resent} spans from the standby; \
         SIGTERM handover {:.1}s",
        events.len(),
        spans.len(),
        missing.len(),
        takeover.as_secs_f64(),
        handover.as_secs_f64(),
    );
    assert!(
        takeover <= Duration::from_secs(LEASE_DURATION_S + 3),
        "takeover within the lease duration: {takeover:?}"
    );
    assert!(resent > 0, "the rollout settled while nobody led: {took_over}");
    assert!(missing.is_empty(), "{missing:#?}");
    for (uid, holders) in &placed {
        assert_once_per_occurrence(uid, holders);
    }
    assert_eq!(duplicates, 0, "no span delivered twice");
    let web_rollouts: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "Deployment.Rollout" && s.attr("k8s.deployment.name") == Some("web"))
        .collect();
    assert_eq!(web_rollouts.len(), 2, "create and set image: one trace each");
}

/// The rights `deploy/base` grants (its Role on Leases in the kspan namespace)
/// are enough to take the Lease, named by default, in the Pod's own namespace.
#[test]
fn the_deployed_service_account_can_take_the_lease() {
    let Some(live) = Live::start_or_skip("the_deployed_service_account_can_take_the_lease") else {
        return;
    };
    let identity = live.deployed_identity("deploy/base");
    let mut kspan = Kspan::start(
        live.dir(),
        &[
            "--kubeconfig",
            identity.to_str().unwrap(),
            "--output",
            "otlp-json",
            "--leader-elect",
            "--pod-name",
            "kspan-self",
            "--pod-namespace",
            "kspan",
        ],
    );
    let took = wait_for_leader(&kspan, 1.0, Duration::from_secs(20));
    let holder = live.kubectl(&[
        "get",
        "lease",
        "-n",
        "kspan",
        "kspan-rs",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert!(holder.starts_with("kspan-self-"), "the Pod name, then pid and start time: {holder}");
    let log = kspan.stop();
    assert!(log.contains("lease released"), "{log}");
    let after = live.kubectl(&[
        "get",
        "lease",
        "-n",
        "kspan",
        "kspan-rs",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(after, "", "released on SIGTERM");
    println!(
        "service account kspan/kspan leads after {:.1}s, lease kspan/kspan-rs released on SIGTERM",
        took.as_secs_f64()
    );
}
