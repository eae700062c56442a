//! Events as their reporters write them: new ones and repetitions of the same record.

use std::fmt::Write as _;

use super::cluster::ObjectRef;
use super::emit::{Emit, Line};
use super::rng::Rng;
use super::text::{escape, instant, stamp, MS};

/// An Event as its reporter keeps it: the same uid and name on each repetition.
pub(super) struct EventRecord {
    uid: String,
    name: String,
    namespace: String,
    involved: String,
    reason: &'static str,
    message: String,
    warning: bool,
    component: &'static str,
    host: Option<String>,
    first: i64,
}

/// Who writes Events about what: a controller about its object, a kubelet about
/// a pod's container.
pub(super) struct Voice<'a> {
    pub(super) namespace: &'a str,
    pub(super) subject: &'a ObjectRef,
    pub(super) field_path: Option<&'a str>,
    pub(super) component: &'static str,
    pub(super) host: Option<&'a str>,
}

impl<'a> Voice<'a> {
    pub(super) fn controller(
        component: &'static str,
        namespace: &'a str,
        subject: &'a ObjectRef,
    ) -> Self {
        Voice { namespace, subject, field_path: None, component, host: None }
    }
}

impl Emit {
    /// A new Normal Event (count 1) that happened at `at`.
    pub(super) fn say(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        at: i64,
    ) -> EventRecord {
        self.record(rng, v, reason, message, false, at)
    }

    /// A new Warning Event (count 1) that happened at `at`.
    pub(super) fn warn(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        at: i64,
    ) -> EventRecord {
        self.record(rng, v, reason, message, true, at)
    }

    pub(super) fn record(
        &mut self,
        rng: &mut Rng,
        v: &Voice,
        reason: &'static str,
        message: String,
        warning: bool,
        at: i64,
    ) -> EventRecord {
        let s = v.subject;
        let mut involved = format!(
            r#"{{"apiVersion":"{}","kind":"{}","namespace":"{}","name":"{}","uid":"{}","resourceVersion":"{}""#,
            s.api,
            s.kind,
            v.namespace,
            s.name,
            s.uid,
            self.version(at) - 3
        );
        if let Some(path) = v.field_path {
            let _ = write!(involved, r#","fieldPath":"{path}""#);
        }
        involved.push('}');
        let record = EventRecord {
            uid: rng.uid(),
            name: format!("{}.{:x}", s.name, at as u64 ^ rng.below(1 << 16)),
            namespace: v.namespace.to_string(),
            involved,
            reason,
            message: escape(&message),
            warning,
            component: v.component,
            host: v.host.map(str::to_string),
            first: at,
        };
        self.records += 1;
        self.repeat(rng, &record, 1, at);
        record
    }

    /// The Event (again): count `count`, last seen at `at`.
    pub(super) fn repeat(&mut self, rng: &mut Rng, e: &EventRecord, count: u32, at: i64) {
        let arrival = at + rng.between(MS, 15 * MS);
        let mut text = String::with_capacity(900);
        let _ = write!(
            text,
            r#"{{"type":"{}","object":{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{}","namespace":"{}","uid":"{}","resourceVersion":"{}","creationTimestamp":"{}"}},"involvedObject":{},"reason":"{}","message":"{}","source":{{"component":"{}""#,
            if count == 1 { "ADDED" } else { "MODIFIED" },
            e.name,
            e.namespace,
            e.uid,
            self.version(arrival),
            stamp(e.first),
            e.involved,
            e.reason,
            e.message,
            e.component,
        );
        if let Some(host) = &e.host {
            let _ = write!(text, r#","host":"{host}""#);
        }
        let _ = writeln!(
            text,
            r#"}},"firstTimestamp":"{}","lastTimestamp":"{}","count":{count},"type":"{}","eventTime":null,"reportingComponent":"{}","reportingInstance":"{}"}},"time":"{}"}}"#,
            stamp(e.first),
            stamp(at),
            if e.warning { "Warning" } else { "Normal" },
            e.component,
            e.host.as_deref().unwrap_or(""),
            instant(arrival),
        );
        self.last = self.last.max(arrival);
        self.lines.push(Line { at: arrival, event: true, text });
    }
}
