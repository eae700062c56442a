//! The TLS proxy in front of a live test's receiver (`scripts/live-env.sh tls-proxy`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::script::Started;

/// nginx terminating TLS in front of the [`LiveReceiver`] of the same dir
/// (`scripts/live-env.sh tls-proxy`): an `ssl http2` server passing OTLP/gRPC to the
/// receiver (`grpc_pass`), an `ssl` server (HTTP/1.1 and HTTP/2) passing OTLP/HTTP
/// (`proxy_pass`), both with a certificate for 127.0.0.1/localhost from a test CA
/// ([`Self::ca_file`]). Every request is logged as one JSON object
/// ([`Self::access_log`]), with the `x-scope-orgid` and `authorization` headers.
/// Stops nginx on drop.
pub struct TlsProxy {
    started: Started,
    /// Variables from `<dir>/tls-proxy.env`.
    pub env: HashMap<String, String>,
}

impl TlsProxy {
    /// Starts the proxy for the receiver already running in `dir` (or reuses a running one).
    pub fn start_in(dir: &Path) -> Result<Self> {
        let commands = ["tls-proxy", "stop-tls-proxy"];
        let (started, env) = Started::start(dir, commands, "TLS proxy", "tls-proxy.env", &[])?;
        Ok(TlsProxy { started, env })
    }

    fn var(&self, k: &str) -> &str {
        self.env.get(k).map(String::as_str).unwrap_or_default()
    }

    /// PEM file of the test CA that signed the proxy's certificate.
    pub fn ca_file(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_CA_FILE"))
    }

    /// Content of [`Self::ca_file`].
    pub fn ca_pem(&self) -> Result<String> {
        let p = self.ca_file();
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// OTLP/gRPC over TLS, e.g. `https://127.0.0.1:40123`.
    pub fn grpc_endpoint(&self) -> &str {
        self.var("KSPAN_TLS_GRPC_ENDPOINT")
    }

    /// OTLP/HTTP over TLS (base URL, no `/v1/traces`), e.g. `https://127.0.0.1:40124`.
    pub fn http_endpoint(&self) -> &str {
        self.var("KSPAN_TLS_HTTP_ENDPOINT")
    }

    pub fn access_log_path(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_ACCESS_LOG"))
    }

    /// nginx's error log (TLS handshake failures, upstream errors).
    pub fn error_log_path(&self) -> PathBuf {
        PathBuf::from(self.var("KSPAN_TLS_ERROR_LOG"))
    }

    /// The requests so far, oldest first, one JSON object each: `time`, `msec`,
    /// `listener` (`grpc` | `http`), `method`, `path`, `request_uri`, `protocol`
    /// (`HTTP/2.0`, `HTTP/1.1`), `status` (number), `content_type`, `request_length`,
    /// `bytes_sent`, `request_time`, `upstream_status`, `grpc_status`, `x_scope_orgid`,
    /// `authorization`, `user_agent`, `ssl_protocol`, `alpn`. An absent header is `""`.
    /// nginx writes a line when the request is done: poll with
    /// [`Self::wait_for_access_log`].
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.access_log_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls [`Self::access_log`] every 100 ms until `done` accepts it; `Err` with the
    /// last snapshot after `timeout`.
    pub async fn wait_for_access_log(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> std::result::Result<Vec<serde_json::Value>, Vec<serde_json::Value>> {
        let t0 = Instant::now();
        loop {
            let lines = self.access_log();
            if done(&lines) {
                return Ok(lines);
            }
            if t0.elapsed() > timeout {
                return Err(lines);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(&mut self) -> Result<()> {
        self.started.stop()
    }
}
