//! `kspan replay` (the binary under test) of an input: what it sends, as OTLP/JSON,
//! and sending it to an OTLP endpoint.

use std::path::Path;
use std::process::Command;

/// `kspan replay --output otlp-json INPUT`: one JSON request a line.
pub fn otlp_json(input: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp-json"])
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `kspan replay --output otlp` of `input` to `endpoint` over `protocol` (`grpc`,
/// `http/protobuf`); asserts that the endpoint took every span.
pub fn send(input: &Path, protocol: &str, endpoint: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_kspan"))
        .args(["replay", "--output", "otlp", "--otlp-protocol", protocol, "--otlp-addr", endpoint])
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains(" 0 dropped"), "{stderr}");
}
