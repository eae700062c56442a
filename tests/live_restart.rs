//! The API server killed and restarted between two rollouts: kspan-rs keeps
//! running, its watches resume (relisting every Event the server holds), and the
//! traces are complete: every Event once, no span twice. (Mid-rollout is not
//! played: the node simulator does not retry the kubelet's writes that fail while
//! the API server is down, so its pods would stall.)

mod driver;
mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use driver::*;
use support::rotel;
use support::{LiveCluster, LiveReceiver, NodeSim, NodeSimConfig};

#[test]
fn an_api_server_restart_loses_and_repeats_nothing() {
    let Some(cluster) =
        LiveCluster::start_or_skip("an_api_server_restart_loses_and_repeats_nothing")
    else {
        return;
    };
    let rt = runtime();
    let receiver = LiveReceiver::start_in(cluster.dir()).expect("receiver starts");
    let client = rt.block_on(cluster.client()).unwrap();
    let dir = cluster.dir().to_path_buf();
    let kubeconfig = cluster.kubeconfig_path();
    let mut kspan = Kspan::start(
        &dir,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--otlp-addr",
            receiver.grpc_endpoint(),
            "--settle",
            "3s",
        ],
    );
    wait_for_sync(&kspan);
    let config =
        NodeSimConfig { pull_delay: Duration::from_secs(2), ..NodeSimConfig::with_nodes(2) };
    let _sim = rt.block_on(NodeSim::start(client, config)).unwrap();
    kubectl(&cluster, &["create", "deployment", "web", "--image=nginx:1.19", "--replicas=4"]);
    kubectl(&cluster, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(5));
    let restart = Command::new("bash")
        .arg(support::cluster::script())
        .args(["restart-apiserver", dir.to_str().unwrap(), "3"])
        .status()
        .unwrap();
    assert!(restart.success());
    std::thread::sleep(Duration::from_secs(3));
    kubectl(&cluster, &["set", "image", "deployment/web", "nginx=nginx:1.20"]);
    kubectl(&cluster, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(6));
    let (_, metrics) = kspan.get("/metrics");
    let log = kspan.stop();
    let restarts: f64 = metrics
        .lines()
        .find(|l| l.starts_with("kspan_watch_restarts_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("kspan_watch_errors_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    let events = api_events(&cluster, "default");
    let spans = rotel::parse(&receiver.output());
    let placed = span_events(&spans);
    let missing: Vec<_> = events.iter().filter(|(uid, _)| !placed.contains_key(*uid)).collect();
    println!(
        "apiserver restart: {} events, {} spans, {} missing, watch errors {errors}, relists {restarts}; {}",
        events.len(),
        spans.len(),
        missing.len(),
        log.lines().last().unwrap_or_default()
    );
    assert!(errors + restarts > 0.0, "the watches noticed: {metrics}");
    assert!(missing.is_empty(), "{missing:#?}");
    for (uid, holders) in &placed {
        assert_once_per_occurrence(uid, holders);
    }
    let ids: BTreeSet<_> = spans.iter().map(|s| (&s.trace_id, &s.span_id)).collect();
    assert_eq!(ids.len(), spans.len(), "no span delivered twice");
}
