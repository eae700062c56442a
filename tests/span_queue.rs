//! The bounded queue between correlator and sink: the oldest go first, counted.

use std::sync::atomic::Ordering;

use kspan::sink::queue::SpanQueue;
use kspan::span::{SpanDraft, Status};

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
fn beyond_its_bound_the_oldest_spans_are_dropped_and_counted() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue = SpanQueue::new(3);
    queue.push((1..=5).map(span).collect());
    assert_eq!(queue.len(), 3);
    assert_eq!(queue.dropped.load(Ordering::Relaxed), 2);
    let batch = rt.block_on(queue.next_batch(2)).unwrap();
    assert_eq!(batch.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(), vec![3, 4]);
    // A failed batch goes back in front; with a new span, the bound drops the oldest again.
    queue.push(vec![span(6)]);
    queue.requeue(batch);
    assert_eq!(queue.dropped.load(Ordering::Relaxed), 3);
    queue.close();
    let rest: Vec<u8> = std::iter::from_fn(|| rt.block_on(queue.next_batch(10)))
        .flatten()
        .map(|s| s.span_id[0])
        .collect();
    assert_eq!(rest, vec![4, 5, 6]);
}
