//! The bounded queue between correlator and sink: the oldest go first, counted;
//! what the OTLP sink could not deliver comes back without what it did deliver.

use std::sync::atomic::Ordering;

use kspan::sink::queue::SpanQueue;
use kspan::span::{SpanDraft, Status};
use prometheus_client::metrics::counter::Counter;

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
    let dropped = Counter::default();
    let queue = SpanQueue::new(3, dropped.clone());
    queue.push((1..=5).map(span).collect());
    assert_eq!(queue.len(), 3);
    assert_eq!(dropped.get(), 2);
    let batch = rt.block_on(queue.next_batch(2)).unwrap();
    assert_eq!(batch.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(), vec![3, 4]);
    // A failed batch goes back in front; with a new span, the bound drops the oldest again.
    queue.push(vec![span(6)]);
    queue.requeue(batch);
    assert_eq!(dropped.get(), 3);
    queue.close();
    let rest: Vec<u8> = std::iter::from_fn(|| rt.block_on(queue.next_batch(10)))
        .flatten()
        .map(|s| s.span_id[0])
        .collect();
    assert_eq!(rest, vec![4, 5, 6]);
}

#[test]
fn a_batch_being_sent_or_retried_is_still_waiting() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue = SpanQueue::new(10, Counter::default());
    queue.push((1..=5).map(span).collect());
    let batch = rt.block_on(queue.next_batch(3)).unwrap();
    assert_eq!((queue.len(), queue.waiting()), (2, 5), "the batch out is still waiting");
    queue.requeue(batch);
    assert_eq!((queue.len(), queue.waiting()), (5, 5), "back in the queue, counted once");
    let _ = rt.block_on(queue.next_batch(3)).unwrap();
    queue.delivered();
    assert_eq!((queue.len(), queue.waiting()), (2, 2));
}

/// An OTLP/HTTP collector on loopback that accepts the first request and answers
/// 503 to every later one; returns its endpoint and the number of requests seen.
fn collector_accepting_once() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            loop {
                let mut length = 0;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                if line != "\r\n" {
                    break;
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let status = if n == 0 { "200 OK" } else { "503 Service Unavailable" };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
                );
                if reader.get_mut().write_all(response.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (endpoint, requests)
}

#[test]
fn a_batch_half_delivered_comes_back_without_the_delivered_half() {
    use kspan::sink::convert::ResourceOptions;
    use kspan::sink::otlp::{OtlpOptions, OtlpSink, Transport};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (endpoint, requests) = collector_accepting_once();
    // One export request per service: "a-controller" first (accepted), "kubelet" (refused).
    let batch: Vec<SpanDraft> = (1..=4)
        .map(|n| SpanDraft {
            service: if n % 2 == 0 { "a-controller".into() } else { "kubelet".into() },
            ..span(n)
        })
        .collect();
    let options = OtlpOptions {
        endpoint: Some(endpoint),
        transport: Some(Transport::HttpProtobuf),
        timeout: Some(std::time::Duration::from_secs(5)),
        ..OtlpOptions::default()
    };
    let undelivered = rt.block_on(async {
        let mut sink = OtlpSink::new(&options, ResourceOptions::default()).unwrap();
        sink.send(&batch).await.expect_err("the kubelet's request fails")
    });
    assert_eq!(undelivered.delivered.spans, 2, "the a-controller's request was delivered");
    let undelivered = undelivered.spans;
    assert!(requests.load(Ordering::SeqCst) >= 2);
    let ids: Vec<u8> = undelivered.iter().map(|s| s.span_id[0]).collect();
    assert_eq!(ids, vec![1, 3], "only the refused request's spans are to be sent again");
}
