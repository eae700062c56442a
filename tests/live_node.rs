//! The stories of the live tests on a real node: the release's own kubelet with
//! containerd and runc pulls the test images from a registry on loopback and runs
//! them, so every pod Event, status and timing is what a kubelet really does.
//! Checked as the simulator's stories are (every API Event once, under its pod's
//! span, in its top-level owner's trace), and each pod's anatomy against the
//! kubelet's own figures: the pull's duration in its Pulled message, the
//! container's startedAt, the Ready condition's lastTransitionTime.

mod driver;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use driver::*;
use support::rotel::Span;
use support::RealNode;

/// A Deployment of `replicas` pods running the test app `image` as container `main`,
/// configured by `env`, with a readiness probe on its /ready; `container_extra` and
/// `pod_extra` are more of the container's and the pod's spec (limits, init
/// containers), as YAML lines at their indentation.
fn app_deployment(
    name: &str,
    image: &str,
    replicas: u32,
    env: &[(&str, &str)],
    container_extra: &str,
    pod_extra: &str,
) -> String {
    let env: String = [("PORT", "8080")]
        .iter()
        .chain(env)
        .map(|(k, v)| format!("\n            - {{name: {k}, value: \"{v}\"}}"))
        .collect();
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2{pod_extra}
      containers:
        - name: main
          image: "{image}"
          env:{env}{container_extra}
          readinessProbe: {{httpGet: {{path: /ready, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}
---"#
    )
}

/// The pods of `app` as the API server has them now, by name.
fn pods(live: &Live, app: &str) -> BTreeMap<String, Value> {
    let list: Value = serde_json::from_str(&live.kubectl(&[
        "get",
        "pods",
        "-l",
        &format!("app={app}"),
        "-o",
        "json",
    ]))
    .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["metadata"]["name"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// The namespace's Events as JSON.
fn events_json(live: &Live) -> Vec<Value> {
    let list: Value =
        serde_json::from_str(&live.kubectl(&["get", "events", "-o", "json"])).unwrap();
    list["items"].as_array().unwrap().clone()
}

/// Polls `what` until true, or panics naming it after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every API Event once; each pod Event under its pod's span, in the trace of the
/// owner of `owners` (kind, name) whose name and a dash start the pod's name.
fn assert_events_placed(live: &Live, spans: &[Span], owners: &[(&str, &str)]) {
    live.assert_every_event_once("default", spans);
    let placed = span_events(spans);
    for (uid, (kind, name, reason)) in live.api_events("default") {
        if kind != "Pod" {
            continue;
        }
        let span = placed[&uid][0];
        assert_eq!(
            span.attr("k8s.pod.name"),
            Some(name.as_str()),
            "{reason} of {name} under its pod"
        );
        let (owner_kind, owner) = owners
            .iter()
            .find(|(_, owner)| name.starts_with(&format!("{owner}-")))
            .unwrap_or_else(|| panic!("pod {name} of none of {owners:?}"));
        let root_name = match *owner_kind {
            "Job" | "CronJob" => format!("{owner_kind}.Run"),
            kind => format!("{kind}.Rollout"),
        };
        let key = format!("k8s.{}.name", owner_kind.to_ascii_lowercase());
        let top = root(spans, span);
        assert_eq!(
            (top.name.as_str(), top.attr(&key)),
            (root_name.as_str(), Some(*owner)),
            "{reason} of pod {name} in its {owner_kind}'s trace"
        );
    }
}

/// "Successfully pulled image "x" in 3.301s (3.301s including waiting)..." -> 3.301 s,
/// in ns; Go's duration format as the kubelet prints a pull (ms, s, m).
fn pulled_in(message: &str) -> Option<i128> {
    let text = message.split(" in ").nth(1)?.split(' ').next()?;
    if let Some(ms) = text.strip_suffix("ms") {
        return Some((ms.parse::<f64>().ok()? * 1e6) as i128);
    }
    let (minutes, seconds) = text.split_once('m').unwrap_or(("0", text));
    let seconds: f64 = seconds.strip_suffix('s')?.parse().ok()?;
    Some(((minutes.parse::<f64>().ok()? * 60.0 + seconds) * 1e9) as i128)
}

fn unix_nanos(rfc3339: &str) -> i128 {
    let t: k8s_openapi::jiff::Timestamp =
        rfc3339.parse().unwrap_or_else(|e| panic!("{rfc3339}: {e}"));
    t.as_nanosecond()
}

/// `instant` (ns) matches `stamp`, an API time of one-second resolution (the true
/// time is in [stamp, stamp + 1 s)), within max(10% of `span`, 100 ms).
fn assert_at(what: &str, instant: u64, stamp: &str, span_nanos: u64) {
    let tolerance = (span_nanos as i128 / 10).max(100_000_000);
    let second = unix_nanos(stamp);
    let at = instant as i128;
    assert!(
        at >= second - tolerance && at < second + 1_000_000_000 + tolerance,
        "{what}: span at {at} ns, the kubelet says {stamp} (± {tolerance} ns)"
    );
}

fn duration_nanos(s: &Span) -> u64 {
    s.end_unix_nano - s.start_unix_nano
}

/// Each pod of `pods`: its pull span as long as its Pulled message says (within
/// max(10%, 100 ms)); its container start span ending at the container's startedAt;
/// its readiness span ending at the Ready condition's lastTransitionTime. Returns
/// how many pull spans were checked.
fn assert_anatomy(spans: &[Span], events: &[Value], pods: &BTreeMap<String, Value>) -> usize {
    let mut pulls = 0;
    for (name, pod) in pods {
        // By uid: a StatefulSet's pod comes back under the same name.
        let uid = pod["metadata"]["uid"].as_str().unwrap();
        let of = |span: &str| -> Vec<&Span> {
            spans.iter().filter(|s| s.name == span && s.attr("k8s.pod.uid") == Some(uid)).collect()
        };
        let pulled =
            events.iter().filter(|e| e["involvedObject"]["uid"] == uid && e["reason"] == "Pulled");
        for event in pulled {
            let message = event["message"].as_str().unwrap();
            let Some(expected) = pulled_in(message) else {
                continue; // already present: no pull
            };
            // spec.containers{main}, spec.initContainers{setup}
            let path = event["involvedObject"]["fieldPath"].as_str().unwrap();
            let container = path.split(['{', '}']).nth(1).unwrap();
            let pull: Vec<&Span> = of("Pod.ImagePull")
                .into_iter()
                .filter(|s| s.attr("k8s.container.name") == Some(container))
                .collect();
            assert_eq!(pull.len(), 1, "one pull span for {name}/{container}: {pull:#?}");
            let actual = duration_nanos(pull[0]) as i128;
            let tolerance = (expected / 10).max(100_000_000);
            assert!(
                (actual - expected).abs() <= tolerance,
                "pull of {name}/{container}: span {actual} ns, kubelet: {message}"
            );
            pulls += 1;
        }
        let status = &pod["status"]["containerStatuses"][0];
        let started_at = status["state"]["running"]["startedAt"].as_str();
        let start = of("Pod.ContainerStart");
        let start = start.iter().find(|s| s.attr("k8s.container.name") == Some("main"));
        if let (Some(stamp), Some(span)) = (started_at, start) {
            assert_at(
                &format!("container start of {name}"),
                span.end_unix_nano,
                stamp,
                duration_nanos(span),
            );
        }
        let ready = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready" && c["status"] == "True")
            .and_then(|c| c["lastTransitionTime"].as_str());
        if let Some(stamp) = ready {
            let readiness = of("Pod.Readiness");
            assert_eq!(readiness.len(), 1, "one readiness span for {name}");
            assert_at(
                &format!("readiness of {name}"),
                readiness[0].end_unix_nano,
                stamp,
                duration_nanos(readiness[0]),
            );
        }
    }
    pulls
}

/// Starts the control plane, the receiver, `kspan run` (with `--settle settle`) and
/// then the node (its Events are activity kspan-rs sees, not history).
fn start(test: &str, settle: &str) -> Option<(Live, support::LiveReceiver, Kspan, RealNode)> {
    start_with(test, settle, |live, _| live.real_node())
}

/// [`start`], the node started by `node` (after kspan-rs, which then sees all it does).
fn start_with(
    test: &str,
    settle: &str,
    node: impl FnOnce(&Live, &support::LiveReceiver) -> RealNode,
) -> Option<(Live, support::LiveReceiver, Kspan, RealNode)> {
    let live = Live::start_for_node_or_skip(test)?;
    let receiver = live.receiver();
    let kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", settle]);
    let node = node(&live, &receiver);
    Some((live, receiver, kspan, node))
}

#[test]
fn deployment_create_set_image_and_scale_on_a_real_node() {
    let _serial = serial();
    let Some((live, receiver, mut kspan, node)) =
        start("deployment_create_set_image_and_scale_on_a_real_node", "3s")
    else {
        return;
    };
    let env = [("START_DELAY", "500ms"), ("READY_AFTER", "1500ms")];
    // The large image first: pulls of seconds, measured by the kubelet.
    live.apply("web.yaml", &app_deployment("web", node.big_image(), 2, &env, "", ""));
    let mut seen = BTreeMap::new();
    let rollout = |live: &Live, seen: &mut BTreeMap<String, Value>| {
        live.kubectl(&["rollout", "status", "deployment/web", "--timeout=180s"]);
        seen.extend(pods(live, "web"));
        std::thread::sleep(Duration::from_secs(4));
    };
    rollout(&live, &mut seen);
    live.kubectl(&["set", "image", "deployment/web", &format!("main={}", node.app_image_v2())]);
    rollout(&live, &mut seen);
    live.kubectl(&["scale", "deployment/web", "--replicas=3"]);
    rollout(&live, &mut seen);
    let spans = kspan.stop_and_read(&receiver);

    assert_events_placed(&live, &spans, &[("Deployment", "web")]);
    let roots: Vec<&Span> =
        spans.iter().filter(|s| s.is_root() && s.name == "Deployment.Rollout").collect();
    assert_eq!(roots.len(), 3, "one trace per spec change: {roots:#?}");
    assert!(
        roots.iter().all(|r| r.attr("kspan.rollout.outcome") == Some("complete")),
        "{roots:#?}"
    );
    // Every pod ran on the real node.
    assert!(seen.values().all(|p| p["spec"]["nodeName"] == node.name()));
    let pulls = assert_anatomy(&spans, &events_json(&live), &seen);
    assert!(pulls >= 2, "the big image's pulls and app:2.0's were checked ({pulls})");
    // The slow pull is the slowest step of its pod.
    let big_pull = spans
        .iter()
        .filter(|s| s.name == "Pod.ImagePull" && s.attr("container.image.tag") == Some("1.0"))
        .map(duration_nanos)
        .max()
        .expect("a pull span of the big image");
    assert!(big_pull > 500_000_000, "the big image takes a while to pull: {big_pull} ns");
}

#[test]
fn crash_loop_failing_probe_missing_image_oom_and_init_containers_on_a_real_node() {
    let _serial = serial();
    let Some((live, receiver, mut kspan, node)) = start(
        "crash_loop_failing_probe_missing_image_oom_and_init_containers_on_a_real_node",
        "3s",
    ) else {
        return;
    };
    let app = node.app_image();
    let init = format!(
        "\n      initContainers:\n        - name: setup\n          image: \"{app}\"\n          \
         env: [{{name: EXIT_AFTER, value: 1s}}, {{name: PORT, value: \"8081\"}}]"
    );
    let limit = "\n          resources: {limits: {memory: 32Mi}}";
    let text = [
        app_deployment("crashy", app, 1, &[("EXIT_AFTER", "1s"), ("EXIT_CODE", "3")], "", ""),
        app_deployment("unready", app, 1, &[("READY_AFTER", "never")], "", ""),
        app_deployment("broken", node.missing_image(), 1, &[], "", ""),
        app_deployment("hungry", app, 1, &[("MEMORY_MB", "256")], limit, ""),
        app_deployment("staged", app, 1, &[("READY_AFTER", "1s")], "", &init),
    ]
    .concat();
    live.apply("troubles.yaml", &text);
    let timeout = Duration::from_secs(180);
    live.kubectl(&["rollout", "status", "deployment/staged", "--timeout=180s"]);
    let has_event = |pod_prefix: &str, reason: &str, text: &str| {
        events_json(&live).iter().any(|e| {
            e["involvedObject"]["name"].as_str().is_some_and(|n| n.starts_with(pod_prefix))
                && e["reason"] == reason
                && e["message"].as_str().is_some_and(|m| m.contains(text))
        })
    };
    wait_until("crash loop back-off", timeout, || {
        has_event("crashy-", "BackOff", "restarting failed container")
    });
    wait_until("failing readiness probe", timeout, || {
        has_event("unready-", "Unhealthy", "Readiness probe failed")
    });
    wait_until("image pull back-off", timeout, || has_event("broken-", "BackOff", "pulling image"));
    wait_until("OOMKilled", timeout, || {
        pods(&live, "hungry").values().any(|p| {
            p["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"] == "OOMKilled"
        })
    });
    // Before they go: a restarting container's pull span is still its one real pull.
    let seen: BTreeMap<String, Value> =
        ["staged", "crashy", "hungry"].iter().flat_map(|a| pods(&live, a)).collect();
    // The troubles end before kspan-rs stops: every Event they made is then delivered.
    live.kubectl(&["delete", "deployment", "crashy", "unready", "broken", "hungry", "--wait=true"]);
    for app in ["crashy", "unready", "broken", "hungry"] {
        wait_until(&format!("{app}'s pods gone"), timeout, || pods(&live, app).is_empty());
    }
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    let deployments =
        ["crashy", "unready", "broken", "hungry", "staged"].map(|d| ("Deployment", d));
    assert_events_placed(&live, &spans, &deployments);
    let of = |prefix: &str, name: &str| -> Vec<&Span> {
        spans
            .iter()
            .filter(|s| {
                s.name == name && s.attr("k8s.pod.name").is_some_and(|p| p.starts_with(prefix))
            })
            .collect()
    };
    let error = |s: &&Span| s.status_code.as_deref() == Some("STATUS_CODE_ERROR");

    // Crash loop: the real BackOff on an Error container span, restarts and exit code counted.
    let crashy = of("crashy-", "Pod.ContainerStart");
    assert!(
        crashy.iter().any(|s| error(s) && s.events.iter().any(|e| e.name == "BackOff")),
        "{crashy:#?}"
    );
    assert!(
        crashy.iter().any(|s| s.attr("kspan.container.last_termination.exit_code") == Some("3")),
        "{crashy:#?}"
    );

    // Failing readiness probe: the real Unhealthy on an Error readiness span, never ready.
    let unready = of("unready-", "Pod.Readiness");
    assert!(
        unready.iter().any(|s| error(s) && s.events.iter().any(|e| e.name == "Unhealthy")),
        "{unready:#?}"
    );
    assert!(unready.iter().all(|s| s.attr("kspan.pod.ready") == Some("false")), "{unready:#?}");

    // Missing image: an Error pull span holding the registry's answer.
    let broken = of("broken-", "Pod.ImagePull");
    assert!(
        broken.iter().any(|s| error(s)
            && s.events.iter().any(|e| e.name == "Failed"
                && e.attr("k8s.event.message").is_some_and(|m| m.contains("not found")))),
        "{broken:#?}"
    );

    // OOMKilled under a memory limit: the container span says how it last ended.
    let hungry = of("hungry-", "Pod.ContainerStart");
    assert!(
        hungry
            .iter()
            .any(|s| s.attr("kspan.container.last_termination.reason") == Some("OOMKilled")),
        "{hungry:#?}"
    );

    // Init containers: a start span of its own, marked, before the main container's.
    let staged = of("staged-", "Pod.ContainerStart");
    let setup = staged
        .iter()
        .find(|s| s.attr("k8s.container.name") == Some("setup"))
        .expect("the init container's span");
    let main = staged
        .iter()
        .find(|s| s.attr("k8s.container.name") == Some("main"))
        .expect("the main container's span");
    assert_eq!(setup.attr("kspan.container.init"), Some("true"));
    assert!(setup.end_unix_nano <= main.end_unix_nano, "init before main");
    assert_anatomy(&spans, &events_json(&live), &seen);
}

/// A Job of the test app exiting with `code` after a second, retried `retries` times.
fn app_job(name: &str, image: &str, code: u32, retries: u32) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: default}}
spec:
  backoffLimit: {retries}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: "{image}"
          env: [{{name: EXIT_AFTER, value: 1s}}, {{name: EXIT_CODE, value: "{code}"}}]
---"#
    )
}

/// A CronJob running the test app every minute (a run ends after a second), its
/// Jobs labelled `cron: NAME`.
fn app_cron_job(name: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}, namespace: default}}
spec:
  schedule: "* * * * *"
  jobTemplate:
    metadata: {{labels: {{cron: {name}}}}}
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 2
          containers:
            - name: main
              image: "{image}"
              env: [{{name: EXIT_AFTER, value: 1s}}]
---"#
    )
}

/// `kind` (StatefulSet, DaemonSet) of the test app, ready a second after it listens.
fn app_workload(kind: &str, name: &str, image: &str, replicas: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: {kind}
metadata: {{name: {name}, namespace: default}}
spec:{replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: "{image}"
          env: [{{name: READY_AFTER, value: 1s}}]
          readinessProbe: {{httpGet: {{path: /ready, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}
---"#
    )
}

#[test]
fn jobs_a_cron_job_run_a_stateful_set_update_and_a_daemon_set_on_a_real_node() {
    let _serial = serial();
    // The Job controller retries a failed pod after 10 s: one episode must hold both.
    let Some((live, receiver, mut kspan, node)) =
        start("jobs_a_cron_job_run_a_stateful_set_update_and_a_daemon_set_on_a_real_node", "15s")
    else {
        return;
    };
    let (app, v2) = (node.app_image(), node.app_image_v2());
    let text = [
        app_job("done", app, 0, 0),
        app_job("doomed", app, 1, 1),
        app_workload("StatefulSet", "db", app, "\n  serviceName: db\n  replicas: 2"),
        app_workload("DaemonSet", "agent", app, ""),
        app_cron_job("tick", app),
    ]
    .concat();
    live.apply("workloads.yaml", &text);
    live.kubectl(&["wait", "--for=condition=Complete", "job/done", "--timeout=180s"]);
    live.kubectl(&["rollout", "status", "statefulset/db", "--timeout=180s"]);
    live.kubectl(&["rollout", "status", "daemonset/agent", "--timeout=180s"]);
    std::thread::sleep(Duration::from_secs(4));
    live.kubectl(&["set", "image", "statefulset/db", &format!("main={v2}")]);
    live.kubectl(&["rollout", "status", "statefulset/db", "--timeout=180s"]);
    // The failing Job: its pod, then one retry after the controller's back-off (10 s).
    live.kubectl(&["wait", "--for=condition=Failed", "job/doomed", "--timeout=180s"]);
    // The CronJob's first run, at the next minute; then no more.
    wait_until("a CronJob run complete", Duration::from_secs(150), || {
        live.kubectl(&[
            "get",
            "jobs",
            "-l",
            "cron=tick",
            "-o",
            "jsonpath={.items[*].status.succeeded}",
        ])
        .contains('1')
    });
    live.kubectl(&["patch", "cronjob", "tick", "-p", r#"{"spec":{"suspend":true}}"#]);
    let seen: BTreeMap<String, Value> =
        ["db", "agent"].iter().flat_map(|a| pods(&live, a)).collect();
    std::thread::sleep(Duration::from_secs(6));
    let spans = kspan.stop_and_read(&receiver);

    assert_events_placed(
        &live,
        &spans,
        &[
            ("Job", "done"),
            ("Job", "doomed"),
            ("StatefulSet", "db"),
            ("DaemonSet", "agent"),
            ("CronJob", "tick"),
        ],
    );
    let run = |job: &str| {
        spans
            .iter()
            .find(|s| s.is_root() && s.name == "Job.Run" && s.attr("k8s.job.name") == Some(job))
            .unwrap_or_else(|| panic!("a Job.Run root for {job}: {spans:#?}"))
    };
    assert_eq!(run("done").attr("kspan.rollout.outcome"), Some("complete"));
    let doomed = run("doomed");
    assert_eq!(doomed.attr("kspan.rollout.outcome"), Some("failed"), "{doomed:#?}");
    assert_eq!(doomed.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    // Both of its pods failed, each with an Error span in the run's trace.
    let doomed_pods: std::collections::BTreeSet<&str> = spans
        .iter()
        .filter(|s| s.trace_id == doomed.trace_id && s.name.starts_with("Pod."))
        .filter(|s| s.status_code.as_deref() == Some("STATUS_CODE_ERROR"))
        .filter_map(|s| s.attr("k8s.pod.name"))
        .collect();
    assert_eq!(doomed_pods.len(), 2, "the failed pod and its retry: {doomed_pods:?}");
    // The CronJob's run: CronJob.Run -> Job.Run -> its pod, complete.
    let tick = spans
        .iter()
        .find(|s| {
            s.is_root() && s.name == "CronJob.Run" && s.attr("k8s.cronjob.name") == Some("tick")
        })
        .unwrap_or_else(|| panic!("a CronJob.Run root for tick: {spans:#?}"));
    let job = spans
        .iter()
        .find(|s| s.name == "Job.Run" && s.parent_id.as_deref() == Some(tick.span_id.as_str()))
        .expect("the run's Job under the CronJob");
    assert!(
        spans.iter().any(|s| s.parent_id.as_deref() == Some(job.span_id.as_str())
            && s.attr("k8s.pod.name").is_some()),
        "the Job's pod under it"
    );
    let rollouts = |kind: &str| {
        spans.iter().filter(|s| s.is_root() && s.name == format!("{kind}.Rollout")).count()
    };
    assert_eq!(rollouts("StatefulSet"), 2, "create and update of the StatefulSet");
    assert_eq!(rollouts("DaemonSet"), 1);
    assert!(seen.values().all(|p| p["spec"]["nodeName"] == node.name()));
    assert_anatomy(&spans, &events_json(&live), &seen);
}

#[test]
fn the_kubelet_s_own_spans_join_kspan_s_pod_spans_by_pod_uid() {
    let _serial = serial();
    // One receiver for both: kspan-rs's spans and the kubelet's own.
    let Some((live, receiver, mut kspan, node)) =
        start_with("the_kubelet_s_own_spans_join_kspan_s_pod_spans_by_pod_uid", "3s", |live, r| {
            live.real_node_traced_to(r)
        })
    else {
        return;
    };
    live.apply("web.yaml", &app_deployment("web", node.app_image(), 2, &[], "", ""));
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=180s"]);
    // The kubelet's batch span processor exports every 5 s.
    std::thread::sleep(Duration::from_secs(8));
    let spans = kspan.stop_and_read(&receiver);

    let kubelet: Vec<&Span> =
        spans.iter().filter(|s| s.scope.starts_with("k8s.io/kubernetes/pkg/kubelet")).collect();
    assert!(
        kubelet.iter().all(|s| s.resource_attr("service.name") == Some("kubelet")
            && s.resource_attr("host.name").is_some()),
        "{kubelet:#?}"
    );
    let startups: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "Pod.Startup" && s.scope.starts_with("kspan-rs"))
        .collect();
    assert_eq!(startups.len(), 2, "{startups:#?}");
    for startup in startups {
        let uid = startup.attr("k8s.pod.uid").expect("a pod span names its pod's uid");
        // Within the pod span's window, give or take the whole second of its Event times.
        let (from, to) =
            (startup.start_unix_nano - 1_000_000_000, startup.end_unix_nano + 1_000_000_000);
        let syncs: Vec<&&Span> = kubelet
            .iter()
            .filter(|s| s.name == "syncPod" && s.attr("k8s.pod.uid") == Some(uid))
            .filter(|s| s.start_unix_nano >= from && s.start_unix_nano <= to)
            .collect();
        assert!(!syncs.is_empty(), "the kubelet's syncPod spans of pod {uid}: {kubelet:#?}");
        assert!(
            syncs.iter().all(|s| s.attr("k8s.pod.name") == startup.attr("k8s.pod.name")
                && s.attr("k8s.namespace.name") == Some("default")),
            "{syncs:#?}"
        );
        // Separate traces: nothing carries a trace context from the API server to the kubelet.
        assert!(syncs.iter().all(|s| s.trace_id != startup.trace_id));
    }
}
