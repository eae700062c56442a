//! Where finished spans wait for the sink: the export queue while this replica
//! leads (or when there is no election), else the standby buffer a follower
//! keeps so that it can export, on taking over, what a dead leader may not have
//! delivered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::queue::SpanQueue;
use super::trace_log::{Stage, Traces};
use crate::span::SpanDraft;
use crate::telemetry::{Metrics, Slis};

/// The spans a follower finished during the last `keep`, oldest first, at most
/// `capacity` (beyond it the oldest go, counted as dropped).
pub struct Standby {
    spans: VecDeque<(Instant, SpanDraft)>,
    keep: Duration,
    capacity: usize,
    dropped: Counter,
}

impl Standby {
    /// `dropped` counts the spans that did not fit.
    pub fn new(keep: Duration, capacity: usize, dropped: Counter) -> Self {
        Standby { spans: VecDeque::new(), keep, capacity: capacity.max(1), dropped }
    }

    pub fn hold(&mut self, spans: Vec<SpanDraft>, now: Instant) {
        self.spans.extend(spans.into_iter().map(|s| (now, s)));
        self.forget(now);
        let over = self.spans.len().saturating_sub(self.capacity);
        if over > 0 {
            self.spans.drain(..over);
            self.dropped.inc_by(over as u64);
        }
    }

    /// What to export on taking over: every span finished within `keep` of `now`.
    pub fn take_over(&mut self, now: Instant) -> Vec<SpanDraft> {
        self.forget(now);
        self.spans.drain(..).map(|(_, s)| s).collect()
    }

    fn forget(&mut self, now: Instant) {
        while self.spans.front().is_some_and(|(at, _)| now.duration_since(*at) > self.keep) {
            self.spans.pop_front();
        }
    }
}

/// Where finished spans go: to the export queue while this replica leads (or
/// when there is no election), else to the standby buffer.
pub struct Outbox {
    queue: Arc<SpanQueue>,
    standby: Option<Standby>,
    leading: bool,
    /// Observes what goes to the queue: the SLIs are those of the spans exported.
    slis: Slis,
}

impl Outbox {
    /// `standby`: Some with leader election, the replica then starts as a follower.
    pub fn new(queue: Arc<SpanQueue>, standby: Option<Standby>, metrics: &Metrics) -> Self {
        let leading = standby.is_none();
        metrics.leader.set(leading as i64);
        Outbox { queue, standby, leading, slis: metrics.slis.clone() }
    }

    pub fn push(&mut self, spans: Vec<SpanDraft>) {
        Traces::of(&spans).log(Stage::Finished);
        match (&mut self.standby, self.leading) {
            (Some(standby), false) => standby.hold(spans, Instant::now()),
            _ => {
                self.slis.observe(&spans);
                self.queue.push(spans)
            }
        }
    }

    /// Follows the election; on taking over, queues what the standby holds.
    /// Spans already queued when the lease is lost are still delivered.
    pub fn lead(&mut self, leading: bool, metrics: &Metrics) {
        if leading == self.leading {
            return;
        }
        self.leading = leading;
        metrics.leader.set(leading as i64);
        if let (true, Some(standby)) = (leading, &mut self.standby) {
            let held = standby.take_over(Instant::now());
            tracing::info!(
                spans = held.len(),
                lookback_s = standby.keep.as_secs(),
                "took over: exporting the spans finished during the lookback"
            );
            self.slis.observe(&held);
            self.queue.push(held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Status;

    fn span(n: u8) -> SpanDraft {
        SpanDraft {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent: None,
            name: "Pod.Startup",
            start: 0,
            end: 0,
            status: Status::Unset,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            service: "test".into(),
        }
    }

    #[test]
    fn a_takeover_exports_what_finished_within_the_lookback() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut standby = Standby::new(s(20), 100, Counter::default());
        standby.hold(vec![span(1)], t0);
        standby.hold(vec![span(2), span(3)], t0 + s(10));
        standby.hold(vec![span(4)], t0 + s(25));
        let held: Vec<u8> = standby.take_over(t0 + s(31)).iter().map(|s| s.span_id[0]).collect();
        assert_eq!(held, vec![4], "spans 1 to 3 finished more than 20 s before");
        assert!(standby.take_over(t0 + s(31)).is_empty(), "taken once");
    }

    #[test]
    fn the_standby_is_bounded_oldest_first() {
        let dropped = Counter::default();
        let mut standby = Standby::new(Duration::from_secs(60), 2, dropped.clone());
        standby.hold(vec![span(1), span(2), span(3)], Instant::now());
        assert_eq!(dropped.get(), 1);
        let held: Vec<u8> =
            standby.take_over(Instant::now()).iter().map(|s| s.span_id[0]).collect();
        assert_eq!(held, vec![2, 3]);
    }
}
