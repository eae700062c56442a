//! Faults on the real control plane: the collector down when kspan-rs starts and
//! back later. Spans wait in the bounded queue and arrive, none lost, none twice.
//! (One test per binary: it sets the receiver's ports through the environment.)

mod driver;
mod support;

use std::time::{Duration, Instant};

use driver::*;
use support::rotel;
use support::{LiveCluster, LiveReceiver, NodeSim, NodeSimConfig};

#[test]
fn a_collector_down_at_start_gets_every_span_when_it_returns() {
    let Some(cluster) =
        LiveCluster::start_or_skip("a_collector_down_at_start_gets_every_span_when_it_returns")
    else {
        return;
    };
    let rt = runtime();
    let client = rt.block_on(cluster.client()).unwrap();
    let dir = cluster.dir().to_path_buf();
    // Ports for a receiver that is not there yet.
    let (grpc, http) = {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
    };
    let kubeconfig = cluster.kubeconfig_path();
    let endpoint = format!("http://127.0.0.1:{grpc}");
    let mut kspan = Kspan::start(
        &dir,
        &["--kubeconfig", kubeconfig.to_str().unwrap(), "--otlp-addr", &endpoint, "--settle", "2s"],
    );
    wait_for_sync(&kspan);
    let _sim = rt.block_on(NodeSim::start(client, NodeSimConfig::with_nodes(2))).unwrap();
    kubectl(&cluster, &["create", "deployment", "web", "--image=nginx:1.19", "--replicas=3"]);
    kubectl(&cluster, &["rollout", "status", "deployment/web", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(6));
    // The collector comes back where kspan-rs expects it.
    std::env::set_var("KSPAN_RECEIVER_PORTS", format!("{grpc} {http}"));
    let receiver = LiveReceiver::start_in(&dir).expect("receiver starts");
    let down_for = Instant::now();
    let events = api_events(&cluster, "default");
    let spans = rt
        .block_on(rotel::wait_for_spans(&receiver.log_path(), Duration::from_secs(45), |spans| {
            let placed = span_events(spans);
            events.keys().all(|uid| placed.contains_key(uid))
        }))
        .unwrap_or_else(|partial| panic!("only {} spans arrived", partial.len()));
    println!(
        "collector outage: {} events, {} spans delivered {:.1} s after it returned",
        events.len(),
        spans.len(),
        down_for.elapsed().as_secs_f64()
    );
    let placed = span_events(&spans);
    for (uid, holders) in &placed {
        assert_once_per_occurrence(uid, holders);
    }
    let ids: std::collections::BTreeSet<_> =
        spans.iter().map(|s| (&s.trace_id, &s.span_id)).collect();
    assert_eq!(ids.len(), spans.len(), "no span delivered twice");
    let (_, metrics) = kspan.get("/metrics");
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("kspan_export_retries_total") + value("kspan_export_errors_total") > 0.0,
        "{metrics}"
    );
    let log = kspan.stop();
    assert!(log.contains("0 dropped at the queue"), "{log}");
}
