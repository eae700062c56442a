//! A pod's startup, taken apart: scheduling, each container's image pull (with the
//! true duration the kubelet reports), container start, readiness. Answers "why
//! did this pod take so long" at a glance. Each child takes the Events that tell
//! its part; the rest stay on the pod's span.

use super::episode::Placed;
use super::objects::Tracked;
use super::tree::{Tree, SLACK};
use crate::span::{self, Attributes};
use crate::time::{Nanos, SECOND};

/// `spec.containers{app}` -> `app`.
fn container(placed: &Placed) -> Option<&str> {
    let path = placed.event.involved.field_path.as_deref()?;
    let start = path.find('{')? + 1;
    let end = path[start..].find('}')? + start;
    Some(&path[start..end])
}

/// About an init container (`spec.initContainers{setup}`).
fn is_init(placed: &Placed) -> bool {
    let path = placed.event.involved.field_path.as_deref();
    path.is_some_and(|p| p.starts_with("spec.initContainers"))
}

fn is_pull(placed: &Placed) -> bool {
    let e = &placed.event;
    match e.reason.as_str() {
        "Pulling" | "Pulled" | "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull"
        | "InspectFailed" => true,
        "Failed" | "BackOff" => {
            let m = e.message.to_ascii_lowercase();
            m.contains("pull") || m.contains("image")
        }
        _ => false,
    }
}

/// "Successfully pulled image \"nginx:1.19\" in 5.870155181s (5.9s including waiting)" -> 5.87 s.
/// Go duration syntax: 1m2.5s, 301ms, 850µs.
pub fn pull_duration(message: &str) -> Option<Nanos> {
    let text = message.split(" in ").nth(1)?.split([' ', '(']).next()?;
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&next) = chars.peek().filter(|n| n.is_alphabetic()) {
            unit.push(next);
            chars.next();
        }
        let value: f64 = number.parse().ok()?;
        total += value
            * match unit.as_str() {
                "h" => 3600e9,
                "m" => 60e9,
                "s" => 1e9,
                "ms" => 1e6,
                "us" | "µs" => 1e3,
                "ns" => 1.0,
                _ => return None,
            };
        number.clear();
        any = true;
    }
    // A day bounds any real pull, and keeps `Pulled` minus the pull far from overflow.
    (any && number.is_empty() && (0.0..=86_400e9).contains(&total)).then_some(total as Nanos)
}

/// `"registry/app:1.2"` in a kubelet message -> ("registry/app", "1.2").
fn image(message: &str) -> Option<(String, String)> {
    let quoted = message.split('"').nth(1)?;
    let (name, tag) = match quoted.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
        Some((name, tag)) => (name, tag),
        None => (quoted, "latest"),
    };
    Some((name.to_string(), tag.split('@').next().unwrap_or(tag).to_string()))
}

/// Adds the children under the pod's startup span; returns which events they took.
pub fn startup(
    tree: &mut Tree,
    pod: usize,
    events: &[&Placed],
    tracked: Option<&Tracked>,
    created: Option<Nanos>,
    subject: &Attributes,
    pod_id: &str,
) -> Vec<bool> {
    let mut taken = vec![false; events.len()];
    let condition = |kind: &str| {
        tracked
            .and_then(|t| t.seen.conditions.iter().find(|c| c.kind == kind && c.status == "True"))
            .and_then(|c| c.at)
    };
    let trace = tree.trace;

    // Scheduling: from creation to the scheduler's decision.
    let scheduling: Vec<usize> = (0..events.len())
        .filter(|&i| matches!(events[i].event.reason.as_str(), "Scheduled" | "FailedScheduling"))
        .collect();
    if !scheduling.is_empty() {
        let node = tree.add(
            span::span_id(&trace, &["Pod.Scheduling", pod_id]),
            Some(pod),
            "Pod.Scheduling",
            subject.clone(),
        );
        for &i in &scheduling {
            tree.record(node, events[i]);
            taken[i] = true;
        }
        if let Some(c) = created {
            tree.touch(node, c);
        }
        if let Some(at) = condition("PodScheduled").filter(|at| created.is_none_or(|c| *at >= c)) {
            tree.touch(node, at);
        }
    }

    // Volumes: from the kubelet taking the pod (Scheduled) to its first container
    // step, while mounts fail (a Secret or ConfigMap missing, a disk not attached).
    let mounts: Vec<usize> = (0..events.len())
        .filter(|&i| {
            matches!(
                events[i].event.reason.as_str(),
                "FailedMount" | "FailedAttachVolume" | "SuccessfulAttachVolume"
            )
        })
        .collect();
    if !mounts.is_empty() {
        let node = tree.add(
            span::span_id(&trace, &["Pod.VolumeMount", pod_id]),
            Some(pod),
            "Pod.VolumeMount",
            subject.clone(),
        );
        for &i in &mounts {
            tree.record(node, events[i]);
            taken[i] = true;
        }
        let first_mount = mounts.iter().map(|&i| events[i].time()).min();
        let scheduled = events.iter().filter(|p| p.event.reason == "Scheduled").map(|p| p.time());
        if let Some(s) = scheduled.filter(|s| first_mount.is_some_and(|m| *s <= m)).max() {
            tree.touch(node, s);
        }
        let first_step = events.iter().filter(|p| container(p).is_some()).map(|p| p.time()).min();
        if let Some(step) = first_step.filter(|f| first_mount.is_some_and(|m| m <= *f)) {
            tree.touch(node, step);
        }
    }

    // Per container: the image pull, then create and start.
    let mut containers: Vec<&str> = events.iter().filter_map(|p| container(p)).collect();
    containers.sort();
    containers.dedup();
    let mut last_started = None;
    for name in containers {
        let mine: Vec<usize> =
            (0..events.len()).filter(|&i| container(events[i]) == Some(name)).collect();
        let mut attributes = subject.clone();
        attributes.push(("k8s.container.name", name.to_string().into()));
        if mine.iter().any(|&i| is_init(events[i])) {
            attributes.push(("kspan.container.init", true.into()));
        }

        let mut pulls: Vec<usize> = mine.iter().copied().filter(|&i| is_pull(events[i])).collect();
        // The last pull the kubelet measured. After it, a restarting container's
        // "already present on machine" Pulled Events are part of its restarts.
        let measured = pulls
            .iter()
            .rev()
            .map(|&i| events[i])
            .find(|p| p.event.reason == "Pulled" && pull_duration(&p.event.message).is_some())
            .map(|p| p.time());
        if let Some(measured) = measured {
            pulls.retain(|&i| {
                let p = events[i];
                p.event.reason != "Pulled"
                    || p.time() <= measured
                    || pull_duration(&p.event.message).is_some()
            });
        }
        if !pulls.is_empty() {
            let mut pull_attributes = attributes.clone();
            if let Some((image, tag)) = pulls.iter().find_map(|&i| image(&events[i].event.message))
            {
                pull_attributes.push(("container.image.name", image.into()));
                pull_attributes.push(("container.image.tag", tag.into()));
            }
            let pulled =
                pulls.iter().rev().map(|&i| events[i]).find(|p| p.event.reason == "Pulled");
            let took = pulled.and_then(|p| pull_duration(&p.event.message));
            if let Some(took) = took {
                pull_attributes.push(("kspan.image.pull_ms", (took / 1_000_000).into()));
            }
            let id = span::span_id(&trace, &["Pod.ImagePull", pod_id, name]);
            let node = tree.add(id, Some(pod), "Pod.ImagePull", pull_attributes);
            for &i in &pulls {
                tree.record(node, events[i]);
                taken[i] = true;
            }
            // The kubelet's own measure beats the one-second Event timestamps.
            if let (Some(pulled), Some(took)) = (pulled, took) {
                tree.set_span(node, pulled.time() - took, pulled.time());
            }
        }

        let starts: Vec<usize> = mine
            .iter()
            .copied()
            .filter(|&i| {
                !taken[i]
                    && matches!(
                        events[i].event.reason.as_str(),
                        "Created" | "Started" | "BackOff" | "Failed" | "Pulled"
                    )
            })
            .collect();
        if !starts.is_empty() {
            // A crash loop: how often it restarted and why it last ended (OOMKilled...).
            let status = tracked
                .and_then(|t| t.seen.pod.as_ref())
                .and_then(|p| p.containers.iter().find(|c| c.name == name));
            if let Some(c) = status.filter(|c| c.restarts > 0) {
                attributes.push(("k8s.container.restart_count", i64::from(c.restarts).into()));
                if let Some(reason) = &c.last_reason {
                    attributes.push(("kspan.container.last_termination.reason", (**reason).into()));
                }
                if let Some(code) = c.last_exit_code {
                    attributes.push((
                        "kspan.container.last_termination.exit_code",
                        i64::from(code).into(),
                    ));
                }
            }
            let id = span::span_id(&trace, &["Pod.ContainerStart", pod_id, name]);
            let node = tree.add(id, Some(pod), "Pod.ContainerStart", attributes);
            for &i in &starts {
                tree.record(node, events[i]);
                taken[i] = true;
            }
            let started = starts
                .iter()
                .map(|&i| events[i])
                .filter(|p| p.event.reason == "Started")
                .map(|p| p.time())
                .max();
            last_started = last_started.max(started);
        }
    }

    // Readiness: from the last container start to the Ready condition (probes failing meanwhile).
    let probes: Vec<usize> =
        (0..events.len()).filter(|&i| !taken[i] && events[i].event.reason == "Unhealthy").collect();
    let ready = condition("Ready").filter(|r| last_started.is_none_or(|s| *r + SLACK >= s));
    if ready.is_some() || !probes.is_empty() {
        let mut attributes = subject.clone();
        attributes.push(("kspan.pod.ready", ready.is_some().into()));
        let node = tree.add(
            span::span_id(&trace, &["Pod.Readiness", pod_id]),
            Some(pod),
            "Pod.Readiness",
            attributes,
        );
        if let Some(s) = last_started {
            tree.touch(node, s);
        }
        if let Some(r) = ready.filter(|r| last_started.is_none_or(|s| *r - s < 3600 * SECOND)) {
            tree.touch(node, r);
        }
        for &i in &probes {
            tree.record(node, events[i]);
            taken[i] = true;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_pull_durations() {
        let ms = |m: &str| pull_duration(m).map(|n| n / 1_000_000);
        assert_eq!(ms("Successfully pulled image \"x\" in 5.870155181s"), Some(5870));
        assert_eq!(
            ms("Successfully pulled image \"x\" in 301ms (301ms including waiting)"),
            Some(301)
        );
        assert_eq!(
            ms("Successfully pulled image \"x\" in 1m2.5s (1m3s including waiting)"),
            Some(62_500)
        );
        assert_eq!(ms("Container image \"x\" already present on machine"), None);
    }

    #[test]
    fn images_from_messages() {
        assert_eq!(
            image("Pulling image \"ghcr.io/a/b:5.0.0\""),
            Some(("ghcr.io/a/b".into(), "5.0.0".into()))
        );
        assert_eq!(
            image("Pulling image \"localhost:5000/app\""),
            Some(("localhost:5000/app".into(), "latest".into()))
        );
    }
}
