//! Sends finished spans to a collector with opentelemetry-otlp (gRPC or
//! HTTP/protobuf). Unset options fall back to the standard OTEL_EXPORTER_OTLP_*
//! environment variables, which the exporter reads itself.

use std::time::Duration;

use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
use opentelemetry_otlp::{
    Protocol, SpanExporter, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::trace::SpanExporter as _;

use super::convert::{batch, ResourceOptions};
use super::endpoint::Endpoint;
use super::tls_probe::{self, Speaks};
use super::{Delivered, Undelivered};
use crate::span::SpanDraft;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone, Default)]
pub struct OtlpOptions {
    pub endpoint: Option<String>,
    pub transport: Option<Transport>,
    pub timeout: Option<Duration>,
    /// Extra request headers (API keys, tenant ids); the exporter also reads
    /// OTEL_EXPORTER_OTLP_HEADERS itself.
    pub headers: Vec<(String, String)>,
    /// gRPC over TLS, trusting this CA (PEM) in addition to nothing else.
    pub ca_file: Option<std::path::PathBuf>,
    /// gRPC over TLS with the CA from `ca_file`, or TLS without a custom CA.
    pub tls: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("cannot build the OTLP exporter: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("OTLP CA file {0}: {1}")]
    CaFile(std::path::PathBuf, std::io::Error),
    #[error("OTLP header {0:?}: {1}")]
    Header(String, String),
    #[error("OTLP HTTP client: {0}")]
    HttpClient(String),
    #[error("export failed after {attempts} attempts: {last}")]
    Export { attempts: u32, last: String },
    #[error("the collector at {address} answered in plain text: {fix}")]
    PlainTextCollector { address: String, fix: String },
    #[error("the collector at {address} speaks TLS: use https://{address}, or add --otlp-secured")]
    TlsCollector { address: String },
}

/// Attempts per batch; the wait doubles from 200 ms between them.
const ATTEMPTS: u32 = 4;

pub struct OtlpSink {
    exporter: SpanExporter,
    resource: ResourceOptions,
    endpoint: Endpoint,
    /// The flag that asked for TLS, to name in advice (none: an https:// address did).
    tls_flag: Option<&'static str>,
    /// What the collector speaks, once a failed export found out.
    speaks: Speaks,
}

/// The HTTP client for OTLP/HTTP: rustls (with the ring provider kube also uses),
/// trusting the system roots plus --otlp-ca-file.
fn http_client(options: &OtlpOptions) -> Result<reqwest::Client, OtlpError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder();
    if let Some(path) = &options.ca_file {
        let pem = std::fs::read(path).map_err(|e| OtlpError::CaFile(path.clone(), e))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| OtlpError::CaFile(path.clone(), std::io::Error::other(e)))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| OtlpError::HttpClient(e.to_string()))
}

/// The request headers: `User-Agent: kspan-rs/<version>` unless the operator set one.
fn with_user_agent(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut headers = headers.to_vec();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("user-agent")) {
        headers.push(("User-Agent".into(), crate::USER_AGENT.into()));
    }
    headers
}

fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, OtlpError> {
    let mut map = http::HeaderMap::new();
    for (key, value) in headers {
        let name = http::header::HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes())
            .map_err(|e| OtlpError::Header(key.clone(), e.to_string()))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| OtlpError::Header(key.clone(), e.to_string()))?;
        map.insert(name, value);
    }
    Ok(MetadataMap::from_headers(map))
}

fn transport_from_env() -> Transport {
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        Ok("http/protobuf") => Transport::HttpProtobuf,
        _ => Transport::Grpc,
    }
}

impl OtlpSink {
    pub fn new(options: &OtlpOptions, resource: ResourceOptions) -> Result<Self, OtlpError> {
        let transport = options.transport.unwrap_or_else(transport_from_env);
        let tls_flag = match (options.tls, &options.ca_file) {
            (true, _) => Some("--otlp-secured"),
            (false, Some(_)) => Some("--otlp-ca-file"),
            (false, None) => None,
        };
        let endpoint =
            Endpoint::resolve(options.endpoint.as_deref(), transport, tls_flag.is_some());
        let headers = with_user_agent(&options.headers);
        let exporter = match transport {
            Transport::Grpc => {
                let mut b = SpanExporter::builder().with_tonic().with_protocol(Protocol::Grpc);
                b = b.with_endpoint(endpoint.url.clone());
                b = b.with_metadata(metadata(&headers)?);
                if tls_flag.is_some() {
                    let mut tls = ClientTlsConfig::new().with_enabled_roots();
                    if let Some(path) = &options.ca_file {
                        let pem =
                            std::fs::read(path).map_err(|e| OtlpError::CaFile(path.clone(), e))?;
                        tls = tls.ca_certificate(Certificate::from_pem(pem));
                    }
                    b = b.with_tls_config(tls);
                }
                if let Some(timeout) = options.timeout {
                    b = b.with_timeout(timeout);
                }
                b.build()?
            }
            Transport::HttpProtobuf => {
                let mut b = SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary);
                b = b.with_endpoint(endpoint.url.clone());
                b = b.with_headers(headers.into_iter().collect());
                b = b.with_http_client(http_client(options)?);
                if let Some(timeout) = options.timeout {
                    b = b.with_timeout(timeout);
                }
                b.build()?
            }
        };
        Ok(OtlpSink { exporter, resource, endpoint, tls_flag, speaks: Speaks::Unknown })
    }

    /// Delivers one batch of finished spans (one export request per service),
    /// retrying with backoff; what still fails is returned, without the requests
    /// that were delivered, so a retry sends nothing twice.
    pub async fn send(&mut self, drafts: &[SpanDraft]) -> Result<Delivered, Undelivered> {
        let mut delivered = Delivered::default();
        let mut failure = None;
        let mut undelivered = Vec::new();
        for (service, group) in self.resource.by_service(drafts) {
            let batch = batch(&self.resource, &service, &group);
            self.exporter.set_resource(&batch.resource);
            let count = batch.spans.len() as u64;
            let mut wait = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                match self.exporter.export(batch.spans.clone()).await {
                    Ok(()) => {
                        delivered.spans += count;
                        break;
                    }
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::warn!(attempt, error = %e, "OTLP export failed, retrying");
                        delivered.retries += 1;
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => {
                        let export = OtlpError::Export { attempts: attempt, last: e.to_string() };
                        failure = Some(self.mismatch().await.unwrap_or(export));
                        undelivered.extend(group.iter().map(|d| (*d).clone()));
                        break;
                    }
                }
            }
        }
        match failure {
            None => Ok(delivered),
            Some(e) => Err(Undelivered { error: e.into(), spans: undelivered, delivered }),
        }
    }

    /// The error to report instead when the collector speaks the other protocol.
    /// Probed at each failure until the collector answers: one that is down when
    /// the first export fails is asked again at the next.
    async fn mismatch(&mut self) -> Option<OtlpError> {
        if self.speaks == Speaks::Unknown {
            let address = self.endpoint.address.clone();
            let speaks = tokio::task::spawn_blocking(move || tls_probe::probe(&address)).await;
            self.speaks = speaks.unwrap_or(Speaks::Unknown);
        }
        let address = self.endpoint.address.clone();
        match (self.speaks, self.endpoint.tls) {
            (Speaks::PlainText, true) => {
                let fix = match self.tls_flag {
                    Some(flag) => format!("use http://{address}, or drop {flag}"),
                    None => format!("use http://{address}"),
                };
                Some(OtlpError::PlainTextCollector { address, fix })
            }
            (Speaks::Tls, false) => Some(OtlpError::TlsCollector { address }),
            _ => None,
        }
    }

    /// The collector's `host:port`.
    pub fn address(&self) -> &str {
        &self.endpoint.address
    }

    pub fn shutdown(&mut self) {
        let _ = self.exporter.shutdown();
    }
}
