//! What a receiver got, measured against the API server's Events: every Event on a
//! delivered span, once per occurrence, no span twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::support::rotel::Span;

/// What a receiver got, measured against the API server's Events.
#[derive(Debug, Default)]
pub struct Delivery {
    /// Events of the API server in no delivered span.
    pub missing: Vec<String>,
    /// Spans delivered more than once (same trace and span id): name, trace, span.
    pub repeated_spans: Vec<String>,
    /// Events recorded twice for one occurrence (among distinct spans).
    pub twice: Vec<String>,
}

/// Measures `spans` against the API server's Events.
pub fn check_delivery(
    events: &BTreeMap<String, (String, String, String)>,
    spans: &[Span],
) -> Delivery {
    let mut seen = BTreeSet::new();
    let mut unique = Vec::new();
    let mut repeated_spans = Vec::new();
    for s in spans {
        if seen.insert((s.trace_id.clone(), s.span_id.clone())) {
            unique.push(s.clone());
        } else {
            repeated_spans.push(format!("{} {}/{}", s.name, s.trace_id, s.span_id));
        }
    }
    let placed = span_events(&unique);
    let twice = placed.iter().filter_map(|(uid, holders)| twice_recorded(uid, holders)).collect();
    let missing = events.keys().filter(|uid| !placed.contains_key(*uid)).cloned().collect();
    Delivery { missing, repeated_spans, twice }
}

/// Waits up to `timeout` until every Event of `events` (see `api_events`) is on a
/// span the receiver logging to `log` printed; `Err` holds the spans that came.
pub fn wait_for_events<T>(
    rt: &tokio::runtime::Runtime,
    log: &Path,
    timeout: Duration,
    events: &BTreeMap<String, T>,
) -> Result<Vec<Span>, Vec<Span>> {
    rt.block_on(crate::support::rotel::wait_for_spans(log, timeout, |spans| {
        let placed = span_events(spans);
        events.keys().all(|uid| placed.contains_key(uid))
    }))
}

pub fn span_events(spans: &[Span]) -> BTreeMap<String, Vec<&Span>> {
    let mut by_uid: BTreeMap<String, Vec<&Span>> = BTreeMap::new();
    for s in spans {
        for uid in s
            .attr("k8s.event.uid")
            .into_iter()
            .chain(s.events.iter().filter_map(|e| e.attr("k8s.event.uid")))
        {
            by_uid.entry(uid.to_string()).or_default().push(s);
        }
    }
    by_uid
}

/// An Event is recorded once per occurrence. A recorder reuses an Event (count 2,
/// 3...) when the same thing happens again; if that comes after the span holding
/// the Event was exported (a later rollout, or a repeat written late: a recorder
/// retries a failed write 10 s later), the repeat is a new record with a higher
/// count, possibly in the same trace. Two records with one count are one
/// occurrence twice.
pub fn assert_once_per_occurrence(uid: &str, holders: &[&Span]) {
    if let Some(e) = twice_recorded(uid, holders) {
        panic!("{e}");
    }
}

/// Says how `uid` was recorded twice for one occurrence, if it was.
pub fn twice_recorded(uid: &str, holders: &[&Span]) -> Option<String> {
    let count = |s: &Span| {
        let own =
            s.attr("k8s.event.uid").filter(|u| *u == uid).and_then(|_| s.attr("k8s.event.count"));
        let event = s.events.iter().find(|e| e.attr("k8s.event.uid") == Some(uid));
        own.or_else(|| event.and_then(|e| e.attr("k8s.event.count")))
            .and_then(|c| c.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let mut records: Vec<(i64, &str)> =
        holders.iter().map(|s| (count(s), s.trace_id.as_str())).collect();
    records.sort();
    for pair in records.windows(2) {
        if pair[0].0 >= pair[1].0 {
            let spans: Vec<String> = holders
                .iter()
                .map(|s| format!("{} {}/{}", s.name, s.trace_id, s.span_id))
                .collect();
            return Some(format!("event {uid}: two records {pair:?} in {spans:?}"));
        }
    }
    None
}

pub fn root<'a>(spans: &'a [Span], s: &'a Span) -> &'a Span {
    let mut at = s;
    while let Some(parent) = &at.parent_id {
        at = spans
            .iter()
            .find(|x| &x.span_id == parent && x.trace_id == at.trace_id)
            .expect("parent delivered");
    }
    at
}
