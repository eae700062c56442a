//! `kspan replay --output otlp` to a real OTLP receiver (rotel) over gRPC and
//! HTTP/protobuf: what arrives is what the OTLP/JSON output says.

mod common;
mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use support::rotel;
use support::script::require_installed;
use support::LiveReceiver;

fn expected() -> BTreeSet<rotel::Row> {
    let (_, _, json) = common::run(&[common::fixture("kspan/deployment-2-pods.main.yaml")]);
    common::spans(&json)
        .into_iter()
        .map(|s| {
            let uids = s.events.iter().filter_map(|e| e.get("k8s.event.uid").cloned()).collect();
            (s.trace, s.id, s.parent, s.name, uids)
        })
        .collect()
}

fn send(protocol: &str, endpoint: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp", "--otlp-protocol", protocol, "--otlp-addr", endpoint])
        .args(["--cluster-name", "replayed"])
        .arg(common::fixture("kspan/deployment-2-pods.main.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("otlp: {} spans exported, 0 dropped", expected().len())),
        "{stderr}"
    );
}

/// What the receiver got, once it holds `replays` replays' worth of spans.
fn received(receiver: &LiveReceiver, replays: usize) -> Vec<rotel::Span> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(rotel::wait_for_spans(&receiver.log_path(), Duration::from_secs(10), |s| {
        s.len() >= replays * expected().len()
    }))
    .unwrap_or_else(|partial| panic!("receiver got {} spans", partial.len()))
}

#[test]
fn replay_to_a_real_receiver_over_grpc_and_http() {
    if !require_installed("replay_to_a_real_receiver_over_grpc_and_http") {
        return;
    }
    for protocol in ["grpc", "http/protobuf"] {
        let dir = std::env::temp_dir().join(format!(
            "kspan-otlp-{}-{}",
            std::process::id(),
            protocol.replace('/', "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let receiver = LiveReceiver::start_in(&dir).expect("receiver starts");
        let endpoint =
            if protocol == "grpc" { receiver.grpc_endpoint() } else { receiver.http_endpoint() };
        send(protocol, endpoint);
        let spans = received(&receiver, 1);
        assert_eq!(
            rotel::trees(&spans),
            expected(),
            "{protocol}: the receiver got exactly the replayed spans"
        );
        for s in &spans {
            assert_eq!(s.resource_attr("k8s.cluster.name"), Some("replayed"));
            assert!(s.resource_attr("service.name").is_some_and(|n| !n.is_empty()));
        }
        // Resources group spans by the component that reported their events.
        for s in &spans {
            let service = s.resource_attr("service.name").unwrap();
            let expected = match s.name.as_str() {
                "Pod.Scheduling" => "default-scheduler",
                // Created by the ReplicaSet: its SuccessfulCreate is the span's own Event.
                "Pod.Startup" => "replicaset-controller",
                name if name.starts_with("Pod.") => "kubelet",
                _ => "deployment-controller",
            };
            assert_eq!(service, expected, "{protocol}: {}", s.name);
        }
        drop(receiver);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn replay_over_tls_to_a_test_ca_with_a_tenant_header_over_grpc_and_http() {
    if !require_installed("replay_over_tls_to_a_test_ca_with_a_tenant_header_over_grpc_and_http") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kspan-otlp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let receiver = LiveReceiver::start_in(&dir).expect("receiver starts");
    let proxy = support::TlsProxy::start_in(&dir).expect("TLS proxy starts");
    for (protocol, endpoint, tenant) in [
        ("grpc", proxy.grpc_endpoint(), "tenant-grpc"),
        ("http/protobuf", proxy.http_endpoint(), "tenant-http"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
            .args([
                "replay",
                "--output",
                "otlp",
                "--otlp-protocol",
                protocol,
                "--otlp-addr",
                endpoint,
            ])
            .args(["--otlp-ca-file", proxy.ca_file().to_str().unwrap()])
            .args(["--otlp-headers", &format!("x-scope-orgid={tenant}")])
            .arg(common::fixture("kspan/deployment-2-pods.main.yaml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("otlp: {} spans exported, 0 dropped", expected().len())),
            "{protocol}: {stderr}"
        );
        let requests: Vec<_> =
            proxy.access_log().into_iter().filter(|l| l["x_scope_orgid"] == tenant).collect();
        assert!(!requests.is_empty(), "{protocol}: the header reached the collector");
        assert!(requests.iter().all(|l| l["status"] == 200
            && l["ssl_protocol"].as_str().is_some_and(|p| p.starts_with("TLS"))));
        assert!(
            requests
                .iter()
                .all(|l| l["user_agent"].as_str().is_some_and(|a| a.starts_with("kspan-rs/"))),
            "{protocol}: kspan-rs names itself: {requests:?}"
        );
    }
    let spans = received(&receiver, 1);
    assert_eq!(spans.len(), 2 * expected().len(), "both exports arrived");
    assert_eq!(rotel::trees(&spans), expected());
    drop(proxy);
    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kspan replay -o otlp` with `args`, its environment cleared of OTLP settings
/// but for `env`: (stderr, exit status).
fn replay_otlp(args: &[&str], env: &[(&str, &str)]) -> (String, Option<i32>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kspan"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("OTEL_")) {
        command.env_remove(key);
    }
    let out = command
        .args(["replay", "--output", "otlp", "--otlp-timeout", "5s"])
        .args(args)
        .envs(env.iter().copied())
        .arg(common::fixture("kspan/deployment-2-pods.main.yaml"))
        .output()
        .unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code())
}

/// kspan's users write `--otlp-addr=otel-collector.default:55680`: plain text.
#[test]
fn an_address_without_a_scheme_is_plain_text_from_the_flag_and_the_environment() {
    if !require_installed(
        "an_address_without_a_scheme_is_plain_text_from_the_flag_and_the_environment",
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kspan-otlp-schemeless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let receiver = LiveReceiver::start_in(&dir).expect("receiver starts");
    let bare = |endpoint: &str| endpoint.trim_start_matches("http://").to_string();
    let (grpc, http) = (bare(receiver.grpc_endpoint()), bare(receiver.http_endpoint()));
    let exported = format!("otlp: {} spans exported, 0 dropped", expected().len());
    for (args, env) in [
        (vec!["--otlp-addr", grpc.as_str()], vec![]),
        (vec!["--otlp-protocol", "http/protobuf", "--otlp-addr", http.as_str()], vec![]),
        (vec![], vec![("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.as_str())]),
        (
            vec![],
            vec![
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", http.as_str()),
            ],
        ),
    ] {
        let (stderr, status) = replay_otlp(&args, &env);
        assert_eq!(status, Some(0), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(&exported), "{args:?} {env:?}: {stderr}");
    }
    let spans = received(&receiver, 4);
    assert_eq!(spans.len(), 4 * expected().len(), "every replay arrived");
    assert_eq!(rotel::trees(&spans), expected());
    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
}

/// TLS to a plain-text collector, or plain text to a TLS one: said in words, and
/// the replay fails, its last line saying how many spans were not delivered.
#[test]
fn a_tls_mismatch_is_said_in_words_and_an_undelivered_replay_fails() {
    if !require_installed("a_tls_mismatch_is_said_in_words_and_an_undelivered_replay_fails") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kspan-otlp-mismatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let receiver = LiveReceiver::start_in(&dir).expect("receiver starts");
    let proxy = support::TlsProxy::start_in(&dir).expect("TLS proxy starts");
    let bare = |endpoint: &str| endpoint.split_once("://").unwrap().1.to_string();
    let plain = bare(receiver.grpc_endpoint());
    let tls = bare(proxy.http_endpoint());
    let total = expected().len();
    let cases = [
        (
            vec!["--otlp-addr", plain.as_str(), "--otlp-secured"],
            format!("the collector at {plain} answered in plain text: use http://{plain}, or drop --otlp-secured"),
        ),
        (
            vec!["--otlp-protocol", "http/protobuf", "--otlp-addr", tls.as_str()],
            format!("the collector at {tls} speaks TLS: use https://{tls}, or add --otlp-secured"),
        ),
    ];
    for (args, said) in cases {
        let (stderr, status) = replay_otlp(&args, &[]);
        assert!(stderr.contains(&said), "{args:?}: {stderr}");
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        let address = if args.contains(&"--otlp-secured") { &plain } else { &tls };
        assert_eq!(
            last,
            format!(
                "error: {total} of {total} spans were not delivered to the collector at {address}"
            )
        );
    }
    drop(proxy);
    drop(receiver);
    let _ = std::fs::remove_dir_all(&dir);
}
