//! The pod startup SLIs on /metrics against the spans of the same run: `kspan run`
//! on the real control plane, the node simulator playing the kubelet (slow pulls,
//! an init container), a real OTLP receiver. Counts and sums of each histogram are
//! worked out from the spans the receiver got.

mod driver;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use driver::*;
use support::rotel::{self, Span};
use support::NodeSimConfig;

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: setup, image: "busybox:1.36"}
      containers:
        - {name: main, image: "nginx:1.19"}
"#;

fn seconds(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1e9
}

/// (count, sum) of a histogram series in /metrics text.
fn histogram(metrics: &str, name: &str, labels: &str) -> (f64, f64) {
    let value = |suffix: &str| {
        let prefix = format!("{name}_{suffix}{{{labels}}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(|v| v.parse::<f64>().unwrap())
            .unwrap_or(0.0)
    };
    (value("count"), value("sum"))
}

/// What the spans say each series should hold: phase (or `startup`, `rollout`)
/// -> (count, sum).
fn from_spans(spans: &[Span]) -> BTreeMap<String, (f64, f64)> {
    let by_id: BTreeMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut expected: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut add = |what: &str, d: f64| {
        let e = expected.entry(what.to_string()).or_default();
        e.0 += 1.0;
        e.1 += d;
    };
    for s in spans {
        if s.attr("kspan.rollout.key").is_some_and(|k| k.starts_with("generation:")) {
            add("rollout", seconds(s.start_unix_nano, s.end_unix_nano));
        }
        let Some(pod) = s.parent_id.as_deref().and_then(|p| by_id.get(p)) else { continue };
        if pod.name != "Pod.Startup" {
            continue;
        }
        let phase = match (s.name.as_str(), s.attr("kspan.container.init")) {
            ("Pod.Scheduling", _) => "scheduling",
            ("Pod.ImagePull", _) => "image_pull",
            ("Pod.ContainerStart", Some("true")) => "init",
            ("Pod.ContainerStart", _) => "container_start",
            ("Pod.Readiness", _) => "readiness",
            _ => continue,
        };
        add(phase, seconds(s.start_unix_nano, s.end_unix_nano));
        if phase == "readiness" && s.attr("kspan.pod.ready") == Some("true") {
            add("startup", seconds(pod.start_unix_nano, s.end_unix_nano));
        }
    }
    expected
}

#[test]
fn pod_startup_histograms_count_and_sum_what_the_spans_show() {
    let Some(live) =
        Live::start_or_skip("pod_startup_histograms_count_and_sum_what_the_spans_show")
    else {
        return;
    };
    let receiver = live.receiver();
    let mut kspan = live.kspan(&["--otlp-addr", receiver.grpc_endpoint(), "--settle", "2s"]);
    let _sim = live.node_sim(NodeSimConfig {
        pull_delay: Duration::from_millis(1500),
        image_cache: false,
        ..NodeSimConfig::with_nodes(2)
    });
    live.apply("web.yaml", WEB);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    std::thread::sleep(Duration::from_secs(4));
    live.kubectl(&["set", "image", "deployment/web", "main=nginx:1.20"]);
    live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    // Everything settled and exported: the metrics and the receiver tell the same run.
    let t0 = Instant::now();
    let settled = |k: &Kspan| {
        k.served_metric("kspan_open_rollouts") == Some(0.0)
            && k.served_metric("kspan_queue_depth") == Some(0.0)
    };
    while !settled(&kspan) {
        assert!(t0.elapsed() < Duration::from_secs(60), "rollouts never settled");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(1));
    let metrics = kspan.get("/metrics").1;
    let spans = rotel::parse(&receiver.output());
    let expected = from_spans(&spans);

    let labels = r#"namespace="default",kind="Deployment",workload="""#;
    let got = |what: &str| match what {
        "startup" => histogram(&metrics, "kspan_pod_startup_seconds", labels),
        "rollout" => histogram(
            &metrics,
            "kspan_rollout_duration_seconds",
            &format!(r#"{labels},outcome="complete""#),
        ),
        phase => histogram(
            &metrics,
            "kspan_pod_startup_phase_seconds",
            &format!(r#"{labels},phase="{phase}""#),
        ),
    };
    // Two rollouts of three pods each, all Ready; each pod pulled two images.
    assert_eq!(expected.get("rollout").map(|e| e.0), Some(2.0), "{expected:?}");
    assert_eq!(expected.get("startup").map(|e| e.0), Some(6.0), "{expected:?}");
    assert_eq!(expected.get("init").map(|e| e.0), Some(6.0), "{expected:?}");
    for (what, (count, sum)) in &expected {
        let (got_count, got_sum) = got(what);
        assert_eq!(got_count, *count, "{what}: count\n{metrics}");
        assert!((got_sum - sum).abs() < 1e-6 * count.max(1.0), "{what}: sum {got_sum} vs {sum}");
    }
    // The pulls were slow: the image_pull phase holds them.
    let (pulls, pulled) = got("image_pull");
    assert!(pulls >= 6.0 && pulled / pulls > 1.0, "{pulls} pulls, {pulled} s");
    kspan.stop();
}
