//! The apiserver's audit log (JSON lines, level Metadata, no RequestReceived stage),
//! one [`AuditRequest`] per request.

use std::collections::HashMap;

/// One API request from the apiserver's audit log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditRequest {
    /// Unique per request; a watch's ResponseStarted and ResponseComplete events share it.
    pub audit_id: String,
    /// Authenticated user name (`kspan-admin`, `system:serviceaccount:<ns>:<name>`, ...).
    pub user: String,
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, ...
    /// (for non-resource URLs the HTTP method in lower case).
    pub verb: String,
    /// Path and query as sent, e.g. `/api/v1/pods?resourceVersion=12&watch=true`.
    pub request_uri: String,
    pub user_agent: String,
    /// `objectRef.resource` (`pods`, `events`, ...), `None` for non-resource URLs.
    pub resource: Option<String>,
    /// `objectRef.namespace`, `None` for cluster-wide requests.
    pub namespace: Option<String>,
    /// The latest stage logged: `ResponseComplete`, or `ResponseStarted` while a
    /// watch (or other long-running request) is still open.
    pub stage: String,
    /// When the apiserver received the request (`requestReceivedTimestamp`, RFC 3339
    /// UTC with microseconds: sorts chronologically as text).
    pub timestamp: String,
    /// `stageTimestamp` of the latest stage logged.
    pub stage_timestamp: String,
    /// HTTP status of the response (200 for a watch that started), if logged.
    pub response_code: Option<u16>,
}

impl AuditRequest {
    pub fn is_watch(&self) -> bool {
        self.verb == "watch"
    }

    /// The request is finished (stage ResponseComplete).
    pub fn is_complete(&self) -> bool {
        self.stage == "ResponseComplete"
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEventLine {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    #[serde(rename = "requestURI", default)]
    request_uri: String,
    #[serde(default)]
    verb: String,
    #[serde(default)]
    user: AuditUser,
    #[serde(default)]
    user_agent: String,
    #[serde(default)]
    object_ref: Option<AuditObjectRef>,
    #[serde(default)]
    response_status: Option<AuditStatus>,
    #[serde(default)]
    request_received_timestamp: String,
    #[serde(default)]
    stage_timestamp: String,
}

#[derive(serde::Deserialize, Default)]
struct AuditUser {
    #[serde(default)]
    username: String,
}

#[derive(serde::Deserialize)]
struct AuditObjectRef {
    resource: Option<String>,
    namespace: Option<String>,
}

#[derive(serde::Deserialize)]
struct AuditStatus {
    code: Option<u16>,
}

/// Parses the apiserver's JSON-lines audit log (`audit.k8s.io/v1` Events) into one
/// [`AuditRequest`] per request (by `auditID`), oldest first; only requests of `user`
/// when given.
///
/// Counted stages: `ResponseComplete`, and `ResponseStarted`, which only long-running
/// requests (watches) have. A watch is logged at ResponseStarted when it opens and at
/// ResponseComplete when it ends; it is counted once, as soon as it started, with
/// `stage` the latest of the two seen. Other stages (`Panic`; `RequestReceived` is
/// omitted by the harness's policy) and unparsable lines (a line being written) are
/// skipped.
pub fn parse_audit_log(text: &str, user: Option<&str>) -> Vec<AuditRequest> {
    let mut out: Vec<AuditRequest> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<AuditEventLine>(line) else {
            continue;
        };
        if ev.stage != "ResponseComplete" && ev.stage != "ResponseStarted" {
            continue;
        }
        if user.is_some_and(|u| u != ev.user.username) {
            continue;
        }
        let code = ev.response_status.and_then(|s| s.code);
        if let Some(&i) = by_id.get(&ev.audit_id) {
            let r = &mut out[i];
            if ev.stage == "ResponseComplete" {
                r.stage = ev.stage;
                r.stage_timestamp = ev.stage_timestamp;
                r.response_code = code.or(r.response_code);
            }
            continue;
        }
        by_id.insert(ev.audit_id.clone(), out.len());
        let (resource, namespace) = match ev.object_ref {
            Some(o) => (o.resource, o.namespace),
            None => (None, None),
        };
        out.push(AuditRequest {
            audit_id: ev.audit_id,
            user: ev.user.username,
            verb: ev.verb,
            request_uri: ev.request_uri,
            user_agent: ev.user_agent,
            resource,
            namespace,
            stage: ev.stage,
            timestamp: ev.request_received_timestamp,
            stage_timestamp: ev.stage_timestamp,
            response_code: code,
        });
    }
    // Stable: requests received in the same microsecond keep log order.
    out.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    out
}

#[cfg(test)]
mod audit_tests {
    use super::*;
    use crate::support::cluster::service_account_user;

    // Shapes as written by kube-apiserver v1.20.2 (trimmed).
    const LOG: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseStarted","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000002Z","stageTimestamp":"2026-11-23T01:02:11.000100Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a0","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/events?limit=500","verb":"list","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"events","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000001Z","stageTimestamp":"2026-11-23T01:02:11.000200Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b0","stage":"ResponseComplete","requestURI":"/readyz","verb":"get","user":{"username":"kspan-admin"},"userAgent":"curl/7.88.1","responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000003Z","stageTimestamp":"2026-11-23T01:02:11.000004Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods?watch=true","verb":"watch","user":{"username":"system:serviceaccount:default:kspan"},"userAgent":"kspan/0.1","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-23T01:02:11.000002Z","stageTimestamp":"2026-11-23T01:07:11.000000Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a2","stage":"Panic","requestURI":"/x","verb":"get","user":{"username":"system:serviceaccount:default:kspan"},"requestReceivedTimestamp":"2026-11-23T01:02:12Z","stageTimestamp":"2026-11-23T01:02:12Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Meta"#;

    #[test]
    fn one_request_per_audit_id_watch_counted_once() {
        let user = service_account_user("default", "kspan");
        let reqs = parse_audit_log(LOG, Some(&user));
        let ids: Vec<&str> = reqs.iter().map(|r| r.audit_id.as_str()).collect();
        assert_eq!(ids, ["a0", "a1"]);
        assert_eq!(reqs[0].verb, "list");
        assert_eq!(reqs[0].namespace.as_deref(), Some("default"));
        assert_eq!(reqs[0].resource.as_deref(), Some("events"));
        assert!(reqs[1].is_watch() && reqs[1].is_complete());
        assert_eq!(reqs[1].stage_timestamp, "2026-11-23T01:07:11.000000Z");
        assert_eq!(reqs[1].user_agent, "kspan/0.1");
        assert_eq!(reqs[1].response_code, Some(200));
        // An open watch (only ResponseStarted so far) is counted too.
        let open = parse_audit_log(LOG.lines().next().unwrap(), None);
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].stage, "ResponseStarted");
        assert_eq!(parse_audit_log(LOG, None).len(), 3);
    }
}
