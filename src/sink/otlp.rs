//! Sends finished spans to a collector with opentelemetry-otlp (gRPC or
//! HTTP/protobuf). Unset options fall back to the standard OTEL_EXPORTER_OTLP_*
//! environment variables, which the exporter reads itself.

use std::time::Duration;

use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SpanExporter as _;

use super::convert::{batches, ResourceOptions};
use crate::span::SpanDraft;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    Grpc,
    #[value(name = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Debug, Clone, Default)]
pub struct OtlpOptions {
    pub endpoint: Option<String>,
    pub transport: Option<Transport>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("cannot build the OTLP exporter: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("export failed after {attempts} attempts: {last}")]
    Export { attempts: u32, last: String },
}

/// Attempts per batch; the wait doubles from 200 ms between them.
const ATTEMPTS: u32 = 4;

pub struct OtlpSink {
    exporter: SpanExporter,
    resource: ResourceOptions,
    pub exported: u64,
    pub dropped: u64,
    pub retries: u64,
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
                let mut b = SpanExporter::builder()
                    .with_tonic()
                    .with_protocol(Protocol::Grpc);
                if let Some(endpoint) = &options.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                if let Some(timeout) = options.timeout {
                    b = b.with_timeout(timeout);
                }
                b.build()?
            }
            Transport::HttpProtobuf => {
                let mut b = SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary);
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
                if let Some(timeout) = options.timeout {
                    b = b.with_timeout(timeout);
                }
                b.build()?
            }
        };
        Ok(OtlpSink {
            exporter,
            resource,
            exported: 0,
            dropped: 0,
            retries: 0,
        })
    }

    /// Delivers one batch of finished spans, retrying with backoff; what still
    /// fails is counted as dropped and reported.
    pub async fn send(&mut self, drafts: &[SpanDraft]) -> Result<(), OtlpError> {
        let mut failure = None;
        for batch in batches(drafts, &self.resource) {
            self.exporter.set_resource(&batch.resource);
            let count = batch.spans.len() as u64;
            let mut wait = Duration::from_millis(200);
            let mut attempt = 1;
            loop {
                match self.exporter.export(batch.spans.clone()).await {
                    Ok(()) => {
                        self.exported += count;
                        break;
                    }
                    Err(e) if attempt < ATTEMPTS => {
                        tracing::warn!(attempt, error = %e, "OTLP export failed, retrying");
                        self.retries += 1;
                        attempt += 1;
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => {
                        self.dropped += count;
                        failure = Some(OtlpError::Export {
                            attempts: attempt,
                            last: e.to_string(),
                        });
                        break;
                    }
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    pub fn shutdown(&mut self) {
        let _ = self.exporter.shutdown();
    }
}
