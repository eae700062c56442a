//! Benchmarks of the replay path on synthetic captures (BENCHMARKS.md has the figures).
//!
//! ```sh
//! kspan synth --pods 150000 --out /tmp/c.jsonl                          # a capture
//! cargo bench --bench replay -- compare /tmp/c.jsonl --runs 5            # ingest vs full, one process
//! cargo bench --bench replay -- full /tmp/c.jsonl --every 100000         # one full run, memory on the way
//! cargo bench --bench replay -- ingest /tmp/c.jsonl                      # one ingest run
//! cargo bench --bench replay -- scan /tmp/c.jsonl                        # the JSON floor
//! ```
//!
//! - ingest: `kspan::source::timeline::Timeline` (read, parse, decode, order), each
//!   observation dropped as it comes;
//! - full: the same timeline through `kspan::cmd::replay::correlate_into` (exactly what
//!   `kspan replay` runs) and each finished batch encoded as an OTLP
//!   ExportTraceServiceRequest with prost (what the OTLP exporter sends), the bytes
//!   discarded;
//! - scan: the floor under ingest, each line only checked by serde_json (parsed
//!   into `IgnoredAny`, nothing kept): what any reader built on it pays.
//!
//! Each run prints one line of `key=value` figures; `scripts/bench` collects them.
//! Without arguments (as `cargo test --all-targets` runs it) it checks itself on a
//! small capture and exits.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use kspan::cli::OtlpProtocol;
use kspan::cmd::replay::correlate_into;
use kspan::correlate::Config;
use kspan::observe::{Observation, Observed};
use kspan::sink::convert::ResourceOptions;
use kspan::sink::json::request;
use kspan::sink::otlp::{OtlpOptions, OtlpSink};
use kspan::source::timeline::Timeline;
use kspan::span::SpanDraft;
use kspan::synth;
use prost::Message;

#[derive(Parser)]
#[command(name = "replay-bench", about = "Benchmarks of kspan's replay path")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest and full pipeline on the same input, alternately, `runs` times each.
    Compare {
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// One ingest run (read, parse, decode, order).
    Ingest { file: PathBuf },
    /// Each line parsed into serde's IgnoredAny: the JSON parser's own cost.
    Scan { file: PathBuf },
    /// One full run (ingest, correlate, OTLP protobuf encode).
    Full {
        file: PathBuf,
        /// Print the resident memory every this many observations.
        #[arg(long, default_value_t = 0)]
        every: u64,
    },
    /// The OTLP exporter alone: every batch of the replay is built first, then
    /// the sending of all of them to `endpoint` (a real receiver) is timed.
    Otlp {
        file: PathBuf,
        endpoint: String,
        #[arg(long, default_value = "grpc")]
        protocol: OtlpProtocol,
    },
}

/// VmHWM (peak) and VmRSS (now) of this process, in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Counts what the timeline yields, and reports memory on the way.
struct Counting<I> {
    inner: I,
    events: usize,
    observations: usize,
    every: u64,
}

impl<I: Iterator<Item = Observation>> Iterator for Counting<I> {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        let o = self.inner.next()?;
        self.observations += 1;
        if matches!(o.what, Observed::Event(_)) {
            self.events += 1;
        }
        if self.every > 0 && (self.observations as u64).is_multiple_of(self.every) {
            let (peak, now) = memory();
            println!(
                "mode=full-progress observations={} events={} rss_kib={now} peak_rss_kib={peak}",
                self.observations, self.events
            );
        }
        Some(o)
    }
}

fn counting(file: &Path, every: u64) -> (Counting<Timeline>, usize) {
    let mut timeline = Timeline::open(&[file.to_path_buf()]);
    let errors = timeline.take_errors().len();
    (Counting { inner: timeline, events: 0, observations: 0, every }, errors)
}

struct Figures {
    seconds: Duration,
    events: usize,
    observations: usize,
    spans: usize,
    bytes: usize,
    errors: usize,
}

fn encode(batch: Vec<SpanDraft>, options: &ResourceOptions) -> usize {
    black_box(request(batch, options).encode_to_vec()).len()
}

fn ingest(file: &Path) -> Figures {
    let started = Instant::now();
    let (mut input, errors) = counting(file, 0);
    input.by_ref().for_each(|o| drop(black_box(o)));
    Figures {
        seconds: started.elapsed(),
        events: input.events,
        observations: input.observations,
        spans: 0,
        bytes: 0,
        errors: errors + input.inner.take_errors().len(),
    }
}

fn scan(file: &Path) -> anyhow::Result<()> {
    use std::io::BufRead;
    let started = Instant::now();
    let mut reader = std::io::BufReader::new(std::fs::File::open(file)?);
    let (mut line, mut lines, mut bytes) = (Vec::new(), 0u64, 0u64);
    while reader.read_until(b'\n', &mut line)? > 0 {
        black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&line)?);
        lines += 1;
        bytes += line.len() as u64;
        line.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "mode=scan seconds={seconds:.3} lines={lines} bytes={bytes} lines_per_s={:.0} mib_per_s={:.1}",
        lines as f64 / seconds,
        bytes as f64 / seconds / 1048576.0
    );
    Ok(())
}

fn full(file: &Path, every: u64) -> Figures {
    let started = Instant::now();
    let (mut input, errors) = counting(file, every);
    let options = ResourceOptions::default();
    let mut bytes = 0;
    let correlator =
        correlate_into(input.by_ref(), Config::default(), |b, _| bytes += encode(b, &options));
    Figures {
        seconds: started.elapsed(),
        events: input.events,
        observations: input.observations,
        spans: correlator.stats().spans as usize,
        bytes,
        errors: errors + input.inner.take_errors().len(),
    }
}

/// Sends every finished batch of `file` to `endpoint`; only the sending is timed.
fn otlp(file: &Path, endpoint: &str, protocol: OtlpProtocol) -> anyhow::Result<()> {
    let mut batches = Vec::new();
    correlate_into(counting(file, 0).0, Config::default(), |b, _| batches.push(b));
    let spans: usize = batches.iter().map(Vec::len).sum();
    let options = OtlpOptions {
        endpoint: Some(endpoint.to_string()),
        transport: Some(protocol.into()),
        ..OtlpOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut sink = OtlpSink::new(&options, ResourceOptions::default())?;
        let (mut exported, mut retries) = (0, 0);
        let started = Instant::now();
        for batch in &batches {
            let delivered = match sink.send(batch).await {
                Ok(delivered) => delivered,
                Err(e) => {
                    eprintln!("error: {e}");
                    e.delivered
                }
            };
            exported += delivered.spans;
            retries += delivered.retries;
        }
        let seconds = started.elapsed().as_secs_f64();
        sink.shutdown();
        println!(
            "mode=otlp protocol={protocol:?} batches={} spans={spans} exported={exported} dropped={} retries={retries} seconds={seconds:.3} spans_per_s={:.0}",
            batches.len(),
            spans as u64 - exported,
            exported as f64 / seconds,
        );
        Ok(())
    })
}

fn print(mode: &str, f: &Figures) {
    let (peak, _) = memory();
    println!(
        "mode={mode} seconds={:.3} events={} observations={} spans={} otlp_bytes={} errors={} events_per_s={:.0} peak_rss_kib={peak}",
        f.seconds.as_secs_f64(),
        f.events,
        f.observations,
        f.spans,
        f.bytes,
        f.errors,
        f.events as f64 / f.seconds.as_secs_f64(),
    );
}

fn stats(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2], values[values.len() - 1])
}

fn compare(file: &Path, runs: usize) {
    let (mut ingests, mut fulls, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut events = 0;
    for run in 1..=runs.max(1) {
        let i = ingest(file);
        let f = full(file, 0);
        events = f.events;
        let ratio = f.seconds.as_secs_f64() / i.seconds.as_secs_f64();
        println!(
            "mode=compare-run run={run} ingest_s={:.3} full_s={:.3} ratio={ratio:.2} events={events} ingest_events_per_s={:.0} full_events_per_s={:.0}",
            i.seconds.as_secs_f64(),
            f.seconds.as_secs_f64(),
            events as f64 / i.seconds.as_secs_f64(),
            events as f64 / f.seconds.as_secs_f64(),
        );
        ingests.push(i.seconds.as_secs_f64());
        fulls.push(f.seconds.as_secs_f64());
        ratios.push(ratio);
    }
    let (i, f, r) = (stats(&mut ingests), stats(&mut fulls), stats(&mut ratios));
    println!(
        "mode=compare runs={runs} events={events} ingest_s_min={:.3} ingest_s_median={:.3} ingest_s_max={:.3} full_s_min={:.3} full_s_median={:.3} full_s_max={:.3} ratio_min={:.2} ratio_median={:.2} ratio_max={:.2}",
        i.0, i.1, i.2, f.0, f.1, f.2, r.0, r.1, r.2
    );
}

/// `cargo test --all-targets`: a small capture through every mode, zero errors.
fn self_check() -> anyhow::Result<()> {
    let file = std::env::temp_dir().join(format!("kspan-bench-check-{}.jsonl", std::process::id()));
    let config = synth::SynthConfig {
        pods: 240,
        pods_per_workload: 20,
        rollouts: 2,
        ..synth::SynthConfig::default()
    };
    let summary = synth::generate(&config, std::fs::File::create(&file)?)?;
    let f = full(&file, 0);
    print("full", &f);
    anyhow::ensure!(f.errors == 0, "the synthetic capture must replay without errors");
    anyhow::ensure!(f.events as u64 == summary.events, "every Event line is an observation");
    anyhow::ensure!(f.spans > 0 && f.bytes > 0, "spans were built and encoded");
    let i = ingest(&file);
    anyhow::ensure!(i.observations == f.observations, "ingest and full read the same input");
    compare(&file, 1);
    scan(&file)?;
    std::fs::remove_file(&file)?;
    println!("replay bench: self-check passed");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--bench").collect();
    if args.len() == 1 {
        if bench {
            eprintln!(
                "usage: cargo bench --bench replay -- <compare|full|ingest|scan|otlp> ...; see scripts/bench"
            );
            return Ok(());
        }
        return self_check();
    }
    match Cli::parse_from(args).command {
        Command::Compare { file, runs } => compare(&file, runs),
        Command::Ingest { file } => print("ingest", &ingest(&file)),
        Command::Scan { file } => scan(&file)?,
        Command::Full { file, every } => print("full", &full(&file, every)),
        Command::Otlp { file, endpoint, protocol } => otlp(&file, &endpoint, protocol)?,
    }
    Ok(())
}
