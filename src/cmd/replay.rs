//! `kspan replay`: files -> observations -> correlator -> one sink.
//! The correlator is synchronous: it runs on its own thread, and its batches
//! cross to the sink, on the async runtime, as they finish.

use super::progress::{self, Progress};
use crate::cli::ReplayArgs;
use crate::config;
use crate::correlate::{Config, Correlator, Stats};
use crate::error::{Error, Result};
use crate::observe::{Observation, Observed};
use crate::sink::{Mode, Sink, SinkError};
use crate::source::timeline::{Replay, Timeline};
use crate::span::SpanDraft;

/// The bundled example: a real `kubectl apply` rollout of a 2-pod Deployment.
pub const EXAMPLE_NAME: &str = "examples/deployment-2-pods.yaml";
pub const EXAMPLE: &str = include_str!("../../examples/deployment-2-pods.yaml");

/// Runs a replay held in memory; the spans go in finishing order.
pub fn correlate(input: &Replay, config: Config) -> (Vec<Vec<SpanDraft>>, Correlator) {
    let mut batches = Vec::new();
    let correlator =
        correlate_into(input.observations.iter().cloned(), config, |spans, _| batches.push(spans));
    (batches, correlator)
}

/// Feeds the correlator in order and hands each finished batch to `emit` at once,
/// so nothing is kept that a sink could have taken; with the correlator's counts
/// after it.
pub fn correlate_into(
    observations: impl Iterator<Item = Observation>,
    config: Config,
    mut emit: impl FnMut(Vec<SpanDraft>, &Stats),
) -> Correlator {
    let mut correlator = Correlator::new(config);
    for observation in observations {
        let spans = correlator.ingest(observation);
        if !spans.is_empty() {
            emit(spans, correlator.stats());
        }
    }
    let last = correlator.finish();
    if !last.is_empty() {
        emit(last, correlator.stats());
    }
    correlator
}

/// How many observations pass between two looks at the bytes read (a system
/// call per recording).
const PROGRESS_EVERY: u64 = 4096;

/// The input as it is read, reporting each error as it is met: a bad document
/// never stops the rest.
struct Input<'a> {
    timeline: Timeline,
    errors: usize,
    progress: &'a Progress,
    read: u64,
}

impl Iterator for Input<'_> {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        let next = self.timeline.next();
        for error in self.timeline.take_errors() {
            self.progress.suspend(|| eprintln!("error: {error}"));
            self.errors += 1;
        }
        if let Some(Observation { what: Observed::Event(_), .. }) = &next {
            self.progress.event();
        }
        self.read += 1;
        if self.read.is_multiple_of(PROGRESS_EVERY) {
            self.progress.update(self.timeline.bytes_read());
        }
        next
    }
}

/// Exit status when some spans did not reach the collector.
pub const UNDELIVERED: u8 = 2;

/// Returns the process exit status: 0; 1 when some input could not be read
/// (everything readable was still replayed); [`UNDELIVERED`] when some spans
/// were not delivered, whatever the input.
pub fn run(args: ReplayArgs) -> Result<u8> {
    // First: it sets how objects are read.
    let correlation = config::correlation(&args.correlation);
    let timeline = if args.paths.is_empty() {
        Timeline::from_text(EXAMPLE_NAME, EXAMPLE)
    } else {
        Timeline::open(&args.paths)
    };
    for skipped in &timeline.skipped {
        eprintln!("note: {}: no Kubernetes objects, skipped", skipped.display());
    }
    let progress = Progress::new(timeline.bytes_total(), progress::wanted());
    let progress = &progress;
    let mut input = Input { timeline, errors: 0, progress, read: 0 };
    let output = config::replay_output(&args);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut sink = runtime.block_on(async {
        config::sink(output, args.out.as_deref(), &args.export, !args.no_events, Mode::Replay)
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<SpanDraft>>(16);
    let reading = &mut input;
    let (correlator, delivery) = std::thread::scope(|scope| {
        let correlating = scope.spawn(move || {
            correlate_into(reading, correlation, move |batch, stats| {
                progress.traces(stats.traces);
                let _ = tx.blocking_send(batch);
            })
        });
        let delivery = runtime.block_on(deliver(&mut sink, &mut rx, progress));
        (correlating.join().expect("the correlator does not panic"), delivery)
    });
    progress.finish();
    let collector = match &sink {
        Sink::Otlp(otlp) => Some(otlp.address().to_string()),
        _ => None,
    };
    sink.close()?;
    let stats = correlator.stats();
    let undelivered = stats.spans - delivery.exported;
    if collector.is_some() {
        eprintln!(
            "otlp: {} spans exported, {} dropped, {} retries",
            delivery.exported, undelivered, delivery.retries
        );
    }
    if let Some(e) = delivery.write_error {
        return Err(Error::Io(e));
    }
    eprintln!(
        "replayed {} observations ({} events, {} objects) -> {} traces, {} spans{}{}",
        stats.observations,
        stats.events,
        stats.objects,
        stats.traces,
        stats.spans,
        match &args.correlation.selector {
            Some(s) => format!("; {} episodes not matching --selector {s}", stats.unselected),
            None => String::new(),
        },
        if input.errors == 0 { String::new() } else { format!("; {} input errors", input.errors) },
    );
    if stats.traceparent_invalid > 0 {
        eprintln!("{} malformed traceparent annotations ignored", stats.traceparent_invalid);
    }
    if let (Some(collector), 1..) = (collector, undelivered) {
        eprintln!(
            "error: {undelivered} of {} spans were not delivered to the collector at {collector}",
            stats.spans
        );
        return Ok(UNDELIVERED);
    }
    Ok(if input.errors == 0 { 0 } else { 1 })
}

/// What reached the sink.
#[derive(Default)]
struct Delivery {
    exported: u64,
    retries: u64,
    /// Output that cannot be written ends the writing; the replay still finishes.
    write_error: Option<std::io::Error>,
}

async fn deliver(
    sink: &mut Sink,
    batches: &mut tokio::sync::mpsc::Receiver<Vec<SpanDraft>>,
    progress: &Progress,
) -> Delivery {
    let mut delivery = Delivery::default();
    while let Some(batch) = batches.recv().await {
        if delivery.write_error.is_some() {
            continue;
        }
        let delivered = match sink.deliver(batch).await {
            Ok(delivered) => delivered,
            Err(undelivered) => {
                match undelivered.error {
                    SinkError::Write(e) => delivery.write_error = Some(e),
                    SinkError::Otlp(e) => progress.suspend(|| eprintln!("error: {e}")),
                }
                undelivered.delivered
            }
        };
        delivery.exported += delivered.spans;
        delivery.retries += delivered.retries;
    }
    delivery
}
