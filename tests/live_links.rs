//! Links between traces, live: a pipeline's traceparent annotation on a
//! Deployment ties each rollout its change started to the pipeline's trace (a
//! link, or with `--traceparent-mode parent` the root as the pipeline span's
//! child), and each rollout's root links to the previous one. Two kspan-rs, one
//! per mode, watch the same cluster and export to one receiver, told apart by
//! `--cluster-name`.

mod driver;
mod support;

use std::path::Path;
use std::time::Duration;

use driver::*;
use support::rotel::Span;
use support::NodeSimConfig;

const PIPELINE_1: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const PIPELINE_2: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Deployment `web` as a pipeline applies it, writing its traceparent beside the change.
fn web(image: &str, traceparent: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  annotations: {{kspan.io/traceparent: "{traceparent}"}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: main
          image: "{image}"
"#
    )
}

/// (trace id, span id) a traceparent names.
fn named(traceparent: &str) -> (String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    (fields[1].to_string(), fields[2].to_string())
}

/// The root of generation `g`'s rollout of `web`, as the kspan-rs of `cluster` sent it.
fn root<'a>(spans: &'a [Span], cluster: &str, g: u32) -> &'a Span {
    let mut roots = spans.iter().filter(|s| {
        s.name == "Deployment.Rollout"
            && s.resource_attr("k8s.cluster.name") == Some(cluster)
            && s.attr("kspan.rollout.generation") == Some(&g.to_string())
    });
    let found = roots.next().unwrap_or_else(|| panic!("{cluster}: no root of generation {g}"));
    assert!(roots.next().is_none(), "{cluster}: one root per rollout");
    found
}

fn links(s: &Span, kind: &str) -> Vec<(String, String)> {
    s.links
        .iter()
        .filter(|l| l.attr("kspan.link.type") == Some(kind))
        .map(|l| (l.trace_id.clone(), l.span_id.clone()))
        .collect()
}

fn ids(s: &Span) -> (String, String) {
    (s.trace_id.clone(), s.span_id.clone())
}

/// The roots' links as `kspan replay` makes them of the capture: (generation, type, trace, span).
fn replayed_links(capture: &Path) -> Vec<(String, String, String, String)> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json", "--settle", "2s", capture.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut found = Vec::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let request: serde_json::Value = serde_json::from_str(line).unwrap();
        let spans = request["resourceSpans"].as_array().unwrap().iter().flat_map(|r| {
            r["scopeSpans"].as_array().unwrap().iter().flat_map(|s| s["spans"].as_array().unwrap())
        });
        for span in spans.filter(|s| s["name"] == "Deployment.Rollout") {
            let attribute = |attrs: &serde_json::Value, key: &str| {
                attrs.as_array().unwrap().iter().find(|a| a["key"] == key).map(|a| {
                    let v = &a["value"];
                    v["stringValue"]
                        .as_str()
                        .map_or_else(|| v["intValue"].to_string(), str::to_string)
                })
            };
            let generation = attribute(&span["attributes"], "kspan.rollout.generation").unwrap();
            for link in span["links"].as_array().into_iter().flatten() {
                found.push((
                    generation.trim_matches('"').to_string(),
                    attribute(&link["attributes"], "kspan.link.type").unwrap(),
                    link["traceId"].as_str().unwrap().to_string(),
                    link["spanId"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_pipelines_traceparent_and_the_previous_rollout_are_linked_from_each_root() {
    let Some(live) = Live::start_or_skip(
        "a_pipelines_traceparent_and_the_previous_rollout_are_linked_from_each_root",
    ) else {
        return;
    };
    let receiver = live.receiver();
    let capture = live.dir().join("capture.jsonl");
    let common = ["--otlp-addr", receiver.grpc_endpoint(), "--settle", "2s"];
    let mut linking = live.kspan(
        &[&common[..], &["--cluster-name", "link", "--capture-to", capture.to_str().unwrap()]]
            .concat(),
    );
    let kubeconfig = live.kubeconfig();
    let parent_args = [
        &["--kubeconfig", kubeconfig.to_str().unwrap()][..],
        &common,
        &["--cluster-name", "parent", "--traceparent-mode", "parent"],
    ]
    .concat();
    let mut parenting = Kspan::start_named(live.dir(), "kspan-parent", &parent_args);
    wait_for_sync(&parenting);
    let _sim = live.node_sim(NodeSimConfig::with_nodes(1));

    let settle = |live: &Live| {
        live.kubectl(&["rollout", "status", "deployment/web", "--timeout=60s"]);
        std::thread::sleep(Duration::from_secs(4));
    };
    // 1: created by a pipeline; 2: its next run changes the image and the
    // traceparent in one apply; 3: scaled by hand, the annotation left in place;
    // 4: applied with a value that is no traceparent.
    live.apply("web-1.yaml", &web("nginx:1.19", PIPELINE_1));
    settle(&live);
    live.apply("web-2.yaml", &web("nginx:1.20", PIPELINE_2));
    settle(&live);
    live.kubectl(&["scale", "deployment/web", "--replicas=2"]);
    settle(&live);
    live.apply("web-4.yaml", &web("nginx:1.21", "not-a-traceparent"));
    settle(&live);

    assert_eq!(linking.metric("kspan_traceparent_invalid_total"), 1.0);
    assert_eq!(parenting.metric("kspan_traceparent_invalid_total"), 1.0);
    let log = std::fs::read_to_string(&linking.log).unwrap();
    let warned = log.lines().filter(|l| l.contains("ignoring the traceparent annotation")).count();
    assert_eq!(warned, 1, "logged once: {log}");
    parenting.stop();
    let spans = linking.stop_and_read(&receiver);

    // Link mode: the rollouts keep their own traces.
    let r: Vec<&Span> = (1..=4).map(|g| root(&spans, "link", g)).collect();
    assert_eq!(links(r[0], "ci"), vec![named(PIPELINE_1)]);
    assert_eq!(links(r[1], "ci"), vec![named(PIPELINE_2)]);
    assert_eq!(links(r[2], "ci"), vec![], "a scale with the old annotation in place");
    assert_eq!(links(r[3], "ci"), vec![], "a malformed value is ignored");
    assert_eq!(links(r[0], "previous"), vec![], "the first rollout");
    for g in 1..4 {
        assert_eq!(links(r[g], "previous"), vec![ids(r[g - 1])], "generation {}", g + 1);
    }
    assert!(r.iter().all(|s| s.is_root()));

    // Parent mode: the rollouts the pipelines started are in their traces.
    let p: Vec<&Span> = (1..=4).map(|g| root(&spans, "parent", g)).collect();
    for (root, pipeline) in [(p[0], PIPELINE_1), (p[1], PIPELINE_2)] {
        let (trace, span) = named(pipeline);
        assert_eq!((&root.trace_id, root.parent_id.as_ref()), (&trace, Some(&span)));
        assert_eq!(links(root, "ci"), vec![]);
        let in_trace = spans.iter().filter(|s| s.trace_id == trace).count();
        assert!(in_trace > 2, "the rollout's spans are in the pipeline's trace too");
    }
    assert!(p[2].is_root() && p[3].is_root(), "no pipeline of theirs: traces of their own");
    assert_eq!(p[2].trace_id, r[2].trace_id);
    for g in 1..4 {
        assert_eq!(links(p[g], "previous"), vec![ids(p[g - 1])], "generation {}", g + 1);
        assert_eq!(p[g].span_id, r[g].span_id, "span ids do not depend on the mode");
    }

    // The capture replays to the same links.
    let mut live_links: Vec<(String, String, String, String)> = r
        .iter()
        .flat_map(|s| {
            let g = s.attr("kspan.rollout.generation").unwrap().to_string();
            s.links.iter().map(move |l| {
                let kind = l.attr("kspan.link.type").unwrap().to_string();
                (g.clone(), kind, l.trace_id.clone(), l.span_id.clone())
            })
        })
        .collect();
    live_links.sort();
    assert_eq!(replayed_links(&capture), live_links);
}
