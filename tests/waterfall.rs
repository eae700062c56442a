//! The terminal view of real captures, rendered into a buffer.

mod common;

use common::fixture;
use kspan::cmd::replay::correlate;
use kspan::correlate::Config;
use kspan::sink::waterfall::{Waterfall, WIDTH};
use kspan::source::timeline;

fn render(capture: &str, events: bool) -> String {
    let input = timeline::load(&[fixture(capture)]);
    let (batches, _) = correlate(&input, Config::default());
    let mut waterfall = Waterfall::new(events);
    batches.iter().for_each(|b| waterfall.add(b));
    let mut out = Vec::new();
    waterfall.render(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_kubectl_rollout_reads_as_a_tree_in_100_columns() {
    let text = render("kspan/deployment-2-pods.main.yaml", true);
    for line in text.lines() {
        assert!(line.chars().count() <= WIDTH, "{} columns: {line}", line.chars().count());
    }
    assert!(
        text.starts_with("━━ Deployment.Rollout px  (15 spans, 9.20s, 0 with warnings)"),
        "{text}"
    );
    assert!(text.contains("changed by kubectl-client-side-apply (Update)"));
    // Indentation is the tree: root, steps, pods, their events.
    assert!(text.contains("\n   +0.00s     9.20s   Deployment.Rollout px "), "{text}");
    assert!(text.contains("      Pod.Startup px-5d567cc74c-ss4lb"), "{text}");
    assert!(text.contains("        · Pulled: Successfully pulled image"), "{text}");
    // The slow pull: 5.87 s by the kubelet's count, ending when Pulled arrived
    // (+7.07 s), marked as the slowest step.
    assert!(text.contains("   slowest: Pod.ImagePull px-5d567cc74c-ss4lb (5.87s)"), "{text}");
    assert!(
        text.contains("\n   +1.20s     5.87s        ▶Pod.ImagePull px-5d567cc74c-ss4lb "),
        "{text}"
    );
    assert!(text.contains("   +7.07s          · Pulled:"), "{text}");
    assert!(text.contains("◇ PodScheduled=True"), "conditions show on the timeline: {text}");
    assert_eq!(text.lines().filter(|l| l.contains("Pod.Termination")).count(), 2);
}

#[test]
fn warnings_are_marked_on_the_span_and_the_event() {
    let text = render("sonobuoy-v1.8", true);
    for line in text.lines() {
        assert!(line.chars().count() <= WIDTH, "{line}");
    }
    let marked: Vec<_> =
        text.lines().filter(|l| l.contains("!Pod.") || l.contains("!DaemonSet.")).collect();
    assert!(!marked.is_empty(), "the AWS bootstrap had FailedScheduling and Unhealthy warnings");
    assert!(text.lines().any(|l| l.contains("! FailedScheduling:") || l.contains("! Unhealthy:")));
    assert!(text.lines().any(|l| l.trim_start().starts_with("error: ")));
}
