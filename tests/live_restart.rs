//! The API server killed and restarted between two rollouts and in the middle of
//! one, and a watch that expires (etcd compacted, then the API server restarted,
//! so the watches resume from a compacted resourceVersion and get 410 Gone):
//! kspan-rs keeps running, its watches resume or relist, and the traces are
//! complete: every Event once, no span twice. The node simulator retries the
//! kubelet's writes while the API server is down, as the kubelet does.

mod driver;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use driver::*;
use support::rotel;
use support::NodeSimConfig;

#[test]
fn an_api_server_restart_loses_and_repeats_nothing() {
    let _serial = serial();
    let Some(live) = Live::start_or_skip("an_api_server_restart_loses_and_repeats_nothing") else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let config =
        NodeSimConfig { pull_delay: Duration::from_secs(2), ..NodeSimConfig::with_nodes(2) };
    let _sim = live.node_sim(config);
    live.kubectl(&["create", "deployment", "web", "--image=nginx:1.19", "--replicas=4"]);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(5));
    live.restart_apiserver(3);
    std::thread::sleep(Duration::from_secs(3));
    live.kubectl(&["set", "image", "deployment/web", "nginx=nginx:1.20"]);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(6));
    let (_, metrics) = kspan.get("/metrics");
    let log = kspan.stop();
    let restarts = metric(&metrics, "kspan_watch_restarts_total");
    let errors = metric(&metrics, "kspan_watch_errors_total");
    let events = live.api_events("default");
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

/// The API server goes down while a Deployment's pods are pulling their image.
fn api_server_down_mid_rollout(test: &str, compact: bool) {
    let _serial = serial();
    // A settle window longer than the outage: the rollout's trace is not cut by it.
    let Some(live) = Live::start_or_skip(test) else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "10s"]);
    let config =
        NodeSimConfig { pull_delay: Duration::from_secs(3), ..NodeSimConfig::with_nodes(2) };
    let _sim = live.node_sim(config);
    live.kubectl(&["create", "deployment", "web", "--image=nginx:1.19", "--replicas=4"]);
    live.wait_for_reason("default", "Pulling", Duration::from_secs(30));
    let ready_before =
        live.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]);
    let revision = compact.then(|| live.compact_etcd());
    live.restart_apiserver(3);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let events = live.api_events("default");
    let spans = wait_for_events(&live.rt, &receiver.log_path(), Duration::from_secs(60), &events)
        .unwrap_or_else(|partial| partial);
    let (_, metrics) = kspan.get("/metrics");
    let log = kspan.stop();
    let spans = {
        // What the shutdown flushed too.
        let all = rotel::parse(&receiver.output());
        if all.len() >= spans.len() {
            all
        } else {
            spans
        }
    };
    let delivery = check_delivery(&events, &spans);
    // The rollout's own Events (Deployment, ReplicaSet, Pods): one trace.
    let placed = span_events(&spans);
    let traces: BTreeSet<&str> = events
        .iter()
        .filter(|(_, (_, name, _))| name.starts_with("web"))
        .filter_map(|(uid, _)| placed.get(uid))
        .flat_map(|holders| holders.iter().map(|s| s.trace_id.as_str()))
        .collect();
    let restarts = metric(&metrics, "kspan_watch_restarts_total");
    let errors = metric(&metrics, "kspan_watch_errors_total");
    let relists = log.lines().filter(|l| l.contains("watch relisting")).count();
    let gone =
        log.lines().filter(|l| l.contains("410") || l.contains("too old resource version")).count();
    println!(
        "{test}: {} events in, {} spans out, {} missing, {} spans twice, {} events twice, \
         {} rollout traces; ready pods at the restart: {ready_before:?}; etcd compacted at {revision:?}; \
         watch errors {errors}, relists {restarts} (log: {relists} relisting, {gone} lines with 410 Gone); {}",
        events.len(),
        spans.len(),
        delivery.missing.len(),
        delivery.repeated_spans.len(),
        delivery.twice.len(),
        traces.len(),
        log.lines().last().unwrap_or_default()
    );
    assert!(ready_before.trim().parse::<u32>().unwrap_or(0) < 4, "restarted mid-rollout");
    assert!(errors + restarts > 0.0, "the watches noticed: {metrics}");
    assert!(
        delivery.missing.is_empty()
            && delivery.repeated_spans.is_empty()
            && delivery.twice.is_empty(),
        "{delivery:#?}"
    );
    assert_eq!(traces.len(), 1, "the rollout is one trace: {traces:?}");
    if compact {
        assert!(restarts > 0.0 && relists > 0, "the expired watches relisted: {metrics}");
        assert!(gone > 0, "a watch got 410 Gone: {log}");
    }
}

#[test]
fn an_api_server_restart_mid_rollout_loses_and_repeats_nothing() {
    api_server_down_mid_rollout(
        "an_api_server_restart_mid_rollout_loses_and_repeats_nothing",
        false,
    );
}

#[test]
fn an_expired_watch_relists_and_loses_and_repeats_nothing() {
    api_server_down_mid_rollout("an_expired_watch_relists_and_loses_and_repeats_nothing", true);
}
