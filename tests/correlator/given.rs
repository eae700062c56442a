//! Small builders for the correlator's inputs: objects, Events, and the runs
//! that feed them.

use kspan::correlate::{Config, Correlator};
use kspan::observe::{
    Condition, ContainerStatus, Ended, EventSeen, Involved, Kind, ObjectKey, ObjectSeen,
    Observation, Observed, OwnerRef, PodStatus, SpecChange,
};
use kspan::span::{SpanDraft, Value};
use kspan::time::{Nanos, SECOND};

pub const T0: Nanos = 1_700_000_000 * SECOND;

/// An object in namespace `default`, created at `T0`, with nothing else known.
pub fn object(kind: Kind, name: &str, uid: &str) -> ObjectSeen {
    ObjectSeen {
        key: ObjectKey::new(kind, "default", name),
        uid: uid.into(),
        generation: None,
        resource_version: None,
        created: Some(T0),
        deleting: None,
        owners: Vec::new(),
        spec_change: None,
        annotations: None,
        conditions: Vec::new(),
        pod: None,
        workload: None,
        labels: Vec::new(),
        scale_target: None,
    }
}

/// Deployment -> ReplicaSet -> Pod by owner references.
pub fn rollout_objects() -> (ObjectSeen, ObjectSeen, ObjectSeen) {
    let d = object(Kind::Deployment, "web", "d-1").generation(2, T0);
    let rs = object(Kind::ReplicaSet, "web-abc", "rs-1").owned_by(&d);
    let pod = object(Kind::Pod, "web-abc-x1", "p-1").owned_by(&rs);
    (d, rs, pod)
}

/// A HorizontalPodAutoscaler scaling `target`.
pub fn hpa(name: &str, target: (Kind, &str)) -> ObjectSeen {
    let mut h = object(Kind::HorizontalPodAutoscaler, name, "hpa-1");
    h.scale_target = Some(Box::new(ObjectKey::new(target.0, "default", target.1)));
    h
}

pub fn condition(kind: &str, status: &str, at: Nanos, reason: Option<&str>) -> Condition {
    Condition {
        kind: kind.into(),
        status: status.into(),
        at: Some(at),
        reason: reason.map(Into::into),
    }
}

/// Changes to an object, each returning the changed copy.
pub trait ObjectBuilder: Sized {
    fn owned_by(self, owner: &ObjectSeen) -> Self;
    /// Generation `g` (and resourceVersion `g`), its spec changed by kubectl at `changed_at`.
    fn generation(self, g: i64, changed_at: Nanos) -> Self;
    fn created_at(self, at: Nanos) -> Self;
    /// The deployment controller's `deployment.kubernetes.io/revision` annotation.
    fn revision(self, revision: &str) -> Self;
    /// A newer copy: resourceVersion `rv`.
    fn version(self, rv: u64) -> Self;
    fn with_conditions(self, conditions: Vec<Condition>) -> Self;
    /// A pod whose only container ended (restartPolicy Never).
    fn ended(self, phase: &str, exit_code: i32, at: Nanos) -> Self;
    /// A pod running, Ready at `ready`, else its readiness probe not passed yet (Ready=False).
    fn running(self, rv: u64, started: Nanos, ready: Option<Nanos>) -> Self;
    /// A pod placed on `node`, nothing else of its status known.
    fn on_node(self, node: &str) -> Self;
    /// Annotated with a pipeline's traceparent; `written` when the managedFields
    /// entry that changed the spec owns the annotation too.
    fn traceparent(self, value: &str, written: bool) -> Self;
}

impl ObjectBuilder for ObjectSeen {
    fn owned_by(mut self, owner: &ObjectSeen) -> Self {
        self.owners.push(OwnerRef {
            kind: owner.key.kind.clone(),
            name: owner.key.name.clone(),
            uid: owner.uid.clone(),
            controller: true,
        });
        self
    }

    fn generation(mut self, g: i64, changed_at: Nanos) -> Self {
        self.generation = Some(g);
        self.resource_version = Some(g as u64);
        self.spec_change = Some(Box::new(SpecChange {
            manager: "kubectl".into(),
            operation: "Update".into(),
            at: Some(changed_at),
            owns_traceparent: false,
        }));
        self
    }

    fn created_at(mut self, at: Nanos) -> Self {
        self.created = Some(at);
        self
    }

    fn revision(mut self, revision: &str) -> Self {
        self.annotations.get_or_insert_with(Box::default).revision = Some(revision.into());
        self
    }

    fn version(mut self, rv: u64) -> Self {
        self.resource_version = Some(rv);
        self
    }

    fn with_conditions(mut self, conditions: Vec<Condition>) -> Self {
        self.conditions = conditions;
        self
    }

    fn ended(mut self, phase: &str, exit_code: i32, at: Nanos) -> Self {
        self.resource_version = Some(9);
        self.pod = Some(PodStatus {
            node: Some("node-1".into()),
            phase: Some(phase.into()),
            containers: vec![ContainerStatus {
                name: "work".into(),
                ended: Some(Box::new(Ended {
                    exit_code,
                    reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                    message: None,
                    at: Some(at),
                })),
                ..Default::default()
            }],
            ..Default::default()
        });
        self
    }

    fn running(mut self, rv: u64, started: Nanos, ready: Option<Nanos>) -> Self {
        self.resource_version = Some(rv);
        self.pod = Some(PodStatus {
            node: Some("node-1".into()),
            phase: Some("Running".into()),
            started: Some(started),
            ..Default::default()
        });
        self.conditions = vec![match ready {
            Some(at) => condition("Ready", "True", at, None),
            None => condition("Ready", "False", started, Some("ContainersNotReady")),
        }];
        self
    }

    fn on_node(mut self, node: &str) -> Self {
        self.pod = Some(PodStatus { node: Some(node.into()), ..Default::default() });
        self
    }

    fn traceparent(mut self, value: &str, written: bool) -> Self {
        self.annotations.get_or_insert_with(Box::default).traceparent = Some(value.into());
        if let Some(change) = &mut self.spec_change {
            change.owns_traceparent = written;
        }
        self
    }
}

/// A Normal Event from component `test`, about an object in namespace `default`, once at `at`.
pub fn event(uid: &str, about: (Kind, &str), reason: &str, message: &str, at: Nanos) -> EventSeen {
    EventSeen {
        uid: uid.into(),
        name: format!("{}.{uid}", about.1),
        namespace: "default".into(),
        reason: reason.into(),
        kind: "Normal".into(),
        message: message.into(),
        count: 1,
        first: Some(at),
        last: Some(at),
        involved: Involved {
            key: ObjectKey::new(about.0, "default", about.1),
            uid: None,
            field_path: None,
        },
        component: "test".into(),
        host: None,
        top_level: false,
    }
}

/// The Event as `component` reported it, naming its subject's uid (involvedObject.uid).
pub fn reported(mut e: EventSeen, component: &str, subject_uid: &str) -> EventSeen {
    e.component = component.into();
    e.involved.uid = Some(subject_uid.into());
    e
}

/// A Warning Event repeated `count` times since `first`.
pub fn warning(mut e: EventSeen, count: i32, first: Nanos) -> EventSeen {
    e.kind = "Warning".into();
    e.count = count;
    e.first = Some(first);
    e
}

/// An Event about its container `name` (its field path `spec.containers{name}`).
pub fn in_container(mut e: EventSeen, name: &str) -> EventSeen {
    e.involved.field_path = Some(format!("spec.containers{{{name}}}").into());
    e
}

/// The node-controller's Event that a node's status is now `reason` (nodes have no namespace).
pub fn node_status(uid: &str, node: &str, reason: &str, at: Nanos) -> Observation {
    let message = format!("Node {node} status is now: {reason}");
    let mut e = event(uid, (Kind::Node, node), reason, &message, at);
    e.involved.key.namespace = Default::default();
    e.component = "node-controller".into();
    happened(e)
}

/// An Event about a pod, arriving at its time.
pub fn on_pod(uid: &str, pod: &str, reason: &str, message: &str, at: Nanos) -> Observation {
    happened(event(uid, (Kind::Pod, pod), reason, message, at))
}

/// The scheduler put `pod` on `node`.
pub fn scheduled(uid: &str, pod: &str, node: &str, at: Nanos) -> Observation {
    let message = format!("Successfully assigned default/{pod} to {node}");
    on_pod(uid, pod, "Scheduled", &message, at)
}

/// The Deployment scaled its ReplicaSet `rs` up to `n` pods.
pub fn scaled_up(uid: &str, deployment: &str, rs: &str, n: i64, at: Nanos) -> Observation {
    let message = format!("Scaled up replica set {rs} to {n}");
    happened(event(uid, (Kind::Deployment, deployment), "ScalingReplicaSet", &message, at))
}

/// A ReplicaSet's or Job's controller created `pod`.
pub fn created_pod(uid: &str, by: (Kind, &str), pod: &str, at: Nanos) -> Observation {
    happened(event(uid, by, "SuccessfulCreate", &format!("Created pod: {pod}"), at))
}

/// A CronJob started its Job `job`.
pub fn created_job(uid: &str, cron_job: &str, job: &str, at: Nanos) -> Observation {
    let message = format!("Created job {job}");
    happened(event(uid, (Kind::CronJob, cron_job), "SuccessfulCreate", &message, at))
}

pub fn seen(at: Nanos, o: ObjectSeen) -> Observation {
    Observation { at, what: Observed::Object(Box::new(o)) }
}

/// `o` deleted, as its watch tells it at `at`.
pub fn deleted(at: Nanos, o: &ObjectSeen) -> Observation {
    Observation { at, what: Observed::deleted(o.key.clone(), o.uid.clone()) }
}

/// The Event, arriving at its own (last) time.
pub fn happened(e: EventSeen) -> Observation {
    Observation { at: e.last.unwrap(), what: Observed::Event(Box::new(e)) }
}

/// The Event, arriving at `at` whatever its own time.
pub fn arriving(at: Nanos, e: EventSeen) -> Observation {
    Observation { at, what: Observed::Event(Box::new(e)) }
}

pub fn tick(at: Nanos) -> Observation {
    Observation { at, what: Observed::Tick }
}

pub fn feed(c: &mut Correlator, observations: Vec<Observation>) -> Vec<SpanDraft> {
    let mut out = Vec::new();
    for o in observations {
        out.extend(c.ingest(o));
    }
    out
}

/// Every span of the observations, the open ones finished at the end.
pub fn run(observations: Vec<Observation>) -> Vec<SpanDraft> {
    let mut c = Correlator::new(Config::default());
    let mut out = feed(&mut c, observations);
    out.extend(c.finish());
    out
}

pub fn text(s: &SpanDraft, key: &str) -> String {
    s.attribute(key).map(Value::to_string).unwrap_or_default()
}

pub fn text_of(attributes: &[(&'static str, Value)], key: &str) -> String {
    attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string()).unwrap_or_default()
}

/// The span that recorded the Event `uid`.
pub fn holding<'a>(spans: &'a [SpanDraft], uid: &str) -> &'a SpanDraft {
    spans
        .iter()
        .find(|s| {
            s.events.iter().any(|e| {
                e.attributes.iter().any(|(k, v)| *k == "k8s.event.uid" && v.to_string() == uid)
            })
        })
        .unwrap_or_else(|| panic!("{uid} in no span: {spans:#?}"))
}

/// The root of `s`'s trace.
pub fn root<'a>(spans: &'a [SpanDraft], s: &SpanDraft) -> &'a SpanDraft {
    let mut at = spans.iter().find(|x| x.span_id == s.span_id).unwrap();
    while let Some(p) = at.parent {
        at = spans.iter().find(|x| x.span_id == p).expect("parent emitted");
    }
    at
}
