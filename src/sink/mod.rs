//! Where finished spans go: an OTLP collector, OTLP/JSON lines, the terminal.
//! One [`Sink`] serves both commands; they differ only in what a failure means
//! and when the waterfall is drawn ([`Mode`]).

pub mod convert;
pub mod endpoint;
pub mod json;
pub mod otlp;
pub mod outbox;
pub mod proto;
pub mod queue;
pub mod tls_probe;
pub mod trace_log;
pub mod waterfall;

use std::io::Write;

use crate::span::SpanDraft;
use json::JsonLines;
use otlp::{OtlpError, OtlpSink};
use waterfall::Waterfall;

/// Where the OTLP/JSON lines or the waterfall are written.
pub type Out = Box<dyn Write + Send>;

/// How a command delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `kspan run`: spans come for as long as it runs, so each batch is drawn as
    /// it comes, and a failed batch is handed back to be queued again.
    Live,
    /// `kspan replay`: the waterfall is drawn once everything is known, and a
    /// failed batch is final.
    Replay,
}

/// What one delivery did, for the caller's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub spans: u64,
    /// Export attempts repeated after a failure.
    pub retries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// What a delivery could not do: the error, the spans still to deliver (none in
/// [`Mode::Replay`] but an OTLP batch's), and what was delivered before it failed.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Undelivered {
    pub error: SinkError,
    pub spans: Vec<SpanDraft>,
    pub delivered: Delivered,
}

pub enum Sink {
    Otlp(Box<OtlpSink>),
    Json { lines: JsonLines<Out>, mode: Mode },
    Waterfall { view: Waterfall, out: Out, mode: Mode },
}

impl Sink {
    pub fn waterfall(out: Out, show_events: bool, mode: Mode) -> Sink {
        Sink::Waterfall { view: Waterfall::new(show_events), out, mode }
    }

    /// Delivers one batch of finished spans.
    pub async fn deliver(&mut self, spans: Vec<SpanDraft>) -> Result<Delivered, Undelivered> {
        let count = spans.len() as u64;
        let written = match self {
            Sink::Otlp(sink) => return sink.send(&spans).await,
            Sink::Json { lines, mode: Mode::Replay } => lines.write(spans).map_err(|e| (e, vec![])),
            // A copy: the batch goes back to the queue if the write fails.
            Sink::Json { lines, mode: Mode::Live } => {
                lines.write(spans.clone()).map_err(|e| (e, spans))
            }
            Sink::Waterfall { view, mode: Mode::Replay, .. } => {
                view.add(&spans);
                Ok(())
            }
            Sink::Waterfall { out, mode: Mode::Live, view } => {
                let mut batch = Waterfall::new(view.show_events);
                batch.add(&spans);
                batch.render(out).and_then(|_| out.flush()).map_err(|e| (e, spans))
            }
        };
        match written {
            Ok(()) => Ok(Delivered { spans: count, retries: 0 }),
            Err((e, spans)) => {
                Err(Undelivered { error: e.into(), spans, delivered: Delivered::default() })
            }
        }
    }

    /// Draws a replay's waterfall, flushes what was written, ends the exporter.
    pub fn close(self) -> std::io::Result<()> {
        match self {
            Sink::Otlp(mut sink) => {
                sink.shutdown();
                Ok(())
            }
            Sink::Json { lines, .. } => lines.into_inner().map(drop),
            Sink::Waterfall { view, mut out, mode } => {
                if mode == Mode::Replay {
                    view.render(&mut out)?;
                }
                out.flush()
            }
        }
    }
}
