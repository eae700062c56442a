//! Pod startup SLIs as Prometheus histograms, read off the spans this replica
//! exports, so that a dashboard and a trace tell the same numbers. Labels are
//! bounded: the namespace and the top-level object's kind, its name only when
//! asked (`--metrics-workload-label`); never a pod name.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::span::{SpanDraft, SpanId, TraceId, Value};
use crate::time::Nanos;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkloadLabels {
    pub namespace: String,
    /// The top-level object's kind: `Deployment`, `StatefulSet`, `Job`...
    pub kind: String,
    /// Its name, only with `--metrics-workload-label`.
    pub workload: Option<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: String,
    pub kind: String,
    pub workload: Option<String>,
    /// `scheduling`, `image_pull`, `init`, `container_start`, `readiness`.
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub namespace: String,
    pub kind: String,
    pub workload: Option<String>,
    /// `kspan.rollout.outcome` of the root.
    pub outcome: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 0.1 s to about 14 min: a pod that starts in a blink up to a rollout that
/// waits for capacity.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 14))
}

/// The top-level objects of the traces whose rollout span went out, newest last:
/// a later episode's pods find theirs though its root went out earlier.
#[derive(Default)]
struct Tops {
    by_trace: HashMap<TraceId, (String, String)>,
    order: VecDeque<TraceId>,
}

const TOPS_KEPT: usize = 10_000;

impl Tops {
    fn learn(&mut self, trace: TraceId, kind: String, name: String) {
        if self.by_trace.insert(trace, (kind, name)).is_none() {
            self.order.push_back(trace);
            if self.order.len() > TOPS_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.by_trace.remove(&old);
                }
            }
        }
    }
}

#[derive(Clone)]
pub struct Slis {
    pub pod_startup: Histograms<WorkloadLabels>,
    pub pod_startup_phase: Histograms<PhaseLabels>,
    pub rollout_duration: Histograms<RolloutLabels>,
    workload_label: Arc<AtomicBool>,
    tops: Arc<Mutex<Tops>>,
}

impl Default for Slis {
    fn default() -> Self {
        Slis {
            pod_startup: Family::new_with_constructor(seconds_histogram),
            pod_startup_phase: Family::new_with_constructor(seconds_histogram),
            rollout_duration: Family::new_with_constructor(seconds_histogram),
            workload_label: Arc::default(),
            tops: Arc::default(),
        }
    }
}

fn text<'a>(span: &'a SpanDraft, key: &str) -> Option<&'a str> {
    match span.attribute(key)? {
        Value::Str(s) => Some(s.as_str()),
        _ => None,
    }
}

fn flag(span: &SpanDraft, key: &str) -> bool {
    span.attribute(key) == Some(&Value::Bool(true))
}

fn seconds(from: Nanos, to: Nanos) -> f64 {
    to.saturating_sub(from) as f64 / 1e9
}

impl Slis {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "pod_startup_seconds",
            "Pod creation to Ready, for pods a rollout created that became Ready",
            self.pod_startup.clone(),
        );
        r.register(
            "pod_startup_phase_seconds",
            "One phase of a pod's startup, as its span lasts (image_pull: per container pulled)",
            self.pod_startup_phase.clone(),
        );
        r.register(
            "rollout_duration_seconds",
            "A rollout's root span, by its outcome",
            self.rollout_duration.clone(),
        );
    }

    /// Adds the top-level object's name as the `workload` label.
    pub fn set_workload_label(&self, on: bool) {
        self.workload_label.store(on, Ordering::Relaxed);
    }

    /// Observes the rollouts and pod startups among `spans` (one or more finished trees).
    pub fn observe(&self, spans: &[SpanDraft]) {
        let mut tops = self.tops.lock().unwrap_or_else(|e| e.into_inner());
        // Roots first: a rollout span names its top-level object (`Deployment.Rollout`
        // carries `k8s.deployment.name`), even below a Flux `Event.Sync`.
        for s in spans.iter().filter(|s| text(s, "kspan.rollout.key").is_some()) {
            let Some((kind, _)) = s.name.split_once('.') else { continue };
            let key = format!("k8s.{}.name", kind.to_ascii_lowercase());
            let name = text(s, &key).or_else(|| text(s, "k8s.object.name")).unwrap_or_default();
            tops.learn(s.trace_id, kind.to_string(), name.to_string());
            if text(s, "kspan.rollout.key").is_some_and(|k| k.starts_with("generation:")) {
                let outcome = text(s, "kspan.rollout.outcome").unwrap_or("unknown").to_string();
                let (namespace, kind, workload) = self.labels(s, &tops);
                self.rollout_duration
                    .get_or_create(&RolloutLabels { namespace, kind, workload, outcome })
                    .observe(seconds(s.start, s.end));
            }
        }
        let by_id: HashMap<SpanId, &SpanDraft> = spans.iter().map(|s| (s.span_id, s)).collect();
        for s in spans {
            let Some(pod) =
                s.parent.and_then(|p| by_id.get(&p)).filter(|p| p.name == "Pod.Startup")
            else {
                continue;
            };
            let phase = match s.name {
                "Pod.Scheduling" => "scheduling",
                "Pod.ImagePull" => "image_pull",
                "Pod.ContainerStart" if flag(s, "kspan.container.init") => "init",
                "Pod.ContainerStart" => "container_start",
                "Pod.Readiness" => "readiness",
                _ => continue,
            };
            let (namespace, kind, workload) = self.labels(pod, &tops);
            let labels = PhaseLabels { namespace, kind, workload, phase: phase.into() };
            self.pod_startup_phase.get_or_create(&labels).observe(seconds(s.start, s.end));
            if phase == "readiness" && flag(s, "kspan.pod.ready") {
                let (namespace, kind, workload) = self.labels(pod, &tops);
                self.pod_startup
                    .get_or_create(&WorkloadLabels { namespace, kind, workload })
                    .observe(seconds(pod.start, s.end));
            }
        }
    }

    /// (namespace, top-level kind, workload) of a span; `unknown` for a trace whose
    /// rollout span this replica did not export (it took over the rollout).
    fn labels(&self, s: &SpanDraft, tops: &Tops) -> (String, String, Option<String>) {
        let namespace = text(s, "k8s.namespace.name").unwrap_or_default().to_string();
        let (kind, name) = tops
            .by_trace
            .get(&s.trace_id)
            .cloned()
            .unwrap_or_else(|| ("unknown".into(), String::new()));
        let workload = self.workload_label.load(Ordering::Relaxed).then_some(name);
        (namespace, kind, workload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanDraft, Status};
    use crate::time::SECOND;

    const T0: Nanos = 1_700_000_000 * SECOND;

    fn span(id: u8, parent: Option<u8>, name: &'static str, from: f64, to: f64) -> SpanDraft {
        let at = |s: f64| T0 + (s * 1e9) as Nanos;
        SpanDraft {
            trace_id: [1; 16],
            span_id: [id; 8],
            parent: parent.map(|p| [p; 8]),
            name,
            start: at(from),
            end: at(to),
            status: Status::Unset,
            attributes: vec![("k8s.namespace.name", "shop".into())],
            events: Vec::new(),
            links: Vec::new(),
            service: "kubelet".into(),
        }
    }

    fn with(mut s: SpanDraft, key: &'static str, value: Value) -> SpanDraft {
        s.attributes.push((key, value));
        s
    }

    /// `name{labels} value` lines of the registry's text.
    fn exposition(slis: &Slis) -> String {
        let mut r = Registry::with_prefix("kspan");
        slis.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        text
    }

    fn sample(text: &str, name: &str, labels: &str) -> f64 {
        let prefix = format!("{name}{{{labels}}} ");
        let line = text.lines().find(|l| l.starts_with(&prefix));
        line.and_then(|l| l[prefix.len()..].parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in {text}"))
    }

    #[test]
    fn a_rollout_s_pods_give_startup_phase_and_rollout_durations() {
        let slis = Slis::default();
        let root = span(1, None, "Deployment.Rollout", 0.0, 30.0);
        let root = with(root, "k8s.deployment.name", "web".into());
        let root = with(root, "kspan.rollout.key", "generation:2".into());
        let root = with(root, "kspan.rollout.outcome", "complete".into());
        let ready = |id, pod, from, to| {
            with(span(id, Some(pod), "Pod.Readiness", from, to), "kspan.pod.ready", true.into())
        };
        slis.observe(&[
            root,
            span(2, Some(1), "ReplicaSet.ScaleUp", 0.0, 12.0),
            span(3, Some(2), "Pod.Startup", 1.0, 12.0),
            span(4, Some(3), "Pod.Scheduling", 1.0, 1.5),
            span(5, Some(3), "Pod.ImagePull", 1.5, 6.5),
            with(
                span(6, Some(3), "Pod.ContainerStart", 6.5, 7.0),
                "kspan.container.init",
                true.into(),
            ),
            span(7, Some(3), "Pod.ContainerStart", 7.0, 8.0),
            ready(8, 3, 8.0, 12.0),
        ]);
        // A later episode of the same rollout: a pod that never became Ready.
        slis.observe(&[
            span(9, Some(2), "Pod.Startup", 40.0, 45.0),
            with(span(10, Some(9), "Pod.Readiness", 41.0, 45.0), "kspan.pod.ready", false.into()),
        ]);
        let text = exposition(&slis);
        let workload = r#"namespace="shop",kind="Deployment",workload="""#;
        assert_eq!(sample(&text, "kspan_pod_startup_seconds_count", workload), 1.0);
        assert_eq!(
            sample(&text, "kspan_pod_startup_seconds_sum", workload),
            11.0,
            "created to Ready"
        );
        for (phase, count, sum) in [
            ("scheduling", 1.0, 0.5),
            ("image_pull", 1.0, 5.0),
            ("init", 1.0, 0.5),
            ("container_start", 1.0, 1.0),
            ("readiness", 2.0, 8.0),
        ] {
            let labels = format!(r#"{workload},phase="{phase}""#);
            assert_eq!(
                sample(&text, "kspan_pod_startup_phase_seconds_count", &labels),
                count,
                "{phase}"
            );
            assert_eq!(
                sample(&text, "kspan_pod_startup_phase_seconds_sum", &labels),
                sum,
                "{phase}"
            );
        }
        let rollout = format!(r#"{workload},outcome="complete""#);
        assert_eq!(sample(&text, "kspan_rollout_duration_seconds_count", &rollout), 1.0);
        assert_eq!(sample(&text, "kspan_rollout_duration_seconds_sum", &rollout), 30.0);

        slis.set_workload_label(true);
        slis.observe(&[span(11, Some(2), "Pod.Startup", 50.0, 52.0), ready(12, 11, 51.0, 52.0)]);
        let labels = r#"namespace="shop",kind="Deployment",workload="web""#;
        assert_eq!(sample(&exposition(&slis), "kspan_pod_startup_seconds_count", labels), 1.0);
    }
}
