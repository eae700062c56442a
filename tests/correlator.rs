//! The correlator's rules, one small observation sequence each: feed observations,
//! assert on the spans that come out.

#[path = "correlator/given.rs"]
mod given;

use given::*;
use kspan::correlate::{Config, Correlator, TraceparentMode, INSTANT};
use kspan::observe::{Kind, ObjectKey, ObjectSeen, Observation, Observed, WorkloadStatus};
use kspan::span::{SpanDraft, Status, Value};
use kspan::time::{Nanos, SECOND};

#[test]
fn owner_references_route_pod_events_to_the_deployment_trace() {
    let (d, rs, pod) = rollout_objects();
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        scaled_up("e1", "web", "web-abc", 1, T0),
        created_pod("e2", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0 + 1),
        on_pod("e3", "web-abc-x1", "Started", "Started container web", T0 + 2 * SECOND),
    ]);
    let started = holding(&spans, "e3");
    assert_eq!(started.name, "Pod.Startup");
    assert_eq!(text(started, "k8s.pod.uid"), "p-1");
    assert_eq!(text(started, "k8s.replicaset.name"), "web-abc");
    let step = spans.iter().find(|s| Some(s.span_id) == started.parent).unwrap();
    assert_eq!(step.name, "ReplicaSet.ScaleUp");
    let top = root(&spans, started);
    assert_eq!(top.name, "Deployment.Rollout");
    assert_eq!(text(top, "k8s.deployment.uid"), "d-1");
    assert_eq!(text(top, "kspan.change.manager"), "kubectl");
    assert_eq!(
        holding(&spans, "e2").span_id,
        started.span_id,
        "the creation record is on the pod's span"
    );
}

#[test]
fn controller_messages_name_pods_no_watch_has_delivered() {
    let (d, rs, _) = rollout_objects();
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        created_pod("e1", (Kind::ReplicaSet, "web-abc"), "web-abc-zz", T0),
        scheduled("e2", "web-abc-zz", "n1", T0 + 1),
    ]);
    let scheduled = holding(&spans, "e2");
    assert_eq!(root(&spans, scheduled).name, "Deployment.Rollout");
    assert_eq!(text(scheduled, "k8s.node.name"), "n1");
    assert!(scheduled
        .events
        .iter()
        .all(|e| !e.attributes.iter().any(|(k, _)| *k == "kspan.placement")));
}

#[test]
fn an_event_before_its_object_waits_and_is_placed_when_the_object_appears() {
    let (d, rs, pod) = rollout_objects();
    let mut c = Correlator::new(Config::default());
    let early = feed(&mut c, vec![on_pod("e1", "web-abc-x1", "Pulling", "Pulling image", T0)]);
    assert!(early.is_empty());
    assert_eq!(c.pending(), 1, "an unknown pod's event waits");
    let mut spans =
        feed(&mut c, vec![seen(T0 + SECOND, d), seen(T0 + SECOND, rs), seen(T0 + SECOND, pod)]);
    assert_eq!(c.pending(), 0);
    spans.extend(c.finish());
    assert_eq!(root(&spans, holding(&spans, "e1")).name, "Deployment.Rollout");
    assert_eq!(c.stats().placed_best_effort, 0);
}

#[test]
fn an_event_whose_object_never_appears_is_placed_best_effort_not_dropped() {
    let mut c = Correlator::new(Config::default());
    let mut spans = feed(&mut c, vec![on_pod("e1", "lonely", "Pulling", "Pulling image", T0)]);
    spans.extend(feed(&mut c, vec![tick(T0 + 6 * SECOND)]));
    assert_eq!(c.pending(), 0, "the window expired");
    spans.extend(c.finish());
    let s = holding(&spans, "e1");
    assert_eq!(root(&spans, s).name, "Pod.Lifecycle");
    let e = &s.events[0];
    assert!(e
        .attributes
        .iter()
        .any(|(k, v)| *k == "kspan.placement" && v.to_string() == "best-effort"));
    assert_eq!(c.stats().placed_best_effort, 1);
}

#[test]
fn a_full_pending_set_places_its_oldest_event_early() {
    let mut c = Correlator::new(Config { pending_limit: 2, ..Config::default() });
    let spans: Vec<_> = (0..3)
        .flat_map(|i| c.ingest(on_pod(&format!("e{i}"), &format!("p{i}"), "Pulling", "x", T0 + i)))
        .collect();
    assert!(spans.is_empty());
    assert_eq!(c.pending(), 2);
    assert_eq!(c.stats().pending_overflow, 1);
    let spans = c.finish();
    for i in 0..3 {
        holding(&spans, &format!("e{i}"));
    }
}

#[test]
fn a_repeated_event_is_one_record_with_its_latest_count() {
    let (d, rs, pod) = rollout_objects();
    let message = "Back-off restarting failed container";
    let again =
        warning(event("e1", (Kind::Pod, "web-abc-x1"), "BackOff", message, T0 + 3 * SECOND), 4, T0);
    let mut first = again.clone();
    first.count = 1;
    first.last = Some(T0);
    let spans =
        run(vec![seen(T0, d), seen(T0, rs), seen(T0, pod), happened(first), happened(again)]);
    let s = holding(&spans, "e1");
    let records: Vec<_> = spans.iter().flat_map(|s| &s.events).collect();
    assert_eq!(records.len(), 1);
    assert!(records[0]
        .attributes
        .iter()
        .any(|(k, v)| *k == "k8s.event.count" && *v == Value::Int(4)));
    assert_eq!(
        s.status,
        Status::Error("Back-off restarting failed container".into()),
        "a Warning marks its span"
    );
}

#[test]
fn each_generation_is_its_own_trace_with_stable_ids() {
    let (d, rs, _) = rollout_objects();
    let d3 = d.clone().generation(3, T0 + 60 * SECOND);
    let rs2 = object(Kind::ReplicaSet, "web-def", "rs-2").owned_by(&d);
    let observations = vec![
        seen(T0, d),
        seen(T0, rs),
        scaled_up("e1", "web", "web-abc", 1, T0),
        seen(T0 + 60 * SECOND, d3),
        seen(T0 + 60 * SECOND, rs2),
        scaled_up("e2", "web", "web-def", 1, T0 + 61 * SECOND),
    ];
    let spans = run(observations.clone());
    let (a, b) = (holding(&spans, "e1"), holding(&spans, "e2"));
    assert_ne!(a.trace_id, b.trace_id);
    assert_eq!(text(root(&spans, a), "kspan.rollout.generation"), "2");
    assert_eq!(text(root(&spans, b), "kspan.rollout.generation"), "3");
    assert_eq!(run(observations), spans, "a second run gives the same ids and spans");
}

#[test]
fn without_generations_a_scale_up_of_a_new_replica_set_starts_a_new_rollout() {
    let spans = run(vec![
        scaled_up("e1", "web", "web-abc", 1, T0),
        scaled_up("e2", "web", "web-abc", 2, T0 + 1),
        scaled_up("e3", "web", "web-def", 1, T0 + 2),
    ]);
    let traces: std::collections::BTreeSet<_> = spans.iter().map(|s| s.trace_id).collect();
    assert_eq!(traces.len(), 2);
    assert_eq!(holding(&spans, "e1").trace_id, holding(&spans, "e2").trace_id);
    assert_eq!(
        text(root(&spans, holding(&spans, "e3")), "kspan.rollout.key"),
        "inferred:rs:web-def"
    );
}

#[test]
fn a_cron_job_gives_one_trace_per_job_with_the_job_above_its_pods() {
    let cron = object(Kind::CronJob, "nightly", "c-1");
    let job1 = object(Kind::Job, "nightly-1", "j-1").owned_by(&cron);
    let job2 = object(Kind::Job, "nightly-2", "j-2").owned_by(&cron);
    let spans = run(vec![
        seen(T0, cron),
        created_job("e1", "nightly", "nightly-1", T0),
        seen(T0, job1),
        created_pod("e2", (Kind::Job, "nightly-1"), "nightly-1-aaa", T0 + 1),
        on_pod("e3", "nightly-1-aaa", "Started", "Started container", T0 + 2),
        created_job("e4", "nightly", "nightly-2", T0 + 3),
        seen(T0 + 3, job2),
    ]);
    let pod = holding(&spans, "e3");
    let job = spans.iter().find(|s| Some(s.span_id) == pod.parent).unwrap();
    assert_eq!((job.name, text(job, "k8s.job.name").as_str()), ("Job.Run", "nightly-1"));
    assert_eq!(root(&spans, pod).name, "CronJob.Run");
    assert_ne!(holding(&spans, "e1").trace_id, holding(&spans, "e4").trace_id, "one trace per Job");
}

#[test]
fn an_owner_cycle_ends_the_walk_instead_of_hanging() {
    let a = object(Kind::ReplicaSet, "a", "a-1");
    let b = object(Kind::ReplicaSet, "b", "b-1").owned_by(&a);
    let a = a.owned_by(&b);
    let spans = run(vec![
        seen(T0, a),
        seen(T0, b),
        happened(event("e1", (Kind::ReplicaSet, "a"), "Odd", "cycle", T0)),
    ]);
    assert_eq!(spans.iter().flat_map(|s| &s.events).count(), 1);
}

#[test]
fn a_pull_in_flight_keeps_the_rollout_open_past_the_settle_window() {
    let (d, rs, pod) = rollout_objects();
    let mut c = Correlator::new(Config::default());
    let mut spans = feed(
        &mut c,
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod),
            on_pod("e1", "web-abc-x1", "Pulling", "Pulling image", T0),
            tick(T0 + 20 * SECOND),
        ],
    );
    assert!(spans.is_empty(), "still pulling");
    spans.extend(feed(
        &mut c,
        vec![on_pod("e2", "web-abc-x1", "Pulled", "Successfully pulled", T0 + 25 * SECOND)],
    ));
    spans.extend(feed(&mut c, vec![tick(T0 + 31 * SECOND)]));
    assert!(!spans.is_empty(), "settled after the pull finished");
    assert_eq!(
        holding(&spans, "e1").span_id,
        holding(&spans, "e2").span_id,
        "one pod span, not two"
    );
    assert!(c.finish().is_empty());
}

/// Events are best effort: a busy kubelet's recorder drops its Started. The
/// pod's status says it started all the same.
#[test]
fn a_pod_whose_started_event_was_lost_settles_when_its_status_says_it_runs() {
    let (d, rs, pod) = rollout_objects();
    let started = T0 + SECOND;
    let spans = feed(
        &mut Correlator::new(Config::default()),
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod.clone()),
            created_pod("e1", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0),
            scheduled("e2", "web-abc-x1", "node-1", T0),
            seen(started, pod.running(1, started, Some(started))),
            tick(T0 + 20 * SECOND),
        ],
    );
    assert!(!spans.is_empty(), "settled after the pod's status: {spans:#?}");
}

/// Under load the controllers' recorders write Events minutes late: a "Created
/// pod" arriving after that pod ran and became Ready (its own rollout already
/// built) opens an episode that settles with the window, not at --max-open.
#[test]
fn a_late_event_about_a_pod_known_ready_does_not_hold_its_rollout_open() {
    let (d, rs, pod) = rollout_objects();
    let mut c = Correlator::new(Config::default());
    let ready = T0 + 2 * SECOND;
    let first = feed(
        &mut c,
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod.clone()),
            scheduled("e1", "web-abc-x1", "node-1", T0),
            seen(ready, pod.running(2, T0 + SECOND, Some(ready))),
            tick(T0 + 20 * SECOND),
        ],
    );
    assert!(!first.is_empty(), "the rollout settled: {first:#?}");

    let late = event(
        "e2",
        (Kind::ReplicaSet, "web-abc"),
        "SuccessfulCreate",
        "Created pod: web-abc-x1",
        T0,
    );
    let spans = feed(&mut c, vec![arriving(T0 + 60 * SECOND, late), tick(T0 + 80 * SECOND)]);
    // Settled with the window: built by the tick, not held open.
    holding(&spans, "e2");
}

/// A scale-down deletes pods whose "Created pod" the throttled recorder writes
/// minutes late: the pod is gone, nothing of it is under way.
#[test]
fn a_late_event_about_a_pod_deleted_since_does_not_hold_its_rollout_open() {
    let (d, rs, pod) = rollout_objects();
    let gone = deleted(T0 + 10 * SECOND, &pod);
    let late = event(
        "e1",
        (Kind::ReplicaSet, "web-abc"),
        "SuccessfulCreate",
        "Created pod: web-abc-x1",
        T0,
    );
    let spans = feed(
        &mut Correlator::new(Config::default()),
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod.on_node("node-1")),
            gone,
            arriving(T0 + 60 * SECOND, late),
            tick(T0 + 80 * SECOND),
        ],
    );
    holding(&spans, "e1");
}

/// A StatefulSet creates a deleted pod again under its name: a late "create Pod
/// db-1" is about the new instance, not the one deleted before it was written,
/// and its rollout waits for it.
#[test]
fn a_late_create_of_a_stateful_pod_waits_for_the_new_instance() {
    let sts = object(Kind::StatefulSet, "db", "s-1").generation(2, T0);
    let old = object(Kind::Pod, "db-1", "p-old").owned_by(&sts).on_node("node-1");
    let gone = deleted(T0 + 5 * SECOND, &old);
    let create = "create Pod db-1 in StatefulSet db successful";
    let late = event("e1", (Kind::StatefulSet, "db"), "SuccessfulCreate", create, T0 + 30 * SECOND);
    let spans = feed(
        &mut Correlator::new(Config::default()),
        vec![
            seen(T0, sts),
            seen(T0, old),
            gone,
            arriving(T0 + 60 * SECOND, late),
            tick(T0 + 80 * SECOND),
        ],
    );
    assert!(spans.is_empty(), "held for the new db-1: {spans:#?}");
}

/// A pod deleted while its readiness probe was under way ends that wait.
#[test]
fn a_pod_deleted_before_it_was_ready_does_not_hold_its_rollout_open() {
    let (d, rs, pod) = rollout_objects();
    let started = T0 + SECOND;
    let gone = deleted(T0 + 3 * SECOND, &pod);
    let spans = feed(
        &mut Correlator::new(Config::default()),
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod.clone()),
            scheduled("e1", "web-abc-x1", "node-1", T0),
            seen(started, pod.running(2, started, None)),
            gone,
            tick(T0 + 20 * SECOND),
        ],
    );
    assert!(!spans.is_empty(), "settled once the pod was gone: {spans:#?}");
}

/// The rollout's objects and its scale-up at `T0`, settled by a tick 10 s later.
fn a_settled_rollout() -> Vec<Observation> {
    let (d, rs, pod) = rollout_objects();
    vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        scaled_up("e1", "web", "web-abc", 1, T0),
        tick(T0 + 10 * SECOND),
    ]
}

#[test]
fn a_later_episode_of_the_same_rollout_reuses_the_root() {
    let mut c = Correlator::new(Config::default());
    let first = feed(&mut c, a_settled_rollout());
    let roots: Vec<_> = first.iter().filter(|s| s.parent.is_none()).collect();
    assert_eq!(roots.len(), 1);
    let mut later = feed(
        &mut c,
        vec![on_pod("e2", "web-abc-x1", "Unhealthy", "Readiness probe failed", T0 + 300 * SECOND)],
    );
    later.extend(c.finish());
    assert!(later.iter().all(|s| s.parent.is_some()), "no second root");
    let s = holding(&later, "e2");
    assert_eq!(s.trace_id, roots[0].trace_id);
    assert_eq!(s.parent, Some(roots[0].span_id));
    assert_eq!(s.name, "Pod.Activity");
}

#[test]
fn an_event_about_the_top_object_after_its_root_was_emitted_is_kept() {
    let mut c = Correlator::new(Config::default());
    let first = feed(&mut c, a_settled_rollout());
    let root = first.iter().find(|s| s.parent.is_none()).expect("a root").clone();
    let message = "Rolled back deployment \"web\" to revision 1";
    let rollback =
        event("e2", (Kind::Deployment, "web"), "DeploymentRollback", message, T0 + 300 * SECOND);
    let mut later = feed(&mut c, vec![happened(rollback)]);
    later.extend(c.finish());
    let s = holding(&later, "e2");
    assert_eq!(s.name, "Deployment.Activity");
    assert_eq!((s.trace_id, s.parent), (root.trace_id, Some(root.span_id)));
    assert_eq!(text(s, "k8s.deployment.name"), "web");
    assert!(later.iter().all(|x| x.span_id != root.span_id), "the root is not sent twice");
}

#[test]
fn arrival_order_within_the_window_does_not_change_the_spans() {
    let (d, rs, pod) = rollout_objects();
    let list = vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        scaled_up("e1", "web", "web-abc", 1, T0),
        created_pod("e2", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0),
        scheduled("e3", "web-abc-x1", "n1", T0),
    ];
    let reference = run(list.clone());
    let mut reversed = list.clone();
    reversed.reverse();
    assert_eq!(run(reversed), reference);
    let mut rotated = list;
    rotated.rotate_left(3);
    assert_eq!(run(rotated), reference);
}

/// Generation 3 of the rollout's Deployment from a scale through the subresource
/// (kubectl scale, an autoscaler): a new generation, managedFields as they were.
fn scaled_through_the_subresource(d: &ObjectSeen) -> ObjectSeen {
    let mut scaled = d.clone().version(3);
    scaled.generation = Some(3);
    scaled
}

#[test]
fn a_scale_through_the_subresource_starts_a_generation_without_a_known_author() {
    let (d, rs, _) = rollout_objects();
    let scaled = scaled_through_the_subresource(&d);
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        scaled_up("e1", "web", "web-abc", 1, T0),
        seen(T0 + 60 * SECOND, scaled),
        scaled_up("e2", "web", "web-abc", 3, T0 + 60 * SECOND),
    ]);
    let (first, second) =
        (root(&spans, holding(&spans, "e1")), root(&spans, holding(&spans, "e2")));
    assert_ne!(first.trace_id, second.trace_id);
    assert_eq!(text(second, "kspan.rollout.generation"), "3");
    assert_eq!(
        text(second, "kspan.change.manager"),
        "",
        "the stale managedFields entry is not this change's author"
    );
    assert_eq!(text(first, "kspan.change.manager"), "kubectl");
}

// Bad or odd input: each has a clear behaviour.

#[test]
fn a_huge_message_is_truncated_with_its_size() {
    let (d, rs, pod) = rollout_objects();
    let message = "x".repeat(1 << 20);
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        on_pod("e1", "web-abc-x1", "Unhealthy", &message, T0),
    ]);
    let e = &holding(&spans, "e1").events[0];
    let kept = e.attributes.iter().find(|(k, _)| *k == "k8s.event.message").unwrap().1.to_string();
    assert!(
        kept.len() < 5000 && kept.ends_with("(1048576 bytes, truncated)"),
        "{}",
        &kept[kept.len() - 40..]
    );
}

#[test]
fn a_deep_owner_chain_is_walked_to_a_bounded_depth() {
    let level = || Kind::Other("Level".into());
    let mut objects = vec![object(level(), "level-0", "u-0")];
    for i in 1..40 {
        let child =
            object(level(), &format!("level-{i}"), &format!("u-{i}")).owned_by(&objects[i - 1]);
        objects.push(child);
    }
    let mut input: Vec<Observation> = objects.into_iter().map(|o| seen(T0, o)).collect();
    input.push(happened(event("e1", (level(), "level-39"), "Odd", "deep", T0)));
    let spans = run(input);
    assert_eq!(spans.iter().flat_map(|s| &s.events).count(), 1, "placed once, no hang");
}

#[test]
fn an_unknown_kind_is_traced_as_an_object_activity() {
    let certificate = Kind::Other("Certificate".into());
    let spans = run(vec![happened(event("e1", (certificate, "tls"), "Issuing", "renewing", T0))]);
    let root = root(&spans, holding(&spans, "e1"));
    assert_eq!(root.name, "Object.Activity");
    assert_eq!(text(root, "k8s.object.kind"), "Certificate");
}

#[test]
fn clock_skew_keeps_the_events_own_times_and_settles_by_arrival() {
    let (d, rs, pod) = rollout_objects();
    let mut ancient = event("old", (Kind::Pod, "web-abc-x1"), "Pulled", "decades old", T0);
    ancient.first = Some(SECOND);
    ancient.last = Some(SECOND);
    let mut future = event("new", (Kind::Pod, "web-abc-x1"), "Started", "a day ahead", T0);
    future.last = Some(T0 + 86_400 * SECOND);
    let mut c = Correlator::new(Config::default());
    let mut spans = feed(
        &mut c,
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod),
            arriving(T0, ancient),
            arriving(T0, future),
            tick(T0 + 6 * SECOND),
        ],
    );
    assert!(!spans.is_empty(), "settled by the arrival clock, not held by the skewed times");
    spans.extend(c.finish());
    assert_eq!(
        holding(&spans, "old").events.iter().find(|e| e.name == "Pulled").unwrap().time,
        SECOND
    );
    // Older than the current generation's spec change: history, an inferred rollout.
    assert_eq!(text(root(&spans, holding(&spans, "old")), "kspan.rollout.inferred"), "true");
    assert_eq!(text(root(&spans, holding(&spans, "new")), "kspan.rollout.generation"), "2");
}

#[test]
fn a_duplicate_event_uid_is_one_record() {
    let (d, rs, pod) = rollout_objects();
    let e = event("e1", (Kind::Pod, "web-abc-x1"), "Pulled", "same", T0);
    let spans =
        run(vec![seen(T0, d), seen(T0, rs), seen(T0, pod), happened(e.clone()), happened(e)]);
    assert_eq!(spans.iter().flat_map(|s| &s.events).filter(|e| e.name == "Pulled").count(), 1);
}

#[test]
fn an_event_for_a_deleted_pod_still_finds_its_owners() {
    let (d, rs, pod) = rollout_objects();
    let gone = Observed::deleted(ObjectKey::new(Kind::Pod, "default", "web-abc-x1"), "p-1".into());
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        Observation { at: T0 + SECOND, what: gone },
        on_pod("e1", "web-abc-x1", "Killing", "Stopping container web", T0 + 2 * SECOND),
    ]);
    let s = holding(&spans, "e1");
    assert_eq!(s.name, "Pod.Termination");
    assert_eq!(root(&spans, s).name, "Deployment.Rollout");
}

#[test]
fn a_selector_keeps_only_rollouts_whose_top_level_object_matches() {
    let (mut d, rs, pod) = rollout_objects();
    d.labels = vec![("app".into(), "web".into()), ("tier".into(), "front".into())];
    // Labels on owned objects are not what the selector looks at.
    let mut bare = object(Kind::Pod, "debug", "p-bare");
    bare.labels = Vec::new();
    let observations = || {
        vec![
            seen(T0, d.clone()),
            seen(T0, rs.clone()),
            seen(T0, pod.clone()),
            seen(T0, bare.clone()),
            scaled_up("e1", "web", "web-abc", 1, T0),
            on_pod("e2", "web-abc-x1", "Started", "Started container web", T0 + SECOND),
            on_pod("e3", "debug", "Started", "Started container sh", T0 + SECOND),
            // A top-level object never seen: matched as one without labels.
            scaled_up("e4", "ghost", "ghost-1", 1, T0),
        ]
    };
    let traced = |selector: &str| {
        let config = Config {
            selector: Some(kspan::correlate::Selector::parse(selector).unwrap()),
            ..Config::default()
        };
        let mut c = Correlator::new(config);
        let mut spans = feed(&mut c, observations());
        spans.extend(c.finish());
        let mut uids: Vec<String> = spans
            .iter()
            .flat_map(|s| s.events.iter())
            .flat_map(|e| e.attributes.iter())
            .filter(|(k, _)| *k == "k8s.event.uid")
            .map(|(_, v)| v.to_string())
            .collect();
        uids.sort();
        (uids, c.stats().unselected)
    };
    assert_eq!(traced("app=web"), (vec!["e1".into(), "e2".into()], 2));
    assert_eq!(traced("app in (web,api),tier!=db"), (vec!["e1".into(), "e2".into()], 2));
    assert_eq!(traced("app=api"), (vec![], 3));
    assert_eq!(traced("!app"), (vec!["e3".into(), "e4".into()], 1));
    assert_eq!(traced("app notin (web)"), (vec!["e3".into(), "e4".into()], 1));
}

/// The Job `flaky`; the pod `flaky-b` of its retry, created 13 s in; and the
/// Job's copy once it completed, 16 s in.
fn a_flaky_job() -> (ObjectSeen, ObjectSeen, ObjectSeen) {
    let job = object(Kind::Job, "flaky", "j-1");
    let retry = object(Kind::Pod, "flaky-b", "p-b").owned_by(&job).created_at(T0 + 13 * SECOND);
    let complete = condition("Complete", "True", T0 + 16 * SECOND, None);
    let done = job.clone().version(5).with_conditions(vec![complete]);
    (job, retry, done)
}

#[test]
fn a_job_s_failed_pod_is_an_error_and_its_complete_condition_ends_the_job() {
    let (job, b, done) = a_flaky_job();
    let a = object(Kind::Pod, "flaky-a", "p-a").owned_by(&job);
    // The Job controller retries after 10 s: one episode holds both pods.
    let mut c = Correlator::new(Config { settle: 15 * SECOND, ..Config::default() });
    let mut spans = feed(
        &mut c,
        vec![
            seen(T0, job),
            created_pod("e1", (Kind::Job, "flaky"), "flaky-a", T0),
            seen(T0, a.clone()),
            on_pod("e2", "flaky-a", "Started", "Started container work", T0 + SECOND),
            seen(T0 + 3 * SECOND, a.ended("Failed", 3, T0 + 3 * SECOND)),
            created_pod("e3", (Kind::Job, "flaky"), "flaky-b", T0 + 13 * SECOND),
            seen(T0 + 13 * SECOND, b.clone()),
            on_pod("e4", "flaky-b", "Started", "Started container work", T0 + 14 * SECOND),
            seen(T0 + 16 * SECOND, b.ended("Succeeded", 0, T0 + 16 * SECOND)),
            seen(T0 + 16 * SECOND, done),
        ],
    );
    spans.extend(c.finish());
    let failed = holding(&spans, "e2");
    assert_eq!(failed.name, "Pod.Startup");
    assert_eq!(text(failed, "kspan.pod.phase"), "Failed");
    assert_eq!(
        failed.status,
        Status::Error("pod Failed: container work exited with code 3 (Error)".into())
    );
    assert_eq!(failed.end, T0 + 3 * SECOND, "the pod's span lasts until its container ended");
    let succeeded = holding(&spans, "e4");
    assert_eq!(
        (text(succeeded, "kspan.pod.phase").as_str(), &succeeded.status),
        ("Succeeded", &Status::Unset)
    );
    let root = root(&spans, failed);
    assert_eq!(root.name, "Job.Run");
    let complete = root.events.iter().find(|e| e.name == "Complete=True").expect("Complete=True");
    assert_eq!(complete.time, T0 + 16 * SECOND);
    assert_eq!(root.end, T0 + 16 * SECOND, "the Job ends when it completed");
    assert_eq!(root.status, Status::Unset);
    assert_eq!(text(root, "kspan.rollout.outcome"), "complete");
}

#[test]
fn a_cron_job_s_job_shows_how_it_ended_and_a_failed_job_is_an_error() {
    let cron = object(Kind::CronJob, "nightly", "c-1");
    let failed = condition("Failed", "True", T0 + 9 * SECOND, Some("BackoffLimitExceeded"));
    let job = object(Kind::Job, "nightly-1", "j-1").owned_by(&cron).with_conditions(vec![failed]);
    let spans = run(vec![
        seen(T0, cron),
        seen(T0, job),
        created_job("e1", "nightly", "nightly-1", T0),
        created_pod("e2", (Kind::Job, "nightly-1"), "nightly-1-aaa", T0 + SECOND),
    ]);
    let job = spans.iter().find(|s| s.name == "Job.Run").unwrap();
    assert_eq!(root(&spans, job).name, "CronJob.Run");
    let failed = job.events.iter().find(|e| e.name == "Failed=True").expect("Failed=True");
    assert_eq!(text_of(&failed.attributes, "k8s.condition.reason"), "BackoffLimitExceeded");
    assert_eq!(job.end, T0 + 9 * SECOND);
    assert!(matches!(&job.status, Status::Error(m) if m.starts_with("BackoffLimitExceeded")));
    assert_eq!(text(root(&spans, job), "kspan.rollout.outcome"), "failed");
}

/// A Deployment whose controller has seen its generation, halfway through: one of
/// two pods updated.
fn rolling(mut d: ObjectSeen) -> ObjectSeen {
    d.workload = Some(WorkloadStatus {
        observed_generation: d.generation,
        desired: Some(1),
        replicas: 2,
        updated: 1,
        ready: 1,
        available: 1,
    });
    d
}

#[test]
fn a_rollout_superseded_before_it_completed_is_an_error() {
    let (d, rs, _) = rollout_objects();
    let d3 = rolling(d.clone().generation(3, T0 + 2 * SECOND));
    let rs2 = object(Kind::ReplicaSet, "web-def", "rs-2").owned_by(&d);
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        scaled_up("e1", "web", "web-abc", 1, T0),
        seen(T0 + 2 * SECOND, d3),
        seen(T0 + 2 * SECOND, rs2),
        scaled_up("e2", "web", "web-def", 1, T0 + 3 * SECOND),
    ]);
    let first = root(&spans, holding(&spans, "e1"));
    assert_eq!(text(first, "kspan.rollout.generation"), "2");
    assert_eq!(text(first, "kspan.rollout.outcome"), "superseded");
    assert_eq!(
        first.status,
        Status::Error("superseded by generation 3 before it completed".into())
    );
    let second = root(&spans, holding(&spans, "e2"));
    assert_eq!(text(second, "kspan.rollout.outcome"), "in-progress");
    assert_eq!(second.status, Status::Unset);
}

/// The kubelet Warns why a pull failed, then echoes the container's waiting
/// reason ("Error: ErrImagePull", later "Error: ImagePullBackOff"): the span's
/// status keeps the reason why, whichever came first within the second.
#[test]
fn a_rollout_undone_before_it_completed_is_rolled_back() {
    // Revision 1 ran web-abc; generation 2 made web-def (revision 2); then
    // `kubectl rollout undo` (generation 3) gave web-abc the next revision, 3.
    let (d, _, _) = rollout_objects();
    let d = d.revision("2");
    let old = object(Kind::ReplicaSet, "web-abc", "rs-1").owned_by(&d).created_at(T0 - 60 * SECOND);
    let new = object(Kind::ReplicaSet, "web-def", "rs-2").owned_by(&d).created_at(T0);
    let undone = rolling(d.clone().generation(3, T0 + 2 * SECOND).revision("3"));
    let spans = run(vec![
        seen(T0, d),
        seen(T0, old.clone().revision("1")),
        seen(T0, new.clone().revision("2")),
        scaled_up("e1", "web", "web-def", 1, T0),
        seen(T0 + 2 * SECOND, undone),
        seen(T0 + 2 * SECOND, old.revision("3").version(2)),
        scaled_up("e2", "web", "web-abc", 1, T0 + 3 * SECOND),
    ]);
    let first = root(&spans, holding(&spans, "e1"));
    assert_eq!(text(first, "kspan.rollout.generation"), "2");
    assert_eq!(text(first, "kspan.rollout.outcome"), "rolled_back");
    assert_eq!(
        first.status,
        Status::Error(
            "rolled back by generation 3 to ReplicaSet web-abc (revision 3) before it completed"
                .into()
        )
    );
    let undo = root(&spans, holding(&spans, "e2"));
    assert_eq!(text(undo, "kspan.rollout.generation"), "3");
    assert_ne!(text(undo, "kspan.rollout.outcome"), "rolled_back");
}

#[test]
fn a_scale_superseded_by_an_undo_is_superseded_not_rolled_back() {
    // Generation 2 only scaled web-abc; it made no ReplicaSet that an undo could abandon.
    let (d, _, _) = rollout_objects();
    let d = d.revision("2");
    let old = object(Kind::ReplicaSet, "web-abc", "rs-1").owned_by(&d).created_at(T0 - 90 * SECOND);
    let other =
        object(Kind::ReplicaSet, "web-def", "rs-2").owned_by(&d).created_at(T0 - 60 * SECOND);
    let spans = run(vec![
        seen(T0, d.clone()),
        seen(T0, old.clone().revision("1")),
        seen(T0, other.revision("2")),
        scaled_up("e1", "web", "web-def", 2, T0),
        seen(T0 + 2 * SECOND, rolling(d.generation(3, T0 + 2 * SECOND).revision("3"))),
        seen(T0 + 2 * SECOND, old.revision("3").version(2)),
        scaled_up("e2", "web", "web-abc", 1, T0 + 3 * SECOND),
    ]);
    let first = root(&spans, holding(&spans, "e1"));
    assert_eq!(text(first, "kspan.rollout.outcome"), "superseded");
}

#[test]
fn a_failed_pull_s_status_says_why_not_the_waiting_reason() {
    let why = "Failed to pull image \"x:1\": registry.example/x:1: not found";
    let on = |uid: &str, message: &str, at: Nanos| {
        happened(warning(event(uid, (Kind::Pod, "web-abc-x1"), "Failed", message, at), 1, at))
    };
    for (first, second) in [("e1", "e2"), ("e2", "e1")] {
        let (d, rs, pod) = rollout_objects();
        let spans = run(vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod),
            on(first, why, T0),
            on(second, "Error: ErrImagePull", T0),
            on("e3", "Error: ImagePullBackOff", T0 + 2 * SECOND),
        ]);
        assert_eq!(holding(&spans, "e1").status, Status::Error(why.into()), "{first} first");
    }
}

/// A crash-looping container: the kubelet pulls its image once ("Successfully pulled
/// ... in 500ms"), then says "already present on machine" at every restart. The pull
/// span is that pull; the restarts' Pulled Events are on the container's start span.
#[test]
fn a_restarting_container_s_pull_span_is_its_one_real_pull() {
    let ms = 1_000_000;
    let main = |uid: &str, reason: &str, message: &str, at: Nanos| {
        happened(in_container(event(uid, (Kind::Pod, "web-abc-x1"), reason, message, at), "main"))
    };
    let (d, rs, pod) = rollout_objects();
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        main("p1", "Pulling", "Pulling image \"x:1\"", T0 + SECOND),
        main(
            "p2",
            "Pulled",
            "Successfully pulled image \"x:1\" in 500ms (500ms including waiting)",
            T0 + 1500 * ms,
        ),
        main("c1", "Created", "Container created", T0 + 1600 * ms),
        main("s1", "Started", "Container started", T0 + 1700 * ms),
        main("p3", "Pulled", "Container image \"x:1\" already present on machine", T0 + 4 * SECOND),
        main("c2", "Created", "Container created", T0 + 4100 * ms),
        main("s2", "Started", "Container started", T0 + 4200 * ms),
    ]);
    let pull = holding(&spans, "p2");
    assert_eq!(pull.name, "Pod.ImagePull");
    assert_eq!(
        (pull.start, pull.end),
        (T0 + SECOND, T0 + 1500 * ms),
        "the pull the kubelet measured"
    );
    assert_eq!(holding(&spans, "p1").span_id, pull.span_id);
    assert_eq!(
        holding(&spans, "p3").name,
        "Pod.ContainerStart",
        "a restart's Pulled is on the restarts' span"
    );
}

/// A StatefulSet's rolling update deletes a pod and creates it again once it is
/// gone, which takes its termination grace period; `replicas`: the StatefulSet's
/// spec.replicas as kspan-rs saw it, if it did.
fn a_stateful_pod_replaced_after(gone: Nanos, replicas: Option<i32>) -> Vec<SpanDraft> {
    let mut sts = object(Kind::StatefulSet, "db", "s-1").generation(2, T0);
    sts.workload = replicas.map(|r| WorkloadStatus { desired: Some(r), ..Default::default() });
    let delete = "delete Pod db-1 in StatefulSet db successful";
    let create = "create Pod db-1 in StatefulSet db successful";
    run(vec![
        seen(T0, sts),
        happened(event("e1", (Kind::StatefulSet, "db"), "SuccessfulDelete", delete, T0)),
        on_pod("e2", "db-1", "Killing", "Stopping container db", T0),
        happened(event("e3", (Kind::StatefulSet, "db"), "SuccessfulCreate", create, gone)),
    ])
}

#[test]
fn a_stateful_set_pod_being_replaced_keeps_its_rollout_open() {
    // 30 s of termination grace, more than the settle window: still one episode,
    // the root covering the pod's deletion and its creation.
    for replicas in [None, Some(2)] {
        let spans = a_stateful_pod_replaced_after(T0 + 30 * SECOND, replicas);
        let roots: Vec<&SpanDraft> =
            spans.iter().filter(|s| s.name == "StatefulSet.Rollout").collect();
        assert_eq!(roots.len(), 1, "{replicas:?}: {spans:#?}");
        let (root, created) = (roots[0], holding(&spans, "e3"));
        assert_eq!(created.parent, Some(root.span_id), "{replicas:?}");
        assert!(root.end >= created.end, "{replicas:?}: the root covers the new pod");
    }
    // Scaled down to one replica, db-1 is not created again: the rollout settles
    // without it, and a later create is a later episode under the same root.
    let spans = a_stateful_pod_replaced_after(T0 + 30 * SECOND, Some(1));
    let root = spans.iter().find(|s| s.name == "StatefulSet.Rollout").unwrap();
    assert!(root.end < T0 + 30 * SECOND, "{root:#?}");
    assert_eq!(holding(&spans, "e3").name, "Pod.Startup");
    assert!(holding(&spans, "e3").start > root.end);
}

#[test]
fn replica_set_and_stateful_set_conditions_are_on_their_spans() {
    let d = object(Kind::Deployment, "web", "d-1").generation(2, T0);
    let failure = condition("ReplicaFailure", "True", T0 + 2 * SECOND, Some("FailedCreate"));
    let rs =
        object(Kind::ReplicaSet, "web-abc", "rs-1").owned_by(&d).with_conditions(vec![failure]);
    let sts = object(Kind::StatefulSet, "db", "s-1")
        .generation(1, T0)
        .with_conditions(vec![condition("Ready", "True", T0 + 2 * SECOND, None)]);
    let message = "create Pod db-0 in StatefulSet db successful";
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, sts),
        scaled_up("e1", "web", "web-abc", 1, T0 + SECOND),
        happened(event("e2", (Kind::StatefulSet, "db"), "SuccessfulCreate", message, T0 + SECOND)),
    ]);
    let step = holding(&spans, "e1");
    assert_eq!(step.name, "ReplicaSet.ScaleUp");
    assert!(step.events.iter().any(|e| e.name == "ReplicaFailure=True"), "{step:#?}");
    let sts = root(&spans, holding(&spans, "e2"));
    assert_eq!(sts.name, "StatefulSet.Rollout");
    assert!(sts.events.iter().any(|e| e.name == "Ready=True"), "{sts:#?}");
}

#[test]
fn an_autoscaler_s_rescale_is_the_cause_of_the_deployment_s_scale() {
    let (d, rs, pod) = rollout_objects();
    // The autoscaler scales through the subresource: a new generation, no managedFields entry.
    let scaled = scaled_through_the_subresource(&d);
    let at = T0 + 30 * SECOND;
    let mut rescale = event(
        "h1",
        (Kind::HorizontalPodAutoscaler, "web"),
        "SuccessfulRescale",
        "New size: 4; reason: cpu resource utilization (percentage of request) above target",
        at,
    );
    rescale.component = "horizontal-pod-autoscaler".into();
    let no_metrics = "failed to get cpu utilization: unable to get metrics for resource cpu";
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        // The Event before the autoscaler's object: it waits for it.
        seen(at, scaled),
        happened(rescale),
        seen(at, hpa("web", (Kind::Deployment, "web"))),
        scaled_up("e1", "web", "web-abc", 4, at),
        seen(at, pod),
        created_pod("e2", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", at),
        happened(event(
            "h2",
            (Kind::HorizontalPodAutoscaler, "web"),
            "FailedGetResourceMetric",
            no_metrics,
            at + 40 * SECOND,
        )),
    ]);
    let cause = holding(&spans, "h1");
    assert_eq!(cause.name, "HorizontalPodAutoscaler.Rescale");
    assert_eq!(text(cause, "k8s.hpa.name"), "web");
    assert_eq!(text(cause, "k8s.hpa.scaletargetref.kind"), "Deployment");
    assert_eq!(text(cause, "k8s.hpa.scaletargetref.name"), "web");
    assert_eq!(cause.attribute("kspan.replicas.target"), Some(&Value::Int(4)));
    assert_eq!(
        text(cause, "kspan.rescale.reason"),
        "cpu resource utilization (percentage of request) above target"
    );
    let step = holding(&spans, "e1");
    assert_eq!(step.parent, Some(cause.span_id), "the scale step is the rescale's effect");
    let top = root(&spans, step);
    assert_eq!(top.name, "Deployment.Rollout");
    assert_eq!(cause.parent, Some(top.span_id));
    assert_eq!(top.attribute("kspan.rollout.generation"), Some(&Value::Int(3)));
    assert_eq!(text(top, "kspan.change.cause"), "HorizontalPodAutoscaler/web");
    assert_eq!(holding(&spans, "e2").trace_id, top.trace_id);
    // Its other Events stay on the autoscaler's own trace.
    let other = holding(&spans, "h2");
    assert_eq!(root(&spans, other).name, "HorizontalPodAutoscaler.Activity");
    assert_ne!(other.trace_id, top.trace_id);
    assert_eq!(
        spans.iter().filter(|s| s.events.iter().any(|e| e.name == "SuccessfulRescale")).count(),
        1
    );
}

#[test]
fn a_pod_span_links_to_its_node_s_trouble_during_its_life() {
    let (d, rs, pod) = rollout_objects();
    let at = T0 + 10 * SECOND;
    let eviction = "Marking for deletion Pod default/web-abc-x1";
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod.on_node("node-1")),
        created_pod("e1", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0),
        scheduled("e2", "web-abc-x1", "node-1", T0),
        node_status("n1", "node-1", "NodeNotReady", at),
        on_pod("e3", "web-abc-x1", "NodeNotReady", "Node is not ready", at),
        on_pod("e4", "web-abc-x1", "TaintManagerEviction", eviction, at + SECOND),
        // Trouble on another node, and long after: no link.
        node_status("n2", "node-2", "NodeNotReady", at),
    ]);
    let node = holding(&spans, "n1");
    assert_eq!(node.name, "Node.Activity");
    assert!(node.parent.is_none());
    let linked: Vec<&SpanDraft> = spans.iter().filter(|s| !s.links.is_empty()).collect();
    assert!(!linked.is_empty(), "{spans:#?}");
    for s in &linked {
        assert!(s.name.starts_with("Pod."), "{}", s.name);
        assert_eq!(s.links.len(), 1, "{s:#?}");
        let link = &s.links[0];
        assert_eq!((link.trace_id, link.span_id), (node.trace_id, node.span_id));
        assert_eq!(text_of(&link.attributes, "k8s.node.name"), "node-1");
        assert_eq!(text_of(&link.attributes, "k8s.event.reason"), "NodeNotReady");
    }
    // The eviction's span: the pod's end, linked to the node that went away.
    let ending = holding(&spans, "e4");
    assert_eq!(ending.name, "Pod.Termination");
    assert_eq!(ending.links.len(), 1);
    // Each Event once.
    for uid in ["e1", "e2", "e3", "e4", "n1", "n2"] {
        let n = spans
            .iter()
            .flat_map(|s| &s.events)
            .filter(|e| text_of(&e.attributes, "k8s.event.uid") == uid)
            .count();
        assert_eq!(n, 1, "{uid}");
    }
}

#[test]
fn a_link_to_a_node_episode_still_open_names_the_trace_it_will_have() {
    let (d, rs, pod) = rollout_objects();
    let mut c = Correlator::new(Config::default());
    let mut spans = feed(
        &mut c,
        vec![
            seen(T0, d),
            seen(T0, rs),
            seen(T0, pod.on_node("node-1")),
            on_pod("e1", "web-abc-x1", "Started", "Started container", T0),
            node_status("n1", "node-1", "NodeNotReady", T0 + SECOND),
            // The pod's episode settles while the node's is kept open by more of its events.
            tick(T0 + 6 * SECOND + 1),
        ],
    );
    let pod_span = holding(&spans, "e1").clone();
    assert_eq!(pod_span.links.len(), 1, "{spans:#?}");
    spans.extend(feed(
        &mut c,
        vec![node_status("n2", "node-1", "NodeNotSchedulable", T0 + 6 * SECOND + 2)],
    ));
    spans.extend(c.finish());
    let node = holding(&spans, "n1");
    assert_eq!(
        (pod_span.links[0].trace_id, pod_span.links[0].span_id),
        (node.trace_id, node.span_id)
    );
}

#[test]
fn a_job_that_completes_after_its_root_was_emitted_shows_it_on_its_later_activity() {
    let (job, b, done) = a_flaky_job();
    // Default settle (5 s): the retry 13 s later is a second episode of the same run.
    let spans = run(vec![
        seen(T0, job),
        created_pod("e1", (Kind::Job, "flaky"), "flaky-a", T0),
        scheduled("e1s", "flaky-a", "node-1", T0),
        on_pod("e1t", "flaky-a", "Started", "Started container work", T0 + SECOND),
        created_pod("e2", (Kind::Job, "flaky"), "flaky-b", T0 + 13 * SECOND),
        seen(T0 + 13 * SECOND, b.clone()),
        seen(T0 + 16 * SECOND, b.ended("Succeeded", 0, T0 + 16 * SECOND)),
        seen(T0 + 16 * SECOND, done),
    ]);
    let roots: Vec<&SpanDraft> = spans.iter().filter(|s| s.name == "Job.Run").collect();
    assert_eq!(roots.len(), 1, "one root: {spans:#?}");
    assert!(
        roots[0].events.iter().all(|e| e.name != "Complete=True"),
        "not known when it was emitted"
    );
    let later: Vec<&SpanDraft> = spans.iter().filter(|s| s.name == "Job.Activity").collect();
    assert_eq!(later.len(), 1, "{spans:#?}");
    assert_eq!(later[0].parent, Some(roots[0].span_id));
    assert_eq!(later[0].events.iter().filter(|e| e.name == "Complete=True").count(), 1);
    // Seen at one instant: it lasts a microsecond, so viewers draw it.
    assert_eq!((later[0].start, later[0].end), (T0 + 16 * SECOND, T0 + 16 * SECOND + INSTANT));
}

/// A volume that cannot be mounted: the pod's span is in Error with the kubelet's
/// last message, and the repeated Event is one record with its count.
#[test]
fn a_failed_mount_puts_the_pod_span_in_error_with_its_count() {
    let (d, rs, pod) = rollout_objects();
    let message = r#"MountVolume.SetUp failed for volume "data" : secret "db" not found"#;
    let failed_mount =
        event("e3", (Kind::Pod, "web-abc-x1"), "FailedMount", message, T0 + 40 * SECOND);
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        created_pod("e1", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0),
        scheduled("e2", "web-abc-x1", "n1", T0 + SECOND),
        happened(warning(failed_mount, 4, T0 + 2 * SECOND)),
    ]);
    let mount = holding(&spans, "e3");
    assert_eq!(mount.name, "Pod.VolumeMount");
    // From the kubelet taking the pod to the last failure seen.
    assert_eq!((mount.start, mount.end), (T0 + SECOND, T0 + 40 * SECOND));
    assert_eq!(text(mount, "k8s.pod.name"), "web-abc-x1");
    assert_eq!(mount.status, Status::Error(message.into()));
    let records: Vec<_> = spans
        .iter()
        .flat_map(|s| &s.events)
        .filter(|e| {
            e.attributes.iter().any(|(k, v)| *k == "k8s.event.uid" && v.to_string() == "e3")
        })
        .collect();
    assert_eq!(records.len(), 1, "one record for the repeated Event");
    let count = records[0].attributes.iter().find(|(k, _)| *k == "k8s.event.count");
    assert_eq!(count.map(|(_, v)| v.to_string()), Some("4".into()));
    assert_eq!(root(&spans, mount).name, "Deployment.Rollout");
}

/// A rollout past its progressDeadlineSeconds: the Deployment's Progressing
/// condition says so, and the root span is a failed rollout in Error.
#[test]
fn a_rollout_past_its_progress_deadline_is_a_failed_root() {
    let (d, rs, pod) = rollout_objects();
    let deadline =
        condition("Progressing", "False", T0 + 9 * SECOND, Some("ProgressDeadlineExceeded"));
    let mut d = d.with_conditions(vec![deadline]);
    d.workload = Some(WorkloadStatus {
        observed_generation: Some(2),
        desired: Some(2),
        replicas: 2,
        updated: 1,
        ready: 1,
        available: 1,
    });
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        scaled_up("e1", "web", "web-abc", 2, T0),
    ]);
    let top = root(&spans, holding(&spans, "e1"));
    assert_eq!(top.name, "Deployment.Rollout");
    assert_eq!(text(top, "kspan.rollout.outcome"), "progress_deadline_exceeded");
    assert!(
        matches!(&top.status, Status::Error(m) if m.starts_with("ProgressDeadlineExceeded")),
        "{:?}",
        top.status
    );
}

/// The rollout's objects; its pod scheduled at `T0`, its container started a second
/// later, and running from then (`started`) without being Ready yet.
fn a_pod_starting(started: Nanos) -> (Vec<Observation>, ObjectSeen) {
    let (d, rs, pod) = rollout_objects();
    let startup = in_container(
        event("s2", (Kind::Pod, "web-abc-x1"), "Started", "Started container main", T0 + SECOND),
        "main",
    );
    let observations = vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod.clone()),
        scheduled("s1", "web-abc-x1", "node-1", T0),
        happened(startup),
        seen(started, pod.clone().running(2, started, None)),
    ];
    (observations, pod)
}

#[test]
fn a_pod_waiting_longer_than_settle_for_its_readiness_probe_keeps_its_rollout_open() {
    let started = T0 + SECOND;
    let ready = started + 20 * SECOND; // four settle windows of quiet
    let (mut observations, pod) = a_pod_starting(started);
    let mut c = Correlator::new(Config::default());
    observations.push(tick(ready - SECOND));
    let early = feed(&mut c, observations);
    assert!(early.is_empty(), "nothing is finished while the probe is under way: {early:#?}");
    let mut spans = feed(
        &mut c,
        vec![seen(ready, pod.running(3, started, Some(ready))), tick(ready + 6 * SECOND)],
    );
    assert!(!spans.is_empty(), "settled once Ready");
    spans.extend(c.finish());
    let readiness = spans.iter().find(|s| s.name == "Pod.Readiness").expect("a readiness span");
    assert_eq!((readiness.start, readiness.end), (started, ready));
    let traces: std::collections::BTreeSet<_> = spans.iter().map(|s| s.trace_id).collect();
    assert_eq!(traces.len(), 1, "one trace: {spans:#?}");
}

#[test]
fn a_pod_whose_probe_fails_does_not_hold_its_rollout_open() {
    let started = T0 + SECOND;
    let (mut observations, pod) = a_pod_starting(started);
    let mut c = Correlator::new(Config::default());
    let mut unhealthy = event(
        "u1",
        (Kind::Pod, "web-abc-x1"),
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        started + SECOND,
    );
    unhealthy.kind = "Warning".into();
    observations.push(happened(unhealthy));
    // Still not Ready after the warning: it does not reopen the wait.
    observations.push(seen(started + 2 * SECOND, pod.running(3, started, None)));
    observations.push(tick(started + 8 * SECOND));
    let spans = feed(&mut c, observations);
    assert!(
        spans.iter().any(|s| s.name == "Pod.Readiness" && matches!(s.status, Status::Error(_))),
        "settled after the quiet window, its readiness an Error: {spans:#?}"
    );
}

#[test]
fn whole_second_stamps_are_dated_by_their_arrival_within_or_just_past_their_second() {
    let (d, rs, pod) = rollout_objects();
    let on_main = |uid: &str, reason: &str, at: Nanos| {
        in_container(event(uid, (Kind::Pod, "web-abc-x1"), reason, reason, at), "main")
    };
    let created = on_main("c1", "Created", T0 + 10 * SECOND);
    let started = on_main("s1", "Started", T0 + 12 * SECOND);
    // Stamped 14 s, became Ready at the end of that second, its update seen 30 ms later.
    let ready = T0 + 14 * SECOND;
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod.clone()),
        arriving(T0 + 10 * SECOND + SECOND / 2, created),
        arriving(T0 + 13 * SECOND + 20_000_000, started),
        seen(ready + SECOND + 30_000_000, pod.running(2, T0 + 12 * SECOND, Some(ready))),
    ]);
    let named =
        |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name}"));
    let start = named("Pod.ContainerStart");
    // Created arrived within its second: that instant. Started arrived 20 ms into
    // the next second: it happened at its own second's end, not at its start.
    assert_eq!((start.start, start.end), (T0 + 10 * SECOND + SECOND / 2, T0 + 13 * SECOND - 1));
    let readiness = named("Pod.Readiness");
    assert_eq!((readiness.start, readiness.end), (T0 + 13 * SECOND - 1, ready + SECOND - 1));
}

#[test]
fn a_stamp_seen_long_after_its_second_keeps_its_own_time() {
    let (d, rs, pod) = rollout_objects();
    let pulled = event("p1", (Kind::Pod, "web-abc-x1"), "Pulled", "cached", T0 + 2 * SECOND);
    let spans =
        run(vec![seen(T0, d), seen(T0, rs), seen(T0, pod), arriving(T0 + 5 * SECOND, pulled)]);
    let placed = holding(&spans, "p1").events.iter().find(|e| e.name == "Pulled").unwrap();
    assert_eq!(placed.time, T0 + 2 * SECOND);
}

/// The StatefulSet is not in the dump: its pods' ownerReferences name it.
#[test]
fn a_stateful_set_known_only_by_its_pods_owner_references_carries_their_uid() {
    let sts = object(Kind::StatefulSet, "ingester", "sts-1");
    let pod = object(Kind::Pod, "ingester-0", "p-1").owned_by(&sts);
    let create = "create Pod ingester-0 in StatefulSet ingester successful";
    let spans = run(vec![
        seen(T0, pod),
        happened(event("e1", (Kind::StatefulSet, "ingester"), "SuccessfulCreate", create, T0)),
        on_pod("e2", "ingester-0", "Started", "Started container ingester", T0 + SECOND),
    ]);
    let top = root(&spans, holding(&spans, "e2"));
    assert_eq!(top.name, "StatefulSet.Rollout");
    assert_eq!(text(top, "k8s.statefulset.name"), "ingester");
    assert_eq!(text(top, "k8s.statefulset.uid"), "sts-1");
}

/// Deleted before the dump, the ReplicaSet is told by its own Events' involvedObject.
#[test]
fn a_replica_set_gone_before_the_dump_carries_the_uid_its_events_name() {
    let (d, _, _) = rollout_objects();
    let rs = (Kind::ReplicaSet, "web-old");
    let created = event("e2", rs, "SuccessfulCreate", "Created pod: web-old-x1", T0 + 1);
    let spans = run(vec![
        seen(T0, d),
        scaled_up("e1", "web", "web-old", 1, T0),
        happened(reported(created, "replicaset-controller", "rs-9")),
    ]);
    let step = holding(&spans, "e1");
    assert_eq!(step.name, "ReplicaSet.ScaleUp");
    assert_eq!(text(step, "k8s.replicaset.name"), "web-old");
    assert_eq!(text(step, "k8s.replicaset.uid"), "rs-9");
}

/// A kubelet puts a Node's name where its uid goes: that identifies nothing.
#[test]
fn a_node_named_in_place_of_its_uid_has_no_uid() {
    let message = "Node node-1 status is now: NodeNotReady";
    let mut e = event("e1", (Kind::Node, "node-1"), "NodeNotReady", message, T0);
    e.involved.key.namespace = Default::default();
    let spans = run(vec![happened(reported(e, "kubelet", "node-1"))]);
    let node = holding(&spans, "e1");
    assert_eq!(node.name, "Node.Activity");
    assert_eq!(text(node, "k8s.node.name"), "node-1");
    assert_eq!(node.attribute("k8s.node.uid"), None);
}

/// minikube's hostpath provisioner reports under one process instance's name.
#[test]
fn a_rollout_root_is_its_controller_s_service_whoever_reported() {
    let instance = "k8s.io/minikube-hostpath_minikube_072e4558-5ba2-4e1b-9d6c-0c6f1c0e1a3b";
    let claim = || (Kind::PersistentVolumeClaim, "data");
    let provisioning = "External provisioner is provisioning volume for claim \"default/data\"";
    let done = "Successfully provisioned volume pvc-2f1c";
    let started = event("e1", claim(), "Provisioning", provisioning, T0);
    let succeeded = event("e2", claim(), "ProvisioningSucceeded", done, T0 + 1);
    let spans = run(vec![
        happened(reported(started, instance, "c-1")),
        happened(reported(succeeded, instance, "c-1")),
    ]);
    let top = root(&spans, holding(&spans, "e2"));
    assert_eq!(top.service, "persistentvolume-controller");
    assert_eq!(text(top, "k8s.persistentvolumeclaim.uid"), "c-1");

    let (d, rs, pod) = rollout_objects();
    let scaled = "Scaled up replica set web-abc to 1";
    let scale = event("e3", (Kind::Deployment, "web"), "ScalingReplicaSet", scaled, T0);
    let spans = run(vec![
        seen(T0, d),
        seen(T0, rs),
        seen(T0, pod),
        happened(reported(scale, "my-operator", "d-1")),
        created_pod("e4", (Kind::ReplicaSet, "web-abc"), "web-abc-x1", T0 + 1),
    ]);
    let top = root(&spans, holding(&spans, "e4"));
    assert_eq!(top.name, "Deployment.Rollout");
    assert_eq!(top.service, "deployment-controller");
    assert_eq!(holding(&spans, "e3").service, "my-operator", "a step is its reporter's");
}

// A pipeline's traceparent annotation, and the history of rollouts as links.

const PIPELINE_1: &str = "00-11111111111111111111111111111111-1111111111111111-01";
const PIPELINE_2: &str = "00-22222222222222222222222222222222-2222222222222222-01";

/// Generation `g` of Deployment `web`, changed at `T0 + g minutes`, annotated
/// with `traceparent` (and whether that change wrote it), with the observations
/// of its rollout: the Deployment scales up ReplicaSet `web-<g>`.
fn deployment_rollout(g: i64, traceparent: Option<(&str, bool)>) -> Vec<Observation> {
    let at = T0 + g * 60 * SECOND;
    let mut d = deployment().generation(g, at);
    if let Some((value, written)) = traceparent {
        d = d.traceparent(value, written);
    }
    let rs = object(Kind::ReplicaSet, &format!("web-{g}"), &format!("rs-{g}")).owned_by(&d);
    vec![
        seen(at, d),
        seen(at, rs),
        scaled_up(&format!("e{g}"), "web", &format!("web-{g}"), 1, at + SECOND),
    ]
}

fn deployment() -> ObjectSeen {
    object(Kind::Deployment, "web", "d-1")
}

/// The root of generation `g`'s rollout.
fn rollout_root(spans: &[SpanDraft], g: i64) -> &SpanDraft {
    spans
        .iter()
        .find(|s| {
            s.name == "Deployment.Rollout" && text(s, "kspan.rollout.generation") == g.to_string()
        })
        .unwrap_or_else(|| panic!("no root of generation {g}: {spans:#?}"))
}

/// The links of `s` of type `kind`: (trace id, span id) in hex.
fn links_of(s: &SpanDraft, kind: &str) -> Vec<(String, String)> {
    s.links
        .iter()
        .filter(|l| text_of(&l.attributes, "kspan.link.type") == kind)
        .map(|l| (kspan::span::hex(&l.trace_id), kspan::span::hex(&l.span_id)))
        .collect()
}

fn ids(s: &SpanDraft) -> (String, String) {
    (kspan::span::hex(&s.trace_id), kspan::span::hex(&s.span_id))
}

fn pipeline(value: &str) -> (String, String) {
    let fields: Vec<&str> = value.split('-').collect();
    (fields[1].to_string(), fields[2].to_string())
}

#[test]
fn a_rollout_links_to_the_pipeline_whose_change_started_it_and_to_the_previous_rollout() {
    let spans = run([
        deployment_rollout(1, Some((PIPELINE_1, true))),
        deployment_rollout(2, Some((PIPELINE_2, true))),
        // Scaled later: the annotation of the last apply is still there.
        deployment_rollout(3, Some((PIPELINE_2, true))),
    ]
    .concat());
    let (first, second, third) =
        (rollout_root(&spans, 1), rollout_root(&spans, 2), rollout_root(&spans, 3));
    assert_eq!(links_of(first, "ci"), vec![pipeline(PIPELINE_1)]);
    assert_eq!(links_of(first, "previous"), vec![], "the first rollout kspan-rs saw");
    assert_eq!(links_of(second, "ci"), vec![pipeline(PIPELINE_2)]);
    assert_eq!(links_of(second, "previous"), vec![ids(first)]);
    assert_eq!(links_of(third, "ci"), vec![], "a leftover annotation: {:?}", third.links);
    assert_eq!(links_of(third, "previous"), vec![ids(second)]);
    assert!(spans
        .iter()
        .all(|s| s.parent.is_none() || s.links.is_empty() || s.name != "Deployment.Rollout"));
}

#[test]
fn the_first_generation_seen_honours_the_annotation_only_when_its_spec_change_wrote_it() {
    // kspan-rs started after both: the newest spec change (kubectl scale's
    // entry, or set image) does not own the annotation an earlier apply wrote.
    let left = run(deployment_rollout(4, Some((PIPELINE_1, false))));
    assert_eq!(rollout_root(&left, 4).links, vec![]);
    let written = run(deployment_rollout(4, Some((PIPELINE_1, true))));
    assert_eq!(links_of(rollout_root(&written, 4), "ci"), vec![pipeline(PIPELINE_1)]);
}

#[test]
fn an_annotation_written_before_the_spec_change_is_honoured_by_the_generation_it_precedes() {
    // The pipeline annotates, then changes the image: the earliest copy of
    // generation 2 carries the new value, generation 1's earliest copy did not.
    let d1 = deployment().generation(1, T0 + 60 * SECOND);
    let annotated = d1.clone().version(5).traceparent(PIPELINE_2, false);
    let mut observations = deployment_rollout(1, None);
    observations.push(seen(T0 + 100 * SECOND, annotated));
    observations.extend(deployment_rollout(2, Some((PIPELINE_2, false))));
    let spans = run(observations);
    assert_eq!(links_of(rollout_root(&spans, 2), "ci"), vec![pipeline(PIPELINE_2)]);
    assert_eq!(links_of(rollout_root(&spans, 1), "ci"), vec![]);
}

#[test]
fn with_parent_mode_the_rollout_joins_the_pipelines_trace() {
    let config = Config { traceparent: TraceparentMode::Parent, ..Config::default() };
    let mut c = Correlator::new(config);
    let mut spans = feed(
        &mut c,
        [
            deployment_rollout(1, Some((PIPELINE_1, true))),
            deployment_rollout(2, Some((PIPELINE_2, true))),
            deployment_rollout(3, Some((PIPELINE_2, true))),
        ]
        .concat(),
    );
    spans.extend(c.finish());
    let (first, second, third) =
        (rollout_root(&spans, 1), rollout_root(&spans, 2), rollout_root(&spans, 3));
    let (trace, span) = pipeline(PIPELINE_1);
    assert_eq!(kspan::span::hex(&first.trace_id), trace);
    assert_eq!(first.parent.map(|p| kspan::span::hex(&p)), Some(span));
    assert_eq!(links_of(first, "ci"), vec![], "a child, not a link");
    let step = holding(&spans, "e1");
    assert_eq!(
        step.trace_id, first.trace_id,
        "every span of the rollout is in the pipeline's trace"
    );
    assert_eq!(step.parent, Some(first.span_id));
    assert_eq!(kspan::span::hex(&second.trace_id), pipeline(PIPELINE_2).0);
    assert_eq!(links_of(second, "previous"), vec![ids(first)], "the previous root as exported");
    assert_eq!(third.parent, None, "the leftover annotation: a trace of its own");
    assert_eq!(links_of(third, "previous"), vec![ids(second)]);
    let default = run(deployment_rollout(1, Some((PIPELINE_1, true))));
    let own = rollout_root(&default, 1);
    assert_eq!(own.span_id, first.span_id, "span ids derive from the rollout, whatever its trace");
    assert_ne!(own.trace_id, first.trace_id);
}

#[test]
fn a_malformed_traceparent_is_ignored_and_counted_once() {
    let mut c = Correlator::new(Config::default());
    let bad = "00-not-a-traceparent";
    let mut observations = deployment_rollout(1, Some((bad, true)));
    observations.push(seen(
        T0 + 90 * SECOND,
        deployment().generation(1, T0 + 60 * SECOND).version(7).traceparent(bad, true),
    ));
    let mut spans = feed(&mut c, observations);
    spans.extend(c.finish());
    assert_eq!(rollout_root(&spans, 1).links, vec![]);
    assert_eq!(c.stats().traceparent_invalid, 1, "one object, one value");
    spans.extend(feed(&mut c, deployment_rollout(2, Some(("", true)))));
    assert_eq!(c.stats().traceparent_invalid, 2, "another value");
}

/// A replica that saw the Events arrive (each dated within its stamped second by its
/// arrival) and one that listed them later (the stamps alone: a standby replica
/// started since, a restart) derive the same span ids, so a trace sent by both is
/// one trace, not two copies of each span.
#[test]
fn a_replica_listing_the_events_later_derives_the_same_span_ids() {
    let (d, rs, pod) = rollout_objects();
    // Stamped in one second; the uids sort against the order they happened in.
    let events = [
        event(
            "e4",
            (Kind::Deployment, "web"),
            "ScalingReplicaSet",
            "Scaled up replica set web-abc to 1",
            T0,
        ),
        event(
            "e3",
            (Kind::ReplicaSet, "web-abc"),
            "SuccessfulCreate",
            "Created pod: web-abc-x1",
            T0,
        ),
        event(
            "e2",
            (Kind::Pod, "web-abc-x1"),
            "Scheduled",
            "Successfully assigned default/web-abc-x1 to n1",
            T0,
        ),
        event(
            "e1",
            (Kind::Pod, "web-abc-x1"),
            "Pulled",
            "Container image \"web:1\" already present on machine",
            T0,
        ),
    ];
    let replica = |arrival: &dyn Fn(Nanos) -> Nanos| {
        let mut observations: Vec<Observation> =
            [&d, &rs, &pod].into_iter().map(|o| seen(arrival(0), o.clone())).collect();
        let times = (1..).map(|i| arrival(i * 100_000_000));
        observations.extend(events.iter().zip(times).map(|(e, at)| arriving(at, e.clone())));
        let mut ids: Vec<_> = run(observations).into_iter().map(|s| (s.name, s.span_id)).collect();
        ids.sort();
        ids
    };
    let live = replica(&|since| T0 + since);
    assert!(live.iter().any(|(name, _)| *name == "Pod.Startup"), "{live:?}");
    assert_eq!(replica(&|_| T0 + 300 * SECOND), live);
}
