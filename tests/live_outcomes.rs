//! How a rollout ended, on its root, through the real control plane: a rollout
//! superseded by a newer spec change, one undone by `kubectl rollout undo`, and a
//! Job out of retries. (A Deployment past its progress deadline is in
//! live_stories.rs.) The node simulator plays the kubelet; a real OTLP receiver
//! prints what kspan-rs exported.

mod driver;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::*;
use support::nodesim::{default_behaviour, ContainerInfo};
use support::rotel::Span;
use support::{ContainerBehaviour, NodeSimConfig};

/// The rollout root of `deployment` for `generation`.
fn root<'a>(spans: &'a [Span], deployment: &str, generation: u32) -> &'a Span {
    let generation = generation.to_string();
    spans
        .iter()
        .find(|s| {
            s.is_root()
                && s.attr("k8s.deployment.name") == Some(deployment)
                && s.attr("kspan.rollout.generation") == Some(generation.as_str())
        })
        .unwrap_or_else(|| panic!("no root for {deployment} generation {generation}: {spans:#?}"))
}

fn outcome(root: &Span) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        root.attr("kspan.rollout.outcome"),
        root.status_code.as_deref(),
        root.status_message.as_deref(),
    )
}

#[test]
fn a_superseded_rollout_and_an_undone_one_are_errors_saying_so() {
    let Some(live) =
        Live::start_or_skip("a_superseded_rollout_and_an_undone_one_are_errors_saying_so")
    else {
        return;
    };
    let receiver = live.receiver();
    // The outcome is read when the rollout's spans are built: each change below
    // comes well inside the settle window of the one before.
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "10s"]);
    let _sim = live.node_sim(NodeSimConfig::with_nodes(1));
    let rolled_out = || live.kubectl(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    // managedFields date a spec change to the second: two changes in one second
    // cannot be told apart by time (README, Limits), so each comes in a second of its own.
    let set_image = |image: &str| {
        std::thread::sleep(Duration::from_millis(1100));
        live.kubectl(&["set", "image", "deployment/web", &format!("main={image}")]);
    };
    // The new ReplicaSet's pod has failed its pull: the rollout is stuck.
    let failing_pull = || {
        let started = Instant::now();
        while !live
            .kubectl(&[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                "jsonpath={..containerStatuses[*].state.waiting.reason}",
            ])
            .contains("ImagePull")
        {
            assert!(started.elapsed() < Duration::from_secs(60), "no pod failed its pull");
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    live.apply("web.yaml", &deployment("web", "nginx:1.19", 1, "100m"));
    rolled_out(); // generation 1
    set_image("registry.example/missing-app:2"); // generation 2, never available...
    failing_pull();
    set_image("nginx:1.20"); // ...superseded by generation 3
    rolled_out();
    let good = live.kubectl(&[
        "get",
        "replicasets",
        "-l",
        "app=web",
        "-o",
        r#"jsonpath={range .items[?(@.spec.template.spec.containers[0].image=="nginx:1.20")]}{.metadata.name}{end}"#,
    ]);
    set_image("registry.example/missing-app:4"); // generation 4, never available...
    failing_pull();
    std::thread::sleep(Duration::from_millis(1100));
    live.kubectl(&["rollout", "undo", "deployment/web"]); // ...undone: generation 5
    rolled_out();
    std::thread::sleep(Duration::from_secs(14));
    let spans = kspan.stop_and_read(&receiver);
    live.assert_every_event_once("default", &spans);

    assert_eq!(outcome(root(&spans, "web", 1)).0, Some("complete"));
    // Superseded by whichever generation was current when its spans were built.
    let superseded = outcome(root(&spans, "web", 2));
    assert_eq!((superseded.0, superseded.1), (Some("superseded"), Some("STATUS_CODE_ERROR")));
    let message = superseded.2.unwrap_or_default();
    assert!(
        message.starts_with("superseded by generation ")
            && message.ends_with(" before it completed"),
        "generation 2: {message}"
    );
    assert_eq!(outcome(root(&spans, "web", 3)).0, Some("complete"));
    let undone = outcome(root(&spans, "web", 4));
    assert_eq!(undone.0, Some("rolled_back"), "generation 4: {undone:?}");
    assert_eq!(undone.1, Some("STATUS_CODE_ERROR"));
    let message = undone.2.unwrap_or_default();
    assert!(
        message.starts_with("rolled back by generation 5 to ReplicaSet ")
            && message.contains(good.trim()),
        "generation 4 returned to {good}: {message}"
    );
    let undo = outcome(root(&spans, "web", 5));
    assert_eq!((undo.0, undo.1), (Some("complete"), Some("STATUS_CODE_UNSET")));
}

#[test]
fn a_job_out_of_retries_is_a_failed_root() {
    let Some(live) = Live::start_or_skip("a_job_out_of_retries_is_a_failed_root") else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "5s"]);
    let behaviour = |c: &ContainerInfo<'_>| {
        let job = c.pod.metadata.labels.as_ref().and_then(|l| l.get("job-name"));
        match job.map(String::as_str) {
            Some("doomed") => {
                ContainerBehaviour::Exit { run_for: Duration::from_millis(500), exit_code: 2 }
            }
            _ => default_behaviour(c),
        }
    };
    let _sim = live
        .node_sim(NodeSimConfig { behaviour: Arc::new(behaviour), ..NodeSimConfig::with_nodes(1) });
    live.apply(
        "doomed.yaml",
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: doomed, namespace: default}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: "busybox:1.36"}]
"#,
    );
    live.kubectl(&["wait", "--for=condition=failed", "job/doomed", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(8));
    let spans = kspan.stop_and_read(&receiver);
    live.assert_every_event_once("default", &spans);

    let job = spans
        .iter()
        .find(|s| s.is_root() && s.name == "Job.Run" && s.attr("k8s.job.name") == Some("doomed"))
        .unwrap_or_else(|| panic!("a Job.Run root for doomed: {spans:#?}"));
    let (outcome, status, message) = outcome(job);
    assert_eq!((outcome, status), (Some("failed"), Some("STATUS_CODE_ERROR")), "{job:#?}");
    // In the Job controller's words: its BackoffLimitExceeded Warning, else the condition's reason.
    assert!(
        message
            .is_some_and(|m| m.to_lowercase().contains("backoff limit")
                || m.starts_with("BackoffLimitExceeded")),
        "the Error says why: {message:?}"
    );
    let failed = job.events.iter().find(|e| e.name == "Failed=True").expect("Failed=True");
    assert_eq!(failed.attr("k8s.condition.reason"), Some("BackoffLimitExceeded"));
}
