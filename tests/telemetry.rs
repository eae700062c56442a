//! The metrics and health endpoints, served for real on loopback.

use std::io::{Read, Write};

use kspan::telemetry::{server, Metrics};

fn get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: kspan\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

#[test]
fn readyz_flips_once_the_initial_lists_are_synced_and_metrics_use_kspan_names() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let metrics: &'static Metrics = Box::leak(Box::default());
    let address = rt.block_on(server::serve("127.0.0.1:0".parse().unwrap(), metrics)).unwrap();
    assert_eq!(get(address, "/healthz").0, 200);
    assert_eq!(get(address, "/readyz").0, 503, "not ready before the watchers synced");
    metrics.set_ready();
    assert_eq!(get(address, "/readyz").0, 200);

    let labels = kspan::telemetry::metrics::EventLabels {
        r#type: "Warning".into(),
        reason: "BackOff".into(),
        involved_object: "Pod".into(),
    };
    metrics.events.get_or_create(&labels).inc_by(2);
    metrics.dropped("queue").inc_by(5);
    let (status, body) = get(address, "/metrics");
    assert_eq!(status, 200);
    assert!(
        body.contains(
            r#"kspan_events_total{type="Warning",reason="BackOff",involved_object="Pod"} 2"#
        ),
        "{body}"
    );
    assert!(body.contains(r#"kspan_spans_dropped_total{stage="queue"} 5"#), "{body}");
    assert_eq!(get(address, "/nothing").0, 404);
}
