//! `/metrics` (Prometheus text), `/healthz` (the process serves) and `/readyz`
//! (every watcher has its initial list).

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

use super::Metrics;

pub fn router(metrics: &'static Metrics) -> Router {
    let registry: &'static Registry = Box::leak(Box::new(metrics.registry()));
    Router::new()
        .route(
            "/metrics",
            get(move || async move {
                let mut text = String::new();
                match prometheus_client::encoding::text::encode(&mut text, registry) {
                    Ok(()) => {
                        ([("content-type", "text/plain; version=0.0.4")], text).into_response()
                    }
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                if metrics.is_ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "initial lists not synced")
                }
            }),
        )
}

/// Binds (port 0 picks a free one) and serves in the background; returns the address.
pub async fn serve(addr: SocketAddr, metrics: &'static Metrics) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(metrics)).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}
