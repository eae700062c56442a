//! The commands: each wires sources, the correlator and a sink, and nothing else.

mod progress;
pub mod record;
pub mod replay;
pub mod run;
pub mod synth;

/// Resolves at SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
