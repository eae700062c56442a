//! `kspan replay`: files -> observations -> correlator -> one sink.

use std::fs::File;
use std::io::{IsTerminal, Write};

use crate::cli::{CorrelationArgs, ExportArgs, Output, ReplayArgs};
use crate::correlate::{Config, Correlator};
use crate::sink::convert::ResourceOptions;
use crate::sink::json::JsonLines;
use crate::sink::otlp::{OtlpOptions, OtlpSink};
use crate::sink::waterfall::Waterfall;
use crate::source::replay::{self, Replay};
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

/// Runs the whole replay; the spans go in finishing order.
pub fn correlate(input: &Replay, config: Config) -> (Vec<Vec<SpanDraft>>, Correlator) {
    let mut correlator = Correlator::new(config);
    let mut batches = Vec::new();
    for observation in &input.observations {
        let spans = correlator.ingest(observation.clone());
        if !spans.is_empty() {
            batches.push(spans);
        }
    }
    let last = correlator.finish();
    if !last.is_empty() {
        batches.push(last);
    }
    (batches, correlator)
}

/// Returns the process exit code: 0, or 1 when some input could not be read
/// (everything readable was still replayed).
pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let input = if args.paths.is_empty() {
        replay::load_text(EXAMPLE_NAME, EXAMPLE)
    } else {
        replay::load(&args.paths)
    };
    for error in &input.errors {
        eprintln!("error: {error}");
    }
    for skipped in &input.skipped {
        eprintln!("note: {}: no Kubernetes objects, skipped", skipped.display());
    }
    let (batches, correlator) = correlate(&input, args.correlation.config());
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
    match output {
        Output::Waterfall => {
            let mut waterfall = Waterfall::new(!args.no_events);
            batches.iter().for_each(|b| waterfall.add(b));
            let mut out = out;
            waterfall.render(&mut out)?;
            out.flush()?;
        }
        Output::OtlpJson => {
            let mut sink = JsonLines::new(out, args.export.resource());
            for batch in &batches {
                sink.write(batch)?;
            }
            sink.into_inner()?;
        }
        Output::Otlp => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut sink = OtlpSink::new(&args.export.otlp(), args.export.resource())?;
                for batch in &batches {
                    if let Err(e) = sink.send(batch).await {
                        eprintln!("error: {e}");
                    }
                }
                sink.shutdown();
                eprintln!(
                    "otlp: {} spans exported, {} dropped, {} retries",
                    sink.exported, sink.dropped, sink.retries
                );
                anyhow::Ok(())
            })?;
        }
    }
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
        if input.errors.is_empty() {
            String::new()
        } else {
            format!("; {} input errors", input.errors.len())
        }
    );
    Ok(if input.errors.is_empty() { 0 } else { 1 })
}
