//! The bounded queue between the correlator and a sink. When the sink cannot keep
//! up (a slow or absent collector), the oldest spans go first, and every one that
//! goes is counted: memory stays bounded and the correlator never waits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;

use crate::span::SpanDraft;

pub struct SpanQueue {
    spans: Mutex<VecDeque<SpanDraft>>,
    capacity: usize,
    notify: Notify,
    closed: AtomicBool,
    /// Spans of the batch handed to the (single) consumer and not yet settled.
    taken: AtomicUsize,
    dropped: Counter,
}

impl SpanQueue {
    /// `dropped` counts the spans that did not fit.
    pub fn new(capacity: usize, dropped: Counter) -> Self {
        SpanQueue {
            spans: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            taken: AtomicUsize::new(0),
            dropped,
        }
    }

    pub fn push(&self, drafts: Vec<SpanDraft>) {
        if drafts.is_empty() {
            return;
        }
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        spans.extend(drafts);
        let over = spans.len().saturating_sub(self.capacity);
        if over > 0 {
            spans.drain(..over);
            self.dropped.inc_by(over as u64);
            tracing::warn!(dropped = over, "span queue full; oldest spans dropped");
        }
        drop(spans);
        self.notify.notify_one();
    }

    /// Puts a batch the sink could not deliver back at the front, to be retried
    /// first; the bound still holds (the oldest go, counted).
    pub fn requeue(&self, batch: Vec<SpanDraft>) {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        self.taken.store(0, Ordering::Relaxed);
        for span in batch.into_iter().rev() {
            spans.push_front(span);
        }
        let over = spans.len().saturating_sub(self.capacity);
        if over > 0 {
            spans.drain(..over);
            self.dropped.inc_by(over as u64);
        }
    }

    /// The batch last handed out was delivered.
    pub fn delivered(&self) {
        self.taken.store(0, Ordering::Relaxed);
    }

    /// Spans not delivered yet: queued, and in the batch being sent (or retried).
    pub fn waiting(&self) -> usize {
        self.len() + self.taken.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// No more spans will come: the consumer drains what is left and stops.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Up to `max` spans; waits for some; `None` once closed and empty.
    pub async fn next_batch(&self, max: usize) -> Option<Vec<SpanDraft>> {
        loop {
            {
                let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
                if !spans.is_empty() {
                    let n = spans.len().min(max);
                    self.taken.store(n, Ordering::Relaxed);
                    return Some(spans.drain(..n).collect());
                }
                if self.closed.load(Ordering::SeqCst) {
                    return None;
                }
            }
            self.notify.notified().await;
        }
    }
}
