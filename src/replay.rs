//! `kspan replay`: files -> observations -> correlator -> one sink.

use std::fs::File;
use std::io::{IsTerminal, Write};

use crate::cli::{CorrelationArgs, ExportArgs, Output, ReplayArgs};
use crate::correlate::{Config, Correlator};
use crate::observe::Observation;
use crate::sink::convert::ResourceOptions;
use crate::sink::json::JsonLines;
use crate::sink::otlp::{OtlpOptions, OtlpSink};
use crate::sink::waterfall::Waterfall;
use crate::source::replay::{Replay, Timeline};
use crate::span::SpanDraft;
use crate::time::Nanos;

/// The bundled example: a real `kubectl apply` rollout of a 2-pod Deployment.
pub const EXAMPLE_NAME: &str = "examples/deployment-2-pods.yaml";
pub const EXAMPLE: &str = include_str!("../examples/deployment-2-pods.yaml");

impl CorrelationArgs {
    pub fn config(&self) -> Config {
        Config {
            settle: self.settle.as_nanos() as Nanos,
            max_open: self.max_open.as_nanos() as Nanos,
            pending_limit: self.pending_limit,
            selector: self.selector.clone(),
            ..Config::default()
        }
    }
}

impl ExportArgs {
    pub fn resource(&self) -> ResourceOptions {
        ResourceOptions {
            service_name: self.service_name.clone(),
            cluster_name: self.cluster_name.clone(),
            extra: Vec::new(),
        }
    }

    pub fn otlp(&self) -> OtlpOptions {
        OtlpOptions {
            endpoint: self.otlp_addr.clone(),
            transport: self.otlp_protocol,
            timeout: self.otlp_timeout,
            headers: self.otlp_headers.clone(),
            ca_file: self.otlp_ca_file.clone(),
            tls: self.otlp_secured,
        }
    }
}

/// Runs a replay held in memory; the spans go in finishing order.
pub fn correlate(input: &Replay, config: Config) -> (Vec<Vec<SpanDraft>>, Correlator) {
    let mut batches = Vec::new();
    let correlator =
        correlate_into(input.observations.iter().cloned(), config, |spans| batches.push(spans));
    (batches, correlator)
}

/// Feeds the correlator in order and hands each finished batch to `emit` at once,
/// so nothing is kept that a sink could have taken.
pub fn correlate_into(
    observations: impl Iterator<Item = Observation>,
    config: Config,
    mut emit: impl FnMut(Vec<SpanDraft>),
) -> Correlator {
    let mut correlator = Correlator::new(config);
    for observation in observations {
        let spans = correlator.ingest(observation);
        if !spans.is_empty() {
            emit(spans);
        }
    }
    let last = correlator.finish();
    if !last.is_empty() {
        emit(last);
    }
    correlator
}

/// The input as it is read, reporting each error as it is met: a bad document
/// never stops the rest.
struct Input {
    timeline: Timeline,
    errors: usize,
}

impl Iterator for Input {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        let next = self.timeline.next();
        for error in self.timeline.take_errors() {
            eprintln!("error: {error}");
            self.errors += 1;
        }
        next
    }
}

/// Returns the process exit code: 0, or 1 when some input could not be read
/// (everything readable was still replayed).
pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let timeline = if args.paths.is_empty() {
        Timeline::from_text(EXAMPLE_NAME, EXAMPLE)
    } else {
        Timeline::open(&args.paths)
    };
    for skipped in &timeline.skipped {
        eprintln!("note: {}: no Kubernetes objects, skipped", skipped.display());
    }
    let mut input = Input { timeline, errors: 0 };
    let config = args.correlation.config();
    let output = args.output.unwrap_or(if args.out.is_none() && std::io::stdout().is_terminal() {
        Output::Waterfall
    } else {
        Output::OtlpJson
    });
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let correlator = match output {
        Output::Waterfall => {
            // A waterfall is drawn once everything is known.
            let mut waterfall = Waterfall::new(!args.no_events);
            let correlator = correlate_into(input.by_ref(), config, |b| waterfall.add(&b));
            let mut out = out;
            waterfall.render(&mut out)?;
            out.flush()?;
            correlator
        }
        Output::OtlpJson => {
            let mut sink = JsonLines::new(out, args.export.resource());
            let mut failed = None;
            let correlator = correlate_into(input.by_ref(), config, |batch| {
                if failed.is_none() {
                    failed = sink.write(batch).err();
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            sink.into_inner()?;
            correlator
        }
        Output::Otlp => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let mut sink = runtime
                .block_on(async { OtlpSink::new(&args.export.otlp(), args.export.resource()) })?;
            // The correlator is synchronous: it runs on its own thread, and its
            // batches cross to the exporter as they finish.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<SpanDraft>>(16);
            let input = &mut input;
            std::thread::scope(|scope| {
                let correlating = scope.spawn(move || {
                    correlate_into(input, config, move |batch| {
                        let _ = tx.blocking_send(batch);
                    })
                });
                runtime.block_on(async {
                    while let Some(batch) = rx.recv().await {
                        if let Err(e) = sink.send(&batch).await {
                            eprintln!("error: {e}");
                        }
                    }
                    sink.shutdown();
                });
                eprintln!(
                    "otlp: {} spans exported, {} dropped, {} retries",
                    sink.exported, sink.dropped, sink.retries
                );
                correlating.join().expect("the correlator does not panic")
            })
        }
    };
    let stats = correlator.stats();
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
        if input.errors == 0 { String::new() } else { format!("; {} input errors", input.errors) }
    );
    Ok(if input.errors == 0 { 0 } else { 1 })
}
