//! Why was this rollout slow? Each common story played by the node simulator on
//! the real control plane; the trace must show the right child span, with the
//! duration the simulator took (within 10%) and the right Error spans.

mod driver;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::*;
use support::nodesim::{default_behaviour, ContainerInfo};
use support::rotel::Span;
use support::{ContainerBehaviour, NodeSimConfig};

/// The spans of one deployment's pods (by pod name prefix).
fn of<'a>(spans: &'a [Span], deployment: &str, name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| {
            s.name == name
                && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with(&format!("{deployment}-")))
        })
        .collect()
}

fn seconds(s: &Span) -> f64 {
    (s.end_unix_nano - s.start_unix_nano) as f64 / 1e9
}

fn within_10_percent(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= expected * 0.1,
        "{what}: {actual:.3} s, expected {expected:.3} s ± 10%"
    );
}

#[test]
fn slow_pull_missing_image_crash_loop_failing_probe_and_no_capacity() {
    let Some(live) =
        Live::start_or_skip("slow_pull_missing_image_crash_loop_failing_probe_and_no_capacity")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let pull = Duration::from_millis(2500);
    // Long enough that the API server's write latency on a busy machine (tens of
    // milliseconds) stays well inside the 10% asked of every duration.
    let (start_delay, ready_delay) = (Duration::from_millis(1500), Duration::from_millis(2000));
    let config = NodeSimConfig {
        pull_delay: pull,
        start_delay,
        ready_delay,
        image_cache: false,
        ..NodeSimConfig::with_nodes(2)
    };
    let _sim = live.node_sim(config.clone());

    let text = [
        deployment("slow", "nginx:1.19", 1, "100m"),
        deployment("broken", "registry.example/missing-app:1.0", 1, "100m"),
        deployment("crashy", "registry.example/crashloop-app:1.0", 1, "100m"),
        deployment("unready", "registry.example/unready-app:1.0", 1, "100m"),
        // More CPU than any node has, until a big node joins.
        deployment("big", "nginx:1.19", 1, "6"),
        // Never available, with a progress deadline of 2 s.
        deployment("stuck", "registry.example/missing-app:1.0", 1, "100m")
            .replace("spec:\n  replicas: 1", "spec:\n  progressDeadlineSeconds: 2\n  replicas: 1"),
    ]
    .concat();
    live.apply("stories.yaml", &text);
    let created = Instant::now();
    std::thread::sleep(Duration::from_secs(6));
    let big_node = NodeSimConfig { nodes: vec!["sim-node-big".into()], cpu: "16".into(), ..config };
    let _big = live.node_sim(big_node);
    // The scheduler retries with back-off once capacity appears: when was the pod bound?
    let bound = loop {
        let node = live.kubectl(&[
            "get",
            "pods",
            "-l",
            "app=big",
            "-o",
            "jsonpath={.items[0].spec.nodeName}",
        ]);
        if !node.trim().is_empty() {
            break created.elapsed();
        }
        assert!(created.elapsed() < Duration::from_secs(90), "the big pod was never scheduled");
        std::thread::sleep(Duration::from_millis(100));
    };
    live.kubectl(&["rollout", "status", "deployment/big", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(8));
    let spans = kspan.stop_and_read(&receiver);

    // Slow pull: the pull span is as long as the kubelet's pull, and the slowest step.
    let pulls = of(&spans, "slow", "Pod.ImagePull");
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    within_10_percent(seconds(pulls[0]), pull.as_secs_f64(), "slow image pull");
    assert_eq!(pulls[0].attr("container.image.name"), Some("nginx"));
    let starts = of(&spans, "slow", "Pod.ContainerStart");
    within_10_percent(seconds(starts[0]), start_delay.as_secs_f64(), "container start");
    let ready = of(&spans, "slow", "Pod.Readiness");
    within_10_percent(seconds(ready[0]), ready_delay.as_secs_f64(), "readiness");
    let root = spans
        .iter()
        .find(|s| s.is_root() && s.attr("k8s.deployment.name") == Some("slow"))
        .unwrap();
    assert_eq!(root.attr("kspan.rollout.outcome"), Some("complete"));

    // Missing image: the pull is an Error span with the registry's message.
    let broken = of(&spans, "broken", "Pod.ImagePull");
    assert!(!broken.is_empty());
    let failed = broken
        .iter()
        .find(|s| s.status_code.as_deref() == Some("STATUS_CODE_ERROR"))
        .expect("an Error pull span");
    assert!(failed.events.iter().any(|e| e.name == "Failed"
        && e.attr("k8s.event.message").is_some_and(|m| m.contains("not found"))));

    // Crash loop: BackOff on the container's span, Error, with restarts counted.
    let crashy: Vec<&Span> = spans
        .iter()
        .filter(|s| s.attr("k8s.pod.name").is_some_and(|p| p.starts_with("crashy-")))
        .filter(|s| s.events.iter().any(|e| e.name == "BackOff"))
        .collect();
    assert!(!crashy.is_empty(), "BackOff events for the crash loop");
    for s in &crashy {
        assert_eq!(s.status_code.as_deref(), Some("STATUS_CODE_ERROR"), "{}", s.name);
        let backoff = s.events.iter().find(|e| e.name == "BackOff").unwrap();
        assert!(backoff
            .attr("k8s.event.message")
            .is_some_and(|m| m.contains("restarting failed container")));
    }
    assert!(
        spans.iter().any(|s| s
            .attr("k8s.container.restart_count")
            .is_some_and(|n| n.parse::<i32>().unwrap_or(0) > 0)),
        "restart count from containerStatuses"
    );

    // Past its progress deadline: the rollout failed, its root an Error saying so,
    // the Progressing=False condition on its timeline.
    let stuck = spans
        .iter()
        .find(|s| s.is_root() && s.attr("k8s.deployment.name") == Some("stuck"))
        .unwrap_or_else(|| panic!("a root for stuck: {spans:#?}"));
    assert_eq!(
        stuck.attr("kspan.rollout.outcome"),
        Some("progress_deadline_exceeded"),
        "{stuck:#?}"
    );
    assert_eq!(stuck.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert!(stuck
        .status_message
        .as_deref()
        .is_some_and(|m| m.contains("ProgressDeadlineExceeded")));
    assert!(stuck.events.iter().any(|e| e.name == "Progressing=False"), "{stuck:#?}");

    // Failing readiness probe: Unhealthy on an Error readiness span, never ready.
    let unready = of(&spans, "unready", "Pod.Readiness");
    assert!(!unready.is_empty());
    assert!(unready.iter().any(|s| s.status_code.as_deref() == Some("STATUS_CODE_ERROR")
        && s.events.iter().any(|e| e.name == "Unhealthy")));
    assert!(unready.iter().all(|s| s.attr("kspan.pod.ready") == Some("false")));

    // No capacity: FailedScheduling on an Error scheduling span that lasts until the pod was bound.
    let scheduling = of(&spans, "big", "Pod.Scheduling");
    assert_eq!(scheduling.len(), 1, "{scheduling:#?}");
    assert_eq!(scheduling[0].status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let failed = scheduling[0].events.iter().find(|e| e.name == "FailedScheduling").unwrap();
    assert!(
        failed.attr("k8s.event.message").is_some_and(|m| m.contains("Insufficient cpu")),
        "{failed:?}"
    );
    within_10_percent(seconds(scheduling[0]), bound.as_secs_f64(), "waiting for capacity");
    assert!(scheduling[0].events.iter().any(|e| e.name == "Scheduled"
        && e.attr("k8s.event.message").is_some_and(|m| m.contains("sim-node-big"))));
}

/// A Job whose first pod fails (exit code 3) and whose retry succeeds, and a
/// CronJob's scheduled run: the failed pod's span is an Error saying how it
/// ended, the Job's Complete condition is on its span's timeline, CronJob.Run ->
/// Job.Run -> Pod.
#[test]
fn job_with_a_failed_pod_and_a_cron_job_run() {
    // The Job controller retries a failed pod after 10 s: one episode must hold both.
    let Some(live) = Live::start_or_skip("job_with_a_failed_pod_and_a_cron_job_run") else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "15s"]);
    let run_for = Duration::from_millis(3000);
    let first_failed = Arc::new(AtomicBool::new(false));
    let behaviour = move |c: &ContainerInfo<'_>| {
        let labels = c.pod.metadata.labels.as_ref();
        match labels.and_then(|l| l.get("job-name")).map(String::as_str) {
            Some("flaky") if !first_failed.swap(true, Ordering::SeqCst) => {
                ContainerBehaviour::Exit { run_for, exit_code: 3 }
            }
            Some(_) => ContainerBehaviour::Exit { run_for, exit_code: 0 },
            None => default_behaviour(c),
        }
    };
    // Every pod pulls its image: pull and start long enough to measure within 10%.
    let (pull, start_delay) = (Duration::from_millis(2500), Duration::from_millis(1500));
    let config = NodeSimConfig {
        behaviour: Arc::new(behaviour),
        pull_delay: pull,
        start_delay,
        image_cache: false,
        ..NodeSimConfig::with_nodes(1)
    };
    let _sim = live.node_sim(config);

    // CronJob is batch/v1 since 1.21 (batch/v1beta1 went in 1.25).
    let cron_api = if live.cluster.k8s_minor() >= 21 { "batch/v1" } else { "batch/v1beta1" };
    live.apply(
        "jobs.yaml",
        &r#"
apiVersion: batch/v1
kind: Job
metadata: {name: flaky, namespace: default}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: batch, namespace: default}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: "busybox:1.36"}]
---
apiVersion: CRON_API
kind: CronJob
metadata: {name: nightly, namespace: default}
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: report, image: "busybox:1.36"}]
"#
        .replace("CRON_API", cron_api),
    );
    // The CronJob controller starts its run at the next whole minute; then it is
    // suspended so that one run is all there is.
    let applied = Instant::now();
    let scheduled = loop {
        let jobs = live.kubectl(&["get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"]);
        if let Some(run) = jobs.split_whitespace().find(|j| j.starts_with("nightly-")) {
            break run.to_string();
        }
        assert!(applied.elapsed() < Duration::from_secs(100), "the CronJob never ran: {jobs}");
        std::thread::sleep(Duration::from_millis(500));
    };
    live.kubectl(&["patch", "cronjob", "nightly", "-p", r#"{"spec":{"suspend":true}}"#]);
    for job in ["flaky", "batch", scheduled.as_str()] {
        live.kubectl(&[
            "wait",
            "--for=condition=complete",
            &format!("job/{job}"),
            "--timeout=120s",
        ]);
    }
    let run_prefix = format!("{scheduled}-");
    std::thread::sleep(Duration::from_secs(20));
    let spans = kspan.stop_and_read(&receiver);

    // Every Event exactly once.
    let events = live.api_events("default");
    let placed = span_events(&spans);
    let missing: Vec<_> = events.iter().filter(|(uid, _)| !placed.contains_key(*uid)).collect();
    assert!(missing.is_empty(), "events not delivered: {missing:#?}");
    for (uid, holders) in &placed {
        assert_once_per_occurrence(uid, holders);
    }

    // The flaky Job: one root, two pods, the first an Error saying how it ended.
    let job = spans
        .iter()
        .find(|s| s.name == "Job.Run" && s.is_root() && s.attr("k8s.job.name") == Some("flaky"))
        .unwrap_or_else(|| panic!("a Job.Run root for flaky: {spans:#?}"));
    let pods: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.name == "Pod.Startup"
                && s.trace_id == job.trace_id
                && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with("flaky-"))
        })
        .collect();
    assert_eq!(pods.len(), 2, "{pods:#?}");
    let failed = pods.iter().find(|s| s.attr("kspan.pod.phase") == Some("Failed")).unwrap();
    assert_eq!(failed.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let message = failed.status_message.as_deref().unwrap_or_default();
    assert!(message.contains("container work exited with code 3 (Error)"), "{message}");
    let succeeded = pods.iter().find(|s| s.attr("kspan.pod.phase") == Some("Succeeded")).unwrap();
    assert_ne!(succeeded.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    // A pod's span lasts until its container exited. The exit time is the
    // container's finishedAt, which has whole seconds: up to one second short.
    for pod in &pods {
        let least = run_for.as_secs_f64() - 1.0;
        assert!(seconds(pod) >= least, "{}: {:.3} s, at least {least} s", pod.name, seconds(pod));
    }
    assert!(failed.end_unix_nano <= succeeded.start_unix_nano, "the retry follows the failure");
    // Each pod's pull and start took what the simulator took, the Job's pods and the CronJob's.
    for pod in pods.iter().copied().chain(spans.iter().filter(|s| {
        s.name == "Pod.Startup"
            && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with(&run_prefix))
    })) {
        let child = |name: &str| {
            let found = spans
                .iter()
                .find(|s| s.name == name && s.parent_id.as_deref() == Some(pod.span_id.as_str()));
            found.unwrap_or_else(|| panic!("{name} under {pod:#?}"))
        };
        let what = pod.attr("k8s.pod.name").unwrap_or_default();
        within_10_percent(seconds(child("Pod.ImagePull")), pull.as_secs_f64(), what);
        within_10_percent(seconds(child("Pod.ContainerStart")), start_delay.as_secs_f64(), what);
    }
    let complete = job.events.iter().find(|e| e.name == "Complete=True").expect("Complete=True");
    assert_eq!(complete.attr("k8s.condition.type"), Some("Complete"));
    assert!(job.end_unix_nano >= succeeded.end_unix_nano, "the Job ends when it completed");
    assert_ne!(job.status_code.as_deref(), Some("STATUS_CODE_ERROR"), "it completed");

    // Completions 3, parallelism 2: three pods under the Job, never more than two at once.
    let batch = spans
        .iter()
        .find(|s| s.name == "Job.Run" && s.is_root() && s.attr("k8s.job.name") == Some("batch"))
        .unwrap_or_else(|| panic!("a Job.Run root for batch: {spans:#?}"));
    let runs: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "Pod.Startup" && s.parent_id.as_deref() == Some(&batch.span_id))
        .collect();
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|p| p.attr("kspan.pod.phase") == Some("Succeeded")));
    let running_at =
        |t: u64| runs.iter().filter(|p| p.start_unix_nano <= t && t < p.end_unix_nano).count();
    let most = runs.iter().map(|p| running_at(p.start_unix_nano)).max().unwrap_or(0);
    assert_eq!(most, 2, "parallelism 2: {runs:#?}");
    assert!(batch.events.iter().any(|e| e.name == "Complete=True"), "{batch:#?}");

    // The CronJob run: CronJob.Run -> Job.Run (Complete) -> Pod.Startup.
    let run = spans
        .iter()
        .find(|s| s.name == "Job.Run" && s.attr("k8s.job.name") == Some(scheduled.as_str()))
        .unwrap_or_else(|| panic!("a Job.Run for the CronJob's run: {spans:#?}"));
    let cron = root(&spans, run);
    assert_eq!(
        (cron.name.as_str(), cron.attr("k8s.cronjob.name")),
        ("CronJob.Run", Some("nightly"))
    );
    assert!(run.events.iter().any(|e| e.name == "Complete=True"), "{run:#?}");
    let pod = spans
        .iter()
        .find(|s| {
            s.name == "Pod.Startup"
                && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with(&run_prefix))
        })
        .expect("the run's pod");
    assert_eq!(pod.parent_id.as_deref(), Some(run.span_id.as_str()));
    assert_eq!(pod.attr("kspan.pod.phase"), Some("Succeeded"));
}

/// The node of a pod reports NotReady while the pod is starting (its readiness
/// probe failing): the pod's span links to the node's Node.Activity root, in its
/// own trace, over OTLP.
#[test]
fn a_pod_span_links_to_its_node_reporting_not_ready() {
    let Some(live) = Live::start_or_skip("a_pod_span_links_to_its_node_reporting_not_ready") else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let sim = live.node_sim(NodeSimConfig::with_nodes(1));
    // The node's registration settles into its own trace first.
    std::thread::sleep(Duration::from_secs(5));
    live.apply(
        "flapping.yaml",
        &deployment("flapping", "registry.example/unready-app:1.0", 1, "100m"),
    );
    std::thread::sleep(Duration::from_secs(3));
    live.rt.block_on(sim.report_not_ready("sim-node-1")).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let spans = kspan.stop_and_read(&receiver);

    let node_root = spans
        .iter()
        .find(|s| {
            s.is_root()
                && s.name == "Node.Activity"
                && s.events.iter().any(|e| e.name == "NodeNotReady")
        })
        .unwrap_or_else(|| panic!("a Node.Activity root with NodeNotReady: {spans:#?}"));
    let linked: Vec<&Span> = spans
        .iter()
        .filter(|s| s.attr("k8s.pod.name").is_some_and(|p| p.starts_with("flapping-")))
        .filter(|s| !s.links.is_empty())
        .collect();
    assert!(!linked.is_empty(), "a linked pod span: {spans:#?}");
    for s in &linked {
        assert!(matches!(s.name.as_str(), "Pod.Startup" | "Pod.Activity"), "{}", s.name);
        assert_ne!(s.trace_id, node_root.trace_id);
        let link = &s.links[0];
        assert_eq!(
            (link.trace_id.as_str(), link.span_id.as_str()),
            (node_root.trace_id.as_str(), node_root.span_id.as_str())
        );
        assert_eq!(link.attr("k8s.node.name"), Some("sim-node-1"));
        assert_eq!(link.attr("k8s.event.reason"), Some("NodeNotReady"));
    }
    // The node's Event is in the node's trace only.
    let holders = span_events(&spans);
    let uid = node_root
        .events
        .iter()
        .find(|e| e.name == "NodeNotReady")
        .and_then(|e| e.attr("k8s.event.uid"))
        .unwrap();
    assert_eq!(holders[uid].len(), 1);
}

/// An autoscaler whose minimum is above the Deployment's replicas: the HPA
/// controller scales it up without metrics ("Current number of replicas below
/// Spec.MinReplicas"), and its SuccessfulRescale is the cause of the scale-up.
#[test]
fn an_autoscaler_rescale_is_the_cause_of_the_scale_up() {
    let Some(live) = Live::start_or_skip("an_autoscaler_rescale_is_the_cause_of_the_scale_up")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let _sim = live.node_sim(NodeSimConfig::with_nodes(1));
    live.apply("web.yaml", &deployment("web", "nginx:1.19", 1, "100m"));
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    // The first rollout settles into its own trace before the autoscaler acts.
    std::thread::sleep(Duration::from_secs(5));
    live.apply(
        "hpa.yaml",
        r#"
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 5
  targetCPUUtilizationPercentage: 80
"#,
    );
    let asked = Instant::now();
    loop {
        let ready =
            live.kubectl(&["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]);
        if ready.trim() == "3" {
            break;
        }
        assert!(asked.elapsed() < Duration::from_secs(90), "the autoscaler never scaled web to 3");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    let cause = spans
        .iter()
        .find(|s| s.name == "HorizontalPodAutoscaler.Rescale")
        .unwrap_or_else(|| panic!("a HorizontalPodAutoscaler.Rescale span: {spans:#?}"));
    assert_eq!(cause.attr("k8s.hpa.name"), Some("web"));
    assert_eq!(cause.attr("k8s.hpa.scaletargetref.kind"), Some("Deployment"));
    assert_eq!(cause.attr("k8s.hpa.scaletargetref.name"), Some("web"));
    assert_eq!(cause.attr("kspan.replicas.target"), Some("3"));
    assert_eq!(
        cause.attr("kspan.rescale.reason"),
        Some("Current number of replicas below Spec.MinReplicas")
    );
    assert!(cause.events.iter().any(|e| e.name == "SuccessfulRescale"), "{cause:#?}");
    let top = root(&spans, cause);
    assert_eq!(top.name, "Deployment.Rollout");
    assert_eq!(top.attr("k8s.deployment.name"), Some("web"));
    assert_eq!(top.attr("kspan.change.cause"), Some("HorizontalPodAutoscaler/web"));
    // The scale step is the rescale's effect, and the two new pods are in its trace.
    let step = spans
        .iter()
        .find(|s| s.name == "ReplicaSet.ScaleUp" && s.trace_id == cause.trace_id)
        .unwrap_or_else(|| panic!("a scale-up in the rescale's trace: {spans:#?}"));
    assert_eq!(step.parent_id.as_deref(), Some(cause.span_id.as_str()));
    let new_pods = of(&spans, "web", "Pod.Startup")
        .into_iter()
        .filter(|s| s.trace_id == cause.trace_id)
        .count();
    assert_eq!(new_pods, 2, "the pods the rescale added");
    // Every Event exactly once.
    live.assert_every_event_once("default", &spans);
}

/// The kubelet evicts a running pod for memory pressure: the pod's span is an
/// Error saying why, it links to the node's EvictionThresholdMet, and the
/// ReplicaSet's replacement pod starts.
#[test]
fn an_evicted_pod_is_an_error_linked_to_its_node_and_replaced() {
    let Some(live) =
        Live::start_or_skip("an_evicted_pod_is_an_error_linked_to_its_node_and_replaced")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let sim = live.node_sim(NodeSimConfig::with_nodes(1));
    live.apply("evictee.yaml", &deployment("evictee", "nginx:1.19", 1, "100m"));
    live.kubectl(&["rollout", "status", "deployment/evictee", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(5));
    let pods = ["get", "pods", "-l", "app=evictee", "-o"];
    let name = live.kubectl(&[&pods[..], &["jsonpath={.items[0].metadata.name}"]].concat());
    live.rt.block_on(sim.evict("default", name.trim())).unwrap();
    let evicted = Instant::now();
    loop {
        let phases = live
            .kubectl(&[&pods[..], &["jsonpath={range .items[*]}{.status.phase} {end}"]].concat());
        let ready = live.kubectl(&[
            "get",
            "deployment",
            "evictee",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]);
        if phases.contains("Failed") && phases.contains("Running") && ready.trim() == "1" {
            break;
        }
        assert!(evicted.elapsed() < Duration::from_secs(60), "no replacement: {phases}");
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    let holder = spans
        .iter()
        .find(|s| s.events.iter().any(|e| e.name == "Evicted"))
        .unwrap_or_else(|| panic!("a span with the Evicted event: {spans:#?}"));
    assert_eq!(
        (holder.name.as_str(), holder.attr("k8s.pod.name")),
        ("Pod.Termination", Some(name.trim()))
    );
    assert_eq!(holder.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let message = holder.status_message.as_deref().unwrap_or_default();
    assert!(message.contains("The node was low on resource: memory"), "{message}");
    let link = holder.links.first().unwrap_or_else(|| panic!("a link to the node: {holder:#?}"));
    assert_eq!(link.attr("k8s.node.name"), Some("sim-node-1"));
    assert!(link.attr("k8s.event.reason").is_some_and(|r| r.contains("EvictionThresholdMet")));
    // The replacement: a new pod of the same ReplicaSet, started, in the eviction's trace.
    let replacement = of(&spans, "evictee", "Pod.Startup")
        .into_iter()
        .find(|s| s.attr("k8s.pod.name") != Some(name.trim()) && s.trace_id == holder.trace_id)
        .unwrap_or_else(|| panic!("the replacement pod in the eviction's trace: {spans:#?}"));
    // A pod span begins at its creationTimestamp, which has whole seconds.
    assert!(replacement.start_unix_nano + 1_000_000_000 >= holder.start_unix_nano);
    assert!(replacement.end_unix_nano > holder.end_unix_nano);
    live.assert_every_event_once("default", &spans);
}

/// A pod whose ConfigMap volume does not exist yet: the kubelet's FailedMount
/// repeats until the ConfigMap is created; the pod's VolumeMount span is an Error
/// with the count and the message, as long as the wait, then the pod starts.
#[test]
fn a_missing_config_map_holds_the_pod_in_volume_mount() {
    let Some(live) = Live::start_or_skip("a_missing_config_map_holds_the_pod_in_volume_mount")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    // The kubelet retries the mount every 300 ms here: the wait ends within that of the ConfigMap.
    let retry = Duration::from_millis(300);
    let config = NodeSimConfig {
        back_off_initial: retry,
        back_off_max: retry,
        ..NodeSimConfig::with_nodes(1)
    };
    let _sim = live.node_sim(config);
    let with_volume = deployment("mounting", "nginx:1.19", 1, "100m").replace(
        "      containers:\n",
        "      volumes: [{name: settings, configMap: {name: settings}}]\n      containers:\n",
    );
    live.apply("mounting.yaml", &with_volume);
    let applied = Instant::now();
    let bound = loop {
        let node = live.kubectl(&[
            "get",
            "pods",
            "-l",
            "app=mounting",
            "-o",
            "jsonpath={.items[0].spec.nodeName}",
        ]);
        if !node.trim().is_empty() {
            break Instant::now();
        }
        assert!(applied.elapsed() < Duration::from_secs(30), "the pod was never scheduled");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_secs(5));
    live.kubectl(&["create", "configmap", "settings", "--from-literal=mode=fast"]);
    let waited = bound.elapsed();
    live.kubectl(&["rollout", "status", "deployment/mounting", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    let mounts = of(&spans, "mounting", "Pod.VolumeMount");
    assert_eq!(mounts.len(), 1, "{spans:#?}");
    let mount = mounts[0];
    assert_eq!(mount.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    let failed = mount.events.iter().find(|e| e.name == "FailedMount").expect("FailedMount");
    assert!(
        failed
            .attr("k8s.event.message")
            .is_some_and(|m| m.contains(r#"configmap "settings" not found"#)),
        "{failed:?}"
    );
    let count: u32 = failed.attr("k8s.event.count").unwrap_or("0").parse().unwrap();
    assert!(count >= 5, "the kubelet's retries, aggregated: {count}");
    within_10_percent(seconds(mount), waited.as_secs_f64(), "waiting for the ConfigMap");
    // Then the pod went on: its image pull began after the mount.
    let pull = of(&spans, "mounting", "Pod.ImagePull");
    assert!(pull.iter().all(|p| p.start_unix_nano >= mount.end_unix_nano), "{pull:#?}");
    let root = spans
        .iter()
        .find(|s| s.is_root() && s.attr("k8s.deployment.name") == Some("mounting"))
        .unwrap();
    assert_eq!(root.attr("kspan.rollout.outcome"), Some("complete"));
}

/// A StatefulSet with a volume claim template, updated in two steps by its
/// partition: each pod's claim is created with it, in the StatefulSet's trace;
/// the update with partition 1 replaces only db-1 (one trace), lowering the
/// partition to 0 then replaces db-0 (the next trace).
#[test]
fn a_stateful_set_claims_volumes_and_updates_by_partition() {
    let Some(live) = Live::start_or_skip("a_stateful_set_claims_volumes_and_updates_by_partition")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "3s"]);
    let _sim = live.node_sim(NodeSimConfig::with_nodes(2));
    let volumes: String = (0..2)
        .map(|i| {
            format!(
                r#"
apiVersion: v1
kind: PersistentVolume
metadata: {{name: disk-{i}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: /var/lib/disk-{i}}}
---"#
            )
        })
        .collect();
    live.apply(
        "db.yaml",
        &(volumes
            + r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 2
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: db
          image: "postgres:15"
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#),
    );
    let ready = |n: &str| {
        let started = Instant::now();
        loop {
            let ready = live.kubectl(&[
                "get",
                "statefulset",
                "db",
                "-o",
                "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}",
            ]);
            if ready.trim() == n {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "db never reached {n}: {ready}");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    ready("2/2");
    std::thread::sleep(Duration::from_secs(5));
    // The canary step: only the pods at or above the partition are updated.
    live.kubectl(&["set", "image", "statefulset/db", "db=postgres:16"]);
    ready("2/1");
    std::thread::sleep(Duration::from_secs(5));
    let image_of = |pod: &str| {
        live.kubectl(&["get", "pod", pod, "-o", "jsonpath={.spec.containers[0].image}"])
    };
    assert_eq!((image_of("db-0").trim(), image_of("db-1").trim()), ("postgres:15", "postgres:16"));
    live.kubectl(&[
        "patch",
        "statefulset",
        "db",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    ready("2/2");
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    let rollout = |generation: &str| {
        spans
            .iter()
            .find(|s| {
                s.is_root()
                    && s.name == "StatefulSet.Rollout"
                    && s.attr("kspan.rollout.generation") == Some(generation)
            })
            .unwrap_or_else(|| panic!("a rollout of generation {generation}: {spans:#?}"))
    };
    let started_in = |root: &Span| {
        let mut pods: Vec<&str> = spans
            .iter()
            .filter(|s| s.name == "Pod.Startup" && s.trace_id == root.trace_id)
            .filter_map(|s| s.attr("k8s.pod.name"))
            .collect();
        pods.sort();
        pods
    };
    let first = rollout("1");
    assert_eq!(started_in(first), ["db-0", "db-1"]);
    // Each claim was created with its pod, in the StatefulSet's first trace.
    for claim in ["data-db-0", "data-db-1"] {
        let holder = spans
            .iter()
            .find(|s| {
                s.events.iter().any(|e| {
                    e.name == "SuccessfulCreate"
                        && e.attr("k8s.event.message").is_some_and(|m| {
                            m.to_lowercase().contains(&format!("create claim {claim} "))
                        })
                })
            })
            .unwrap_or_else(|| panic!("the creation of claim {claim}: {spans:#?}"));
        assert_eq!(holder.trace_id, first.trace_id, "{claim}");
    }
    assert_eq!(started_in(rollout("2")), ["db-1"], "the canary step replaced db-1 only");
    assert_eq!(started_in(rollout("3")), ["db-0"], "lowering the partition replaced db-0");
    assert_eq!(rollout("3").attr("kspan.rollout.outcome"), Some("complete"));
    live.assert_every_event_once("default", &spans);
}
