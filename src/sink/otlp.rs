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
}

/// Attempts per batch; the wait doubles from 200 ms between them.
const ATTEMPTS: u32 = 4;

pub struct OtlpSink {
    exporter: SpanExporter,
    resource: ResourceOptions,
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
        let exporter = match transport {
            Transport::Grpc => {
                let mut b = SpanExporter::builder().with_tonic().with_protocol(Protocol::Grpc);
                if let Some(endpoint) = &options.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                if !options.headers.is_empty() {
                    b = b.with_metadata(metadata(&options.headers)?);
                }
                if options.tls || options.ca_file.is_some() {
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
                if let Some(endpoint) = &options.endpoint {
                    // The HTTP exporter wants the full signal path.
                    let endpoint = endpoint.trim_end_matches('/');
                    let endpoint = if endpoint.ends_with("/v1/traces") {
                        endpoint.to_string()
                    } else {
                        format!("{endpoint}/v1/traces")
                    };
                    b = b.with_endpoint(endpoint);
                }
                if !options.headers.is_empty() {
                    b = b.with_headers(options.headers.iter().cloned().collect());
                }
                b = b.with_http_client(http_client(options)?);
                if let Some(timeout) = options.timeout {
                    b = b.with_timeout(timeout);
                }
                b.build()?
            }
        };
        Ok(OtlpSink { exporter, resource })
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
                        failure =
                            Some(OtlpError::Export { attempts: attempt, last: e.to_string() });
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

    pub fn shutdown(&mut self) {
        let _ = self.exporter.shutdown();
    }
}
