//! deploy/ as a user applies it: kspan-rs' own image (scripts/image, loaded into
//! the real node's containerd) runs as two replicas on the node, under the shipped
//! ServiceAccount and RBAC, with in-cluster credentials only. A kustomize overlay
//! of the test patches in the image tag and the receiver's address and nothing
//! else (one test also takes a verb away from the ClusterRole, on purpose).
//!
//! The pods reach the API server through the kubernetes Service's address and the
//! receiver at the node's host address (scripts/README-live.md, "node DIR").

mod driver;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use driver::*;
use support::audit::{parse_audit_log, AuditRequest};
use support::rotel::{self, Span};
use support::{LiveReceiver, RealNode};

/// The image's tag in the node (kspan-rs:TAG), patched in by the overlays.
const TAG: &str = "live-test";
const POD_LABEL: &str = "app.kubernetes.io/name=kspan-rs";

/// A control plane, the receiver and a real node holding kspan-rs' image built
/// from the binary under test.
fn start(test: &str) -> Option<(Live, LiveReceiver, RealNode)> {
    let live = Live::start_for_node_or_skip(test)?;
    let receiver = live.receiver();
    let node = live.real_node();
    let out = live.dir().join("image");
    let built = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/image"))
        .arg(&out)
        .args(["--binary", env!("CARGO_BIN_EXE_kspan"), "--tag", TAG])
        .output()
        .expect("scripts/image runs");
    assert!(built.status.success(), "scripts/image: {}", String::from_utf8_lossy(&built.stderr));
    node.load_image(&out.join("kspan-rs.tar")).expect("the image loads into the node");
    Some((live, receiver, node))
}

/// Writes a kustomization `name` in the cluster's dir over `base` (a dir of the
/// repository: `deploy`, `deploy/overlays/namespaced`) that sets the image tag and
/// the OTLP endpoint, plus `patches` (more entries of `patches:`).
fn overlay(live: &Live, name: &str, base: &str, endpoint: &str, patches: &str) -> PathBuf {
    let dir = live.dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    // kustomize takes bases by relative path only.
    let up = "../".repeat(dir.components().count() - 1);
    let base = format!("{up}{}/{base}", env!("CARGO_MANIFEST_DIR").trim_start_matches('/'));
    let kustomization = format!(
        r#"apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: ["{base}"]
images:
  - {{name: kspan-rs, newTag: {TAG}}}
patches:
  - target: {{kind: Deployment, name: kspan}}
    patch: |
      - {{op: test, path: /spec/template/spec/containers/0/env/0/name, value: OTEL_EXPORTER_OTLP_ENDPOINT}}
      - {{op: replace, path: /spec/template/spec/containers/0/env/0/value, value: "{endpoint}"}}
{patches}"#
    );
    std::fs::write(dir.join("kustomization.yaml"), kustomization).unwrap();
    dir
}

/// The ClusterRole without `list` on HorizontalPodAutoscalers.
const WITHOUT_HPA_LIST: &str = r#"  - target: {kind: ClusterRole, name: kspan}
    patch: |
      - {op: test, path: /rules/4/resources, value: [horizontalpodautoscalers]}
      - {op: replace, path: /rules/4/verbs, value: [get, watch]}
"#;

fn get_json(live: &Live, args: &[&str]) -> Value {
    serde_json::from_str(&live.kubectl(&[&["get", "-o", "json"], args].concat())).unwrap()
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().unwrap().clone()
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap()
}

/// kspan-rs' pods in `namespace`, not being deleted.
fn kspan_pods(live: &Live, namespace: &str) -> Vec<Value> {
    let pods = items(&get_json(live, &["pods", "-n", namespace, "-l", POD_LABEL]));
    pods.into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect()
}

fn condition(pod: &Value, kind: &str) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn running(pod: &Value) -> bool {
    pod["status"]["containerStatuses"][0]["state"]["running"].is_object()
}

/// Polls `what` until it gives a value, or panics naming it after `timeout`.
fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(t0.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Both replicas of `namespace` Ready on the node: what /readyz said.
fn wait_ready(live: &Live, namespace: &str, node: &RealNode) -> Vec<Value> {
    wait_for("two kspan-rs pods Ready", Duration::from_secs(120), || {
        let pods = kspan_pods(live, namespace);
        let ready = pods.len() == 2 && pods.iter().all(|p| condition(p, "Ready"));
        ready.then_some(pods)
    })
    .into_iter()
    .inspect(|p| assert_eq!(p["spec"]["nodeName"], node.name(), "{} on the node", name(p)))
    .collect()
}

/// GET `path` of a pod's metrics port (the host routes to the pods' subnet):
/// (status, body).
fn pod_get(pod: &Value, path: &str) -> (u16, String) {
    http_get(&format!("{}:8080", pod["status"]["podIP"].as_str().unwrap()), path)
}

/// The holder of kspan-rs' Lease in `namespace`.
fn lease_holder(live: &Live, namespace: &str) -> Option<String> {
    let lease = get_json(live, &["lease", "-n", namespace, "kspan-rs"]);
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

/// The pod whose name the lease holder's identity starts with.
fn leader<'a>(pods: &'a [Value], holder: &str) -> Option<&'a Value> {
    pods.iter().find(|p| holder.starts_with(&format!("{}-", name(p))))
}

/// A Deployment `name` in `namespace` of two pods of `image` (the test app).
fn app(name: &str, namespace: &str, image: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: "{image}"
          env: [{{name: PORT, value: "8080"}}, {{name: READY_AFTER, value: "1s"}}]
          readinessProbe: {{httpGet: {{path: /ready, port: 8080}}, periodSeconds: 1}}
"#
    )
}

/// The spans received so far, each (trace, span) id once: a new leader re-sends
/// what it finished during its lookback, with the same ids.
fn received(receiver: &LiveReceiver) -> Vec<Span> {
    let mut seen = std::collections::BTreeSet::new();
    let spans = rotel::parse(&receiver.output());
    spans.into_iter().filter(|s| seen.insert((s.trace_id.clone(), s.span_id.clone()))).collect()
}

/// Events of `namespace` about `deployment`, its ReplicaSets and Pods (by name):
/// uid -> (kind, name, reason). kspan-rs' own Pods may share the namespace.
fn events_of(live: &Live, namespace: &str, deployment: &str) -> Vec<(String, String)> {
    let events = live.api_events(namespace).into_iter();
    let ours = events.filter(|(_, (_, name, _))| {
        name == deployment || name.starts_with(&format!("{deployment}-"))
    });
    ours.map(|(uid, (kind, name, reason))| (uid, format!("{reason} of {kind} {name}"))).collect()
}

/// Every Event about `deployment` in `spans`, once per occurrence.
fn assert_events_once(live: &Live, spans: &[Span], namespace: &str, deployment: &str) {
    let placed = span_events(spans);
    for (uid, what) in events_of(live, namespace, deployment) {
        let holders = placed.get(&uid).unwrap_or_else(|| panic!("not delivered: {what}"));
        assert_once_per_occurrence(&uid, holders);
    }
}

/// Waits until every Event about `deployment` is in a received span and `roots`
/// Deployment.Rollout roots of it arrived; returns the spans.
fn wait_delivered(
    live: &Live,
    receiver: &LiveReceiver,
    namespace: &str,
    deployment: &str,
    roots: usize,
) -> Vec<Span> {
    let what = format!("{roots} rollout(s) of {namespace}/{deployment} and every Event");
    wait_for(&what, Duration::from_secs(60), || {
        let spans = received(receiver);
        let placed = span_events(&spans);
        let all =
            events_of(live, namespace, deployment).iter().all(|(uid, _)| placed.contains_key(uid));
        let rollouts = spans
            .iter()
            .filter(|s| s.name == "Deployment.Rollout")
            .filter(|s| s.attr("k8s.namespace.name") == Some(namespace))
            .filter(|s| s.attr("k8s.deployment.name") == Some(deployment))
            .count();
        (all && rollouts == roots).then_some(spans)
    })
}

/// What kspan-rs asked the API server (by its user agent).
fn kspan_requests(live: &Live) -> Vec<AuditRequest> {
    let log = std::fs::read_to_string(live.cluster.audit_log_path()).unwrap();
    let all = parse_audit_log(&log, None);
    all.into_iter().filter(|r| r.user_agent.starts_with("kspan-rs/")).collect()
}

#[test]
fn deploy_runs_two_replicas_on_the_node_under_the_shipped_rbac() {
    let _serial = serial();
    let test = "deploy_runs_two_replicas_on_the_node_under_the_shipped_rbac";
    let Some((live, receiver, node)) = start(test) else { return };
    let endpoint = format!("http://{}:{}", node.host_ip(), receiver.ports().0);

    // One verb short: the HPA watcher's list is refused.
    let short = overlay(&live, "overlay-short", "deploy", &endpoint, WITHOUT_HPA_LIST);
    live.kubectl(&["apply", "-k", short.to_str().unwrap()]);
    let warning = wait_for("a WatchForbidden Event", Duration::from_secs(90), || {
        let events = items(&get_json(&live, &["events", "-n", "kspan"]));
        events.into_iter().find(|e| e["reason"] == "WatchForbidden")
    });
    assert_eq!(warning["type"], "Warning");
    assert_eq!(warning["involvedObject"]["kind"], "Pod");
    let note = warning["message"].as_str().unwrap();
    assert!(
        note.contains("horizontalpodautoscalers") && note.contains("cannot list"),
        "the Warning names the resource and the verb: {note}"
    );
    let pod = warning["involvedObject"]["name"].as_str().unwrap();
    let log = live.kubectl(&["logs", "-n", "kspan", pod]);
    assert!(
        log.lines().any(|l| l.contains("horizontalpodautoscalers") && l.contains("cannot list")),
        "the log names the resource and the verb:\n{log}"
    );
    // Running, and not Ready: /readyz waits for every initial list.
    let pods = wait_for("two kspan-rs pods running", Duration::from_secs(60), || {
        let pods = kspan_pods(&live, "kspan");
        (pods.len() == 2 && pods.iter().all(running)).then_some(pods)
    });
    for pod in &pods {
        assert!(!condition(pod, "Ready"), "{} Ready while a list is refused", name(pod));
        assert_eq!(pod_get(pod, "/readyz").0, 503, "{}: /readyz", name(pod));
    }

    // The shipped ClusterRole: the watcher's retry lists, the same pods turn Ready.
    let shipped = overlay(&live, "overlay", "deploy", &endpoint, "");
    live.kubectl(&["apply", "-k", shipped.to_str().unwrap()]);
    let pods = wait_ready(&live, "kspan", &node);
    let mut names: Vec<&str> = pods.iter().map(name).collect();
    names.sort();
    assert_eq!(names.len(), 2);

    // One leads: the Lease names it, and only its kspan_leader is 1.
    let holder = wait_for("a Lease holder", Duration::from_secs(30), || {
        lease_holder(&live, "kspan").filter(|h| leader(&pods, h).is_some())
    });
    let first = leader(&pods, &holder).unwrap();
    for pod in &pods {
        let leads = if name(pod) == name(first) { 1 } else { 0 };
        let (_, metrics) = pod_get(pod, "/metrics");
        assert!(
            metrics.lines().any(|l| l == format!("kspan_leader {leads}")),
            "{}: kspan_leader {leads}",
            name(pod)
        );
    }

    // A Deployment in another namespace arrives as a trace.
    live.kubectl(&["create", "namespace", "shop"]);
    live.apply("web.yaml", &app("web", "shop", node.app_image()));
    live.kubectl(&["rollout", "status", "-n", "shop", "deployment/web", "--timeout=120s"]);
    wait_delivered(&live, &receiver, "shop", "web", 1);

    // The leader deleted: it releases the Lease, and another replica takes it and
    // exports. That is the follower or the Deployment's replacement Pod, whichever
    // asks first: both are in the race, as in any cluster.
    let first = name(first).to_string();
    live.kubectl(&["delete", "pod", "-n", "kspan", &first, "--wait=false"]);
    let successor = wait_for("another replica leads", Duration::from_secs(60), || {
        let holder =
            lease_holder(&live, "kspan").filter(|h| !h.starts_with(&format!("{first}-")))?;
        leader(&kspan_pods(&live, "kspan"), &holder).cloned()
    });
    eprintln!("{} took the Lease from {first}", name(&successor));
    wait_for("kspan_leader 1 on the new holder", Duration::from_secs(10), || {
        let (_, metrics) = pod_get(&successor, "/metrics");
        metrics.lines().any(|l| l == "kspan_leader 1").then_some(())
    });
    let image = format!("main={}", node.app_image_v2());
    live.kubectl(&["set", "image", "-n", "shop", "deployment/web", &image]);
    live.kubectl(&["rollout", "status", "-n", "shop", "deployment/web", "--timeout=120s"]);
    let spans = wait_delivered(&live, &receiver, "shop", "web", 2);
    assert_events_once(&live, &spans, "shop", "web");

    // In-cluster credentials only: every request of kspan-rs was its ServiceAccount's,
    // the refused list among them.
    let requests = kspan_requests(&live);
    assert!(!requests.is_empty(), "kspan-rs' requests in the audit log");
    for r in &requests {
        assert_eq!(r.user, "system:serviceaccount:kspan:kspan", "{} {}", r.verb, r.request_uri);
    }
    assert!(
        requests.iter().any(|r| r.response_code == Some(403)
            && r.resource.as_deref() == Some("horizontalpodautoscalers")),
        "the HPA list refused while the verb was missing"
    );
    let deployment = live.kubectl(&["get", "deployment", "-n", "kspan", "kspan", "-o", "json"]);
    assert!(!deployment.contains(live.cluster.admin_token()), "no admin token in the Deployment");
}

#[test]
fn the_namespaced_overlay_traces_its_namespace_with_a_role() {
    let _serial = serial();
    let test = "the_namespaced_overlay_traces_its_namespace_with_a_role";
    let Some((live, receiver, node)) = start(test) else { return };
    let endpoint = format!("http://{}:{}", node.host_ip(), receiver.ports().0);

    // deploy/overlays/namespaced installs into "shop", which the user creates.
    live.kubectl(&["create", "namespace", "shop"]);
    let namespaced = overlay(&live, "overlay", "deploy/overlays/namespaced", &endpoint, "");
    live.kubectl(&["apply", "-k", namespaced.to_str().unwrap()]);
    // Ready: every initial list it needs passed with the Role alone.
    wait_ready(&live, "shop", &node);
    let cluster_role = live.cluster.kubectl().args(["get", "clusterrole", "kspan"]).output();
    assert!(!cluster_role.unwrap().status.success(), "no ClusterRole in the namespaced install");

    live.apply("web.yaml", &app("web", "shop", node.app_image()));
    live.apply("elsewhere.yaml", &app("elsewhere", "default", node.app_image()));
    for (namespace, deployment) in [("shop", "web"), ("default", "elsewhere")] {
        let deployment = format!("deployment/{deployment}");
        live.kubectl(&["rollout", "status", "-n", namespace, &deployment, "--timeout=120s"]);
    }
    let spans = wait_delivered(&live, &receiver, "shop", "web", 1);
    assert_events_once(&live, &spans, "shop", "web");
    // Past the settle time of the other namespace's rollout: nothing of it.
    std::thread::sleep(Duration::from_secs(8));
    let spans = received(&receiver);
    let namespaces: std::collections::BTreeSet<_> =
        spans.iter().filter_map(|s| s.attr("k8s.namespace.name")).collect();
    assert_eq!(namespaces.into_iter().collect::<Vec<_>>(), ["shop"]);

    let requests = kspan_requests(&live);
    assert!(!requests.is_empty(), "kspan-rs' requests in the audit log");
    for r in &requests {
        let what = format!("{} {} -> {:?}", r.verb, r.request_uri, r.response_code);
        assert_eq!(r.user, "system:serviceaccount:shop:kspan", "{what}");
        assert_ne!(r.response_code, Some(403), "{what}");
        if r.resource.is_some() {
            assert_eq!(r.namespace.as_deref(), Some("shop"), "{what}");
        }
    }
}
